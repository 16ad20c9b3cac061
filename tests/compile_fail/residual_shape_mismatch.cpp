// A residual block whose body makes 5 features from 4: x + body(x) cannot add up, and the first lines
// say so with both shapes.
// expect: residual_keeps_shape
// expect: shape<-1, 4>
// expect: shape<-1, 5>
// expect: shape mismatch in residual
// max-lines: 30
#include <statix/nn.hpp>
namespace nn = statix::nn;

int main() {
#ifdef STATIX_EXPECT_FAIL
  nn::sequential<nn::linear<3, 4>, nn::residual<nn::linear<4, 5>, nn::relu>> model;
#else
  nn::sequential<nn::linear<3, 4>, nn::residual<nn::linear<4, 4>, nn::relu>> model;
#endif
  statix::tensor<float, statix::dyn, 3> x(2);
  x.fill(1);
  statix::tensor<float, statix::dyn, 4> y(2);
  y = model(x);
  (void)y;
}
