// Symbolic gradients of the elementwise primitives, broadcasting, where and cast: gradcheck (central
// differences in double) at several shapes, static and dyn.
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

BOOST_AUTO_TEST_SUITE_END()
