// Applying a model to an input its first layer does not accept: the first lines name the input's
// shape and what layer 0 accepts.
// expect: model_input
// expect: shape<-1, 100>
// expect: shape<-1, 784>
// expect: shape mismatch in sequential
// max-lines: 30
#include <statix/nn.hpp>
namespace sx = statix;
namespace nn = statix::nn;

int main() {
  nn::sequential<nn::linear<784, 10>, nn::relu> model;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<float, sx::dyn, 100> x(2);
#else
  sx::tensor<float, sx::dyn, 784> x(2);
#endif
  auto y = model(x);
  (void)y;
}
