// A plain `a + b` of shapes 3x4 and 4x3: the first lines name the op and both shapes, and the whole
// diagnostic stays short.
// expect: shape
// expect: op::add
// expect: 3, 4
// expect: 4, 3
// max-lines: 20
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 3, 4> a;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<float, 4, 3> b;
#else
  sx::tensor<float, 3, 4> b;
#endif
  auto c = a + b;
  (void)c;
}
