// Gradients of composites (MLP, convolutional net, normalization), value_and_grad reusing forward
// values (counted), variables read several times or not at all.
#include <type_traits>

#include "support.hpp"

using statix_test::expect_gradcheck;
using statix_test::fill_uniform;
using statix_test::random_tensor;
using statix_test::weighted;

BOOST_AUTO_TEST_SUITE(gradient_composites)

BOOST_AUTO_TEST_CASE(mlp_with_softmax_cross_entropy) {
  constexpr std::size_t B = 8, I = 12, H = 16, O = 5;
  auto x = random_tensor<double, B, I>(1, -1, 1);
  auto W1 = random_tensor<double, I, H>(2, -0.4, 0.4);
  auto b1 = random_tensor<double, H>(3, -0.1, 0.1);
  auto W2 = random_tensor<double, H, O>(4, -0.4, 0.4);
  auto b2 = random_tensor<double, O>(5, -0.1, 0.1);
  sx::tensor<double, B, O> onehot;
  for (std::size_t i = 0; i < B; ++i) onehot(i, (3 * i) % O) = 1;
  auto loss = [&](auto& W1, auto& b1, auto& W2, auto& b2) {
    auto h1 = sx::relu(sx::matmul(x, W1) + b1);
    auto logits = sx::matmul(h1, W2) + b2;
    return -sx::mean(sx::sum<1>(onehot * sx::log_softmax<1>(logits)));
  };
  expect_gradcheck("MLP", loss, W1, b1, W2, b2);
  auto loss_lse = [&](auto& W1, auto& b1, auto& W2, auto& b2) {
    auto logits = sx::matmul(sx::tanh(sx::matmul(x, W1) + b1), W2) + b2;
    return sx::mean(sx::logsumexp<1>(logits) - sx::sum<1>(onehot * logits));
  };
  expect_gradcheck("MLP, logsumexp form", loss_lse, W1, b1, W2, b2);
}

BOOST_AUTO_TEST_CASE(value_and_grad_reuses_forward_values) {
  // float32, the shapes of the benchmark's MLP but a smaller batch: 2 forward and 3 backward
  // products (x^T dh1, h1^T dlogits, dlogits W2^T), none recomputed.
  constexpr std::size_t B = 16, I = 784, H = 128, O = 10;
  auto x = random_tensor<float, B, I>(1, 0, 1);
  auto W1 = random_tensor<float, I, H>(2, -0.05, 0.05);
  auto b1 = random_tensor<float, H>(3, -0.1, 0.1);
  auto W2 = random_tensor<float, H, O>(4, -0.1, 0.1);
  auto b2 = random_tensor<float, O>(5, -0.1, 0.1);
  sx::tensor<float, B, O> onehot;
  for (std::size_t i = 0; i < B; ++i) onehot(i, i % O) = 1;
  auto h1 = sx::relu(sx::matmul(x, W1) + b1);
  auto logits = sx::matmul(h1, W2) + b2;
  auto loss = -sx::mean(sx::sum<1>(onehot * sx::log_softmax<1>(logits)));
  // Gradients are plain values over the caller's tensors: nothing for the compiler to construct or
  // destroy per node type (docs/benchmarks.md, "Compile time").
  static_assert(std::is_trivially_copyable_v<decltype(loss)>);
  static_assert(std::is_trivially_copyable_v<decltype(sx::grad(loss, W1))>);
  static_assert(std::is_trivially_copyable_v<decltype(sx::grad(loss, b2))>);

  sx::reset_evaluations<sx::op::matmul>();
  sx::reset_evaluations<sx::op::permute<1, 0>>();
  auto [value, gW1, gb1, gW2, gb2] = sx::value_and_grad(loss, W1, b1, W2, b2);
  BOOST_TEST(sx::evaluations<sx::op::matmul>() == 5);
  using log_softmax_rows = sx::op::softmax_family<sx::op::softmax_kind::log_softmax, 1>;
  BOOST_TEST(sx::evaluations<log_softmax_rows>() >= 1);

  // against the same gradients evaluated separately, and the loss evaluated alone
  sx::tensor<float> alone = loss;
  BOOST_TEST(value == alone(), boost::test_tools::tolerance(1e-6f));
  sx::tensor<float, I, H> gW1_alone = sx::grad(loss, W1);
  sx::tensor<float, O> gb2_alone = sx::grad(loss, b2);
  for (std::size_t i = 0; i < gW1.size(); i += 97) BOOST_TEST(gW1.data()[i] == gW1_alone.data()[i]);
  for (std::size_t i = 0; i < gb2.size(); ++i) BOOST_TEST(gb2.data()[i] == gb2_alone.data()[i]);

  // and against the same loss computed in double (the float variables read through casts)
  auto xd = sx::cast<double>(x);
  auto h1d = sx::relu(sx::matmul(xd, sx::cast<double>(W1)) + sx::cast<double>(b1));
  auto logits_d = sx::matmul(h1d, sx::cast<double>(W2)) + sx::cast<double>(b2);
  auto loss_d = -sx::mean(sx::sum<1>(sx::cast<double>(onehot) * sx::log_softmax<1>(logits_d)));
  auto [vd, gW1d, gb1d, gW2d, gb2d] = sx::value_and_grad(loss_d, W1, b1, W2, b2);
  BOOST_TEST(value == vd, boost::test_tools::tolerance(1e-5));
  auto close = [](const auto& got, const auto& ref, const char* what) {
    double scale = 0;
    for (float r : ref) scale = std::max(scale, std::abs(static_cast<double>(r)));
    for (std::size_t i = 0; i < got.size(); ++i)
      BOOST_TEST(std::abs(got.data()[i] - ref.data()[i]) <= 1e-4 * scale, what << " element " << i);
  };
  close(gW1, gW1d, "dW1");
  close(gb1, gb1d, "db1");
  close(gW2, gW2d, "dW2");
  close(gb2, gb2d, "db2");
}

BOOST_AUTO_TEST_CASE(conv_pool_linear_net) {
  auto x = random_tensor<double, 2, 3, 7, 6>(1, -1, 1);
  auto w = random_tensor<double, 4, 3, 3, 3>(2, -1, 1);
  auto b = random_tensor<double, 4>(3, -1, 1);
  auto lw = random_tensor<double, 36, 5>(4, -1, 1);
  auto net = [&](auto& w, auto& b, auto& lw) {
    auto y = sx::relu(sx::conv2d<1, 1>(x, w) + sx::reshape<4, 1, 1>(b));  // the bias through a reshape
    auto z = sx::max_pool2d<2>(y);                                        // (2, 4, 3, 3)
    return sx::mean(sx::logsumexp<1>(sx::matmul(sx::reshape<2, 36>(z), lw)));
  };
  expect_gradcheck("conv -> pool -> linear", net, w, b, lw);
  // second order through the convolution: gradcheck of a Hessian-vector product, and forward mode
  expect_gradcheck(
      "conv Hessian-vector product",
      [&](auto& w) { return sx::sum(sx::grad(sx::sum(sx::tanh(sx::conv2d<1, 1>(x, w))), w) * w); }, w);
  auto dw = random_tensor<double, 4, 3, 3, 3>(5, -1, 1);
  auto f = [&](auto& w) { return sx::avg_pool2d<2>(sx::conv2d<1, 1>(x, w)); };
  sx::tensor<double> forward = sx::sum(sx::jvp(f(w), w, dw));
  sx::tensor<double> reverse = sx::sum(sx::grad(sx::sum(f(w)), w) * dw);
  BOOST_TEST(forward() == reverse(), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(normalization_expression) {
  auto x = random_tensor<double, 6, 4>(1, -1, 2);
  auto gamma = random_tensor<double, 4>(2, 0.5, 1.5);
  auto c = random_tensor<double, 6, 4>(3, -1, 1);
  expect_gradcheck(
      "(x - mean) / sqrt(var + eps) * gamma",
      [&](auto& x, auto& gamma) {
        auto mu = sx::mean<0>(x);
        auto var = sx::mean<0>(sx::square(x - mu));
        return weighted((x - mu) / sx::sqrt(var + 1e-5) * gamma, c);
      },
      x, gamma);
}

BOOST_AUTO_TEST_CASE(repeated_and_unread_variables) {
  auto x = random_tensor<double, 3, 4>(1, -1, 1);
  auto y = random_tensor<double, 3, 4>(2, -1, 1);
  expect_gradcheck(
      "x read four times", [&](auto& x) { return sx::sum(x * x * x + sx::sin(x) * x); }, x);
  // y has the type of x but is not read: zeros, and x's gradient is unaffected by y's presence
  auto [gx, gy] = sx::grad(sx::sum(x * x), x, y);
  sx::tensor<double, 3, 4> ex = gx, ey = gy;
  for (std::size_t i = 0; i < x.size(); ++i) {
    BOOST_TEST(ex.data()[i] == 2 * x.data()[i]);
    BOOST_TEST(ey.data()[i] == 0.0);
  }
  sx::tensor<double, 7> unrelated;
  sx::tensor<double, 7> gz = sx::grad(sx::sum(x), unrelated);
  for (double v : gz) BOOST_TEST(v == 0.0);
}

BOOST_AUTO_TEST_CASE(leaves_that_might_be_the_variable) {
  // `a` has dyn extents, so it might be `w` (3 x 4) until the gradient is built: its contribution is a
  // choice, zeros at run time, and the product alone is written into the gradient (no copy pass).
  // Read twice, w gets both contributions; the gradient for `a` is the same question the other way.
  auto a = random_tensor<double, sx::dyn, 4>(1, -1, 1, 5);
  auto w = random_tensor<double, 3, 4>(2, -1, 1);
  auto c = random_tensor<double, 5, 3>(3, -1, 1);
  auto product_loss = [&](auto& a, auto& w) { return sx::sum(sx::matmul(a, sx::transpose(w)) * c); };
  sx::tensor<double, 3, 4> gw = sx::grad(product_loss(a, w), w);
  sx::tensor<double, sx::dyn, 4> ga = sx::grad(product_loss(a, w), a);
  sx::tensor<double, 3, 4> gw_twice = sx::grad(product_loss(a, w) + sx::sum(w * w), w);
  for (std::size_t j = 0; j < 3; ++j)
    for (std::size_t k = 0; k < 4; ++k) {
      double expected = 0;  // (c^T a)(j, k)
      for (std::size_t i = 0; i < 5; ++i) expected += c(i, j) * a(i, k);
      BOOST_TEST(gw(j, k) == expected, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(gw_twice(j, k) == expected + 2 * w(j, k), boost::test_tools::tolerance(1e-12));
    }
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t k = 0; k < 4; ++k) {
      double expected = 0;  // (c w)(i, k)
      for (std::size_t j = 0; j < 3; ++j) expected += c(i, j) * w(j, k);
      BOOST_TEST(ga(i, k) == expected, boost::test_tools::tolerance(1e-12));
    }
  expect_gradcheck("a product through a transposed weight, with a dyn operand", product_loss, a, w);
}

BOOST_AUTO_TEST_CASE(gradients_are_expressions) {
  // a gradient fuses into an update like any expression, and the variable may be the destination
  auto w = random_tensor<double, 5, 3>(1, -1, 1);
  auto t = random_tensor<double, 5, 3>(2, -1, 1);
  sx::tensor<double, 5, 3> expected = w - 0.1 * 2 * (w - t);
  w -= 0.1 * sx::grad(sx::sum(sx::square(w - t)), w);
  for (std::size_t i = 0; i < w.size(); ++i)
    BOOST_TEST(w.data()[i] == expected.data()[i], boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(views_of_a_variable) {
  // a static or dyn reshape of the variable, and a view over all of its memory, are followed
  auto x = random_tensor<double, 2, 6>(1, -1, 1);
  auto c = random_tensor<double, 3, 4>(2, -1, 1);
  expect_gradcheck(
      "through reshape<3, 4>", [&](auto& x) { return sx::sum(sx::reshape<3, 4>(x) * c); }, x);
  expect_gradcheck(
      "through reshape<dyn, 3>", [&](auto& x) { return sx::sum(sx::sin(sx::reshape<sx::dyn, 3>(x))); }, x);
  sx::tensor_view<double, 3, 4> whole(x.data());
  sx::tensor<double, 2, 6> g = sx::grad(sx::sum(whole * c), x);
  for (std::size_t i = 0; i < g.size(); ++i) BOOST_TEST(g.data()[i] == c.data()[i]);
  // a view over part of it cannot be followed: an error, never a silently missing contribution
  sx::tensor_view<double, 4> part(x.data() + 2);
  BOOST_CHECK_THROW(sx::grad(sx::sum(part * part), x), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
