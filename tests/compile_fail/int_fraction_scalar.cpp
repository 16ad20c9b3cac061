// A fractional scalar would be truncated silently against an int32 expression: refused.
// expect: fractional scalar
// expect: op::mul
// expect: int
#include <cstdint>
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<std::int32_t, 4> labels;
#ifdef STATIX_EXPECT_FAIL
  auto e = labels * 0.5;
#else
  auto e = labels * 2;
#endif
  (void)e;
}
