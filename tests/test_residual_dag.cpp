// Residual chains of conv + batch norm (nn::residual, batch norm sharing its input): every
// convolution runs once forward and once backward at every depth, and the gradients pass.
#include "dsl_support.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using namespace statix_test;
namespace nn = statix::nn;

BOOST_AUTO_TEST_SUITE(residual_dag)

/// D residual blocks of conv + batch norm: every convolution runs forward once and backward once
/// (its weight's gradient, and its input's except for the first), independent of D; the batch norm's
/// running statistics need no forward pass of their own.
using conv = nn::conv2d<3, 3, 3, 1, 1, double>;
using unit = nn::residual<conv, nn::batch_norm2d<3, double>, nn::relu>;
template <std::size_t... K>
auto conv_chain_of(std::index_sequence<K...>)
    -> nn::sequential<conv, nn::batch_norm2d<3, double>, nn::relu, std::conditional_t<true, unit, decltype(K)>...,
                      nn::flatten, nn::linear<48, 2, double>>;
template <std::size_t D>
using conv_chain = decltype(conv_chain_of(std::make_index_sequence<D>{}));

template <std::size_t D>
void check_conv_chain() {
  conv_chain<D> model(sx::random::key{3});
  const auto x = random_tensor<double, sx::dyn, 3, 4, 4>(30, -1, 1, 3);
  sx::tensor<std::int32_t, sx::dyn> labels(3);
  for (std::size_t i = 0; i < 3; ++i) labels(i) = std::int32_t(i % 2);
  using forward = sx::op::conv2d<1, 1, 1>;
  using input_grad = sx::op::conv2d_input_grad<1, 1, 1>;
  using weight_grad = sx::op::conv2d_weight_grad<1, 1, 1>;
  sx::reset_evaluations<forward>();
  sx::reset_evaluations<input_grad>();
  sx::reset_evaluations<weight_grad>();
  (void)nn::value_and_gradients(nn::cross_entropy(model(x), labels), model);
  BOOST_TEST(sx::evaluations<forward>() == D + 1, "depth " << D);
  BOOST_TEST(sx::evaluations<weight_grad>() == D + 1, "depth " << D);
  BOOST_TEST(sx::evaluations<input_grad>() == D, "depth " << D);
  check_model_gradients("conv + batch norm residual chain", model, [&] { return nn::cross_entropy(model(x), labels); });
}

BOOST_AUTO_TEST_CASE(conv_batch_norm_chains_run_each_convolution_once) {
  // Each depth is a model type of its own (a gradient to compile): 1, 2, 4 and 8 blocks.
  check_conv_chain<1>();
  check_conv_chain<2>();
  check_conv_chain<4>();
  check_conv_chain<8>();
}

BOOST_AUTO_TEST_SUITE_END()
