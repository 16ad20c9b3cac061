// Symbolic gradients: a few steps of gradient descent on an MLP (784-128-10, softmax cross-entropy)
// with sx::value_and_grad, and how many products each step runs (2 forward, 3 backward). Its compile
// time is in docs/benchmarks.md (scripts/compile-time.sh); higher_order.cpp differentiates twice.
//
//   build/release/examples/mlp_gradient [batch]
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
  return 0;
}
