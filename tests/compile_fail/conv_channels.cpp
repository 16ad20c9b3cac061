// conv2d of a 3-channel input with weights made for 4 input channels.
// expect: conv2d
// expect: shape
// expect: 8, 3, 32, 32
// expect: 16, 4, 3, 3
// max-lines: 20
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 8, 3, 32, 32> x;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<float, 16, 4, 3, 3> w;
#else
  sx::tensor<float, 16, 3, 3, 3> w;
#endif
  auto y = sx::conv2d<1, 1>(x, w);
  (void)y;
}
