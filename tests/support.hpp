// Helpers shared by the test suites: random inputs, double-precision references, comparisons.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <statix/statix.hpp>

namespace sx = statix;

namespace statix_test {

long allocation_count();

/// Lengths that hit every SIMD tail (float and double, 256- or 512-bit registers), plus large odd ones.
inline std::vector<std::size_t> tail_lengths() {
  std::vector<std::size_t> n;
  for (std::size_t k = 1; k <= 67; ++k) n.push_back(k);
  for (std::size_t k : {257u, 1031u, 4099u, 65537u}) n.push_back(k);
  return n;
}

template <class T>
void fill_uniform(T* p, std::size_t n, double lo, double hi, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(d(rng));
}

template <class Tensor>
void fill_uniform(Tensor& t, double lo, double hi, unsigned seed) {
  fill_uniform(t.data(), t.size(), lo, hi, seed);
}

/// Relative tolerance of a few ulps of T (SIMD exp/log/tanh are within ~2 ulp of the correctly
/// rounded value; a chain of ops accumulates).
template <class T>
constexpr double tolerance(double ulps = 8) {
  return ulps * std::numeric_limits<T>::epsilon();
}

/// Every element of `got` within `rtol * max(1, |ref|)` of the double reference.
template <class T>
void check_close(const T* got, const std::vector<double>& ref, double rtol, const std::string& what) {
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double g = static_cast<double>(got[i]);
    const double r = ref[i];
    if (std::isnan(r)) {
      BOOST_TEST_REQUIRE(std::isnan(g), what << " element " << i << ": expected nan, got " << g);
      continue;
    }
    if (std::isinf(r)) {
      BOOST_TEST_REQUIRE(g == r, what << " element " << i << ": expected " << r << ", got " << g);
      continue;
    }
    const double err = std::abs(g - r);
    BOOST_TEST_REQUIRE(err <= rtol * std::max(1.0, std::abs(r)), what << " (size " << ref.size() << ") element " << i
                                                                      << ": got " << g << ", reference " << r
                                                                      << ", error " << err);
  }
}

/// A tensor of uniform random values in [lo, hi).
template <class T, std::size_t... E, class... D>
sx::tensor<T, E...> random_tensor(unsigned seed, double lo, double hi, D... dyn_extents) {
  sx::tensor<T, E...> t(dyn_extents...);
  fill_uniform(t, lo, hi, seed);
  return t;
}

/// The sum of e weighted by fixed values c, so that the adjoint reaching e differs per element.
template <class C>
auto weighted(const auto& e, const C& c) {
  return sx::sum(e * c);
}

/// f() throws Error whose message holds every one of `words`; a failure when nothing (or something
/// else) is thrown.
template <class Error, class F>
void expect_error(F&& f, std::initializer_list<std::string_view> words) {
  try {
    f();
  } catch (const Error& e) {
    const std::string what = e.what();
    for (std::string_view w : words)
      BOOST_TEST(what.find(w) != std::string::npos, "'" << what << "' lacks '" << w << "'");
    return;
  }
  BOOST_ERROR("nothing thrown where the message should say '" << *words.begin() << "'");
}

/// sx::gradcheck of f at xs passes (central differences in double).
template <class F, class... X>
void expect_gradcheck(const std::string& what, F&& f, const X&... xs) {
  const sx::gradcheck_result r = sx::gradcheck(f, xs...);
  BOOST_TEST(r.passed, what << ": " << r);
}

}  // namespace statix_test
