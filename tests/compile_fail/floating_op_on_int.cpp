// exp of an int32 tensor: transcendental ops take floating operands.
// expect: floating
// expect: op::exp
// expect: int
#include <cstdint>
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<std::int32_t, 4> counts;
#ifdef STATIX_EXPECT_FAIL
  auto e = sx::exp(counts);
#else
  auto e = sx::exp(sx::cast<float>(counts));
#endif
  (void)e;
}
