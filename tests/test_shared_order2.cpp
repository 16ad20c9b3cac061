// Shared nodes differentiated more than once: sx::share<2> through a gradient, forward mode and a
// Hessian-vector product (against differences of gradients), and sx::share refusing what its order
// does not allow. (Order-2 nodes compile their derivatives' derivatives: a file of their own.)
#include "support.hpp"

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

using namespace statix_test;

namespace {

constexpr std::size_t rows = 5, width = 7;
using matrix = sx::tensor<double, rows, width>;
using weight = sx::tensor<double, width, width>;
using bias = sx::tensor<double, width>;

}  // namespace

BOOST_AUTO_TEST_SUITE(shared_order)

BOOST_AUTO_TEST_CASE(gradients_through_shared_nodes_differentiate_again) {
  const matrix x = random_tensor<double, rows, width>(11, -1, 1);
  std::array<weight, 2> w;
  std::array<bias, 2> b;
  fill_uniform(w[0], -0.6, 0.6, 12);
  fill_uniform(w[1], -0.6, 0.6, 13);
  fill_uniform(b[0], -0.2, 0.4, 14);
  const auto dw = random_tensor<double, width, width>(15, -1, 1);
  auto loss_at = [&](const weight& w0) {
    auto s = sx::share(sx::as_node(x));
    auto h = sx::share<2>(s + sx::relu(sx::matmul(s, sx::transpose(w0)) + b[0]));  // differentiated twice
    return sx::sum(sx::tanh(h + sx::relu(sx::matmul(h, sx::transpose(w[1])) + b[1])));
  };
  // Forward mode through the shared nodes agrees with the gradient contracted with the direction.
  const auto g = sx::eval(sx::grad(loss_at(w[0]), w[0]));
  const double directional = sx::eval(sx::jvp(loss_at(w[0]), w[0], dw))();
  BOOST_TEST(directional == sx::eval(sx::sum(g * dw))(), boost::test_tools::tolerance(1e-12));
  // The Hessian-vector product against central differences of the gradient.
  const weight hv = sx::grad(sx::sum(sx::grad(loss_at(w[0]), w[0]) * dw), w[0]);
  const double h = 1e-5;
  weight up = w[0] + h * dw, down = w[0] - h * dw;
  const weight g_up = sx::grad(loss_at(up), up), g_down = sx::grad(loss_at(down), down);
  std::vector<double> numeric(width * width);
  for (std::size_t i = 0; i < numeric.size(); ++i) numeric[i] = (g_up.data()[i] - g_down.data()[i]) / (2 * h);
  check_close(hv.data(), numeric, 1e-6, "Hessian-vector product");
}

BOOST_AUTO_TEST_CASE(a_shared_node_is_differentiated_no_more_than_its_order) {
  // sx::share(e) is compiled for gradients: forward mode and second derivatives through it throw
  // (with what to write instead); sx::share<2>(e) allows both (the test above).
  auto w = random_tensor<double, 3, 3>(18, -1, 1);
  const auto dw = random_tensor<double, 3, 3>(19, -1, 1);
  auto loss = [&](const auto& v) {
    auto h = sx::share(sx::tanh(sx::matmul(v, v)));
    return sx::sum(h * h);
  };
  expect_error<std::logic_error>([&] { (void)sx::eval(sx::jvp(loss(w), w, dw)); }, {"sx::share<2>"});
  expect_error<std::logic_error>(
      [&] { const sx::tensor<double, 3, 3> hv = sx::grad(sx::sum(sx::grad(loss(w), w) * dw), w); },
      {"differentiated more times than its order"});
  // One derivative is what the order allows: the gradient agrees with gradcheck.
  expect_gradcheck(
      "order 1", [&](auto& v) { return loss(v); }, w);
}

BOOST_AUTO_TEST_SUITE_END()
