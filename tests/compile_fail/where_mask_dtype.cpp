// where's first operand must be a bool mask.
// expect: bool
// expect: op::where
// expect: float
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 4> x;
#ifdef STATIX_EXPECT_FAIL
  auto e = sx::where(x, x, 0);
#else
  auto e = sx::where(x > 0, x, 0);
#endif
  (void)e;
}
