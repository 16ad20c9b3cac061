// Symbolic gradients of reductions, the softmax family and layout (reshape, transpose, permute):
// gradcheck (central differences in double) at several shapes, static and dyn.
#include <type_traits>

#include "support.hpp"

using statix_test::expect_gradcheck;
using statix_test::fill_uniform;
using statix_test::random_tensor;
using statix_test::weighted;

BOOST_AUTO_TEST_SUITE(gradients_reductions)

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

BOOST_AUTO_TEST_SUITE_END()
