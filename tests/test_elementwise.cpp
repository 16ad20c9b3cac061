// Every elementwise primitive against a double-precision reference: float and double, dynamic extents
// at every length 1..67 (all SIMD tails) and large odd sizes, static extents at every tail of a
// register, through one expression that uses every op; NaN and other special values.
#include <array>
#include <functional>
#include <utility>

#include "support.hpp"

using namespace statix_test;

namespace {

template <class T, class F, class R>
void check_unary(const char* name, F f, R ref, double lo, double hi, double ulps = 8) {
  for (std::size_t n : tail_lengths()) {
    sx::tensor<T, sx::dyn> x(n), y(n);
    fill_uniform(x, lo, hi, static_cast<unsigned>(n));
    y = f(x);
    std::vector<double> expected(n);
    for (std::size_t i = 0; i < n; ++i) expected[i] = ref(static_cast<double>(x(i)));
    check_close(y.data(), expected, tolerance<T>(ulps), name);
  }
}

template <class T, class F, class R>
void check_binary(const char* name, F f, R ref, double lo, double hi, double ulps = 8) {
  for (std::size_t n : tail_lengths()) {
    sx::tensor<T, sx::dyn> x(n), y(n), z(n);
    fill_uniform(x, lo, hi, static_cast<unsigned>(n));
    fill_uniform(y, lo, hi, static_cast<unsigned>(n + 1000));
    z = f(x, y);
    std::vector<double> expected(n);
    for (std::size_t i = 0; i < n; ++i) expected[i] = ref(static_cast<double>(x(i)), static_cast<double>(y(i)));
    check_close(z.data(), expected, tolerance<T>(ulps), name);
    // The same op with a scalar on either side.
    const T s = static_cast<T>(0.75 * hi);
    z = f(x, s);
    for (std::size_t i = 0; i < n; ++i) expected[i] = ref(static_cast<double>(x(i)), static_cast<double>(s));
    check_close(z.data(), expected, tolerance<T>(ulps), name + std::string(" (scalar right)"));
    z = f(s, y);
    for (std::size_t i = 0; i < n; ++i) expected[i] = ref(static_cast<double>(s), static_cast<double>(y(i)));
    check_close(z.data(), expected, tolerance<T>(ulps), name + std::string(" (scalar left)"));
  }
}

double sigmoid_ref(double x) {
  return 1 / (1 + std::exp(-x));
}

template <class T>
void check_all_ops_dyn() {
  check_unary<T>(
      "negate", [](const auto& x) { return -x; }, [](double x) { return -x; }, -10, 10, 0);
  check_unary<T>(
      "exp", [](const auto& x) { return sx::exp(x); }, [](double x) { return std::exp(x); }, -20, 20);
  check_unary<T>(
      "expm1", [](const auto& x) { return sx::expm1(x); }, [](double x) { return std::expm1(x); }, -3, 3);
  check_unary<T>(
      "log", [](const auto& x) { return sx::log(x); }, [](double x) { return std::log(x); }, 1e-3, 1e3);
  check_unary<T>(
      "log1p", [](const auto& x) { return sx::log1p(x); }, [](double x) { return std::log1p(x); }, -0.5, 10);
  check_unary<T>(
      "sqrt", [](const auto& x) { return sx::sqrt(x); }, [](double x) { return std::sqrt(x); }, 0, 100, 1);
  check_unary<T>(
      "rsqrt", [](const auto& x) { return sx::rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 1e-2, 100, 2);
  check_unary<T>(
      "abs", [](const auto& x) { return sx::abs(x); }, [](double x) { return std::abs(x); }, -5, 5, 0);
  check_unary<T>(
      "square", [](const auto& x) { return sx::square(x); }, [](double x) { return x * x; }, -5, 5, 1);
  check_unary<T>(
      "relu", [](const auto& x) { return sx::relu(x); }, [](double x) { return x > 0 ? x : 0; }, -5, 5, 0);
  check_unary<T>(
      "sigmoid", [](const auto& x) { return sx::sigmoid(x); }, sigmoid_ref, -30, 30);
  check_unary<T>(
      "tanh", [](const auto& x) { return sx::tanh(x); }, [](double x) { return std::tanh(x); }, -10, 10);
  check_unary<T>(
      "sin", [](const auto& x) { return sx::sin(x); }, [](double x) { return std::sin(x); }, -10, 10);
  check_unary<T>(
      "cos", [](const auto& x) { return sx::cos(x); }, [](double x) { return std::cos(x); }, -10, 10);
  check_binary<T>(
      "add", [](const auto& a, const auto& b) { return a + b; }, std::plus<double>(), -10, 10, 1);
  check_binary<T>(
      "subtract", [](const auto& a, const auto& b) { return a - b; }, std::minus<double>(), -10, 10, 1);
  check_binary<T>(
      "multiply", [](const auto& a, const auto& b) { return a * b; }, std::multiplies<double>(), -10, 10, 1);
  check_binary<T>(
      "divide", [](const auto& a, const auto& b) { return a / b; }, std::divides<double>(), 0.5, 10, 1);
  check_binary<T>(
      "maximum", [](const auto& a, const auto& b) { return sx::maximum(a, b); },
      [](double a, double b) { return std::max(a, b); }, -10, 10, 0);
  check_binary<T>(
      "minimum", [](const auto& a, const auto& b) { return sx::minimum(a, b); },
      [](double a, double b) { return std::min(a, b); }, -10, 10, 0);
  check_binary<T>(
      "pow", [](const auto& a, const auto& b) { return sx::pow(a, b); },
      [](double a, double b) { return std::pow(a, b); }, 0.1, 4, 64);
}

// One expression that uses every elementwise op; instantiated for static extents at the lengths that
// matter for the tails (the loop is the same code for every length, only the bounds differ).
template <class X, class Y>
auto every_op(const X& x, const Y& y) {
  return sx::where(x > y, sx::maximum(x, y) - sx::minimum(x, y), sx::abs(x - y)) * sx::sigmoid(x) +
         sx::tanh(y) / (sx::square(x) + 1) + sx::exp(-sx::abs(x)) * sx::log(sx::abs(y) + 1) + sx::sqrt(sx::abs(x)) -
         sx::rsqrt(sx::abs(y) + 0.5) + sx::pow(sx::abs(x) + 0.1, 1.5) + sx::relu(x) - (-y) +
         sx::expm1(x / 4) * sx::log1p(sx::abs(y)) + sx::sin(x) * sx::cos(y);
}
double every_op_ref(double x, double y) {
  return (x > y ? std::max(x, y) - std::min(x, y) : std::abs(x - y)) * sigmoid_ref(x) + std::tanh(y) / (x * x + 1) +
         std::exp(-std::abs(x)) * std::log(std::abs(y) + 1) + std::sqrt(std::abs(x)) -
         1 / std::sqrt(std::abs(y) + 0.5) + std::pow(std::abs(x) + 0.1, 1.5) + (x > 0 ? x : 0) + y +
         std::expm1(x / 4) * std::log1p(std::abs(y)) + std::sin(x) * std::cos(y);
}

// A small expression for the sweep over static lengths at every tail: static extents are checked at
// compile time and then lowered to the same kernels as dynamic ones (eval/kernel.hpp), so the sweep
// tests that lowering at every tail; every op is covered by the dynamic sweep and every_op above.
template <class X, class Y>
auto arithmetic_ops(const X& x, const Y& y) {
  return sx::where(x >= y, x - y, -y) * x + sx::sqrt(sx::abs(y));
}
double arithmetic_ops_ref(double x, double y) {
  return (x >= y ? x - y : -y) * x + std::sqrt(std::abs(y));
}

template <class T, std::size_t N, bool Transcendental>
void check_static() {
  sx::tensor<T, N> x, y, z;
  fill_uniform(x, -3, 3, N);
  fill_uniform(y, -3, 3, N + 77);
  std::vector<double> expected(N);
  if constexpr (Transcendental) {
    z = every_op(x, y);
    for (std::size_t i = 0; i < N; ++i) expected[i] = every_op_ref(x(i), y(i));
  } else {
    z = arithmetic_ops(x, y);
    for (std::size_t i = 0; i < N; ++i) expected[i] = arithmetic_ops_ref(x(i), y(i));
  }
  check_close(z.data(), expected, tolerance<T>(64), "static extent " + std::to_string(N));
}

template <class T, bool Transcendental, std::size_t... N>
void check_static(std::index_sequence<N...>) {
  (check_static<T, N + 1, Transcendental>(), ...);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(elementwise)

BOOST_AUTO_TEST_CASE(every_op_float_dynamic) {
  check_all_ops_dyn<float>();
}
BOOST_AUTO_TEST_CASE(every_op_double_dynamic) {
  check_all_ops_dyn<double>();
}
BOOST_AUTO_TEST_CASE(arithmetic_static_tail_lengths) {
  // Every tail of a 4-, 8- or 16-lane register (lengths 1..17), and several registers plus a tail.
  // Each static length compiles its own statement (the kernel is the dyn one): the dyn sweep above
  // runs every length 1..67 through the same kernels.
  check_static<float, false>(
      std::index_sequence<0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 30, 31, 32, 62, 66>{});
  check_static<double, false>(std::index_sequence<0, 1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 32, 66>{});
}
BOOST_AUTO_TEST_CASE(every_op_static_tail_lengths) {
  // Around register boundaries (4, 8 and 16 lanes) and large odd sizes.
  check_static<float, true>(std::index_sequence<0, 7, 15, 16, 30, 66, 1030>{});
  check_static<double, true>(std::index_sequence<0, 7, 8, 15, 16, 66, 4098>{});
}

BOOST_AUTO_TEST_CASE(nan_propagates_as_in_pytorch) {
  // relu(NaN) = NaN, and maximum / minimum give NaN with a NaN on either side, at every lane and
  // tail (x86's max instruction alone returns its second operand).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t n : {1u, 7u, 8u, 19u, 67u}) {
    sx::tensor<float, sx::dyn> a(n), b(n);
    fill_uniform(a, -1, 1, unsigned(n));
    fill_uniform(b, -1, 1, unsigned(n + 1));
    for (std::size_t i = 0; i < n; i += 3) a(i) = nan;
    for (std::size_t i = 1; i < n; i += 3) b(i) = nan;
    const sx::tensor<float, sx::dyn> r = sx::relu(a), mx = sx::maximum(a, b), my = sx::maximum(b, a),
                                     mn = sx::minimum(a, b), nm = sx::minimum(b, a);
    for (std::size_t i = 0; i < n; ++i) {
      const bool any = std::isnan(a(i)) || std::isnan(b(i));
      BOOST_TEST_REQUIRE(std::isnan(r(i)) == std::isnan(a(i)), "relu, n " << n << " at " << i);
      if (!std::isnan(a(i))) BOOST_TEST_REQUIRE(r(i) == std::max(a(i), 0.f));
      for (float v : {mx(i), my(i), mn(i), nm(i)}) BOOST_TEST_REQUIRE(std::isnan(v) == any, "n " << n << " at " << i);
      if (!any) BOOST_TEST_REQUIRE((mx(i) == std::max(a(i), b(i)) && nm(i) == std::min(a(i), b(i))));
    }
  }
  sx::tensor<double, 3> d{std::numeric_limits<double>::quiet_NaN(), -2.0, 2.0};
  const sx::tensor<double, 3> rd = sx::relu(d), md = sx::maximum(d, 0.0);
  BOOST_TEST((std::isnan(rd(0)) && rd(1) == 0.0 && rd(2) == 2.0 && std::isnan(md(0))));
}

BOOST_AUTO_TEST_CASE(special_values) {
  sx::tensor<float, 6> x{0.f, -0.f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(), 88.f};
  sx::tensor<float, 6> e = sx::exp(x), s = sx::sigmoid(-x), t = sx::tanh(x);
  BOOST_TEST(e(0) == 1.f);
  BOOST_TEST(std::isinf(e(2)));
  BOOST_TEST(e(3) == 0.f);
  BOOST_TEST(s(2) == 0.f);  // sigmoid(-1e30) underflows to 0, not nan
  BOOST_TEST(s(3) == 1.f);
  BOOST_TEST(t(4) == 1.f);
  sx::tensor<float, 2> l = sx::log(sx::tensor<float, 2>{0.f, -1.f});
  BOOST_TEST((std::isinf(l(0)) && l(0) < 0));
  BOOST_TEST(std::isnan(l(1)));
  // pow with a negative base and an integer exponent, as std::pow.
  sx::tensor<double, 3> p = sx::pow(sx::tensor<double, 3>{-2.0, -3.0, 2.0}, 3.0);
  BOOST_TEST(p(0) == -8.0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(p(1) == -27.0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(p(2) == 8.0, boost::test_tools::tolerance(1e-15));
}

BOOST_AUTO_TEST_SUITE_END()
