// Every elementwise primitive against a double-precision reference: float and double, dynamic extents
// at every length 1..67 (all SIMD tails) and large odd sizes, static extents at every length 1..67
// through one expression that uses every op, and broadcasting in all directions.
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

// A small expression for the sweep over every static length 1..67: static extents are checked at
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

/// Reference for c = f(a, b) with NumPy broadcasting, for ranks up to 4.
template <class TA, class TB, class TC, class F>
void check_broadcast(const TA& a, const TB& b, const TC& c, F ref, const std::string& what) {
  using index = std::array<std::size_t, 4>;
  auto padded = [](const auto& s) {
    index p{1, 1, 1, 1};
    for (std::size_t k = 0; k < s.size(); ++k) p[4 - s.size() + k] = s[k];
    return p;
  };
  const auto sa = padded(a.shape()), sb = padded(b.shape()), sc = padded(c.shape());
  auto at = [](const auto& t, const index& s, const index& i) {
    std::size_t offset = 0;
    for (std::size_t d = 0; d < 4; ++d) offset = offset * s[d] + (s[d] == 1 ? 0 : i[d]);
    return static_cast<double>(t.data()[offset]);
  };
  std::vector<double> expected;
  index i{};
  for (i[0] = 0; i[0] < sc[0]; ++i[0])
    for (i[1] = 0; i[1] < sc[1]; ++i[1])
      for (i[2] = 0; i[2] < sc[2]; ++i[2])
        for (i[3] = 0; i[3] < sc[3]; ++i[3]) expected.push_back(ref(at(a, sa, i), at(b, sb, i)));
  BOOST_TEST_REQUIRE(c.size() == expected.size());
  check_close(c.data(), expected, tolerance<typename TC::value_type>(2), what);
}

template <class T>
auto filled(auto t, unsigned seed) {
  fill_uniform(t, -4, 4, seed);
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(elementwise)

BOOST_AUTO_TEST_CASE(every_op_float_dynamic) {
  check_all_ops_dyn<float>();
}
BOOST_AUTO_TEST_CASE(every_op_double_dynamic) {
  check_all_ops_dyn<double>();
}
BOOST_AUTO_TEST_CASE(arithmetic_static_lengths_1_to_67) {
  check_static<float, false>(std::make_index_sequence<67>{});
  check_static<double, false>(std::make_index_sequence<67>{});
}
BOOST_AUTO_TEST_CASE(every_op_static_tail_lengths) {
  // Around register boundaries (4, 8 and 16 lanes) and large odd sizes.
  check_static<float, true>(std::index_sequence<0, 7, 15, 16, 30, 66, 1030>{});
  check_static<double, true>(std::index_sequence<0, 7, 8, 15, 16, 66, 4098>{});
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

BOOST_AUTO_TEST_SUITE(broadcasting)

template <class T>
void check_all_directions() {
  auto add = [](double a, double b) { return a + b; };
  auto mul = [](double a, double b) { return a * b; };
  {  // row vector over a matrix, static
    auto a = filled<T>(sx::tensor<T, 3, 4>{}, 1);
    auto b = filled<T>(sx::tensor<T, 4>{}, 2);
    sx::tensor<T, 3, 4> c = a + b;
    check_broadcast(a, b, c, add, "(3,4)+(4)");
    sx::tensor<T, 3, 4> d = b * a;
    check_broadcast(b, a, d, mul, "(4)*(3,4)");
  }
  {  // column vector, both static and dynamic leading extent
    auto a = filled<T>(sx::tensor<T, sx::dyn, 37>(5), 3);
    auto b = filled<T>(sx::tensor<T, sx::dyn, 1>(5), 4);
    sx::tensor<T, sx::dyn, 37> c = a * b;
    check_broadcast(a, b, c, mul, "(dyn=5,37)*(dyn=5,1)");
  }
  {  // outer product shape: (7,1) and (1,37) -> (7,37)
    auto a = filled<T>(sx::tensor<T, 7, 1>{}, 5);
    auto b = filled<T>(sx::tensor<T, 1, 37>{}, 6);
    sx::tensor<T, 7, 37> c = a + b;
    check_broadcast(a, b, c, add, "(7,1)+(1,37)");
    sx::tensor<T, 7, 37> d = b + a;
    check_broadcast(b, a, d, add, "(1,37)+(7,1)");
  }
  {  // rank 3 against rank 2: (2,1,5) + (3,1) -> (2,3,5)
    auto a = filled<T>(sx::tensor<T, 2, 1, 5>{}, 7);
    auto b = filled<T>(sx::tensor<T, 3, 1>{}, 8);
    sx::tensor<T, 2, 3, 5> c = a + b;
    check_broadcast(a, b, c, add, "(2,1,5)+(3,1)");
  }
  {  // channel bias (1,C,1) over (N,C,W), dynamic batch and odd widths
    auto a = filled<T>(sx::tensor<T, sx::dyn, 3, 19>(4), 9);
    auto b = filled<T>(sx::tensor<T, 1, 3, 1>{}, 10);
    sx::tensor<T, sx::dyn, 3, 19> c = a * b;
    check_broadcast(a, b, c, mul, "(dyn=4,3,19)*(1,3,1)");
  }
  {  // rank 0 tensor against everything
    auto a = filled<T>(sx::tensor<T, sx::dyn, 23>(3), 11);
    sx::tensor<T> s(static_cast<T>(2.5));
    sx::tensor<T, sx::dyn, 23> c = a * s;
    check_broadcast(a, s, c, mul, "(dyn=3,23)*()");
  }
  {  // dynamic extents that are 1 at run time broadcast as NumPy does
    auto a = filled<T>(sx::tensor<T, sx::dyn, sx::dyn>(1, 29), 12);
    auto b = filled<T>(sx::tensor<T, sx::dyn, sx::dyn>(6, 1), 13);
    auto c = sx::eval(a + b);
    BOOST_TEST(c.extent(0) == 6u);
    BOOST_TEST(c.extent(1) == 29u);
    check_broadcast(a, b, c, add, "(dyn=1,dyn=29)+(dyn=6,dyn=1)");
  }
  {  // broadcast into an assignment destination, and compound assignment with a broadcast operand
    auto b = filled<T>(sx::tensor<T, 5>{}, 14);
    sx::tensor<T, 4, 5> c;
    c = b;
    check_broadcast(sx::tensor<T, 4, 5>{}, b, c, add, "(4,5) = (5)");
    auto d = filled<T>(sx::tensor<T, 4, 1>{}, 15);
    sx::tensor<T, 4, 5> before = c;
    c += d;
    check_broadcast(before, d, c, add, "(4,5) += (4,1)");
  }
}

// The loop runs neighbouring axes that every operand reads alike as one: an image bias (C,1,1) over
// (N,C,H,W) as rows of H*W. Axes one operand broadcasts and another does not must stay apart.
template <class T>
void check_merged_axes() {
  auto add = [](double a, double b) { return a + b; };
  auto mul = [](double a, double b) { return a * b; };
  using image = sx::tensor<T, sx::dyn, 5, 7, 9>;
  const auto x = filled<T>(image(3), 16);
  {
    const auto b = filled<T>(sx::tensor<T, 5, 1, 1>{}, 17);
    image c = x + b;
    check_broadcast(x, b, c, add, "(dyn=3,5,7,9)+(5,1,1)");
  }
  {  // (N*C, H, W)
    const auto b = filled<T>(sx::tensor<T, 7, 1>{}, 18);
    image c = x * b;
    check_broadcast(x, b, c, mul, "(dyn=3,5,7,9)*(7,1)");
  }
  {  // alternating: nothing merges
    const auto b = filled<T>(sx::tensor<T, 1, 5, 1, 9>{}, 19);
    image c = b + x;
    check_broadcast(b, x, c, add, "(1,5,1,9)+(dyn=3,5,7,9)");
  }
  {  // one value per image: (N, C*H*W)
    const auto b = filled<T>(sx::tensor<T, sx::dyn, 1, 1, 1>(3), 20);
    image c = x * b;
    check_broadcast(x, b, c, mul, "(dyn=3,5,7,9)*(dyn=3,1,1,1)");
  }
  {  // an outer sum, (N*C) by (H*W), neither operand full
    const auto a = filled<T>(sx::tensor<T, sx::dyn, 5, 1, 1>(3), 21);
    const auto b = filled<T>(sx::tensor<T, 7, 9>{}, 22);
    image c = a + b;
    check_broadcast(a, b, c, add, "(dyn=3,5,1,1)+(7,9)");
  }
  {  // extents of 1 in the destination
    const auto a = filled<T>(sx::tensor<T, sx::dyn, 1, 7, 9>(3), 23);
    const auto b = filled<T>(sx::tensor<T, 7, 1>{}, 24);
    sx::tensor<T, sx::dyn, 1, 7, 9> c = a - b;
    check_broadcast(
        a, b, c, [](double u, double v) { return u - v; }, "(dyn=3,1,7,9)-(7,1)");
  }
  {  // statements fused into one loop merge only the axes all of them read alike
    const auto b = filled<T>(sx::tensor<T, 5, 1, 1>{}, 25);
    const auto e = filled<T>(sx::tensor<T, 7, 1>{}, 26);
    image c(3), d(3);
    sx::fuse(sx::out(c) = x + b, sx::out(d) = x * e);
    check_broadcast(x, b, c, add, "fused (dyn=3,5,7,9)+(5,1,1)");
    check_broadcast(x, e, d, mul, "fused (dyn=3,5,7,9)*(7,1)");
  }
}

BOOST_AUTO_TEST_CASE(merged_axes_float) {
  check_merged_axes<float>();
}
BOOST_AUTO_TEST_CASE(merged_axes_double) {
  check_merged_axes<double>();
}

BOOST_AUTO_TEST_CASE(all_directions_float) {
  check_all_directions<float>();
}
BOOST_AUTO_TEST_CASE(all_directions_double) {
  check_all_directions<double>();
}

BOOST_AUTO_TEST_CASE(static_shape_algebra) {
  using R = sx::broadcast_t<sx::extents<2, 1, 5>, sx::extents<3, 1>>;
  static_assert(std::is_same_v<R, sx::extents<2, 3, 5>>);
  static_assert(std::is_same_v<sx::broadcast_t<sx::extents<sx::dyn, 1>, sx::extents<7>>, sx::extents<sx::dyn, 7>>);
  static_assert(std::is_same_v<sx::broadcast_t<sx::extents<>, sx::extents<4>>, sx::extents<4>>);
  static_assert(!sx::detail::broadcast_extents<sx::extents<3, 4>, sx::extents<4, 3>>::ok);
  using E = decltype(sx::tensor<float, sx::dyn, 1>(2) + sx::tensor<float, 9>{});
  static_assert(std::is_same_v<E::extents_type, sx::extents<sx::dyn, 9>>);
}

BOOST_AUTO_TEST_SUITE_END()
