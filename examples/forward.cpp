// Forward passes written with statix's primitives: an MLP (784-128-10) and a small convolutional net
// (conv 3x3 -> max pool -> conv 3x3 -> max pool -> linear) on a batch of random "images", with
// softmax probabilities, predicted classes, and what the planner did (how many products and
// convolutions ran).
//
//   build/release/examples/forward [batch]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <statix/statix.hpp>

namespace sx = statix;

int main(int argc, char** argv) {
  const std::size_t batch = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 128;
  const sx::random::key key{42};

  // Data and parameters (the extents of every tensor are in its type; the batch is `dyn`).
  sx::tensor<float, sx::dyn, 784> x = sx::uniform<float, sx::dyn, 784>(key.fold_in(0), batch);
  sx::tensor<float, 784, 128> w1 = (sx::uniform<float, 784, 128>(key.fold_in(1)) - 0.5f) * 0.07f;
  sx::tensor<float, 128> b1;
  sx::tensor<float, 128, 10> w2 = (sx::uniform<float, 128, 10>(key.fold_in(2)) - 0.5f) * 0.18f;
  sx::tensor<float, 10> b2;

  // MLP: relu(x w1 + b1) runs as one product whose rows get the bias and relu while in cache.
  const auto start = std::chrono::steady_clock::now();
  sx::tensor<float, sx::dyn, 128> hidden = sx::relu(sx::matmul(x, w1) + b1);
  auto [probs, classes] = sx::eval(sx::softmax<1>(sx::matmul(hidden, w2) + b2),  // one product for both
                                   sx::argmax<1>(sx::matmul(hidden, w2) + b2));
  const double mlp_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  const std::size_t mlp_products = sx::evaluations<sx::op::matmul>();

  // CNN on the same batch seen as 1x28x28 images: shapes follow through every layer at compile time.
  sx::tensor<float, 8, 1, 3, 3> k1 = (sx::uniform<float, 8, 1, 3, 3>(key.fold_in(3)) - 0.5f) * 0.6f;
  sx::tensor<float, 16, 8, 3, 3> k2 = (sx::uniform<float, 16, 8, 3, 3>(key.fold_in(4)) - 0.5f) * 0.2f;
  sx::tensor<float, 16 * 7 * 7, 10> w3 = (sx::uniform<float, 16 * 7 * 7, 10>(key.fold_in(5)) - 0.5f) * 0.05f;
  const auto images = sx::reshape<sx::dyn, 1, 28, 28>(x);                               // a view, no copy
  const auto c1 = sx::eval(sx::max_pool2d<2>(sx::relu(sx::conv2d<1, 1>(images, k1))));  // (batch, 8, 14, 14)
  const auto c2 = sx::eval(sx::max_pool2d<2>(sx::relu(sx::conv2d<1, 1>(c1, k2))));      // (batch, 16, 7, 7)
  const auto logits = sx::eval(sx::matmul(sx::reshape<sx::dyn, 16 * 7 * 7>(c2), w3));   // (batch, 10)
  const auto cnn_classes = sx::eval(sx::argmax<1>(logits));

  std::printf("batch %zu: MLP forward %.0f us; products run: %zu\n", batch, mlp_us, mlp_products);
  std::printf("first example: p(class 0) = %.4f, predicted class %d (MLP), %d (CNN)\n", probs(0, 0), classes(0),
              cnn_classes(0));
  double total = 0;
  for (std::size_t j = 0; j < 10; ++j) total += probs(0, j);
  std::printf("probabilities of the first example sum to %.6f\n", total);
  std::printf("shapes: hidden (%zu, %zu), c1 (%zu, %zu, %zu, %zu), c2 (%zu, %zu, %zu, %zu), logits (%zu, %zu)\n",
              hidden.extent(0), hidden.extent(1), c1.extent(0), c1.extent(1), c1.extent(2), c1.extent(3), c2.extent(0),
              c2.extent(1), c2.extent(2), c2.extent(3), logits.extent(0), logits.extent(1));
  return (total > 0.999 && total < 1.001) ? 0 : 1;
}
