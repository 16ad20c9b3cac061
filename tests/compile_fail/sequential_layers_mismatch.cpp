// A sequential model whose second linear layer expects 128 inputs after a layer that makes 256: the
// first lines name both layers (1 and 2, counting relu) and both shapes.
// expect: layers_compose
// expect: layer<1>
// expect: shape<-1, 256>
// expect: layer<2>
// expect: shape<-1, 128>
// expect: shape mismatch in sequential
// max-lines: 30
#include <statix/nn.hpp>
namespace nn = statix::nn;

int main() {
#ifdef STATIX_EXPECT_FAIL
  nn::sequential<nn::linear<784, 256>, nn::relu, nn::linear<128, 10>> model;
#else
  nn::sequential<nn::linear<784, 256>, nn::relu, nn::linear<256, 10>> model;
#endif
  (void)model;
}
