// matmul of (3, 4) by (5, 2): the inner extents differ. The first lines name matmul and both shapes.
// expect: matmul
// expect: shape
// expect: 3, 4
// expect: 5, 2
// max-lines: 20
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 3, 4> a;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<float, 5, 2> b;
#else
  sx::tensor<float, 4, 2> b;
#endif
  auto c = sx::matmul(a, b);
  (void)c;
}
