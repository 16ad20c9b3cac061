// Assigning a value of another shape to a tensor.
// expect: shape mismatch
// expect: assignable_shape
// expect: assign_kind::set
// expect: shape<3, 4>
// expect: shape<4, 3>
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 3, 4> a;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<float, 4, 3> b;
#else
  sx::tensor<float, 1, 4> b;  // broadcasting into the destination is fine
#endif
  a = b * 2;
}
