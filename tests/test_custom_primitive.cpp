// A primitive defined outside the engine, as docs/design.md ("Adding a primitive") builds it: a
// running sum along each row, with its shape rule, kernel and derivative rules in one struct. It
// evaluates once per plan, fuses into the expressions around it, and differentiates (gradcheck,
// forward mode) through its own rules.
#include "support.hpp"

#include <string_view>

using namespace statix_test;

namespace user {

/// y[i][j] = x[i][0] + ... + x[i][j] (Reverse: x[i][j] + ... + x[i][n-1]).
template <bool Reverse>
struct running_sum {
  static constexpr std::string_view name = Reverse ? "reverse_running_sum" : "running_sum";
  template <class V>
  using value_type = V;  // the operand's dtype
  template <class E>
  using extents_type = E;  // and its static shape

  static sx::shape_t<2> shape(const sx::shape_t<2>& x) { return x; }

  template <class T, class X>
  static void compute(T* out, const sx::shape_t<2>& s, sx::plan& p, const X& x_node) {
    const auto x = sx::dense(x_node, p);  // the operand as memory: a leaf's own, else evaluated once
    for (std::size_t i = 0; i < s[0]; ++i) {
      T sum = 0;
      for (std::size_t k = 0; k < s[1]; ++k) {
        const std::size_t j = Reverse ? s[1] - 1 - k : k;
        sum += x.data[i * s[1] + j];
        out[i * s[1] + j] = sum;
      }
    }
  }

  // The adjoint of a running sum is the running sum from the other end; a tangent is summed as x is.
  template <std::size_t I, class G, class Out, class X>
  static auto partial(const G& g, const Out&, const X&) {
    return sx::primitive_expr<running_sum<!Reverse>, G>(g);
  }
  template <std::size_t I, class Tangent, class Out, class X>
  static auto push(const Tangent& t, const Out&, const X&) {
    return sx::primitive_expr<running_sum<Reverse>, Tangent>(t);
  }
};

template <sx::operand X>
auto running_sum_of(X&& x) {
  static_assert(sx::extents_t<X>::rank == 2, "running_sum_of takes a matrix");
  return sx::primitive_expr<running_sum<false>, sx::node_t<X>>(sx::as_node(std::forward<X>(x)));
}

}  // namespace user

static_assert(sx::primitive<user::running_sum<false>, sx::leaf_expr<float, sx::extents<sx::dyn, 7>>>);

BOOST_AUTO_TEST_SUITE(custom_primitive)

BOOST_AUTO_TEST_CASE(values_once_per_plan_and_fused_around) {
  for (std::size_t rows : {1u, 3u}) {
    auto a = random_tensor<double, sx::dyn, 7>(1, -1, 1, rows);
    sx::reset_evaluations<user::running_sum<false>>();
    auto r = user::running_sum_of(a * 2);
    const sx::tensor<double, sx::dyn, 7> y = sx::exp(r) + r;  // read twice, computed once
    BOOST_TEST(sx::evaluations<user::running_sum<false>>() == 1u);
    std::vector<double> expected(rows * 7);
    for (std::size_t i = 0; i < rows; ++i) {
      double sum = 0;
      for (std::size_t j = 0; j < 7; ++j) {
        sum += 2 * a(i, j);
        expected[i * 7 + j] = std::exp(sum) + sum;
      }
    }
    check_close(y.data(), expected, tolerance<double>(), "running sum");
  }
}

BOOST_AUTO_TEST_CASE(gradients_through_its_rules) {
  auto a = random_tensor<double, sx::dyn, 5>(2, -1, 1, 4);
  const auto c = random_tensor<double, sx::dyn, 5>(3, -1, 1, 4);
  const auto da = random_tensor<double, sx::dyn, 5>(4, -1, 1, 4);
  auto f = [&](auto& x) { return sx::sum(sx::tanh(user::running_sum_of(x * x)) * c); };
  expect_gradcheck("running sum", f, a);
  // Forward mode (push) agrees with the gradient contracted with the direction.
  const auto g = sx::eval(sx::grad(f(a), a));
  BOOST_TEST(sx::eval(sx::jvp(f(a), a, da))() == sx::eval(sx::sum(g * da))(), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_SUITE_END()
