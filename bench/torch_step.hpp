// The libtorch side of the training-step benchmarks (bench/train_step, bench/residual_cnn): one Adam
// step of a module on fixed random inputs and labels, as a PyTorch user writes it. Included only where
// libtorch was found (its headers cost half a minute to compile).
#pragma once

#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace statix_bench {

/// Times zero_grad, forward, cross_entropy, backward and Adam's step of `model` (a module holder or
/// a shared_ptr to a module) on inputs of `shape` and `batch` labels below `classes`.
template <class Model>
void libtorch_adam_steps(benchmark::State& state, Model model, const std::vector<std::int64_t>& shape,
                         std::int64_t batch, std::int64_t classes) {
  torch::manual_seed(1);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const auto x = torch::rand(shape);
  const auto y = torch::randint(0, classes, {batch}, torch::kInt64);
  for (auto _ : state) {
    optimizer.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.item<float>());
  }
}

}  // namespace statix_bench
