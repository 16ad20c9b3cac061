// dsl/: safetensors files: the layout PyTorch reads (contiguous, aligned offsets), round trips of
// models and optimizers, and one test per kind of bad file, each checking that the model is unchanged.
#include "dsl_support.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include <statix/io.hpp>
#include <statix/nn.hpp>
#include <statix/optim.hpp>

using namespace statix_test;
namespace nn = statix::nn;
namespace fs = std::filesystem;

namespace {

using saved_model = nn::sequential<nn::linear<4, 3>, nn::batch_norm1d<3>, nn::relu, nn::linear<3, 2>>;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
/// Every byte of the model's state.
std::string snapshot(saved_model& model) {
  std::string bytes;
  for (const auto& e : sx::io::detail::state_entries(model))
    bytes.append(reinterpret_cast<const char*>(e.data), e.bytes);
  return bytes;
}
/// A safetensors file: the header length, the header, the data.
std::string file_of(const std::string& header, const std::string& data) {
  const std::uint64_t n = header.size();
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &n, 8);
  return bytes + header + data;
}
struct parsed_file {
  nlohmann::json header;
  std::string data;
};
parsed_file parse(const std::string& bytes) {
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return {nlohmann::json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

/// Offsets contiguous from 0, covering the data exactly (the reference reader insists on it), each a
/// multiple of its tensor's element size; one entry per state name.
void expect_contiguous_and_aligned(const nlohmann::json& header, std::size_t data_size,
                                   const std::vector<std::string>& names) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& name : names) {
    const auto& entry = header.at(name);
    const auto begin = entry["data_offsets"][0].get<std::uint64_t>();
    const std::string dtype = entry["dtype"];
    const std::uint64_t size = dtype == "F64" ? 8 : dtype == "BOOL" ? 1 : 4;
    BOOST_TEST(begin % size == 0u, name << " (" << dtype << ") at offset " << begin);
    ranges.emplace_back(begin, entry["data_offsets"][1].get<std::uint64_t>());
  }
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t end = 0;
  for (const auto& [b, e] : ranges) {
    BOOST_TEST(b == end);
    end = e;
  }
  BOOST_TEST(end == data_size);
}

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("statix_safetensors_" + std::to_string(::getpid()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
};

/// A trained-looking model saved to a file, and a second model with other values to load it into.
struct saved_file {
  temp_dir dir;
  fs::path path = dir.path / "model.safetensors";
  saved_model source{sx::random::key{1}};
  saved_model target{sx::random::key{2}};
  std::string bytes;
  saved_file() {
    source.layer<1>().running_mean.fill(0.25f);
    source.layer<1>().num_batches_tracked.fill(7);
    sx::io::save(path, source, {{"epoch", "3"}});
    bytes = read_bytes(path);
  }
  /// Loading `bytes` must throw io_error with `words` in its message and leave `target` as it was.
  void expect_rejected(const std::string& bad, const std::string& words) {
    const fs::path bad_path = dir.path / "bad.safetensors";
    write_bytes(bad_path, bad);
    const std::string before = snapshot(target);
    try {
      sx::io::load(bad_path, target);
      BOOST_ERROR("no io_error for a file that should give '" << words << "'");
    } catch (const sx::io_error& e) {
      BOOST_TEST(std::string(e.what()).find(words) != std::string::npos,
                 "'" << e.what() << "' lacks '" << words << "'");
    }
    BOOST_TEST((snapshot(target) == before), "the model changed after a rejected file (" << words << ")");
  }
  /// The saved file with its header changed by `edit`.
  std::string edited(const std::function<void(nlohmann::json&)>& edit) const {
    auto [header, data] = parse(bytes);
    edit(header);
    return file_of(header.dump(), data);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors)

BOOST_AUTO_TEST_CASE(layout_is_what_pytorch_reads) {
  saved_file f;
  std::uint64_t n = 0;
  std::memcpy(&n, f.bytes.data(), 8);
  BOOST_TEST((8 + n) % 8 == 0u);  // data 8-byte aligned, as the reference writer leaves it
  const auto [header, data] = parse(f.bytes);
  BOOST_TEST(header["__metadata__"]["epoch"] == "3");
  BOOST_TEST(header.size() == saved_model::state_names().size() + 1);
  expect_contiguous_and_aligned(header, data.size(), saved_model::state_names());
  BOOST_TEST(header["0.weight"]["dtype"] == "F32");
  BOOST_TEST((header["0.weight"]["shape"] == nlohmann::json::array({3, 4})));
  BOOST_TEST(header["1.num_batches_tracked"]["dtype"] == "I32");
  BOOST_TEST(header["1.num_batches_tracked"]["shape"].empty());
  const auto& w = f.source.layer<0>().weight;
  BOOST_TEST(std::memcmp(data.data(), w.data(), w.size() * sizeof(float)) == 0);
}

BOOST_AUTO_TEST_CASE(offsets_are_aligned_to_the_element_size) {
  // A double model with an int32 counter: the counter written between the doubles would put the
  // doubles after it at offsets 4 mod 8.
  using double_model = nn::sequential<nn::linear<4, 3, double>, nn::batch_norm1d<3, double>, nn::linear<3, 2, double>>;
  temp_dir dir;
  double_model source{sx::random::key{3}}, target{sx::random::key{4}};
  source.layer<1>().num_batches_tracked.fill(5);
  sx::io::save(dir.path / "double.safetensors", source);
  const auto [header, data] = parse(read_bytes(dir.path / "double.safetensors"));
  expect_contiguous_and_aligned(header, data.size(), double_model::state_names());
  BOOST_TEST(header["1.num_batches_tracked"]["dtype"] == "I32");
  sx::io::load(dir.path / "double.safetensors", target);
  const auto a = sx::io::detail::state_entries(source), b = sx::io::detail::state_entries(target);
  for (std::size_t i = 0; i < a.size(); ++i) BOOST_TEST(std::memcmp(a[i].data, b[i].data, a[i].bytes) == 0, a[i].name);
}

BOOST_AUTO_TEST_CASE(round_trips_models_and_metadata) {
  saved_file f;
  BOOST_TEST(snapshot(f.target) != snapshot(f.source));
  const auto meta = sx::io::load(f.path, f.target);
  BOOST_TEST(snapshot(f.target) == snapshot(f.source));
  BOOST_TEST(meta.at("epoch") == "3");
  BOOST_TEST(f.target.layer<1>().num_batches_tracked() == 7);
  // The loaded model computes what the saved one does.
  f.source.eval();
  f.target.eval();
  const auto x = random_tensor<float, sx::dyn, 4>(5, -1, 1, 3);
  const sx::tensor<float, sx::dyn, 2> a = f.source(x), b = f.target(x);
  BOOST_TEST(std::equal(a.begin(), a.end(), b.begin()));
}

BOOST_AUTO_TEST_CASE(rejects_bad_files_naming_the_tensor_and_changes_nothing) {
  saved_file f;
  f.expect_rejected(f.bytes.substr(0, 5), "truncated file");
  f.expect_rejected(f.bytes.substr(0, f.bytes.size() - 4), "tensor '3.bias': data_offsets");
  {
    std::string longer = f.bytes;
    const std::uint64_t n = f.bytes.size();
    std::memcpy(longer.data(), &n, 8);
    f.expect_rejected(longer, "runs past the end");
    const std::uint64_t huge = 200'000'000;
    std::memcpy(longer.data(), &huge, 8);
    f.expect_rejected(longer, "over the 100 MB limit");
  }
  f.expect_rejected(file_of("{\"0.weight\": {\"dtype\": ", parse(f.bytes).data), "malformed JSON header");
  f.expect_rejected(file_of("[1, 2]", ""), "not an object");
  f.expect_rejected(f.edited([](auto& h) { h["0.weight"]["dtype"] = "F17"; }), "tensor '0.weight': unknown dtype");
  f.expect_rejected(f.edited([](auto& h) { h["0.bias"]["dtype"] = "F64"; }),
                    "tensor '0.bias': dtype F64 does not match the model's F32");
  f.expect_rejected(f.edited([](auto& h) {
    h["0.weight"]["shape"] = {4, 3};
  }),
                    "tensor '0.weight': shape [4, 3] does not match the model's [3, 4]");
  f.expect_rejected(f.edited([](auto& h) { h["0.weight"]["shape"] = {3, -4}; }), "tensor '0.weight': shape holds");
  f.expect_rejected(f.edited([](auto& h) {
    h["3.weight"]["data_offsets"] = {0, 1u << 30};
  }),
                    "tensor '3.weight': data_offsets [0, 1073741824] are out of");
  f.expect_rejected(f.edited([](auto& h) {
    h["3.weight"]["data_offsets"] = {8, 4};
  }),
                    "tensor '3.weight': data_offsets");
  f.expect_rejected(f.edited([](auto& h) { h["3.weight"]["data_offsets"] = {0}; }), "tensor '3.weight': data_offsets");
  f.expect_rejected(f.edited([](auto& h) { h["0.bias"]["data_offsets"] = {0, 12}; }), "overlap");
  f.expect_rejected(f.edited([](auto& h) { h["1.bias"]["data_offsets"] = {4, 16}; }), "overlap");
  f.expect_rejected(f.edited([](auto& h) {
    h["1.bias"]["data_offsets"] = {0, 8};
  }),
                    "tensor '1.bias': data_offsets hold 8 bytes, the shape needs 12");
  f.expect_rejected(f.edited([](auto& h) { h.erase("3.bias"); }), "tensor '3.bias' is missing from the file");
  f.expect_rejected(f.edited([](auto& h) { h["4.weight"] = h["3.bias"]; }), "tensor '4.weight': not in the model");
  f.expect_rejected(f.edited([](auto& h) { h["1.running_var"] = 3; }), "tensor '1.running_var': its entry");
  f.expect_rejected(f.edited([](auto& h) { h["__metadata__"]["epoch"] = 3; }), "__metadata__ entry 'epoch'");
  BOOST_CHECK_THROW(sx::io::load(f.dir.path / "absent.safetensors", f.target), sx::io_error);
  BOOST_CHECK_THROW(sx::io::load(f.dir.path, f.target), sx::io_error);
}

BOOST_AUTO_TEST_CASE(save_is_atomic) {
  saved_file f;
  // A failed save leaves the earlier file as it was and no temporary behind.
  fs::create_directories(f.dir.path / "model.safetensors.partial");
  BOOST_CHECK_THROW(sx::io::save(f.path, f.target), sx::io_error);
  BOOST_TEST(read_bytes(f.path) == f.bytes);
  fs::remove(f.dir.path / "model.safetensors.partial");
  BOOST_CHECK_THROW(sx::io::save(f.dir.path / "no" / "such" / "dir.safetensors", f.target), sx::io_error);
  // A successful one replaces it whole.
  sx::io::save(f.path, f.target);
  BOOST_TEST(!fs::exists(f.dir.path / "model.safetensors.partial"));
  saved_model check(sx::random::key{3});
  sx::io::load(f.path, check);
  BOOST_TEST(snapshot(check) == snapshot(f.target));
}

BOOST_AUTO_TEST_CASE(optimizer_checkpoints_resume_exactly) {
  temp_dir dir;
  using model_type = nn::sequential<nn::linear<4, 6>, nn::tanh, nn::linear<6, 3>>;
  const auto x = random_tensor<float, sx::dyn, 4>(5, -1, 1, 8);
  sx::tensor<std::int32_t, sx::dyn> labels(8);
  for (std::size_t i = 0; i < 8; ++i) labels(i) = std::int32_t(i % 3);
  auto train = [&](auto& model, auto& optimizer, int steps) {
    for (int s = 0; s < steps; ++s) {
      auto [loss, grads] = nn::value_and_gradients(nn::cross_entropy(model(x), labels), model);
      optimizer.step(grads);
    }
  };
  model_type model(sx::random::key{1});
  sx::optim::adam optimizer(model.parameters(), {.lr = 0.01, .amsgrad = true});
  train(model, optimizer, 3);
  sx::io::save(dir.path / "model.safetensors", model);
  sx::io::save(dir.path / "optimizer.safetensors", optimizer);
  train(model, optimizer, 2);

  model_type resumed(sx::random::key{2});
  sx::optim::adam resumed_optimizer(resumed.parameters(), {.lr = 0.01, .amsgrad = true});
  sx::io::load(dir.path / "model.safetensors", resumed);
  sx::io::load(dir.path / "optimizer.safetensors", resumed_optimizer);
  BOOST_TEST(resumed_optimizer.steps() == 3u);
  train(resumed, resumed_optimizer, 2);
  const auto& a = model.layer<2>().weight;
  const auto& b = resumed.layer<2>().weight;
  BOOST_TEST(std::equal(a.begin(), a.end(), b.begin()));

  // An optimizer file is not a model file: the names say so.
  BOOST_CHECK_THROW(sx::io::load(dir.path / "optimizer.safetensors", resumed), sx::io_error);
  sx::optim::sgd momentum(model.parameters(), {.lr = 0.1, .momentum = 0.9});
  BOOST_TEST(momentum.state_names()[0] == "state.0.momentum_buffer");
  BOOST_CHECK_THROW(sx::io::load(dir.path / "optimizer.safetensors", momentum), sx::io_error);
}

BOOST_AUTO_TEST_SUITE_END()
