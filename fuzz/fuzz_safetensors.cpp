// libFuzzer target: sx::io::load_bytes on arbitrary bytes into a small model with every kind of state
// (float parameters, batch norm buffers, an int32 counter). Any outcome but success or sx::io_error is
// a bug; a successful load must also survive a save and a load of what it loaded.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>

#include <statix/io.hpp>
#include <statix/nn.hpp>

namespace {
using model = statix::nn::sequential<statix::nn::linear<3, 2>, statix::nn::batch_norm1d<2>, statix::nn::relu,
                                     statix::nn::linear<2, 1>>;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  model m(statix::random::key{0});
  try {
    statix::io::load_bytes(std::as_bytes(std::span(data, size)), m);
  } catch (const statix::io_error&) {
    return 0;
  }
  // Loaded: the values read back must be the values in the file.
  model again(statix::random::key{1});
  static const std::string path = "/tmp/statix_fuzz_safetensors_" + std::to_string(::getpid());
  statix::io::save(path, m);
  statix::io::load(path, again);
  std::remove(path.c_str());
  const auto a = statix::io::detail::state_entries(m), b = statix::io::detail::state_entries(again);
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(a[i].data, b[i].data, a[i].bytes) != 0) __builtin_trap();
  return 0;
}
