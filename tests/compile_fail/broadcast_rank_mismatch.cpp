// Broadcasting aligns trailing extents: (2, 3, 5) against (4, 5) fails on 3 vs 4.
// expect: shape mismatch
// expect: op::mul
// expect: 2, 3, 5
// expect: shape<4, 5>
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<double, 2, 3, 5> a;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<double, 4, 5> b;
#else
  sx::tensor<double, 3, 5> b;
#endif
  auto c = sx::exp(a) * b;
  (void)c;
}
