// Symbolic gradients of matmul, convolution and pooling: gradcheck (central differences in double)
// at several shapes, static and dyn.
#include <type_traits>

#include "support.hpp"

using statix_test::expect_gradcheck;
using statix_test::fill_uniform;
using statix_test::random_tensor;
using statix_test::weighted;

BOOST_AUTO_TEST_SUITE(gradients_linalg)

BOOST_AUTO_TEST_CASE(matmul) {
  for (auto [m, k, n] : {std::array<std::size_t, 3>{1, 1, 1}, {3, 5, 2}, {7, 17, 9}, {20, 3, 33}}) {
    sx::tensor<double, sx::dyn, sx::dyn> a(m, k), b(k, n), c(m, n);
    fill_uniform(a, -1, 1, 1);
    fill_uniform(b, -1, 1, 2);
    fill_uniform(c, -1, 1, 3);
    expect_gradcheck(
        "matmul " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n),
        [&](auto& a, auto& b) { return weighted(sx::matmul(a, b), c); }, a, b);
  }
  auto a = random_tensor<double, 4, 6>(4, -1, 1);
  auto b = random_tensor<double, 6, 3>(5, -1, 1);
  auto c = random_tensor<double, 4, 3>(6, -1, 1);
  expect_gradcheck(
      "matmul of expressions",
      [&](auto& a, auto& b) { return weighted(sx::tanh(sx::matmul(sx::sin(a), b * b) + 1), c); }, a, b);
  auto a3 = random_tensor<double, 2, 4, 6>(7, -1, 1);
  auto c3 = random_tensor<double, 2, 4, 3>(8, -1, 1);
  expect_gradcheck(
      "batched matmul", [&](auto& a, auto& b) { return weighted(sx::matmul(a, b), c3); }, a3, b);
  auto sq = random_tensor<double, 5, 5>(9, -1, 1);
  expect_gradcheck(
      "matmul(x, x)", [&](auto& s) { return sx::sum(sx::sin(sx::matmul(s, s))); }, sq);
}

BOOST_AUTO_TEST_CASE(convolution_and_pooling) {
  auto x = random_tensor<double, 2, 3, 7, 6>(1, -1, 1);
  auto w = random_tensor<double, 4, 3, 3, 3>(2, -1, 1);
  expect_gradcheck(
      "conv2d<1, 1> 3x3", [&](auto& x, auto& w) { return sx::sum(sx::sin(sx::conv2d<1, 1>(x, w))); }, x, w);
  expect_gradcheck(
      "conv2d<2, 0> 3x3, odd sizes", [&](auto& x, auto& w) { return sx::sum(sx::sin(sx::conv2d<2, 0>(x, w))); }, x, w);
  auto x4 = random_tensor<double, 1, 4, 5, 5>(3, -1, 1);
  auto wg = random_tensor<double, 6, 2, 1, 1>(4, -1, 1);
  expect_gradcheck(
      "conv2d groups 2, 1x1", [&](auto& x, auto& w) { return sx::sum(sx::tanh(sx::conv2d<1, 0, 2>(x, w))); }, x4, wg);
  auto wd = random_tensor<double, 4, 1, 3, 3>(5, -1, 1);
  expect_gradcheck(
      "depthwise, stride 2, pad 1", [&](auto& x, auto& w) { return sx::sum(sx::tanh(sx::conv2d<2, 1, 4>(x, w))); }, x4,
      wd);
  expect_gradcheck(
      "max_pool2d<2>", [&](auto& x) { return sx::sum(sx::sin(sx::max_pool2d<2>(x))); }, x);
  expect_gradcheck(
      "max_pool2d<3, 2>", [&](auto& x) { return sx::sum(sx::sin(sx::max_pool2d<3, 2>(x))); }, x);
  expect_gradcheck(
      "avg_pool2d<3, 2>", [&](auto& x) { return sx::sum(sx::sin(sx::avg_pool2d<3, 2>(x))); }, x);
  sx::tensor<double, sx::dyn, 3, 7, 6> xd(1);
  fill_uniform(xd, -1, 1, 6);
  expect_gradcheck(
      "dyn batch conv", [&](auto& x, auto& w) { return sx::sum(sx::sin(sx::conv2d<1, 1>(x, w))); }, xd, w);
}

BOOST_AUTO_TEST_SUITE_END()
