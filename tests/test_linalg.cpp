// matmul, conv2d and pooling against double-precision references at every blocking edge; the
// planner: values computed once (operation counter), aliasing, epilogue fusion, shape errors.
#include "support.hpp"

#include <statix/ops/conv_backward.hpp>

using namespace statix_test;

namespace {

using dyn2f = sx::tensor<float, sx::dyn, sx::dyn>;
using dyn2d = sx::tensor<double, sx::dyn, sx::dyn>;

/// C = A B in double, and the bound of a float/double product's error per element: a few ulps of
/// sum_k |a_ik b_kj| times sqrt(K).
template <class A, class B>
std::pair<std::vector<double>, std::vector<double>> reference_matmul(const A& a, const B& b, std::size_t m,
                                                                     std::size_t k, std::size_t n) {
  std::vector<double> c(m * n), bound(m * n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0, mag = 0;
      for (std::size_t p = 0; p < k; ++p) {
        const double t = double(a.data()[i * k + p]) * double(b.data()[p * n + j]);
        s += t;
        mag += std::abs(t);
      }
      c[i * n + j] = s;
      bound[i * n + j] = mag * std::sqrt(double(k) + 1);
    }
  return {c, bound};
}

template <class T, class Tensor>
void check_product(const Tensor& got, const std::vector<double>& ref, const std::vector<double>& bound,
                   const std::string& what) {
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(double(got.data()[i]) - ref[i]);
    BOOST_TEST_REQUIRE(err <= 4 * std::numeric_limits<T>::epsilon() * bound[i] + 1e-30,
                       what << " element " << i << ": got " << got.data()[i] << ", reference " << ref[i]);
  }
}

template <class T>
void check_matmul(std::size_t m, std::size_t k, std::size_t n) {
  sx::tensor<T, sx::dyn, sx::dyn> a(m, k), b(k, n);
  fill_uniform(a, -1, 1, unsigned(m * 131 + k));
  fill_uniform(b, -1, 1, unsigned(n * 17 + k));
  const auto [ref, bound] = reference_matmul(a, b, m, k, n);
  const auto c = sx::eval(sx::matmul(a, b));
  BOOST_TEST_REQUIRE((c.extent(0) == m && c.extent(1) == n));
  check_product<T>(
      c, ref, bound,
      "matmul " + std::to_string(m) + "x" + std::to_string(k) + " by " + std::to_string(k) + "x" + std::to_string(n));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(matmul)

BOOST_AUTO_TEST_CASE(every_extent_1_to_67) {
  for (std::size_t d = 1; d <= 67; ++d) {
    check_matmul<float>(d, 17, 33);
    check_matmul<float>(29, d, 31);
    check_matmul<float>(13, 19, d);
    check_matmul<double>(d, 9, 17);
    check_matmul<double>(11, d, 9);
    check_matmul<double>(7, 10, d);
  }
}

BOOST_AUTO_TEST_CASE(blocking_edges) {
  // KC = 256 (the K blocks), MC = 120 / 96 (row blocks), NR = 16 / 32 (B panels), MR = 8 / 12.
  for (std::size_t k : {255u, 256u, 257u, 600u}) check_matmul<float>(37, k, 45);
  for (std::size_t m : {119u, 120u, 121u, 241u}) check_matmul<float>(m, 70, 33);
  for (std::size_t n : {15u, 16u, 17u, 31u, 32u, 33u, 160u, 161u}) check_matmul<float>(30, 40, n);
  check_matmul<double>(97, 300, 70);
  check_matmul<float>(128, 784, 128);
  check_matmul<float>(128, 128, 10);
}

BOOST_AUTO_TEST_CASE(static_extents_and_batches) {
  sx::tensor<float, 5, 7> a;
  sx::tensor<float, 7, 3> b;
  fill_uniform(a, -1, 1, 1);
  fill_uniform(b, -1, 1, 2);
  const sx::tensor<float, 5, 3> c = sx::matmul(a, b);
  const auto [ref, bound] = reference_matmul(a, b, 5, 7, 3);
  check_product<float>(c, ref, bound, "static matmul");

  // (B, M, K) x (K, N) with a dynamic batch: one product with B * M rows.
  sx::tensor<double, sx::dyn, 4, 7> batched(3);
  sx::tensor<double, 7, 6> w;
  fill_uniform(batched, -1, 1, 3);
  fill_uniform(w, -1, 1, 4);
  const auto y = sx::eval(sx::matmul(batched, w));
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(y)>, sx::tensor<double, sx::dyn, 4, 6>>);
  BOOST_TEST(y.extent(0) == 3u);
  for (std::size_t bi = 0; bi < 3; ++bi)
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t j = 0; j < 6; ++j) {
        double s = 0;
        for (std::size_t p = 0; p < 7; ++p) s += batched(bi, i, p) * w(p, j);
        BOOST_TEST_REQUIRE(std::abs(y(bi, i, j) - s) <= 1e-13);
      }
}

BOOST_AUTO_TEST_CASE(expression_operands) {
  dyn2f a(23, 41), bt(19, 41);
  fill_uniform(a, -1, 1, 5);
  fill_uniform(bt, -1, 1, 6);
  const auto b = sx::eval(sx::transpose(bt));
  const auto ra = sx::eval(sx::relu(a));
  const auto [ref, bound] = reference_matmul(ra, b, 23, 41, 19);
  check_product<float>(sx::eval(sx::matmul(sx::relu(a), sx::transpose(bt))), ref, bound, "matmul(relu, transpose)");
}

template <class T>
void check_transposed_operands(std::size_t m, std::size_t k, std::size_t n) {
  // A^T B, A B^T and A^T B^T read the stored matrices transposed: no transposed copy is made.
  using matrix = sx::tensor<T, sx::dyn, sx::dyn>;
  matrix at(k, m), bt(n, k);
  fill_uniform(at, -1, 1, unsigned(m * 7 + k));
  fill_uniform(bt, -1, 1, unsigned(n * 3 + k));
  const matrix a = sx::transpose(at), b = sx::transpose(bt);
  const auto [ref, bound] = reference_matmul(a, b, m, k, n);
  const std::string size = std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
  using transpose_op = sx::op::permute<1, 0>;
  sx::reset_evaluations<transpose_op>();
  check_product<T>(sx::eval(sx::matmul(sx::transpose(at), b)), ref, bound, "A^T B " + size);
  check_product<T>(sx::eval(sx::matmul(a, sx::transpose(bt))), ref, bound, "A B^T " + size);
  check_product<T>(sx::eval(sx::matmul(sx::transpose(at), sx::transpose(bt))), ref, bound, "A^T B^T " + size);
  matrix c(m, n);  // the epilogue path: the product runs by row blocks into c
  c = sx::matmul(sx::transpose(at), sx::transpose(bt)) + T(0);
  check_product<T>(c, ref, bound, "A^T B^T + 0 " + size);
  BOOST_TEST(sx::evaluations<transpose_op>() == 0u);
}

BOOST_AUTO_TEST_CASE(transposed_operands) {
  for (std::size_t d = 1; d <= 40; ++d) {
    check_transposed_operands<float>(d, 19, 35);
    check_transposed_operands<float>(27, d, 33);
    check_transposed_operands<double>(13, 11, d);
  }
  // Row blocks (MC), K blocks (KC), both tiles, and the MLP's gradient products.
  check_transposed_operands<float>(241, 257, 70);
  check_transposed_operands<double>(121, 300, 9);
  check_transposed_operands<float>(784, 128, 128);
  check_transposed_operands<float>(128, 10, 128);
  check_transposed_operands<float>(128, 128, 10);

  // Aliasing: the destination is one of the matrices read transposed.
  dyn2d w(20, 20), x(20, 20);
  fill_uniform(w, -1, 1, 12);
  fill_uniform(x, -1, 1, 13);
  const auto expected = sx::eval(sx::matmul(sx::transpose(w), x));
  w = sx::matmul(sx::transpose(w), x);
  for (std::size_t i = 0; i < w.size(); ++i) BOOST_TEST_REQUIRE(w.data()[i] == expected.data()[i]);
  const auto expected2 = sx::eval(sx::relu(sx::matmul(x, sx::transpose(w))) + w);
  w = sx::relu(sx::matmul(x, sx::transpose(w))) + w;
  for (std::size_t i = 0; i < w.size(); ++i) BOOST_TEST_REQUIRE(w.data()[i] == expected2.data()[i]);
}

BOOST_AUTO_TEST_CASE(epilogue_bias_and_activation) {
  // relu(x w + b): bias and activation applied to each block of rows right after the product.
  for (std::size_t m : {1u, 64u, 121u, 250u}) {
    dyn2f x(m, 97), w(97, 45);
    sx::tensor<float, sx::dyn> bias(45);
    fill_uniform(x, -1, 1, 7);
    fill_uniform(w, -1, 1, 8);
    fill_uniform(bias, -1, 1, 9);
    dyn2f y(m, 45);
    sx::reset_evaluations<sx::op::matmul>();
    y = sx::relu(sx::matmul(x, w) + bias);
    BOOST_TEST(sx::evaluations<sx::op::matmul>() == 1u);
    auto [ref, bound] = reference_matmul(x, w, m, 97, 45);
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = std::max(0.0, ref[i] + bias(i % 45));
    check_product<float>(y, ref, bound, "relu(matmul + bias), m=" + std::to_string(m));
    // The same product twice in one expression is still computed once.
    sx::reset_evaluations<sx::op::matmul>();
    y = sx::matmul(x, w) * sx::matmul(x, w) + 1;
    BOOST_TEST(sx::evaluations<sx::op::matmul>() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(aliasing_into_an_operand) {
  dyn2d w(20, 20), x(20, 20);
  fill_uniform(w, -1, 1, 10);
  fill_uniform(x, -1, 1, 11);
  const auto expected = sx::eval(sx::matmul(w, x));
  w = sx::matmul(w, x);
  for (std::size_t i = 0; i < w.size(); ++i) BOOST_TEST_REQUIRE(w.data()[i] == expected.data()[i]);
  const auto expected2 = sx::eval(sx::relu(sx::matmul(x, w)) + w);
  w = sx::relu(sx::matmul(x, w)) + w;  // the epilogue must not write w while the product reads it
  for (std::size_t i = 0; i < w.size(); ++i) BOOST_TEST_REQUIRE(w.data()[i] == expected2.data()[i]);
}

BOOST_AUTO_TEST_CASE(dynamic_mismatch_throws_before_writing) {
  dyn2f a(3, 4), b(5, 2), c(3, 2);
  c.fill(7);
  BOOST_CHECK_THROW(c = sx::matmul(a, b), sx::shape_error);
  try {
    c = sx::matmul(a, b);
  } catch (const sx::shape_error& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("matmul") != std::string::npos);
    BOOST_TEST(what.find("(3, 4)") != std::string::npos);
    BOOST_TEST(what.find("(5, 2)") != std::string::npos);
  }
  for (float v : c) BOOST_TEST_REQUIRE(v == 7.0f);
  dyn2f a2(3, 5), wrong(4, 2);
  BOOST_CHECK_THROW(wrong = sx::matmul(a2, b), sx::shape_error);  // (3, 2) into (4, 2)
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// Direct convolution in double (cross-correlation, zero padding, groups).
template <class X, class W>
std::vector<double> reference_conv(const X& x, const W& w, std::size_t stride, std::size_t pad, std::size_t groups) {
  const std::size_t n = x.extent(0), h = x.extent(2), wd = x.extent(3);
  const std::size_t o = w.extent(0), cg = w.extent(1), kh = w.extent(2), kw = w.extent(3);
  const std::size_t oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
  std::vector<double> out(n * o * oh * ow);
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t oc = 0; oc < o; ++oc) {
      const std::size_t g = oc / (o / groups);
      for (std::size_t i = 0; i < oh; ++i)
        for (std::size_t j = 0; j < ow; ++j) {
          double s = 0;
          for (std::size_t ci = 0; ci < cg; ++ci)
            for (std::size_t p = 0; p < kh; ++p)
              for (std::size_t q = 0; q < kw; ++q) {
                const long ih = long(i * stride + p) - long(pad), iw = long(j * stride + q) - long(pad);
                if (ih < 0 || iw < 0 || ih >= long(h) || iw >= long(wd)) continue;
                s += double(x(b, g * cg + ci, std::size_t(ih), std::size_t(iw))) * double(w(oc, ci, p, q));
              }
          out[((b * o + oc) * oh + i) * ow + j] = s;
        }
    }
  return out;
}

template <class T, std::size_t S, std::size_t P, std::size_t G, std::size_t K, std::size_t C, std::size_t O>
void check_conv(std::size_t n, std::size_t h, std::size_t w) {
  sx::tensor<T, sx::dyn, C, sx::dyn, sx::dyn> x(n, h, w);
  sx::tensor<T, O, C / G, K, K> wt;
  fill_uniform(x, -1, 1, unsigned(h * 31 + w));
  fill_uniform(wt, -1, 1, unsigned(K + C));
  const auto y = sx::eval(sx::conv2d<S, P, G>(x, wt));
  const std::string what = "conv2d<" + std::to_string(S) + ", " + std::to_string(P) + ", " + std::to_string(G) +
                           "> K=" + std::to_string(K) + " " + std::to_string(h) + "x" + std::to_string(w);
  BOOST_TEST_REQUIRE(y.extent(2) == (h + 2 * P - K) / S + 1, what);
  check_close(y.data(), reference_conv(x, wt, S, P, G), tolerance<T>(16) * std::sqrt(double(C * K * K)) * 4, what);
}

template <std::size_t K, std::size_t S, bool Max, class T = double>
void check_pool(std::size_t h, std::size_t w) {
  sx::tensor<T, sx::dyn, 3, sx::dyn, sx::dyn> x(2, h, w);
  fill_uniform(x, -1, 1, unsigned(h + w));
  const auto y = Max ? sx::eval(sx::max_pool2d<K, S>(x)) : sx::eval(sx::avg_pool2d<K, S>(x));
  const std::size_t oh = (h - K) / S + 1, ow = (w - K) / S + 1;
  BOOST_TEST_REQUIRE((y.extent(2) == oh && y.extent(3) == ow));
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t i = 0; i < oh; ++i)
        for (std::size_t j = 0; j < ow; ++j) {
          double r = Max ? -1e300 : 0;  // the reference in double
          for (std::size_t p = 0; p < K; ++p)
            for (std::size_t q = 0; q < K; ++q) {
              const double v = x(b, c, i * S + p, j * S + q);
              r = Max ? std::max(r, v) : r + v / double(K * K);
            }
          BOOST_TEST_REQUIRE(std::abs(y(b, c, i, j) - r) <= tolerance<T>(8));
        }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv)

BOOST_AUTO_TEST_CASE(kernel_sizes_strides_paddings) {
  for (std::size_t hw : {7u, 8u, 13u}) {
    check_conv<float, 1, 0, 1, 1, 5, 6>(2, hw, hw + 2);  // pointwise: no unfolding
    check_conv<float, 1, 1, 1, 3, 4, 8>(2, hw, hw + 1);
    check_conv<float, 2, 1, 1, 3, 3, 5>(1, hw, hw);
    check_conv<double, 1, 2, 1, 5, 2, 3>(2, hw + 1, hw);
    check_conv<double, 3, 3, 1, 7, 3, 2>(1, hw, hw + 3);
    check_conv<float, 2, 0, 1, 1, 4, 4>(1, hw, hw);  // strided 1x1
  }
  check_conv<float, 1, 1, 1, 3, 64, 64>(1, 9, 11);  // many channels: Winograd F(2x2, 3x3)
}

BOOST_AUTO_TEST_CASE(winograd_edges) {
  // Stride-1 3x3 with at least 8 channels per group: odd and even output sizes (partial 2x2
  // tiles), paddings 0..2, groups, float and double.
  for (std::size_t hw : {3u, 4u, 7u, 10u}) {
    check_conv<float, 1, 1, 1, 3, 8, 8>(2, hw, hw + 1);
    check_conv<double, 1, 0, 1, 3, 8, 9>(1, hw + 2, hw + 3);
    check_conv<float, 1, 2, 2, 3, 16, 16>(1, hw, hw);
    check_conv<double, 1, 1, 1, 3, 12, 8>(2, hw + 1, hw);
  }
  // Several images per call, their tiles side by side in the products (the last call takes fewer).
  check_conv<float, 1, 1, 1, 3, 8, 12>(11, 14, 14);  // 49 tiles: 8 images per call, then 3
  check_conv<double, 1, 0, 1, 3, 9, 8>(7, 21, 20);   // 90 tiles, odd output height: 5, then 2
}

BOOST_AUTO_TEST_CASE(groups_and_depthwise) {
  for (std::size_t hw : {5u, 12u, 17u}) {
    check_conv<float, 1, 1, 2, 3, 4, 6>(2, hw, hw);
    check_conv<float, 1, 1, 8, 3, 8, 8>(2, hw, hw + 1);   // depthwise
    check_conv<double, 2, 2, 4, 5, 4, 8>(1, hw, hw + 2);  // depthwise, two outputs per channel
    check_conv<float, 1, 0, 1, 3, 1, 4>(3, hw, hw);       // one input channel
  }
}

BOOST_AUTO_TEST_CASE(static_shapes_and_aliasing) {
  sx::tensor<float, 2, 3, 10, 10> x;
  sx::tensor<float, 3, 3, 3, 3> w;
  fill_uniform(x, -1, 1, 12);
  fill_uniform(w, -1, 1, 13);
  const sx::tensor<float, 2, 3, 5, 5> y = sx::conv2d<2, 1>(x, w);  // H' computed at compile time
  check_close(y.data(), reference_conv(x, w, 2, 1, 1), 1e-5, "static conv2d<2, 1>");
  const auto expected = reference_conv(x, w, 1, 1, 1);
  x = sx::conv2d<1, 1>(x, w);  // into its own input
  check_close(x.data(), expected, 1e-5, "conv2d into its input");
  sx::tensor<float, 2, 3, 2, 2> p = sx::max_pool2d<2>(sx::conv2d<2, 1>(x, w));
  BOOST_TEST(p.size() == 24u);
}

BOOST_AUTO_TEST_CASE(dynamic_mismatch) {
  sx::tensor<float, sx::dyn, sx::dyn, sx::dyn, sx::dyn> x(1, 4, 5, 5);
  sx::tensor<float, 2, sx::dyn, 3, 3> wd(3);
  BOOST_CHECK_THROW((sx::conv2d<1, 1>(x, wd)), sx::shape_error);  // 4 channels, weights for 3
  sx::tensor<float, sx::dyn, 4, sx::dyn, sx::dyn> small(1, 2, 2);
  sx::tensor<float, 2, 4, 5, 5> big;
  BOOST_CHECK_THROW(sx::conv2d(small, big), sx::shape_error);  // the kernel does not fit
  BOOST_CHECK_THROW(sx::max_pool2d<3>(small), sx::shape_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pooling)

BOOST_AUTO_TEST_CASE(max_and_average_odd_sizes) {
  for (std::size_t h : {2u, 5u, 8u, 11u}) {
    check_pool<2, 2, true>(h, h + 1);
    check_pool<2, 2, false>(h + 1, h);
    check_pool<2, 1, true>(h, h);
  }
  check_pool<3, 2, true>(9, 7);
  check_pool<3, 3, false>(9, 10);
  check_pool<2, 2, true, float>(7, 8);
  check_pool<3, 2, false, float>(11, 9);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(planner)

BOOST_AUTO_TEST_CASE(eval_computes_shared_values_once) {
  dyn2f a(30, 20), b(20, 10);
  fill_uniform(a, -1, 1, 14);
  fill_uniform(b, -1, 1, 15);
  const auto product = sx::eval(sx::matmul(a, b));
  sx::reset_evaluations<sx::op::matmul>();
  using sum_all = sx::detail::sum_over<0, 1>;
  sx::reset_evaluations<sum_all>();
  // Same shape (one pass), then different shapes: the product runs once either way.
  auto [p1, p2] = sx::eval(sx::matmul(a, b) + 1, sx::relu(sx::matmul(a, b)));
  BOOST_TEST(sx::evaluations<sx::op::matmul>() == 1u);
  auto [q1, q2, q3] = sx::eval(sx::matmul(a, b), sx::sum(sx::matmul(a, b)), sx::sum(sx::matmul(a, b)) * 2);
  BOOST_TEST(sx::evaluations<sx::op::matmul>() == 2u);
  BOOST_TEST(sx::evaluations<sum_all>() == 1u);
  double total = 0;
  for (std::size_t i = 0; i < product.size(); ++i) {
    BOOST_TEST_REQUIRE(p1.data()[i] == product.data()[i] + 1);
    BOOST_TEST_REQUIRE(p2.data()[i] == std::max(0.0f, product.data()[i]));
    BOOST_TEST_REQUIRE(q1.data()[i] == product.data()[i]);
    total += product.data()[i];
  }
  BOOST_TEST(std::abs(q2.item() - total) <= 1e-4);
  BOOST_TEST(q3.item() == 2 * q2.item());
  // Different operands are different values.
  sx::reset_evaluations<sx::op::matmul>();
  auto [r1, r2] = sx::eval(sx::matmul(a, b), sx::matmul(a * 2, b));
  BOOST_TEST(sx::evaluations<sx::op::matmul>() == 2u);
  BOOST_TEST(r2(3, 4) == 2 * r1(3, 4));
}

BOOST_AUTO_TEST_CASE(fuse_reading_an_output_through_a_reduction) {
  sx::tensor<double, sx::dyn> m(100), v(100), m2(100), v2(100);
  fill_uniform(m, -1, 1, 16);
  fill_uniform(v, -1, 1, 17);
  m2 = m;
  v2 = v;
  sx::fuse(sx::out(m) = m * 2, sx::out(v) = v + sx::sum(m));  // must see the new m
  m2 = m2 * 2;
  v2 = v2 + sx::sum(m2);
  for (std::size_t i = 0; i < 100; ++i) BOOST_TEST_REQUIRE(v(i) == v2(i));
}

BOOST_AUTO_TEST_CASE(softmax_of_a_product_and_mlp_forward) {
  dyn2f x(16, 30), w1(30, 20), w2(20, 10);
  sx::tensor<float, sx::dyn> b1(20);
  fill_uniform(x, -1, 1, 18);
  fill_uniform(w1, -1, 1, 19);
  fill_uniform(w2, -1, 1, 20);
  fill_uniform(b1, -1, 1, 21);
  const auto h = sx::eval(sx::relu(sx::matmul(x, w1) + b1));
  const auto logits = sx::eval(sx::matmul(h, w2));
  const auto probs = sx::eval(sx::softmax<1>(sx::matmul(sx::relu(sx::matmul(x, w1) + b1), w2)));
  for (std::size_t i = 0; i < 16; ++i) {
    double m = -1e300, s = 0;
    for (std::size_t j = 0; j < 10; ++j) m = std::max(m, double(logits(i, j)));
    for (std::size_t j = 0; j < 10; ++j) s += std::exp(logits(i, j) - m);
    for (std::size_t j = 0; j < 10; ++j)
      BOOST_TEST_REQUIRE(std::abs(probs(i, j) - std::exp(logits(i, j) - m) / s) <= 1e-6);
  }
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// The exact adjoints of conv2d in double: for every output element and kernel tap inside the input,
/// dx += g * w and dw += g * x.
struct conv_gradients {
  std::vector<double> dx, dw;
};

template <class T>
conv_gradients reference_conv_gradients(const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& g,
                                        std::size_t n, std::size_t c, std::size_t h, std::size_t wd, std::size_t o,
                                        std::size_t kh, std::size_t kw, std::size_t stride, std::size_t pad,
                                        std::size_t groups) {
  const std::size_t cg = c / groups, og = o / groups;
  const std::size_t oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
  conv_gradients r{std::vector<double>(x.size()), std::vector<double>(w.size())};
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t oc = 0; oc < o; ++oc)
      for (std::size_t i = 0; i < oh; ++i)
        for (std::size_t j = 0; j < ow; ++j) {
          const double gv = g[((b * o + oc) * oh + i) * ow + j];
          for (std::size_t ci = 0; ci < cg; ++ci)
            for (std::size_t p = 0; p < kh; ++p)
              for (std::size_t q = 0; q < kw; ++q) {
                const long ih = long(i * stride + p) - long(pad), iw = long(j * stride + q) - long(pad);
                if (ih < 0 || iw < 0 || ih >= long(h) || iw >= long(wd)) continue;
                const std::size_t xi = ((b * c + oc / og * cg + ci) * h + std::size_t(ih)) * wd + std::size_t(iw);
                const std::size_t wi = ((oc * cg + ci) * kh + p) * kw + q;
                r.dx[xi] += gv * double(w[wi]);
                r.dw[wi] += gv * double(x[xi]);
              }
        }
  return r;
}

/// Relative 1e-5 (float) or 1e-12 (double) of the reference (absolute below 1), or 16 ulps of T times
/// the square root of the number of terms summed, if larger (Winograd's transforms add to the rounding
/// of long float sums: 64 channels of 3x3 in float reach 1.03e-5).
template <class T>
void check_gradient(const std::vector<T>& got, const std::vector<double>& ref, std::size_t terms,
                    const std::string& what) {
  const double rtol = std::max(std::is_same_v<T, float> ? 1e-5 : 1e-12, tolerance<T>(16) * std::sqrt(double(terms)));
  check_close(got.data(), ref, rtol, what);
}

template <class T, std::size_t KH, std::size_t KW, std::size_t S, std::size_t P, std::size_t G>
void check_conv_backward(std::size_t n, std::size_t c, std::size_t o, std::size_t h, std::size_t wd) {
  const std::size_t oh = (h + 2 * P - KH) / S + 1, ow = (wd + 2 * P - KW) / S + 1;
  std::vector<T> x(n * c * h * wd), w(o * (c / G) * KH * KW), g(n * o * oh * ow);
  const unsigned seed = unsigned(n * 1000 + c * 100 + o * 10 + h + wd);
  fill_uniform(x.data(), x.size(), -1, 1, seed);
  fill_uniform(w.data(), w.size(), -1, 1, seed + 1);
  fill_uniform(g.data(), g.size(), -1, 1, seed + 2);
  const auto ref = reference_conv_gradients(x, w, g, n, c, h, wd, o, KH, KW, S, P, G);
  const std::string what = std::string(std::is_same_v<T, float> ? "float" : "double") + " conv2d<" + std::to_string(S) +
                           ", " + std::to_string(P) + ", " + std::to_string(G) + "> " + std::to_string(KH) + "x" +
                           std::to_string(KW) + " n=" + std::to_string(n) + " c=" + std::to_string(c) +
                           " o=" + std::to_string(o) + " " + std::to_string(h) + "x" + std::to_string(wd);
  // NaN-filled results: every element must be overwritten, none accumulated onto.
  std::vector<T> dx(x.size(), std::numeric_limits<T>::quiet_NaN()), dw(w.size(), std::numeric_limits<T>::quiet_NaN());
  for (int twice = 0; twice < 2; ++twice) {  // the second call reuses grown scratch buffers
    sx::detail::conv2d_input_grad<KH, KW, S, P, G>(g.data(), w.data(), dx.data(), n, c, h, wd, o, oh, ow);
    check_gradient(dx, ref.dx, o / G * KH * KW, what + " input gradient");
    sx::detail::conv2d_weight_grad<KH, KW, S, P, G>(x.data(), g.data(), dw.data(), n, c, h, wd, o, oh, ow);
    check_gradient(dw, ref.dw, n * oh * ow, what + " weight gradient");
  }
}

/// Pooling's gradient against loops over every window: max to the first maximum (strictly greater
/// than every earlier element of the window, from -inf), average g / K^2 to every element.
template <std::size_t K, std::size_t S, bool Max, class T>
void check_pool_backward(std::size_t planes, std::size_t h, std::size_t w, bool ties = false) {
  const std::size_t oh = (h - K) / S + 1, ow = (w - K) / S + 1;
  std::vector<T> x(planes * h * w), g(planes * oh * ow);
  fill_uniform(x.data(), x.size(), -1, 1, unsigned(planes + h * 7 + w));
  fill_uniform(g.data(), g.size(), -1, 1, unsigned(planes + h + w * 7));
  if (ties)  // three values: many windows hold their maximum twice or more
    for (T& v : x) v = std::round(v);
  std::vector<double> ref(x.size());
  for (std::size_t p = 0; p < planes; ++p)
    for (std::size_t i = 0; i < oh; ++i)
      for (std::size_t j = 0; j < ow; ++j) {
        const double gv = g[(p * oh + i) * ow + j];
        double best = -std::numeric_limits<double>::infinity();
        std::size_t at = 0;
        for (std::size_t a = 0; a < K; ++a)
          for (std::size_t b = 0; b < K; ++b) {
            const std::size_t xi = (p * h + i * S + a) * w + j * S + b;
            if (Max && x[xi] > best) {
              best = x[xi];
              at = xi;
            }
            if (!Max) ref[xi] += gv / double(K * K);
          }
        if (Max) ref[at] += gv;
      }
  std::vector<T> dx(x.size(), std::numeric_limits<T>::quiet_NaN());
  sx::detail::pool2d_grad<K, S, Max>(x.data(), g.data(), dx.data(), planes, h, w, oh, ow);
  check_close(dx.data(), ref, tolerance<T>(8),
              std::string(Max ? "max" : "avg") + "_pool2d<" + std::to_string(K) + ", " + std::to_string(S) +
                  "> gradient " + std::to_string(h) + "x" + std::to_string(w) + (ties ? " (ties)" : ""));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv_backward)

BOOST_AUTO_TEST_CASE(pointwise_and_strided_1x1) {
  for (std::size_t hw : {5u, 8u}) {
    check_conv_backward<float, 1, 1, 1, 0, 1>(3, 3, 8, hw, hw + 1);  // one product, no folding
    check_conv_backward<float, 1, 1, 1, 0, 1>(1, 17, 1, hw, hw);
    check_conv_backward<double, 1, 1, 1, 0, 2>(3, 8, 6, hw, hw + 2);
    check_conv_backward<float, 1, 1, 2, 0, 1>(3, 3, 8, hw + 1, hw);  // floor drops the last row
    check_conv_backward<double, 1, 1, 3, 1, 1>(1, 8, 3, hw, hw);
    check_conv_backward<float, 1, 1, 1, 2, 1>(1, 3, 3, hw, hw);  // padding wider than the kernel
  }
}

BOOST_AUTO_TEST_CASE(kernel_sizes_strides_paddings) {
  for (std::size_t hw : {7u, 10u}) {
    check_conv_backward<float, 3, 3, 1, 1, 1>(3, 3, 8, hw, hw + 1);
    check_conv_backward<double, 3, 3, 1, 0, 1>(1, 1, 3, hw, hw);  // one input channel
    check_conv_backward<float, 3, 3, 2, 1, 1>(3, 3, 5, hw, hw + 2);
    check_conv_backward<double, 3, 3, 3, 2, 1>(1, 8, 3, hw + 1, hw);
    check_conv_backward<float, 3, 3, 2, 0, 1>(1, 17, 3, hw, hw + 1);
    check_conv_backward<float, 5, 5, 1, 2, 1>(3, 3, 4, hw, hw);
    check_conv_backward<double, 5, 5, 2, 1, 1>(1, 8, 3, hw + 2, hw + 1);
    check_conv_backward<float, 5, 5, 3, 0, 1>(1, 3, 8, hw + 3, hw + 4);
    check_conv_backward<double, 5, 5, 1, 0, 1>(3, 3, 1, hw, hw + 3);
    check_conv_backward<float, 3, 5, 1, 2, 1>(1, 3, 4, hw, hw);  // rectangular kernels
    check_conv_backward<double, 1, 3, 2, 1, 1>(3, 2, 3, hw, hw + 1);
  }
}

BOOST_AUTO_TEST_CASE(planes_of_512_and_more) {  // one image per product (smaller planes share one)
  check_conv_backward<float, 3, 3, 1, 1, 1>(2, 3, 5, 24, 25);
  check_conv_backward<double, 5, 5, 2, 2, 1>(2, 4, 3, 47, 45);
  check_conv_backward<float, 1, 1, 1, 0, 1>(2, 3, 4, 23, 23);
  check_conv_backward<double, 1, 1, 1, 0, 2>(3, 4, 2, 32, 17);
}

BOOST_AUTO_TEST_CASE(stride_1_3x3_and_winograd) {
  // Stride-1 3x3, paddings 0..2, odd and even sizes: by unfolding (fewer than 8 channels on a side)...
  for (std::size_t hw : {4u, 7u, 10u}) {
    check_conv_backward<float, 3, 3, 1, 1, 1>(3, 4, 17, hw, hw + 1);
    check_conv_backward<double, 3, 3, 1, 0, 1>(1, 17, 7, hw + 1, hw);
    // ... by Winograd F(2x2, 3x3) for the input gradient, and for the weight gradient from 16 tiles
    // per image (unfolding below: 4x4 and 7x7 here)
    check_conv_backward<float, 3, 3, 1, 2, 1>(1, 8, 8, hw, hw);
    check_conv_backward<double, 3, 3, 1, 1, 2>(3, 16, 16, hw, hw + 3);
  }
  // ... and with many channels, groups, several images per call (their tiles side by side in the
  // products, the last call with fewer).
  check_conv_backward<float, 3, 3, 1, 1, 1>(2, 64, 64, 16, 17);
  check_conv_backward<double, 3, 3, 1, 0, 1>(1, 64, 65, 15, 16);
  check_conv_backward<float, 3, 3, 1, 2, 2>(1, 128, 130, 14, 13);
  check_conv_backward<float, 3, 3, 1, 1, 1>(1, 128, 128, 7, 8);
  check_conv_backward<double, 3, 3, 1, 1, 1>(1, 65, 64, 17, 16);
  check_conv_backward<float, 3, 3, 1, 1, 1>(11, 8, 12, 14, 14);  // 49 tiles: 8 images per call, then 3
  check_conv_backward<double, 3, 3, 1, 0, 1>(7, 9, 8, 21, 20);   // 110 input tiles: 4, then 3
}

BOOST_AUTO_TEST_CASE(groups_and_depthwise) {
  for (std::size_t hw : {5u, 12u, 17u}) {
    check_conv_backward<float, 3, 3, 1, 1, 2>(3, 6, 4, hw, hw);
    check_conv_backward<double, 5, 5, 2, 2, 2>(1, 4, 6, hw, hw + 1);
    check_conv_backward<float, 3, 3, 1, 1, 8>(3, 8, 8, hw, hw + 1);   // depthwise
    check_conv_backward<float, 3, 3, 1, 1, 17>(1, 17, 17, hw, hw);    // depthwise, 17 channels
    check_conv_backward<double, 3, 3, 1, 0, 3>(3, 3, 6, hw, hw + 2);  // two outputs per channel
    check_conv_backward<double, 5, 5, 2, 2, 4>(1, 4, 8, hw, hw + 2);  // strided depthwise
    check_conv_backward<float, 3, 3, 3, 1, 3>(3, 3, 3, hw, hw + 1);
    check_conv_backward<float, 5, 5, 1, 2, 8>(1, 8, 16, hw, hw);
    check_conv_backward<float, 1, 1, 2, 1, 3>(1, 3, 3, hw, hw);  // depthwise 1x1, strided and padded
    check_conv_backward<float, 3, 3, 1, 0, 1>(3, 1, 8, hw, hw);  // one input channel: the depthwise loops
  }
}

BOOST_AUTO_TEST_CASE(pooling_max_and_average) {
  for (std::size_t h : {2u, 5u, 8u, 11u}) {
    check_pool_backward<2, 2, true, float>(6, h, h + 1);
    check_pool_backward<2, 2, false, double>(6, h + 1, h);
    check_pool_backward<2, 1, true, double>(3, h, h);  // overlapping windows accumulate
    check_pool_backward<2, 1, false, float>(3, h + 1, h);
    check_pool_backward<2, 3, true, float>(2, h + 2, h + 1);  // gaps between windows
    check_pool_backward<2, 3, false, double>(2, h + 1, h + 2);
  }
  for (std::size_t h : {3u, 9u, 10u}) {
    check_pool_backward<3, 2, true, float>(3, h, h + 2);
    check_pool_backward<3, 2, false, double>(3, h + 1, h);
    check_pool_backward<3, 3, true, double>(2, h, h + 1);
    check_pool_backward<3, 3, false, float>(2, h + 2, h);
    check_pool_backward<3, 1, true, float>(1, h, h);
  }
  // Rows of several registers of windows plus a tail (the vectorized 2x2 path), and large planes.
  for (std::size_t w : {32u, 37u, 67u, 75u}) {
    check_pool_backward<2, 2, true, float>(3, 9, w);
    check_pool_backward<2, 2, false, float>(2, 10, w);
    check_pool_backward<2, 2, true, double>(3, 8, w);
    check_pool_backward<2, 2, false, double>(2, 7, w);
    check_pool_backward<3, 2, true, float>(2, 33, w);
    check_pool_backward<3, 2, false, double>(2, 32, w);
  }
}

BOOST_AUTO_TEST_CASE(max_pooling_ties_go_to_the_first_maximum) {
  for (std::size_t h : {4u, 7u, 12u}) {
    check_pool_backward<2, 2, true, float>(5, h, h + 1, true);
    check_pool_backward<3, 2, true, double>(5, h + 1, h, true);
    check_pool_backward<3, 1, true, float>(2, h, h, true);
    check_pool_backward<2, 3, true, double>(2, h, h + 2, true);
    check_pool_backward<2, 2, true, float>(2, h, 4 * h + 37, true);
    check_pool_backward<2, 2, true, double>(2, h + 1, 2 * h + 21, true);
  }
}

BOOST_AUTO_TEST_SUITE_END()
