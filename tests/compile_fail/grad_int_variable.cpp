// grad with respect to an int32 tensor: gradients need floating values; the first lines say so and
// name the dtype.
// expect: grad
// expect: floating
// expect: int
// max-lines: 30
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 4> w;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<std::int32_t, 4> labels;
  auto g = sx::grad(sx::sum(w * sx::cast<float>(labels)), labels);
#else
  auto g = sx::grad(sx::sum(w * w), w);
#endif
  (void)g;
}
