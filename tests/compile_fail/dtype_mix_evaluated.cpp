// A float + double expression evaluated into a tensor: the dtype rule is the only error (the
// rejected expression's result does not go on to fail in the kernels).
// expect: dtype mismatch
// expect: op::add
// expect: float, double
// max-lines: 20
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  sx::tensor<float, 8> a;
#ifdef STATIX_EXPECT_FAIL
  sx::tensor<double, 8> b;
#else
  sx::tensor<float, 8> b;
#endif
  sx::tensor<float, 8> c = sx::relu(a + b) * 2;
  sx::tensor<float, 2, 2> d = sx::matmul(sx::reshape<2, 4>(c), sx::reshape<4, 2>(c)) + 1.f;
  (void)d;
}
