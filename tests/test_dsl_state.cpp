// dsl/: layers with state or modes (batch norm, dropout, residual blocks) against double-precision
// references, and safetensors files: the layout PyTorch reads, round trips of models and optimizers,
// and one test per kind of bad file, each checking that the model is unchanged.
#include "dsl_support.hpp"

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

/// Batch norm's output and batch statistics in double, x laid out (N, C, S) with S the spatial size.
struct bn_reference {
  std::vector<double> y, mean, var;
};
template <class T>
bn_reference batch_norm_reference(const T* x, std::size_t n, std::size_t c, std::size_t s, const float* weight,
                                  const float* bias, double eps) {
  bn_reference r{std::vector<double>(n * c * s), std::vector<double>(c), std::vector<double>(c)};
  for (std::size_t ch = 0; ch < c; ++ch) {
    double sum = 0, sq = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k = 0; k < s; ++k) sum += x[(i * c + ch) * s + k];
    r.mean[ch] = sum / double(n * s);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k = 0; k < s; ++k) sq += std::pow(x[(i * c + ch) * s + k] - r.mean[ch], 2);
    r.var[ch] = sq / double(n * s);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k = 0; k < s; ++k) {
        const std::size_t at = (i * c + ch) * s + k;
        r.y[at] = (x[at] - r.mean[ch]) / std::sqrt(r.var[ch] + eps) * weight[ch] + bias[ch];
      }
  }
  return r;
}

template <class BatchNorm, class X>
void check_batch_norm(BatchNorm& bn, const X& x, std::size_t n, std::size_t c, std::size_t s) {
  fill_uniform(bn.weight, 0.5, 1.5, 11);
  fill_uniform(bn.bias, -0.5, 0.5, 12);
  const auto ref = batch_norm_reference(x.data(), n, c, s, bn.weight.data(), bn.bias.data(), 1e-5);
  X y = bn(x);  // training mode: the batch's statistics, and one running update
  check_close(y.data(), ref.y, 1e-5, "batch norm, training mode");
  std::vector<double> running_mean(c), running_var(c);
  for (std::size_t ch = 0; ch < c; ++ch) {
    running_mean[ch] = 0.1 * ref.mean[ch];
    running_var[ch] = 0.9 + 0.1 * ref.var[ch] * double(n * s) / double(n * s - 1);  // unbiased
  }
  check_close(bn.running_mean.data(), running_mean, 1e-6, "running mean");
  check_close(bn.running_var.data(), running_var, 1e-6, "running variance");
  BOOST_TEST(bn.num_batches_tracked() == 1);

  bn.set_training(false);
  y = bn(x);
  std::vector<double> expected(n * c * s);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t ch = 0; ch < c; ++ch)
      for (std::size_t k = 0; k < s; ++k) {
        const std::size_t at = (i * c + ch) * s + k;
        expected[at] = (x.data()[at] - running_mean[ch]) / std::sqrt(running_var[ch] + 1e-5) * bn.weight.data()[ch] +
                       bn.bias.data()[ch];
      }
  check_close(y.data(), expected, 1e-5, "batch norm, evaluation mode");
  BOOST_TEST(bn.num_batches_tracked() == 1);  // evaluation leaves the statistics alone
}

}  // namespace

BOOST_AUTO_TEST_SUITE(batch_norm)

BOOST_AUTO_TEST_CASE(matches_pytorch_in_both_modes) {
  nn::batch_norm1d<5> bn1;
  const auto x1 = random_tensor<float, sx::dyn, 5>(21, -2, 3, 7);
  check_batch_norm(bn1, x1, 7, 5, 1);

  nn::batch_norm2d<3> bn2;
  const auto x2 = random_tensor<float, sx::dyn, 3, 4, 5>(22, -1, 2, 2);
  check_batch_norm(bn2, x2, 2, 3, 20);
}

BOOST_AUTO_TEST_CASE(state_names_modes_and_gradients) {
  using model_type =
      nn::sequential<nn::linear<4, 5, double>, nn::batch_norm1d<5, double>, nn::relu, nn::linear<5, 3, double>>;
  BOOST_TEST((model_type::parameter_names() ==
              std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"}));
  BOOST_TEST((model_type::state_names() == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias",
                                                                    "1.running_mean", "1.running_var",
                                                                    "1.num_batches_tracked", "3.weight", "3.bias"}));
  model_type model(sx::random::key{4});
  fill_uniform(model.layer<1>().weight, 0.5, 1.5, 5);
  fill_uniform(model.layer<1>().bias, -0.5, 0.5, 6);
  const auto x = random_tensor<double, sx::dyn, 4>(9, -1, 1, 6);
  sx::tensor<std::int32_t, sx::dyn> labels(6);
  for (std::size_t i = 0; i < 6; ++i) labels(i) = std::int32_t(i % 3);
  // Training mode: the gradient flows through the batch's mean and variance too.
  check_model_gradients("batch norm, training", model, [&] { return nn::cross_entropy(model(x), labels); });
  model.eval();
  BOOST_TEST(!model.layer<1>().is_training());
  const auto tracked = model.layer<1>().num_batches_tracked();
  check_model_gradients("batch norm, evaluation", model, [&] { return nn::cross_entropy(model(x), labels); });
  BOOST_TEST(model.layer<1>().num_batches_tracked() == tracked);

  // 2d: the gradient of the input (what flows to the layers before) and of the parameters.
  nn::batch_norm2d<3, double> bn2;
  fill_uniform(bn2.weight, 0.5, 1.5, 7);
  fill_uniform(bn2.bias, -0.5, 0.5, 8);
  auto images = random_tensor<double, sx::dyn, 3, 2, 3>(3, -1, 1, 4);
  const auto weights = random_tensor<double, 4, 3, 2, 3>(10, -1, 1);
  auto loss = [&] { return sx::sum(sx::square(bn2(images)) * weights); };
  const auto [value, g_images, g_weight, g_bias] = sx::value_and_grad(loss(), images, bn2.weight, bn2.bias);
  auto numeric = [&](auto& t, std::size_t i) {
    double& v = t.data()[i];
    const double keep = v, h = 1e-6;
    v = keep + h;
    const double up = sx::eval(loss())();
    v = keep - h;
    const double down = sx::eval(loss())();
    v = keep;
    return (up - down) / (2 * h);
  };
  for (std::size_t i = 0; i < images.size(); ++i)
    BOOST_TEST_REQUIRE(g_images.data()[i] == numeric(images, i), boost::test_tools::tolerance(1e-6));
  for (std::size_t c = 0; c < 3; ++c) {
    BOOST_TEST_REQUIRE(g_weight.data()[c] == numeric(bn2.weight, c), boost::test_tools::tolerance(1e-6));
    BOOST_TEST_REQUIRE(g_bias.data()[c] == numeric(bn2.bias, c), boost::test_tools::tolerance(1e-6));
  }
}

BOOST_AUTO_TEST_CASE(standardize_primitive_gradcheck_and_single_read) {
  // The primitive alone, static and dyn extents, ranks 2 to 4, against central differences.
  auto check = [](auto x, unsigned seed) {
    using X = decltype(x);
    fill_uniform(x, -2, 3, seed);
    X weights = x;
    fill_uniform(weights, -1, 1, seed + 1);
    expect_gradcheck(
        "standardize_channels",
        [&](auto& v) {
          using T = std::remove_const_t<sx::value_type_t<decltype(v)>>;
          return sx::sum(sx::standardize_channels(v, 1e-5) * sx::cast<T>(weights));
        },
        x);
  };
  check(sx::tensor<double, 5, 3>(), 1);
  check(sx::tensor<double, sx::dyn, 4, 3>(3), 2);
  check(sx::tensor<double, 2, 3, 2, 5>(), 3);
  check(sx::tensor<double, sx::dyn, 2, 3, 3>(2), 4);

  // A batch norm reads its input once: the backward products of the layer before it run once.
  using model_type = nn::sequential<nn::linear<16, 8>, nn::batch_norm1d<8>, nn::relu, nn::linear<8, 3>>;
  model_type model(sx::random::key{2});
  const auto x = random_tensor<float, sx::dyn, 16>(3, -1, 1, 12);
  sx::tensor<std::int32_t, sx::dyn> labels(12);
  for (std::size_t i = 0; i < 12; ++i) labels(i) = std::int32_t(i % 3);
  sx::reset_evaluations<sx::op::matmul>();
  (void)nn::value_and_gradients(nn::cross_entropy(model(x), labels), model);
  // 2 forward, 3 backward (dW2, dh, dW1): the running statistics come from the forward pass's own
  // standardization, not from a forward pass of their own.
  BOOST_TEST(sx::evaluations<sx::op::matmul>() == 5);
}

BOOST_AUTO_TEST_CASE(one_value_per_channel_is_refused_in_training) {
  nn::batch_norm1d<3> bn;
  sx::tensor<float, sx::dyn, 3> x(1);
  x.fill(1);
  BOOST_CHECK_THROW(bn(x), std::invalid_argument);
  bn.set_training(false);
  BOOST_CHECK_NO_THROW(sx::eval(bn(x)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dropout)

BOOST_AUTO_TEST_CASE(masks_are_seeded_fresh_per_call_and_fused) {
  nn::dropout layer(0.3);
  layer.reset_parameters(sx::random::key{5});
  sx::tensor<float, sx::dyn, 100> x(50);
  x.fill(1.5f);
  sx::tensor<float, sx::dyn, 100> y(50), second(50);
  const long before = allocation_count();
  y = layer(x);
  BOOST_TEST(allocation_count() == before);  // the mask is generated in the loop, never stored
  std::size_t zeros = 0;
  for (float v : y) {
    if (v == 0)
      ++zeros;
    else
      BOOST_TEST_REQUIRE(v == 1.5f / 0.7f, boost::test_tools::tolerance(1e-6f));
  }
  BOOST_TEST(std::abs(double(zeros) / double(y.size()) - 0.3) < 0.03);

  second = layer(x);
  BOOST_TEST(!std::equal(y.begin(), y.end(), second.begin()));  // a new mask per forward call
  nn::dropout again(0.3);
  again.reset_parameters(sx::random::key{5});
  second = again(x);
  BOOST_TEST(std::equal(y.begin(), y.end(), second.begin()));  // the same key, the same masks

  // The gradient is the mask, scaled.
  auto e = again(x);
  const sx::tensor<float, sx::dyn, 100> value = e;
  const auto g = sx::eval(sx::grad(sx::sum(e), x));
  for (std::size_t i = 0; i < value.size(); ++i)
    BOOST_TEST_REQUIRE(g.data()[i] == value.data()[i] / 1.5f, boost::test_tools::tolerance(1e-6f));

  layer.set_training(false);
  y = layer(x);
  BOOST_TEST(std::equal(y.begin(), y.end(), x.begin()));
  BOOST_CHECK_THROW(nn::dropout(1.0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(in_a_model_train_and_eval) {
  nn::sequential<nn::linear<8, 8>, nn::dropout, nn::linear<8, 2>> model(sx::random::key{1});
  const auto x = random_tensor<float, sx::dyn, 8>(2, -1, 1, 16);
  const sx::tensor<float, sx::dyn, 2> a = model(x), b = model(x);
  BOOST_TEST(!std::equal(a.begin(), a.end(), b.begin()));
  model.eval();
  const sx::tensor<float, sx::dyn, 2> c = model(x), d = model(x);
  BOOST_TEST(std::equal(c.begin(), c.end(), d.begin()));
  const sx::tensor<float, sx::dyn, 2> plain = model.layer<2>()(model.layer<0>()(x));
  check_close(c.data(), std::vector<double>(plain.begin(), plain.end()), 1e-6, "dropout in eval mode");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(residual)

BOOST_AUTO_TEST_CASE(adds_the_body_and_names_its_layers) {
  using model_type = nn::sequential<nn::linear<4, 4, double>, nn::residual<nn::linear<4, 4, double>, nn::tanh>,
                                    nn::sequential<nn::linear<4, 2, double>>>;
  BOOST_TEST((model_type::parameter_names() == std::vector<std::string>{"0.weight", "0.bias", "1.body.0.weight",
                                                                        "1.body.0.bias", "2.0.weight", "2.0.bias"}));
  model_type model(sx::random::key{8});
  const auto x = random_tensor<double, sx::dyn, 4>(4, -1, 1, 3);
  const sx::tensor<double, sx::dyn, 2> y = model(x);
  const sx::tensor<double, sx::dyn, 4> h = model.layer<0>()(x);
  const sx::tensor<double, sx::dyn, 4> r = h + sx::tanh(model.layer<1>().body.layer<0>()(h));
  const sx::tensor<double, sx::dyn, 2> expected = model.layer<2>().layer<0>()(r);
  check_close(y.data(), std::vector<double>(expected.begin(), expected.end()), 1e-14, "residual");

  sx::tensor<std::int32_t, sx::dyn> labels(3);
  for (std::size_t i = 0; i < 3; ++i) labels(i) = std::int32_t(i % 2);
  check_model_gradients("residual", model, [&] { return nn::cross_entropy(model(x), labels); });
}

BOOST_AUTO_TEST_SUITE_END()

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
  // Offsets are contiguous from 0 and cover the data exactly (the reference reader insists on it).
  std::uint64_t end = 0;
  for (const auto& name : saved_model::state_names()) {
    const auto& entry = header.at(name);
    BOOST_TEST(entry["data_offsets"][0].get<std::uint64_t>() == end);
    end = entry["data_offsets"][1].get<std::uint64_t>();
  }
  BOOST_TEST(end == data.size());
  BOOST_TEST(header["0.weight"]["dtype"] == "F32");
  BOOST_TEST((header["0.weight"]["shape"] == nlohmann::json::array({3, 4})));
  BOOST_TEST(header["1.num_batches_tracked"]["dtype"] == "I32");
  BOOST_TEST(header["1.num_batches_tracked"]["shape"].empty());
  const auto& w = f.source.layer<0>().weight;
  BOOST_TEST(std::memcmp(data.data(), w.data(), w.size() * sizeof(float)) == 0);
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
