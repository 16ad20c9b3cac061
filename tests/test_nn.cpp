// dsl/: layers against double-precision references, sequential models (shape flow, names, modes,
// NaN), losses (stability, gradients, bad labels).
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

  // A diverged weight shows as a NaN loss: relu and max pooling pass the NaN on (they used to turn
  // it into 0 and a finite loss).
  sx::tensor<std::int32_t, sx::dyn> labels{3, 7};
  BOOST_TEST(std::isfinite(sx::eval(nn::cross_entropy(model(x), labels))()));
  model.layer<0>().weight(2, 0, 1, 1) = std::numeric_limits<float>::quiet_NaN();
  BOOST_TEST(std::isnan(sx::eval(nn::cross_entropy(model(x), labels))()));
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

BOOST_AUTO_TEST_CASE(cross_entropy_rejects_bad_labels) {
  // As PyTorch: a label outside [0, classes) is an error, not a wrong loss; so is a label count that
  // is not one per row, named as the user's operation.
  const auto logits = random_tensor<float, sx::dyn, 10>(15, -1, 1, 3);
  for (std::int32_t bad : {10, 12, -1}) {
    sx::tensor<std::int32_t, sx::dyn> labels{1, bad, 2};
    expect_error<std::out_of_range>([&] { (void)nn::cross_entropy(logits, labels); },
                                    {"cross_entropy", "label " + std::to_string(bad), "row 1", "10 classes"});
  }
  sx::tensor<std::int32_t, sx::dyn> four{1, 2, 3, 4};
  expect_error<sx::shape_error>([&] { (void)nn::cross_entropy(logits, four); }, {"cross_entropy", "(3, 10)", "(4)"});
  // Labels from an expression are evaluated and checked too.
  sx::tensor<std::int32_t, sx::dyn> labels{1, 2, 3};
  BOOST_CHECK_THROW((void)nn::cross_entropy(logits, labels * 4), std::out_of_range);
  BOOST_TEST(std::isfinite(sx::eval(nn::cross_entropy(logits, labels * 3))()));
  // A linear layer's mismatch names the layer and its weight as declared, (Out, In).
  nn::linear<10, 4> layer;
  const auto wide = random_tensor<float, sx::dyn, sx::dyn>(16, -1, 1, 3, 12);
  expect_error<sx::shape_error>([&] { (void)layer(wide); }, {"linear", "(3, 12)", "(4, 10)"});
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
