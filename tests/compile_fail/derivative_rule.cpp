// Differentiating through a primitive that has no derivative rule: one error naming the rule
// (derivative_rule), the primitive and the argument.
// expect: derivative_rule<doubled
// expect: no derivative rule
// within-lines: 40
#include <statix/statix.hpp>
namespace sx = statix;

struct doubled {
  static constexpr std::string_view name = "doubled";
  template <class V>
  using value_type = V;
  template <class E>
  using extents_type = E;
  static sx::shape_t<1> shape(const sx::shape_t<1>& x) { return x; }
  template <class T, class X>
  static void compute(T* out, const sx::shape_t<1>& s, sx::plan& p, const X& x_node) {
    const auto x = sx::dense(x_node, p);
    for (std::size_t i = 0; i < s[0]; ++i) out[i] = 2 * x.data[i];
  }
#ifndef STATIX_EXPECT_FAIL
  template <std::size_t I, class G, class Out, class X>
  static auto partial(const G& g, const Out&, const X&) {
    return g * 2.f;
  }
#endif
};

int main() {
  sx::tensor<float, 4> a;
  const sx::tensor<float, 4> g =
      sx::grad(sx::sum(sx::primitive_expr<doubled, sx::leaf_expr<float, sx::extents<4>>>(sx::as_node(a))), a);
  (void)g;
}
