// Braces hold values: `x{64}` for a tensor of rank 2 is neither 64 rows nor the value 64.
// expect: braces_hold_values
// expect: braces hold a tensor's values
// expect: in parentheses
// max-lines: 16
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<double, sx::dyn, 20> x{64};
#else
  sx::tensor<double, sx::dyn, 20> x(64);
#endif
  sx::tensor<std::int32_t, sx::dyn> labels{64};  // one label, 64
  (void)x;
  (void)labels;
}
