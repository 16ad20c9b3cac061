// grad with respect to a plain number: the first lines say grad differentiates with respect to
// tensors.
// expect: grad
// expect: with respect to tensors
// max-lines: 30
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<double, 5> w;
  double lr = 0.1;
  auto loss = sx::sum(w * lr);
#ifdef STATIX_EXPECT_FAIL
  auto g = sx::grad(loss, lr);
#else
  auto g = sx::grad(loss, w);
#endif
  (void)g;
}
