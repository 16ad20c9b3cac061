// `+=` with a value that would have to grow the destination.
// expect: shape mismatch
// expect: assign_kind::add
// expect: shape<5>
// expect: shape<2, 5>
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 5> a;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<float, 2, 5> b;
#else
  sx::tensor<float, 5> b;
#endif
  a += b;
}
