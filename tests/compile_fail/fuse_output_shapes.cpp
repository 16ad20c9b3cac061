// Every output of sx::fuse must have the same shape.
// expect: same_output_shape
// expect: op::fuse
// expect: shape<64>
// expect: shape<32>
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 64> m, g;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<float, 32> v;
#else
  sx::tensor<float, 64> v;
#endif
  sx::fuse(sx::out(m) = 0.9f * m + g, sx::out(v) = v * 0.5f);
}
