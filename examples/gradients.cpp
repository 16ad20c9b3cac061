// Symbolic gradients: a few steps of gradient descent on an MLP (784-128-10, softmax cross-entropy)
// with sx::value_and_grad, how many products each step runs, a gradcheck, and a Hessian-vector
// product (a gradient of a gradient).
//
//   build/release/examples/gradients [batch]
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <statix/statix.hpp>

namespace sx = statix;

int main(int argc, char** argv) {
  const std::size_t batch = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 128;
  const sx::random::key key{7};

  // A batch of random inputs with random labels (one-hot); the batch extent is known at run time.
  sx::tensor<float, sx::dyn, 784> x = sx::uniform<float, sx::dyn, 784>(key.fold_in(0), batch);
  sx::tensor<float, sx::dyn, 10> onehot(batch);
  for (std::size_t i = 0; i < batch; ++i) onehot(i, (i * 7) % 10) = 1;

  sx::tensor<float, 784, 128> w1 = (sx::uniform<float, 784, 128>(key.fold_in(1)) - 0.5f) * 0.07f;
  sx::tensor<float, 128> b1;
  sx::tensor<float, 128, 10> w2 = (sx::uniform<float, 128, 10>(key.fold_in(2)) - 0.5f) * 0.18f;
  sx::tensor<float, 10> b2;

  // The loss is an expression of the parameters; its gradients are expressions too.
  auto h1 = sx::relu(sx::matmul(x, w1) + b1);
  auto logits = sx::matmul(h1, w2) + b2;
  auto loss = -sx::mean(sx::sum<1>(onehot * sx::log_softmax<1>(logits)));

  const float lr = 0.5f;
  for (int step = 0; step < 5; ++step) {
    sx::reset_evaluations<sx::op::matmul>();
    auto [value, g1, gb1, g2, gb2] = sx::value_and_grad(loss, w1, b1, w2, b2);
    std::printf("step %d: loss %.5f, products run: %zu\n", step, static_cast<double>(value),
                sx::evaluations<sx::op::matmul>());
    sx::fuse(sx::out(w1) -= lr * g1);
    b1 -= lr * gb1;
    w2 -= lr * g2;
    b2 -= lr * gb2;
  }

  // gradcheck on a small version of the same model, in double.
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
