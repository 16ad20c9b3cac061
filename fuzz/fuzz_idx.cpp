// libFuzzer target: sx::io::read_idx on arbitrary bytes, through a file as the reader takes one (so
// zlib's gzip detection and inflation run too). Any outcome but a result or sx::io_error is a bug; a
// result must be as long as its extents say.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include <statix/io.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/statix_fuzz_idx_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const auto array = statix::io::read_idx(path);
    if (array.bytes.size() != array.size() * statix::io::idx_element_size(static_cast<std::uint8_t>(array.type)))
      __builtin_trap();
    if (array.size() > 0) (void)array.at<double>(array.size() - 1);
  } catch (const statix::io_error&) {
  }
  return 0;
}
