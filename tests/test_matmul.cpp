// matmul against double-precision references at every blocking edge; the planner: values computed
// once (operation counter), aliasing, epilogue fusion, shape errors.
#include "support.hpp"

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
  expect_error<sx::shape_error>([&] { c = sx::matmul(a, b); }, {"matmul", "(3, 4)", "(5, 2)"});
  for (float v : c) BOOST_TEST_REQUIRE(v == 7.0f);
  dyn2f a2(3, 5), wrong(4, 2);
  BOOST_CHECK_THROW(wrong = sx::matmul(a2, b), sx::shape_error);  // (3, 2) into (4, 2)
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
