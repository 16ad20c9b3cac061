// dsl/: batch norm's state names, modes and gradients (through the batch's statistics in training,
// the running ones in evaluation; 1d in a model, 2d alone) against central differences, in double.
#include "dsl_support.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <statix/nn.hpp>

using namespace statix_test;
namespace nn = statix::nn;

BOOST_AUTO_TEST_SUITE(batch_norm_gradients)

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

BOOST_AUTO_TEST_SUITE_END()
