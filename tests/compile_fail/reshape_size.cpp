// reshape of 6 elements to 4 x 2: the sizes differ; both shapes are named.
// expect: reshape
// expect: shape
// expect: 2, 3
// expect: 4, 2
// max-lines: 20
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 2, 3> a;
#ifdef STATIX_EXPECT_FAIL
  auto b = sx::reshape<4, 2>(a);
#else
  auto b = sx::reshape<3, 2>(a);
#endif
  (void)b;
}
