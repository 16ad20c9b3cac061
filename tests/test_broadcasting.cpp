// Broadcasting in all directions against a double-precision reference, merged axes, and the static
// shape algebra.
#include <array>
#include <functional>
#include <utility>

#include "support.hpp"

using namespace statix_test;

namespace {

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
