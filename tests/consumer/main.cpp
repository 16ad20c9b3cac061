#include <cstdio>
#include <cstdlib>

#include <statix/statix.hpp>

namespace sx = statix;

int main() {
  sx::tensor<float, 2, 3> a{{1, 2, 3}, {4, 5, 6}};
  sx::tensor<float, 3> b{1, 1, 1};
  sx::tensor<float, 2, 3> c = sx::relu(a - 2 * b);
  std::printf("consumer: c(1, 2) = %g\n", static_cast<double>(c(1, 2)));
  return c(1, 2) == 4.f && c(0, 0) == 0.f ? EXIT_SUCCESS : EXIT_FAILURE;
}
