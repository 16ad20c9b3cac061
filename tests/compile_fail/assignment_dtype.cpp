// Assigning a double expression to a float tensor needs a cast.
// expect: dtype mismatch
// expect: assign_kind::set
// expect: float, double
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 3> a;
  sx::tensor<double, 3> b;
#ifdef STATIX_EXPECT_FAIL
  a = b + 1;
#else
  a = sx::cast<float>(b + 1);
#endif
}
