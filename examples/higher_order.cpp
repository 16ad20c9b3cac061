// Gradients checked and differentiated again, in double: a gradcheck of a small two-layer network
// against central differences, and a Hessian-vector product (the gradient of <grad f, v>).
//
//   build/release/examples/higher_order
#include <cmath>
#include <cstdio>

#include <statix/statix.hpp>

namespace sx = statix;

int main() {
  const sx::random::key key{7};

  // A small network in double (central differences need the precision).
  sx::tensor<double, 6, 12> xs = sx::uniform<double, 6, 12>(key.fold_in(3));
  sx::tensor<double, 12, 8> v1 = (sx::uniform<double, 12, 8>(key.fold_in(4)) - 0.5) * 0.6;
  sx::tensor<double, 8, 3> v2 = (sx::uniform<double, 8, 3>(key.fold_in(5)) - 0.5) * 0.6;
  auto small = [&](auto& v1, auto& v2) {
    return sx::mean(sx::logsumexp<1>(sx::matmul(sx::tanh(sx::matmul(xs, v1)), v2)));
  };
  const sx::gradcheck_result check = sx::gradcheck(small, v1, v2);
  std::printf("%s\n", check.passed ? "gradcheck passed" : "gradcheck FAILED");
  std::printf("  max abs error %.3g, max rel error %.3g\n", check.max_abs_error, check.max_rel_error);

  // A Hessian-vector product: the gradient of <grad f, v>, with no Hessian formed.
  sx::tensor<double, 12, 8> direction = sx::randn<double, 12, 8>(key.fold_in(6));
  sx::tensor<double, 12, 8> hvp = sx::grad(sx::sum(sx::grad(small(v1, v2), v1) * direction), v1);
  std::printf("Hessian-vector product: |Hv| = %.6f\n", std::sqrt(sx::eval(sx::sum(hvp * hvp))()));
  return check.passed ? 0 : 1;
}
