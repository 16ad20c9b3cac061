// grad of a (3, 4) expression: the loss must be a scalar (rank 0). The first lines say so and name
// the loss's shape.
// expect: grad
// expect: scalar loss
// expect: 3, 4
// max-lines: 30
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 3, 4> w;
#ifdef STATIX_EXPECT_FAIL
  auto g = sx::grad(w * w, w);
#else
  auto g = sx::grad(sx::sum(w * w), w);
#endif
  (void)g;
}
