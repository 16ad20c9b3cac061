// A double input to a float model: one error, naming sequential and both dtypes.
// expect: dtype mismatch in sequential
// expect: model_input_dtype<float, double
// max-lines: 14
#include <statix/nn.hpp>
namespace sx = statix;
namespace nn = statix::nn;

int main() {
  nn::sequential<nn::linear<4, 3>, nn::relu, nn::linear<3, 2>> model;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<double, sx::dyn, 4> x(2);
#else
  sx::tensor<float, sx::dyn, 4> x(2);
#endif
  sx::tensor<float, sx::dyn, 2> y = model(x);
  (void)y;
}
