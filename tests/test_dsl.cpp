// dsl/: layers against double-precision references, sequential models (shape flow, names, modes),
// losses (stability, gradients), optimizers against double-precision references of PyTorch's
// formulas over 100 steps, IDX files (valid and corrupt), the batch loader.
#include "dsl_support.hpp"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <statix/io.hpp>
#include <statix/nn.hpp>
#include <statix/optim.hpp>

using namespace statix_test;
namespace nn = statix::nn;

BOOST_AUTO_TEST_SUITE(nn_layers)

BOOST_AUTO_TEST_CASE(linear_matches_reference_and_pytorch_layout) {
  nn::linear<13, 7, double> layer(sx::random::key{3});
  static_assert(std::is_same_v<decltype(layer.weight), sx::tensor<double, 7, 13>>);  // (out, in) as PyTorch
  const auto x = random_tensor<double, sx::dyn, 13>(1, -1, 1, 5);
  const sx::tensor<double, sx::dyn, 7> y = layer(x);
  BOOST_TEST(y.extent(0) == 5u);
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t o = 0; o < 7; ++o) {
      double s = layer.bias(o);
      for (std::size_t k = 0; k < 13; ++k) s += x(i, k) * layer.weight(o, k);
      BOOST_TEST_REQUIRE(std::abs(y(i, o) - s) <= 1e-13);
    }
}

BOOST_AUTO_TEST_CASE(initialization_is_kaiming_uniform_and_seeded) {
  // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
  nn::linear<400, 300> a(sx::random::key{1}), b(sx::random::key{1}), c(sx::random::key{2});
  const double bound = 1 / std::sqrt(400.0);
  double sum = 0, sum_sq = 0, biggest = 0;
  for (float w : a.weight) {
    sum += w;
    sum_sq += double(w) * w;
    biggest = std::max(biggest, std::abs(double(w)));
  }
  const double n = double(a.weight.size());
  BOOST_TEST(biggest <= bound);
  BOOST_TEST(biggest > 0.99 * bound);
  BOOST_TEST(std::abs(sum / n) < 0.01 * bound);
  BOOST_TEST(std::abs(sum_sq / n - bound * bound / 3) < 0.01 * bound * bound);  // variance of U(-b, b)
  for (float v : a.bias) BOOST_TEST_REQUIRE(std::abs(v) <= bound);
  BOOST_TEST(std::equal(a.weight.begin(), a.weight.end(), b.weight.begin()));
  BOOST_TEST(!std::equal(a.weight.begin(), a.weight.end(), c.weight.begin()));
  BOOST_TEST(a.weight(0, 0) != a.bias(0));  // weight and bias draw from different keys

  nn::conv2d<3, 8, 5> conv(sx::random::key{4});
  const double conv_bound = 1 / std::sqrt(3.0 * 25);
  for (float w : conv.weight) BOOST_TEST_REQUIRE(std::abs(w) <= conv_bound);
}

BOOST_AUTO_TEST_CASE(conv2d_pool_flatten_shapes_and_values) {
  nn::conv2d<2, 4, 3, 2, 1, double> conv(sx::random::key{5});
  const auto x = random_tensor<double, 3, 2, 9, 8>(2, -1, 1);
  using out = nn::conv2d<2, 4, 3, 2, 1, double>::output_extents<sx::extents<3, 2, 9, 8>>;
  static_assert(std::is_same_v<out, sx::extents<3, 4, 5, 4>>);
  const sx::tensor<double, 3, 4, 5, 4> y = conv(x);
  for (std::size_t n = 0; n < 3; ++n)
    for (std::size_t o = 0; o < 4; ++o)
      for (std::size_t i = 0; i < 5; ++i)
        for (std::size_t j = 0; j < 4; ++j) {
          double s = conv.bias(o);
          for (std::size_t c = 0; c < 2; ++c)
            for (std::size_t di = 0; di < 3; ++di)
              for (std::size_t dj = 0; dj < 3; ++dj) {
                const long r = long(i * 2 + di) - 1, q = long(j * 2 + dj) - 1;
                if (r >= 0 && r < 9 && q >= 0 && q < 8)
                  s += x(n, c, std::size_t(r), std::size_t(q)) * conv.weight(o, c, di, dj);
              }
          BOOST_TEST_REQUIRE(std::abs(y(n, o, i, j) - s) <= 1e-12);
        }
  const sx::tensor<double, 3, 4, 2, 2> pooled = nn::max_pool2d<2>{}(y);
  BOOST_TEST(pooled(1, 2, 1, 1) == std::max({y(1, 2, 2, 2), y(1, 2, 2, 3), y(1, 2, 3, 2), y(1, 2, 3, 3)}));
  const sx::tensor<double, sx::dyn, 16> flat = nn::flatten{}(pooled);
  BOOST_TEST(flat(2, 7) == pooled(2, 1, 1, 1));
}

BOOST_AUTO_TEST_CASE(activations) {
  const auto x = random_tensor<double, sx::dyn>(3, -3, 3, 37);
  const sx::tensor<double, sx::dyn> r = nn::relu{}(x), s = nn::sigmoid{}(x), t = nn::tanh{}(x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    BOOST_TEST_REQUIRE(r(i) == std::max(0.0, x(i)));
    BOOST_TEST_REQUIRE(std::abs(s(i) - 1 / (1 + std::exp(-x(i)))) <= 1e-15);
    BOOST_TEST_REQUIRE(std::abs(t(i) - std::tanh(x(i))) <= 1e-15);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sequential)

using small_mlp = nn::sequential<nn::linear<6, 5, double>, nn::tanh, nn::linear<5, 3, double>>;

BOOST_AUTO_TEST_CASE(shapes_names_and_modes) {
  small_mlp model(sx::random::key{9});
  const auto x = random_tensor<double, sx::dyn, 6>(4, -1, 1, 8);
  auto y = model(x);
  static_assert(std::is_same_v<sx::extents_t<decltype(y)>, sx::extents<sx::dyn, 3>>);
  const sx::tensor<double, sx::dyn, 3> value = y;
  const sx::tensor<double, sx::dyn, 3> by_hand = model.layer<2>()(sx::tanh(model.layer<0>()(x)));
  for (std::size_t i = 0; i < value.size(); ++i) BOOST_TEST_REQUIRE(value.data()[i] == by_hand.data()[i]);

  BOOST_TEST((small_mlp::parameter_names() == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  auto params = model.parameters();
  static_assert(std::tuple_size_v<decltype(params)> == 4);
  BOOST_TEST(&std::get<2>(params) == &model.layer<2>().weight);
  BOOST_TEST(model.is_training());
  model.eval();
  BOOST_TEST(!model.is_training());
  model.train();
  BOOST_TEST(model.is_training());

  // The same key gives the same model; layers draw from different keys.
  small_mlp again(sx::random::key{9});
  BOOST_TEST(
      std::equal(again.layer<0>().weight.begin(), again.layer<0>().weight.end(), model.layer<0>().weight.begin()));
  BOOST_TEST(again.layer<0>().weight(0, 0) != again.layer<2>().weight(0, 0));
}

BOOST_AUTO_TEST_CASE(cnn_shapes_flow_at_compile_time) {
  using cnn = nn::sequential<nn::conv2d<1, 4, 3>, nn::relu, nn::max_pool2d<2>, nn::conv2d<4, 6, 3>, nn::relu,
                             nn::max_pool2d<2>, nn::flatten, nn::linear<6 * 7 * 7, 10>>;
  cnn model(sx::random::key{1});
  sx::tensor<float, sx::dyn, 1, 28, 28> x(2);
  fill_uniform(x, -1, 1, 3);
  auto logits = model(x);
  static_assert(std::is_same_v<sx::extents_t<decltype(logits)>, sx::extents<sx::dyn, 10>>);
  const sx::tensor<float, sx::dyn, 10> y = logits;
  BOOST_TEST(y.extent(0) == 2u);
  BOOST_TEST(cnn::parameter_names().size() == 6u);
  BOOST_TEST(cnn::parameter_names()[4] == "7.weight");
}

BOOST_AUTO_TEST_CASE(gradients_of_models_match_finite_differences) {
  small_mlp model(sx::random::key{2});
  const auto x = random_tensor<double, sx::dyn, 6>(5, -1, 1, 7);
  sx::tensor<std::int32_t, sx::dyn> labels(7);
  for (std::size_t i = 0; i < 7; ++i) labels(i) = std::int32_t(i % 3);
  check_model_gradients("mlp", model, [&] { return nn::cross_entropy(model(x), labels); });

  using cnn = nn::sequential<nn::conv2d<2, 3, 3, 1, 1, double>, nn::relu, nn::max_pool2d<2>, nn::flatten,
                             nn::linear<3 * 3 * 3, 4, double>>;
  cnn conv_model(sx::random::key{3});
  const auto images = random_tensor<double, sx::dyn, 2, 6, 6>(6, -1, 1, 3);
  sx::tensor<std::int32_t, sx::dyn> classes(3);
  for (std::size_t i = 0; i < 3; ++i) classes(i) = std::int32_t((i * 3 + 1) % 4);
  check_model_gradients("cnn", conv_model, [&] { return nn::cross_entropy(conv_model(images), classes); });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(losses)

BOOST_AUTO_TEST_CASE(cross_entropy_matches_reference_and_is_stable) {
  for (double scale : {1.0, 1e3, 1e4}) {
    auto logits = random_tensor<double, sx::dyn, 10>(11, -scale, scale, 33);
    sx::tensor<std::int32_t, sx::dyn> labels(33);
    for (std::size_t i = 0; i < 33; ++i) labels(i) = std::int32_t((i * 7) % 10);
    double ref = 0;
    for (std::size_t i = 0; i < 33; ++i) {
      double top = -INFINITY, s = 0;
      for (std::size_t c = 0; c < 10; ++c) top = std::max(top, logits(i, c));
      for (std::size_t c = 0; c < 10; ++c) s += std::exp(logits(i, c) - top);
      ref += top + std::log(s) - logits(i, std::size_t(labels(i)));
    }
    ref /= 33;
    const double got = sx::eval(nn::cross_entropy(logits, labels))();
    BOOST_TEST(std::isfinite(got));
    BOOST_TEST(std::abs(got - ref) <= 1e-13 * std::max(1.0, std::abs(ref)), "scale " << scale);
    // float too: no overflow at 1e4.
    sx::tensor<float, sx::dyn, 10> f = sx::cast<float>(logits);
    const float got_f = sx::eval(nn::cross_entropy(f, labels))();
    BOOST_TEST(std::abs(got_f - ref) <= 1e-5 * std::max(1.0, std::abs(ref)), "float, scale " << scale);
  }
  // The gradient is (softmax - onehot) / batch.
  const auto logits = random_tensor<double, sx::dyn, 4>(12, -2, 2, 5);
  sx::tensor<std::int32_t, sx::dyn> labels{0, 3, 1, 1, 2};
  expect_gradcheck(
      "cross_entropy", [&](auto& z) { return nn::cross_entropy(z, labels); }, logits);
  const sx::tensor<double, sx::dyn, 4> g = sx::grad(nn::cross_entropy(logits, labels), logits);
  const sx::tensor<double, sx::dyn, 4> p = sx::softmax<1>(logits);
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t c = 0; c < 4; ++c)
      BOOST_TEST_REQUIRE(std::abs(g(i, c) - (p(i, c) - (labels(i) == std::int32_t(c))) / 5) <= 1e-15);
}

BOOST_AUTO_TEST_CASE(mse) {
  const auto a = random_tensor<double, 4, 6>(13, -1, 1), b = random_tensor<double, 4, 6>(14, -1, 1);
  double ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ref += (a.data()[i] - b.data()[i]) * (a.data()[i] - b.data()[i]);
  BOOST_TEST(sx::eval(nn::mse(a, b))() == ref / 24, boost::test_tools::tolerance(1e-14));
  expect_gradcheck(
      "mse", [&](auto& p) { return nn::mse(p, b); }, a);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// PyTorch's documented update formulas, in double, for one parameter vector.
struct reference_optimizer {
  std::string kind;  // sgd, adam, adamw
  sx::optim::sgd_options sgd;
  sx::optim::adam_options adam;
  std::vector<double> buf, m, v, v_max;
  std::size_t t = 0;

  static reference_optimizer sgd_with(const sx::optim::sgd_options& o) {
    reference_optimizer r;
    r.kind = "sgd";
    r.sgd = o;
    return r;
  }
  static reference_optimizer adam_with(const std::string& kind, const sx::optim::adam_options& o) {
    reference_optimizer r;
    r.kind = kind;
    r.adam = o;
    return r;
  }

  void step(std::vector<double>& p, const std::vector<double>& grad) {
    const std::size_t n = p.size();
    if (buf.empty()) buf = m = v = v_max = std::vector<double>(n, 0.0);
    ++t;
    for (std::size_t i = 0; i < n; ++i) {
      double g = grad[i];
      if (kind == "sgd") {
        g += sgd.weight_decay * p[i];
        if (sgd.momentum != 0) {
          buf[i] = t == 1 ? g : sgd.momentum * buf[i] + (1 - sgd.dampening) * g;
          g = sgd.nesterov ? g + sgd.momentum * buf[i] : buf[i];
        }
        p[i] -= sgd.lr * g;
        continue;
      }
      if (kind == "adamw")
        p[i] *= 1 - adam.lr * adam.weight_decay;
      else
        g += adam.weight_decay * p[i];
      m[i] = adam.beta1 * m[i] + (1 - adam.beta1) * g;
      v[i] = adam.beta2 * v[i] + (1 - adam.beta2) * g * g;
      const double mhat = m[i] / (1 - std::pow(adam.beta1, double(t)));
      v_max[i] = std::max(v_max[i], v[i]);
      const double vhat = (adam.amsgrad ? v_max[i] : v[i]) / (1 - std::pow(adam.beta2, double(t)));
      p[i] -= adam.lr * mhat / (std::sqrt(vhat) + adam.eps);
    }
  }
};

/// 100 steps of `opt` on two float parameters (a matrix and a vector with a dyn extent) with random
/// gradients, against the double reference; agreement to 1e-5 relative.
template <class MakeOptimizer>
void check_optimizer(const std::string& what, reference_optimizer ref, MakeOptimizer make) {
  sx::tensor<float, 7, 19> w;
  sx::tensor<float, sx::dyn> b(35);
  fill_uniform(w, -1, 1, 21);
  fill_uniform(b, -1, 1, 22);
  std::vector<double> rw(w.begin(), w.end()), rb(b.begin(), b.end());
  const std::vector<double> initial = rw;
  reference_optimizer ref_b = ref;
  auto opt = make(std::tie(w, b));
  sx::tensor<float, 7, 19> gw;
  sx::tensor<float, sx::dyn> gb(35);
  for (unsigned step = 0; step < 100; ++step) {
    fill_uniform(gw, -1, 1, 100 + step);
    fill_uniform(gb, -1, 1, 300 + step);
    opt.step(std::tie(gw, gb));
    ref.step(rw, std::vector<double>(gw.begin(), gw.end()));
    ref_b.step(rb, std::vector<double>(gb.begin(), gb.end()));
  }
  BOOST_TEST(opt.steps() == 100u);
  double worst = 0;
  for (std::size_t i = 0; i < rw.size(); ++i)
    worst = std::max(worst, std::abs(w.data()[i] - rw[i]) / std::max(1.0, std::abs(rw[i])));
  for (std::size_t i = 0; i < rb.size(); ++i)
    worst = std::max(worst, std::abs(b.data()[i] - rb[i]) / std::max(1.0, std::abs(rb[i])));
  BOOST_TEST(worst <= 1e-5, what << ": worst relative difference " << worst);
  // The parameters moved far beyond the tolerance: an optimizer that does nothing fails.
  double moved = 0;
  for (std::size_t i = 0; i < rw.size(); ++i) moved = std::max(moved, std::abs(double(w.data()[i]) - initial[i]));
  BOOST_TEST(moved > 1e-3, what << ": moved " << moved);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optimizers)

BOOST_AUTO_TEST_CASE(sgd_matches_pytorch_formulas) {
  const std::vector<sx::optim::sgd_options> cases{
      {.lr = 0.1},
      {.lr = 0.05, .momentum = 0.9},
      {.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01},
      {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.02, .nesterov = true},
  };
  for (const auto& o : cases) {
    check_optimizer("sgd momentum " + std::to_string(o.momentum) + (o.nesterov ? " nesterov" : ""),
                    reference_optimizer::sgd_with(o), [&](auto params) { return sx::optim::sgd(params, o); });
  }
  sx::tensor<float, 3> p;
  BOOST_CHECK_THROW(sx::optim::sgd(std::tie(p), {.lr = 0.1, .nesterov = true}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(adam_and_adamw_match_pytorch_formulas) {
  const std::vector<sx::optim::adam_options> cases{
      {},
      {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6},
      {.lr = 0.01, .weight_decay = 0.05},
      {.lr = 0.01, .weight_decay = 0.05, .amsgrad = true},
  };
  for (const auto& o : cases) {
    const std::string name =
        "lr " + std::to_string(o.lr) + " wd " + std::to_string(o.weight_decay) + (o.amsgrad ? " amsgrad" : "");
    check_optimizer("adam " + name, reference_optimizer::adam_with("adam", o),
                    [&](auto params) { return sx::optim::adam(params, o); });
    check_optimizer("adamw " + name, reference_optimizer::adam_with("adamw", o),
                    [&](auto params) { return sx::optim::adamw(params, o); });
  }
  sx::tensor<float, 3> p;
  BOOST_TEST(sx::optim::adamw(std::tie(p)).options().weight_decay == 0.01);  // PyTorch's default
}

BOOST_AUTO_TEST_CASE(a_step_is_one_pass_per_parameter) {
  sx::tensor<float, 64, 33> w;
  sx::tensor<float, 33> b;
  sx::tensor<float, 64, 33> gw;
  sx::tensor<float, 33> gb;
  fill_uniform(gw, -1, 1, 1);
  sx::optim::adam opt(std::tie(w, b), {.amsgrad = true});
  const long before = allocation_count();
  opt.step(std::tie(gw, gb));
  BOOST_TEST(allocation_count() == before);  // fused in place: no temporaries
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

std::filesystem::path temporary_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("statix_test_" + std::to_string(::getpid()) + "_" + name);
}

std::vector<unsigned char> idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& extents,
                                     const std::vector<unsigned char>& payload) {
  std::vector<unsigned char> out{0, 0, type, static_cast<unsigned char>(extents.size())};
  for (std::uint32_t e : extents)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<unsigned char>(e >> shift));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void write_file(const std::filesystem::path& path, const std::vector<unsigned char>& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
}

void expect_idx_error(const std::vector<unsigned char>& bytes, const std::string& words) {
  const auto path = temporary_file("bad.idx");
  write_file(path, bytes, false);
  try {
    (void)sx::io::read_idx(path.string());
    BOOST_ERROR("no io_error for a file that should give: " << words);
  } catch (const sx::io_error& e) {
    BOOST_TEST(std::string(e.what()).find(words) != std::string::npos, e.what() << " should say " << words);
  }
  std::filesystem::remove(path);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(idx_files)

BOOST_AUTO_TEST_CASE(reads_plain_and_gzip) {
  std::vector<unsigned char> pixels(2 * 3 * 4);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i * 11);
  for (bool gzip : {false, true}) {
    const auto path = temporary_file(gzip ? "images.idx.gz" : "images.idx");
    write_file(path, idx_bytes(0x08, {2, 3, 4}, pixels), gzip);
    const sx::io::idx_array a = sx::io::read_idx(path.string());
    BOOST_TEST((a.shape == std::vector<std::size_t>{2, 3, 4}));
    BOOST_TEST((a.type == sx::io::idx_type::u8));
    const auto t = a.to_tensor<float, sx::dyn, 12>();
    BOOST_TEST(t.extent(0) == 2u);
    for (std::size_t i = 0; i < pixels.size(); ++i) BOOST_TEST_REQUIRE(t.data()[i] == float(pixels[i]));
    BOOST_CHECK_THROW((a.to_tensor<float, sx::dyn, 5>()), sx::io_error);
    BOOST_CHECK_THROW((a.to_tensor<float, 5, 5>()), sx::io_error);
    std::filesystem::remove(path);
  }
  // Big-endian multi-byte elements: int32 -2 and 258, float 1.5.
  const auto path = temporary_file("ints.idx");
  write_file(path, idx_bytes(0x0C, {2}, {0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 1, 2}), false);
  const auto ints = sx::io::read_idx(path.string()).to_tensor<std::int32_t, sx::dyn>();
  BOOST_TEST(ints(0) == -2);
  BOOST_TEST(ints(1) == 258);
  write_file(path, idx_bytes(0x0D, {1}, {0x3F, 0xC0, 0, 0}), true);
  BOOST_TEST(sx::io::read_idx(path.string()).at<double>(0) == 1.5);
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(rejects_corrupt_files) {
  expect_idx_error({0, 0}, "truncated header");
  expect_idx_error({1, 0, 8, 1, 0, 0, 0, 1, 7}, "bad magic");
  expect_idx_error({0, 0, 0x42, 1, 0, 0, 0, 1, 7}, "unknown element type");
  expect_idx_error({0, 0, 8, 0}, "rank 0");
  expect_idx_error({0, 0, 8, 2, 0, 0, 0, 1}, "truncated header");
  expect_idx_error(idx_bytes(0x08, {3}, {1, 2}), "truncated data");
  expect_idx_error(idx_bytes(0x08, {2}, {1, 2, 3}), "trailing data");
  expect_idx_error(idx_bytes(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF}, {}), "too large");
  BOOST_CHECK_THROW(sx::io::read_idx(temporary_file("missing").string()), sx::io_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(loader)

BOOST_AUTO_TEST_CASE(batches_cover_every_sample_once_in_a_seeded_order) {
  const std::size_t n = 103;
  sx::tensor<float, sx::dyn, 3> x(n);
  sx::tensor<std::int32_t, sx::dyn> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    y(i) = std::int32_t(i);
    for (std::size_t k = 0; k < 3; ++k) x(i, k) = float(i * 10 + k);
  }
  sx::io::loader<float, 3> batches(x, y, {.batch_size = 16, .seed = 5});
  BOOST_TEST(batches.size() == 7u);  // 6 full batches and one of 7
  auto order_of = [&](std::size_t epoch) {
    batches.set_epoch(epoch);
    std::vector<std::int32_t> order;
    decltype(batches)::batch b;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      batches.fetch(i, b);
      BOOST_TEST_REQUIRE(b.size() == (i + 1 < batches.size() ? 16u : 7u));
      for (std::size_t k = 0; k < b.size(); ++k) {
        order.push_back(b.labels(k));
        BOOST_TEST_REQUIRE(b.inputs(k, 2) == float(b.labels(k) * 10 + 2));  // inputs stay with their labels
      }
    }
    return order;
  };
  const auto first = order_of(0), second = order_of(1), again = order_of(0);
  BOOST_TEST(std::set<std::int32_t>(first.begin(), first.end()).size() == n);
  BOOST_TEST(first == again);
  BOOST_TEST(first != second);
  std::vector<std::int32_t> identity(n);
  std::iota(identity.begin(), identity.end(), 0);
  BOOST_TEST(first != identity);

  sx::io::loader<float, 3> in_order(x, y, {.batch_size = 50, .shuffle = false, .drop_last = true});
  BOOST_TEST(in_order.size() == 2u);
  BOOST_TEST(in_order[1].labels(0) == 50);
  BOOST_CHECK_THROW(in_order[2], std::out_of_range);
  sx::tensor<std::int32_t, sx::dyn> short_labels(5);
  BOOST_CHECK_THROW((sx::io::loader<float, 3>(x, short_labels, {})), sx::shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
