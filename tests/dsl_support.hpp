// Helpers for the dsl/ test suites.
#pragma once

#include "support.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>

#include <statix/nn.hpp>

namespace statix_test {

/// The gradients statix::nn::value_and_gradients gives for every parameter of `model` against central
/// differences of the loss, perturbing the model's own parameters in place (double precision).
template <class Model, class Loss>
void check_model_gradients(const std::string& what, Model& model, Loss loss) {
  // Not a structured binding: clang 14 cannot capture one in the lambda below.
  const auto result = statix::nn::value_and_gradients(loss(), model);
  const auto& grads = result.second;
  BOOST_TEST(result.first == sx::eval(loss())(), boost::test_tools::tolerance(1e-13));
  auto params = model.parameters();
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    auto check = [&](auto& p, const auto& g, std::size_t index) {
      for (std::size_t i = 0; i < p.size(); ++i) {
        double& x = p.data()[i];
        const double keep = x, h = 1e-6 * std::max(1.0, std::abs(keep));
        x = keep + h;
        const double up = sx::eval(loss())();
        x = keep - h;
        const double down = sx::eval(loss())();
        x = keep;
        const double numeric = (up - down) / (2 * h), analytic = g.data()[i];
        BOOST_TEST_REQUIRE(std::abs(numeric - analytic) <= 1e-7 + 1e-5 * std::abs(numeric),
                           what << ": " << Model::parameter_names()[index] << "[" << i << "] analytic " << analytic
                                << ", numeric " << numeric);
      }
    };
    (check(std::get<I>(params), std::get<I>(grads), I), ...);
  }
  (std::make_index_sequence<std::tuple_size_v<decltype(params)>>{});
}

}  // namespace statix_test
