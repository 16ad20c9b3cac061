// Tensors of different dtypes do not mix without sx::cast.
// expect: dtype mismatch
// expect: op::add
// expect: float, double
// max-lines: 20
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 8> a;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<double, 8> b;
#else
  sx::tensor<float, 8> b;
#endif
  auto c = a + b;
  (void)c;
}
