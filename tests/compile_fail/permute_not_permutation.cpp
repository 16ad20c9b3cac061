// permute<0, 0, 2> repeats an axis: not a permutation; the permutation and the shape are named.
// expect: permute
// expect: permutation
// expect: axes<0, 0, 2>
// expect: 2, 3, 4
// max-lines: 20
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 2, 3, 4> a;
#ifdef STATIX_EXPECT_FAIL
  auto b = sx::permute<0, 0, 2>(a);
#else
  auto b = sx::permute<0, 2, 1>(a);
#endif
  (void)b;
}
