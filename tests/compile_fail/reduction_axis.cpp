// sum over axis 2 of a matrix: the axis is out of range; the axis and the shape are named.
// expect: axis out of range
// expect: axes<2>
// expect: 3, 4
// max-lines: 20
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 3, 4> a;
#ifdef STATIX_EXPECT_FAIL
  auto s = sx::sum<2>(a);
#else
  auto s = sx::sum<1>(a);
#endif
  (void)s;
}
