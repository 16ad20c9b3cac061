// dsl/: batch norm (1d and 2d, both modes, running statistics, its fused primitive) against
// double-precision references and gradcheck.
#include "dsl_support.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <statix/nn.hpp>

using namespace statix_test;
namespace nn = statix::nn;

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
