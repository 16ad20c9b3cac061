// A primitive without its kernel: the contract (concept `primitive`) names the requirement that
// failed where the primitive is used, not deep inside the evaluator.
// expect: a primitive needs
// expect: P::compute.out, out_shape, p, args.*(is|would be) invalid
// within-lines: 20
// max-lines: 40
#include <statix/statix.hpp>
namespace sx = statix;

struct doubled {
  static constexpr std::string_view name = "doubled";
  template <class V>
  using value_type = V;
  template <class E>
  using extents_type = E;
  static sx::shape_t<1> shape(const sx::shape_t<1>& x) { return x; }
#ifndef STATIX_EXPECT_FAIL
  template <class T, class X>
  static void compute(T* out, const sx::shape_t<1>& s, sx::plan& p, const X& x_node) {
    const auto x = sx::dense(x_node, p);
    for (std::size_t i = 0; i < s[0]; ++i) out[i] = 2 * x.data[i];
  }
#endif
};

int main() {
  sx::tensor<float, 4> a;
  auto e = sx::primitive_expr<doubled, sx::node_t<sx::tensor<float, 4>&>>(sx::as_node(a));
  (void)e;
}
