// Higher-order derivatives and forward mode: second derivatives, Hessian-vector products, jvp
// through every primitive family.
#include <type_traits>

#include "support.hpp"

using statix_test::expect_gradcheck;
using statix_test::fill_uniform;
using statix_test::random_tensor;
using statix_test::weighted;

BOOST_AUTO_TEST_SUITE(higher_order)

BOOST_AUTO_TEST_CASE(second_derivative_of_a_cube) {
  auto x = random_tensor<double, 17>(1, -2, 2);
  auto g = sx::grad(sx::sum(x * x * x), x);            // 3 x^2
  sx::tensor<double, 17> h = sx::grad(sx::sum(g), x);  // 6 x
  for (std::size_t i = 0; i < x.size(); ++i) BOOST_TEST(h(i) == 6 * x(i), boost::test_tools::tolerance(1e-13));
  auto x3 = sx::grad(sx::sum(sx::grad(sx::sum(g), x)), x);  // 6
  sx::tensor<double, 17> third = x3;
  for (double v : third) BOOST_TEST(v == 6.0, boost::test_tools::tolerance(1e-13));
}

BOOST_AUTO_TEST_CASE(hessian_vector_product_matches_differences_of_gradients) {
  auto x = random_tensor<double, 4, 3>(1, -1, 1);
  auto w = random_tensor<double, 3, 5>(2, -1, 1);
  auto v = random_tensor<double, 3, 5>(3, -1, 1);
  auto c = random_tensor<double, 4, 5>(4, -1, 1);
  auto f = [&](auto& w) { return sx::sum(sx::softmax<1>(sx::tanh(sx::matmul(x, w))) * c) + sx::sum(sx::exp(w) * w); };
  sx::tensor<double, 3, 5> hvp = sx::grad(sx::sum(sx::grad(f(w), w) * v), w);
  const double h = 1e-5;
  sx::tensor<double, 3, 5> up = w + h * v, down = w - h * v;
  sx::tensor<double, 3, 5> g_up = sx::grad(f(up), up), g_down = sx::grad(f(down), down);
  for (std::size_t i = 0; i < hvp.size(); ++i) {
    const double fd = (g_up.data()[i] - g_down.data()[i]) / (2 * h);
    BOOST_TEST(hvp.data()[i] == fd, boost::test_tools::tolerance(1e-6));
  }
  // the Hessian-vector product is itself differentiable (third order), checked by gradcheck
  expect_gradcheck(
      "gradient of a Hessian-vector product",
      [&](auto& w) { return sx::sum(sx::grad(sx::sum(sx::grad(f(w), w) * v), w) * c.data()[0]); }, w);
}

BOOST_AUTO_TEST_CASE(jvp_matches_grad_and_differences) {
  auto x = random_tensor<double, 4, 6>(1, -1, 1);
  auto w = random_tensor<double, 6, 3>(2, -1, 1);
  auto dw = random_tensor<double, 6, 3>(3, -1, 1);
  auto e = [&](auto& w) { return sx::log_softmax<1>(sx::matmul(sx::sigmoid(x), w * w) + 1); };
  sx::tensor<double, 4, 3> t = sx::jvp(e(w), w, dw);
  const double h = 1e-5;
  sx::tensor<double, 6, 3> up = w + h * dw, down = w - h * dw;
  sx::tensor<double, 4, 3> e_up = e(up), e_down = e(down);
  for (std::size_t i = 0; i < t.size(); ++i)
    BOOST_TEST(t.data()[i] == (e_up.data()[i] - e_down.data()[i]) / (2 * h), boost::test_tools::tolerance(1e-6));
  // <grad(sum(e c)), dw> = sum(jvp(e, dw) c)
  auto c = random_tensor<double, 4, 3>(4, -1, 1);
  sx::tensor<double> contracted = sx::sum(sx::grad(sx::sum(e(w) * c), w) * dw);
  sx::tensor<double> forward = sx::sum(sx::jvp(e(w), w, dw) * c);
  BOOST_TEST(contracted() == forward(), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(jvp_through_every_primitive_family) {
  auto x = random_tensor<double, 3, 4, 5>(1, -1, 1);
  auto dx = random_tensor<double, 3, 4, 5>(2, -1, 1);
  auto m = random_tensor<double, 4, 1>(3, -1, 1);
  auto f = [&](auto& x) {  // (3, 5)
    return sx::max<1>(x) + sx::sum<1>(sx::softmax<2>(x) * sx::log_softmax<0>(x)) +
           sx::reshape<3, 5>(sx::matmul(sx::reshape<15, 4>(sx::permute<0, 2, 1>(x)), m)) +
           sx::min<1>(x) * sx::logsumexp<1>(x) + sx::mean<1>(sx::sin(x)) +
           sx::where(sx::mean<1>(x) > 0, 1.0, sx::sum<1>(x));
  };
  sx::tensor<double, 3, 5> t = sx::jvp(f(x), x, dx);
  const double h = 1e-5;
  sx::tensor<double, 3, 4, 5> up = x + h * dx, down = x - h * dx;
  sx::tensor<double, 3, 5> f_up = f(up), f_down = f(down);
  for (std::size_t i = 0; i < t.size(); ++i)
    BOOST_TEST(t.data()[i] == (f_up.data()[i] - f_down.data()[i]) / (2 * h), boost::test_tools::tolerance(1e-6));
  // a direction of zeros gives zeros; a direction of the wrong run-time shape is a shape_error
  sx::tensor<double, 3, 5> none = sx::jvp(f(x), x, sx::zeros<double, 3, 4, 5>());
  for (double v : none) BOOST_TEST(v == 0.0);
  sx::tensor<double, sx::dyn, 5> xd(3), dxd(4);
  BOOST_CHECK_THROW(sx::jvp(sx::sum(xd * xd), xd, dxd), sx::shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
