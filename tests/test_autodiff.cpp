// Symbolic gradients of every primitive: gradcheck (central differences in double) at several shapes,
// static and dyn.
#include <type_traits>

#include "support.hpp"

using statix_test::expect_gradcheck;
using statix_test::fill_uniform;
using statix_test::random_tensor;
using statix_test::weighted;

BOOST_AUTO_TEST_SUITE(gradients)

BOOST_AUTO_TEST_CASE(elementwise_ops_static_and_dyn) {
  auto x = random_tensor<double, 3, 5>(1, -2, 2);
  auto pos = random_tensor<double, 3, 5>(2, 0.2, 2);
  auto y = random_tensor<double, 3, 5>(3, -2, 2);
  auto c = random_tensor<double, 3, 5>(4, -1, 1);
  expect_gradcheck(
      "add sub mul div neg", [&](auto& a, auto& b) { return weighted(-(a + b) * a - b / (a * a + 1), c); }, x, y);
  expect_gradcheck(
      "exp log sqrt rsqrt",
      [&](auto& a, auto& p) { return weighted(sx::exp(a) + sx::log(p) + sx::sqrt(p) * sx::rsqrt(p + 1), c); }, x, pos);
  expect_gradcheck(
      "expm1 log1p", [&](auto& a, auto& p) { return weighted(sx::expm1(a) * sx::log1p(p), c); }, x, pos);
  expect_gradcheck(
      "sigmoid tanh sin cos",
      [&](auto& a) { return weighted(sx::sigmoid(a) * sx::tanh(a) + sx::sin(a) - sx::cos(a), c); }, x);
  expect_gradcheck(
      "abs square relu", [&](auto& a) { return weighted(sx::abs(a) + sx::square(a) + sx::relu(a), c); }, x);
  expect_gradcheck(
      "maximum minimum",
      [&](auto& a, auto& b) { return weighted(sx::maximum(a, b) * 2 + sx::minimum(a, b) + sx::maximum(a, 0.5), c); }, x,
      y);
  expect_gradcheck(
      "pow", [&](auto& p, auto& a) { return weighted(sx::pow(p, 2.5) + sx::pow(p, a * 0.5), c); }, pos, x);
  expect_gradcheck(
      "scalars on both sides", [&](auto& a) { return weighted(2 - a * 3 + 1 / (a * a + 2) - 4 / (pos + a * a), c); },
      x);

  // dyn extents: one row (broadcast-sized) and several
  for (std::size_t rows : {1u, 4u}) {
    auto xd = random_tensor<double, sx::dyn, 7>(5, -1, 1, rows);
    auto pd = random_tensor<double, sx::dyn, 7>(6, 0.5, 2, rows);
    auto cd = random_tensor<double, sx::dyn, 7>(7, -1, 1, rows);
    expect_gradcheck(
        "dyn elementwise", [&](auto& a, auto& p) { return sx::sum((sx::tanh(a) * sx::log(p) + sx::exp(a) / p) * cd); },
        xd, pd);
  }
}

BOOST_AUTO_TEST_CASE(broadcasting_sums_the_adjoint) {
  auto x = random_tensor<double, 4, 5>(1, -1, 1);
  auto row = random_tensor<double, 5>(2, -1, 1);
  auto column = random_tensor<double, 4, 1>(3, -1, 1);
  auto one = random_tensor<double, 1, 1>(4, -1, 1);
  auto s = random_tensor<double>(5, -1, 1);
  auto c = random_tensor<double, 4, 5>(6, -1, 1);
  expect_gradcheck(
      "bias row, column, 1x1, rank 0",
      [&](auto& x, auto& r, auto& col, auto& o, auto& s) { return weighted(sx::tanh(x + r) * col + o * x - s, c); }, x,
      row, column, one, s);
  // dyn against dyn: which one broadcasts is known at run time only
  auto a = random_tensor<double, sx::dyn, 5>(7, -1, 1, 1);
  auto b = random_tensor<double, sx::dyn, 5>(8, -1, 1, 3);
  expect_gradcheck(
      "dyn row broadcast against dyn", [&](auto& a, auto& b) { return sx::sum(sx::sin(a * b) + a); }, a, b);
  expect_gradcheck(
      "dyn, no broadcast", [&](auto& b) { return sx::sum(sx::sin(b * b)); }, b);
  auto r3 = random_tensor<double, 2, 1, 3>(9, -1, 1);
  auto r3b = random_tensor<double, 4, 1>(10, -1, 1);
  expect_gradcheck(
      "rank 3 both ways", [&](auto& p, auto& q) { return sx::sum(sx::exp(p * q) * 0.5); }, r3, r3b);
}

BOOST_AUTO_TEST_CASE(where_and_cast) {
  auto x = random_tensor<double, 3, 5>(1, -1, 1);
  auto y = random_tensor<double, 3, 5>(2, -1, 1);
  auto c = random_tensor<double, 3, 5>(3, -1, 1);
  expect_gradcheck(
      "where",
      [&](auto& a, auto& b) { return weighted(sx::where(a > b, a * b, sx::sin(b)) + sx::where(a < 0, 1.5, a), c); }, x,
      y);
  expect_gradcheck(
      "cast from bool", [&](auto& a) { return weighted(sx::cast<double>(a > 0) * a * a, c); }, x);
  // through a dtype change: the adjoint is cast back (exact for these values)
  sx::tensor<double, 4> d{1.0, 2.0, 3.0, 4.0};
  sx::tensor<float, 4> w{0.5f, -1.0f, 2.0f, 0.25f};
  sx::tensor<double, 4> g = sx::grad(sx::sum(sx::cast<float>(d) * w), d);
  for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(g(i) == static_cast<double>(w(i)));
}

BOOST_AUTO_TEST_CASE(reductions) {
  auto x = random_tensor<double, 3, 4, 5>(1, -1, 1);
  auto c2 = random_tensor<double, 3, 5>(2, -1, 1);
  auto c1 = random_tensor<double, 4>(3, -1, 1);
  expect_gradcheck(
      "sum all, mean all", [&](auto& a) { return sx::sum(a * a) + sx::mean(sx::sin(a)); }, x);
  expect_gradcheck(
      "sum<1>", [&](auto& a) { return weighted(sx::sum<1>(sx::tanh(a)), c2); }, x);
  expect_gradcheck(
      "mean<0, 2>", [&](auto& a) { return weighted(sx::mean<2, 0>(a * a), c1); }, x);
  expect_gradcheck(
      "max<1>, min<1>", [&](auto& a) { return weighted(sx::max<1>(a) - sx::min<1>(a * 2), c2); }, x);
  expect_gradcheck(
      "max all", [&](auto& a) { return sx::max(a) * sx::min(a); }, x);
  expect_gradcheck(
      "sum of a reduction", [&](auto& a) { return sx::sum(sx::exp(sx::sum<0>(a))); }, x);
  auto xd = random_tensor<double, sx::dyn, 6>(4, -1, 1, 5);
  auto cd = random_tensor<double, 6>(5, -1, 1);
  expect_gradcheck(
      "dyn sum<0>, mean<1>",
      [&](auto& a) { return weighted(sx::sum<0>(a * a), cd) + sx::sum(sx::square(sx::mean<1>(a))); }, xd);
}

BOOST_AUTO_TEST_CASE(softmax_family) {
  auto x = random_tensor<double, 4, 7>(1, -3, 3);
  auto c = random_tensor<double, 4, 7>(2, -1, 1);
  auto c0 = random_tensor<double, 7>(3, -1, 1);
  auto c1 = random_tensor<double, 4>(4, -1, 1);
  expect_gradcheck(
      "softmax<1>", [&](auto& a) { return weighted(sx::softmax<1>(a), c); }, x);
  expect_gradcheck(
      "softmax<0>", [&](auto& a) { return weighted(sx::softmax<0>(a), c); }, x);
  expect_gradcheck(
      "log_softmax<1>", [&](auto& a) { return weighted(sx::log_softmax<1>(a), c); }, x);
  expect_gradcheck(
      "log_softmax<0>", [&](auto& a) { return weighted(sx::log_softmax<0>(a * a), c); }, x);
  expect_gradcheck(
      "logsumexp<1>", [&](auto& a) { return weighted(sx::logsumexp<1>(a), c1); }, x);
  expect_gradcheck(
      "logsumexp<0>", [&](auto& a) { return weighted(sx::logsumexp<0>(a), c0); }, x);
  auto x3 = random_tensor<double, 2, 3, 4>(5, -2, 2);
  auto c3 = random_tensor<double, 2, 3, 4>(6, -1, 1);
  expect_gradcheck(
      "softmax<1> of rank 3", [&](auto& a) { return weighted(sx::softmax<1>(a), c3); }, x3);
  auto xd = random_tensor<double, sx::dyn, 9>(7, -2, 2, 3);
  auto cd = random_tensor<double, sx::dyn, 9>(8, -1, 1, 3);
  expect_gradcheck(
      "dyn log_softmax", [&](auto& a) { return weighted(sx::log_softmax<1>(a) + sx::softmax<1>(a), cd); }, xd);
}

BOOST_AUTO_TEST_CASE(layout) {
  auto x = random_tensor<double, 3, 5>(1, -1, 1);
  auto c = random_tensor<double, 5, 3>(2, -1, 1);
  expect_gradcheck(
      "transpose", [&](auto& a) { return weighted(sx::transpose(sx::sin(a)), c); }, x);
  auto x3 = random_tensor<double, 2, 3, 4>(3, -1, 1);
  auto c3 = random_tensor<double, 4, 2, 3>(4, -1, 1);
  expect_gradcheck(
      "permute<2, 0, 1>", [&](auto& a) { return weighted(sx::permute<2, 0, 1>(a * a), c3); }, x3);
  auto c6 = random_tensor<double, 6, 4>(5, -1, 1);
  expect_gradcheck(
      "reshape of memory", [&](auto& a) { return weighted(sx::tanh(sx::reshape<sx::dyn, 4>(a)), c6); }, x3);
  expect_gradcheck(
      "reshape of an expression", [&](auto& a) { return weighted(sx::reshape<6, 4>(sx::exp(a)), c6); }, x3);
  auto xd = random_tensor<double, sx::dyn, 4>(6, -1, 1, 6);
  auto cd = random_tensor<double, 4, 2, 3>(7, -1, 1);
  expect_gradcheck(
      "dyn reshape and permute",
      [&](auto& a) { return weighted(sx::permute<2, 0, 1>(sx::reshape<2, 3, 4>(a * 3)), cd); }, xd);
}

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
