// dsl/: dropout (seeded masks, fused, its gradient, modes) and residual blocks (names, values,
// gradients).
#include "dsl_support.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <statix/nn.hpp>

using namespace statix_test;
namespace nn = statix::nn;

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
