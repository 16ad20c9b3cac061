// grad with respect to an expression (w * 2), not a tensor: the first lines say grad differentiates
// with respect to tensors.
// expect: grad
// expect: with respect to tensors
// max-lines: 30
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 3, 4> w;
  auto loss = sx::sum(w * w);
#ifdef STATIX_EXPECT_FAIL
  auto g = sx::grad(loss, w * 2);
#else
  auto g = sx::grad(loss, w);
#endif
  (void)g;
}
