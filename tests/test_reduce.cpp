// Reductions, the softmax family and shape operations, against double-precision references, at
// lengths that hit every SIMD tail, static and dynamic extents, float and double.
#include <algorithm>
#include <array>
#include <limits>

#include "support.hpp"

using namespace statix_test;

namespace {

/// A double reference of reducing a rank-3 row-major array over the axes flagged in `reduced`.
template <class T>
std::vector<double> reference_reduce(const T* x, std::array<std::size_t, 3> s, std::array<bool, 3> reduced, char kind) {
  std::array<std::size_t, 3> os{};
  for (std::size_t d = 0; d < 3; ++d) os[d] = reduced[d] ? 1 : s[d];
  const double init = kind == '+' || kind == 'm' ? 0.0
                      : kind == '>'              ? -std::numeric_limits<double>::infinity()
                                                 : std::numeric_limits<double>::infinity();
  std::vector<double> out(os[0] * os[1] * os[2], init);
  for (std::size_t i = 0; i < s[0]; ++i)
    for (std::size_t j = 0; j < s[1]; ++j)
      for (std::size_t k = 0; k < s[2]; ++k) {
        const double v = x[(i * s[1] + j) * s[2] + k];
        double& o = out[((reduced[0] ? 0 : i) * os[1] + (reduced[1] ? 0 : j)) * os[2] + (reduced[2] ? 0 : k)];
        o = kind == '>' ? std::max(o, v) : kind == '<' ? std::min(o, v) : o + v;
      }
  if (kind == 'm') {
    double count = 1;
    for (std::size_t d = 0; d < 3; ++d)
      if (reduced[d]) count *= static_cast<double>(s[d]);
    for (double& o : out) o /= count;
  }
  return out;
}

/// Error bound of a float/double sum: a few ulps of the sum of magnitudes.
template <class T>
double sum_tolerance(std::size_t n) {
  return 4 * std::numeric_limits<T>::epsilon() * std::sqrt(static_cast<double>(n) + 1);
}

template <class T>
void check_axes_reductions() {
  const std::array<std::array<std::size_t, 3>, 4> shapes{{{1, 1, 1}, {3, 5, 17}, {2, 9, 33}, {4, 1, 67}}};
  unsigned seed = 10;
  for (const auto& s : shapes) {
    sx::tensor<T, sx::dyn, sx::dyn, sx::dyn> x(s[0], s[1], s[2]);
    fill_uniform(x, -2, 2, ++seed);
    const double tol = sum_tolerance<T>(x.size()) * 4;
    auto check = [&](const auto& got, std::array<bool, 3> reduced, char kind, const char* what) {
      check_close(got.data(), reference_reduce(x.data(), s, reduced, kind), tol, what);
    };
    check(sx::eval(sx::sum<0>(x)), {true, false, false}, '+', "sum<0>");
    check(sx::eval(sx::sum<1>(x)), {false, true, false}, '+', "sum<1>");
    check(sx::eval(sx::sum<2>(x)), {false, false, true}, '+', "sum<2>");
    check(sx::eval(sx::sum<2, 0>(x)), {true, false, true}, '+', "sum<2, 0>");
    check(sx::eval(sx::sum<0, 1>(x)), {true, true, false}, '+', "sum<0, 1>");
    check(sx::eval(sx::sum(x)), {true, true, true}, '+', "sum");
    check(sx::eval(sx::mean<1, 2>(x)), {false, true, true}, 'm', "mean<1, 2>");
    check(sx::eval(sx::mean(x)), {true, true, true}, 'm', "mean");
    check(sx::eval(sx::max<1>(x)), {false, true, false}, '>', "max<1>");
    check(sx::eval(sx::max<2>(x)), {false, false, true}, '>', "max<2>");
    check(sx::eval(sx::min<0, 2>(x)), {true, false, true}, '<', "min<0, 2>");
    check(sx::eval(sx::min(x)), {true, true, true}, '<', "min");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reductions)

BOOST_AUTO_TEST_CASE(all_elements_every_tail) {
  for (std::size_t n : tail_lengths()) {
    sx::tensor<float, sx::dyn> f(n);
    sx::tensor<double, sx::dyn> d(n);
    fill_uniform(f, -1, 1, 1);
    fill_uniform(d, -1, 1, 2);
    double sf = 0, sd = 0, mf = -1e300, nd = 1e300;
    for (std::size_t i = 0; i < n; ++i) {
      sf += f(i);
      sd += d(i);
      mf = std::max(mf, double(f(i)));
      nd = std::min(nd, d(i));
    }
    const std::string at = " at n=" + std::to_string(n);
    BOOST_TEST(std::abs(sx::eval(sx::sum(f)).item() - sf) <= sum_tolerance<float>(n) * double(n), "float sum" << at);
    BOOST_TEST(std::abs(sx::eval(sx::sum(d)).item() - sd) <= sum_tolerance<double>(n) * double(n), "double sum" << at);
    BOOST_TEST(std::abs(sx::eval(sx::mean(d)).item() - sd / double(n)) <= sum_tolerance<double>(n), "mean" << at);
    BOOST_TEST(sx::eval(sx::max(f)).item() == mf, "max" << at);
    BOOST_TEST(sx::eval(sx::min(d)).item() == nd, "min" << at);
  }
}

BOOST_AUTO_TEST_CASE(listed_axes_float) {
  check_axes_reductions<float>();
}
BOOST_AUTO_TEST_CASE(listed_axes_double) {
  check_axes_reductions<double>();
}

BOOST_AUTO_TEST_CASE(static_extents_and_fused_operands) {
  sx::tensor<float, 3, 37> a;
  sx::tensor<float, 37> b;
  fill_uniform(a, -1, 1, 3);
  fill_uniform(b, -1, 1, 4);
  // The operand is an expression with a broadcast: read through its fused cursor, no temporary.
  sx::tensor<float, 37> s = sx::sum<0>(a * b + 1);
  sx::tensor<float, 3> m = sx::max<1>(a - b);
  sx::tensor<float> total = sx::mean(a);
  for (std::size_t j = 0; j < 37; ++j) {
    double ref = 0;
    for (std::size_t i = 0; i < 3; ++i) ref += double(a(i, j)) * b(j) + 1;
    BOOST_TEST(std::abs(s(j) - ref) <= 1e-5);
  }
  for (std::size_t i = 0; i < 3; ++i) {
    double ref = -1e300;
    for (std::size_t j = 0; j < 37; ++j) ref = std::max(ref, double(a(i, j) - b(j)));
    BOOST_TEST(m(i) == ref);
  }
  double all = 0;
  for (float v : a) all += v;
  BOOST_TEST(std::abs(total.item() - all / 111) <= 1e-6);
}

BOOST_AUTO_TEST_CASE(int32_reductions) {
  sx::tensor<std::int32_t, 2, 3> a{{1, -5, 3}, {4, 2, -6}};
  BOOST_TEST(sx::eval(sx::sum(a)).item() == -1);
  const auto cols = sx::eval(sx::sum<0>(a));
  BOOST_TEST((cols(0) == 5 && cols(1) == -3 && cols(2) == -3));
  const auto rows = sx::eval(sx::max<1>(a));
  BOOST_TEST((rows(0) == 3 && rows(1) == 4));
}

BOOST_AUTO_TEST_CASE(a_nan_is_the_result_of_max_min_and_argmax) {
  // As PyTorch: a NaN anywhere in what a max or min reduces gives NaN, at every tail position; argmax
  // gives the first NaN's index.
  for (std::size_t n : {1u, 5u, 8u, 16u, 37u, 67u})
    for (std::size_t at : {std::size_t{0}, n / 2, n - 1}) {
      sx::tensor<float, sx::dyn> a(n);
      fill_uniform(a, -1, 1, unsigned(n));
      a(at) = std::numeric_limits<float>::quiet_NaN();
      BOOST_TEST_REQUIRE(std::isnan(sx::eval(sx::max(a))()), "max, n " << n << " NaN at " << at);
      BOOST_TEST_REQUIRE(std::isnan(sx::eval(sx::min(a * 2))()), "min, n " << n << " NaN at " << at);
      BOOST_TEST_REQUIRE(sx::eval(sx::argmax<0>(a))() == std::int32_t(at));
    }
  sx::tensor<double, 3, 37> d;
  fill_uniform(d, -1, 1, 3);
  d(1, 36) = std::numeric_limits<double>::quiet_NaN();
  const sx::tensor<double, 3> rows = sx::max<1>(d);
  const sx::tensor<double, 37> cols = sx::min<0>(d);
  BOOST_TEST((!std::isnan(rows(0)) && std::isnan(rows(1)) && !std::isnan(rows(2))));
  BOOST_TEST((std::isnan(cols(36)) && !std::isnan(cols(35))));
  sx::tensor<float, 4> e{1, std::numeric_limits<float>::quiet_NaN(), 3, std::numeric_limits<float>::quiet_NaN()};
  BOOST_TEST(sx::eval(sx::argmax<0>(e))() == 1);
}

BOOST_AUTO_TEST_CASE(argmax_first_of_ties) {
  sx::tensor<float, 3, 4> a{{1, 7, 7, 2}, {-1, -3, -1, -2}, {0, 0, 0, 9}};
  const auto r = sx::eval(sx::argmax<1>(a));
  static_assert(std::is_same_v<decltype(r)::value_type, std::int32_t>);
  BOOST_TEST((r(0) == 1 && r(1) == 0 && r(2) == 3));
  const auto c = sx::eval(sx::argmax<0>(a));
  BOOST_TEST((c(0) == 0 && c(1) == 0 && c(2) == 0 && c(3) == 2));
  sx::tensor<double, sx::dyn, sx::dyn> d(5, 67);
  fill_uniform(d, -1, 1, 5);
  const auto rd = sx::eval(sx::argmax<1>(d * 2));
  for (std::size_t i = 0; i < 5; ++i)
    BOOST_TEST(rd(i) == std::max_element(d.data() + i * 67, d.data() + i * 67 + 67) - (d.data() + i * 67));
}

BOOST_AUTO_TEST_CASE(computed_once_inside_an_elementwise_expression) {
  sx::tensor<float, sx::dyn> x(1000), y(1000);
  fill_uniform(x, 0, 1, 6);
  using sum_all = sx::detail::sum_over<0>;
  sx::reset_evaluations<sum_all>();
  y = x / sx::sum(x) + sx::sum(x);
  BOOST_TEST(sx::evaluations<sum_all>() == 1u);  // not once per element, not once per occurrence
  double s = 0;
  for (float v : x) s += v;
  for (std::size_t i = 0; i < 1000; i += 97) BOOST_TEST(std::abs(y(i) - (x(i) / s + s)) <= 1e-4 * s);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

template <class T>
void check_softmax_rows(std::size_t rows, std::size_t n, double scale, bool with_inf) {
  sx::tensor<T, sx::dyn, sx::dyn> x(rows, n);
  fill_uniform(x, -scale, scale, static_cast<unsigned>(n + rows));
  if (with_inf)
    for (std::size_t i = 0; i < rows; ++i) x(i, (i * 7) % n) = -std::numeric_limits<T>::infinity();
  std::vector<double> sm(rows * n), lsm(rows * n), lse(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    double m = -std::numeric_limits<double>::infinity(), s = 0;
    for (std::size_t j = 0; j < n; ++j) m = std::max(m, double(x(i, j)));
    if (std::isinf(m)) m = 0;
    for (std::size_t j = 0; j < n; ++j) s += std::exp(double(x(i, j)) - m);
    lse[i] = m + std::log(s);
    for (std::size_t j = 0; j < n; ++j) {
      sm[i * n + j] = std::exp(double(x(i, j)) - m) / s;
      lsm[i * n + j] = double(x(i, j)) - lse[i];
    }
  }
  const std::string what = " rows=" + std::to_string(rows) + " n=" + std::to_string(n);
  const double tol = tolerance<T>(64) * (1 + scale / 100);
  check_close(sx::eval(sx::softmax<1>(x)).data(), sm, tol, "softmax<1>" + what);
  check_close(sx::eval(sx::log_softmax<1>(x)).data(), lsm, tol * scale, "log_softmax<1>" + what);
  check_close(sx::eval(sx::logsumexp<1>(x)).data(), lse, tol, "logsumexp<1>" + what);
  // Along axis 0 of the transpose: the strided path.
  const auto xt = sx::eval(sx::transpose(x));
  const auto smt = sx::eval(sx::transpose(sx::softmax<0>(xt)));
  check_close(smt.data(), sm, tol, "softmax<0>" + what);
  const auto lset = sx::eval(sx::logsumexp<0>(xt));
  check_close(lset.data(), lse, tol, "logsumexp<0>" + what);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(softmax)

BOOST_AUTO_TEST_CASE(every_tail_float_and_double) {
  for (std::size_t n : {1u, 2u, 7u, 8u, 9u, 15u, 16u, 17u, 31u, 33u, 64u, 67u, 1000u}) {
    check_softmax_rows<float>(3, n, 3, false);
    check_softmax_rows<double>(2, n, 3, false);
  }
}

BOOST_AUTO_TEST_CASE(stable_for_large_inputs_and_minus_infinity) {
  for (std::size_t n : {5u, 16u, 67u}) {
    check_softmax_rows<float>(4, n, 1e4, false);
    check_softmax_rows<double>(4, n, 1e4, true);
    check_softmax_rows<float>(3, n, 30, true);
  }
  sx::tensor<float, 1, 3> all_inf;
  all_inf.fill(-std::numeric_limits<float>::infinity());
  BOOST_TEST(std::isinf(sx::eval(sx::logsumexp<1>(all_inf))(0)));
}

BOOST_AUTO_TEST_CASE(static_shapes_and_expression_operands) {
  sx::tensor<float, 2, 3> a{{1, 2, 3}, {1000, 1000, -1000}};
  const sx::tensor<float, 2, 3> s = sx::softmax<1>(a * 1);
  BOOST_TEST(std::abs(s(0, 2) - 0.66524096f) <= 1e-6);
  BOOST_TEST(std::abs(s(1, 0) - 0.5f) <= 1e-6);
  BOOST_TEST(s(1, 2) == 0.0f);
  const sx::tensor<float, 2> l = sx::logsumexp<1>(a);
  BOOST_TEST(std::abs(l(1) - (1000 + std::log(2.0f))) <= 1e-3);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(layout)

BOOST_AUTO_TEST_CASE(transpose_every_edge) {
  for (std::size_t m : {1u, 2u, 7u, 31u, 32u, 33u, 67u})
    for (std::size_t n : {1u, 5u, 32u, 65u}) {
      sx::tensor<double, sx::dyn, sx::dyn> a(m, n);
      fill_uniform(a, -1, 1, unsigned(m * n));
      const auto t = sx::eval(sx::transpose(a));
      BOOST_TEST_REQUIRE((t.extent(0) == n && t.extent(1) == m));
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) BOOST_TEST_REQUIRE(t(j, i) == a(i, j));
    }
}

BOOST_AUTO_TEST_CASE(permute_rank3) {
  sx::tensor<float, 3, 4, 5> a = sx::reshape<3, 4, 5>(sx::arange<float, 60>());
  const sx::tensor<float, 5, 3, 4> p = sx::permute<2, 0, 1>(a);
  const sx::tensor<float, 3, 5, 4> q = sx::permute<0, 2, 1>(a + 1);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 4; ++j)
      for (std::size_t k = 0; k < 5; ++k) {
        BOOST_TEST_REQUIRE(p(k, i, j) == a(i, j, k));
        BOOST_TEST_REQUIRE(q(i, k, j) == a(i, j, k) + 1);
      }
  sx::tensor<float, sx::dyn, 4, 5> d(3);
  d = a;
  const auto pd = sx::eval(sx::permute<1, 2, 0>(d));
  BOOST_TEST((pd.extent(0) == 4 && pd.extent(1) == 5 && pd.extent(2) == 3));
  BOOST_TEST(pd(3, 4, 2) == a(2, 3, 4));
}

BOOST_AUTO_TEST_CASE(reshape_static_dynamic_and_expressions) {
  sx::tensor<float, 2, 3> a{{1, 2, 3}, {4, 5, 6}};
  auto view = sx::reshape<3, 2>(a);  // memory: a view, no copy
  BOOST_TEST(view.data == a.data());
  const sx::tensor<float, 3, 2> b = view;
  BOOST_TEST((b(1, 0) == 3 && b(2, 1) == 6));
  const auto c = sx::eval(sx::reshape<sx::dyn, 2>(a * 10));  // an expression: evaluated once
  BOOST_TEST((c.extent(0) == 3u && c(2, 0) == 50));
  sx::tensor<float, sx::dyn, 784> images(4);
  const auto flat = sx::eval(sx::reshape<sx::dyn>(images));
  BOOST_TEST(flat.extent(0) == 4u * 784);
  sx::tensor<float, sx::dyn, sx::dyn> odd(3, 5);
  BOOST_CHECK_THROW((sx::reshape<sx::dyn, 2>(odd)), sx::shape_error);
  BOOST_CHECK_THROW((sx::reshape<4, 4>(odd)), sx::shape_error);
}

BOOST_AUTO_TEST_CASE(rows_are_views) {
  sx::tensor<float, sx::dyn, 3> data(10);
  data = sx::reshape<sx::dyn, 3>(sx::arange<float, 30>());
  auto batch = data.rows(4, 7);
  BOOST_TEST((batch.extent(0) == 3u && batch.data() == data.data() + 12));
  batch = batch * 2;
  BOOST_TEST((data(4, 0) == 24 && data(6, 2) == 40 && data(7, 0) == 21));
  sx::tensor_view<float, sx::dyn, 3> v(data.data(), 10);
  auto inner = v.rows(1, 2);
  BOOST_TEST(inner(0, 1) == 4);
  BOOST_CHECK_THROW(data.rows(8, 11), sx::shape_error);
}

BOOST_AUTO_TEST_CASE(aliasing_transpose_into_itself) {
  sx::tensor<float, sx::dyn, sx::dyn> a(37, 37);
  fill_uniform(a, -1, 1, 8);
  const auto before = sx::eval(a * 1);
  a = sx::transpose(a);
  for (std::size_t i = 0; i < 37; ++i)
    for (std::size_t j = 0; j < 37; ++j) BOOST_TEST_REQUIRE(a(i, j) == before(j, i));
  a = sx::transpose(a) + a;  // read both ways in one statement
  for (std::size_t i = 0; i < 37; ++i)
    for (std::size_t j = 0; j < 37; ++j) BOOST_TEST_REQUIRE(a(i, j) == before(i, j) + before(j, i));
}

BOOST_AUTO_TEST_SUITE_END()
