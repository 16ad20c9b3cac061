// One training step (forward, cross-entropy, backward, Adam) of a residual CNN with batch norm, at
// batch 32, float32, one thread, for STATIX_DEPTH residual blocks (default 2; scripts/residual-depth.sh
// builds it for d = 1, 2, 4, 8 and measures what each costs to compile):
//
//   conv3x3 1->16, batch norm, relu,
//   d x [ x + (conv3x3 16->16, batch norm, relu, conv3x3 16->16, batch norm)(x), relu ],
//   maxpool 2, flatten, linear 3136->10
//
//   statix    nn::sequential with nn::residual (its input shared: computed and differentiated once)
//   libtorch  the same layers as a torch::nn::Module, cross_entropy, backward, torch::optim::Adam
//             (if libtorch was found at configure time)
//
// It prints the loss expression's sizeof (the same for every d: shared nodes are handles), the
// convolutions one statix step runs (forward, input gradients, weight gradients), and libtorch / statix.
#include <cstdio>
#include <optional>

#include <statix/nn.hpp>
#include <statix/optim.hpp>

#include "support.hpp"

#if defined(STATIX_HAVE_TORCH)
#include "torch_step.hpp"
#endif

#ifndef STATIX_DEPTH
#define STATIX_DEPTH 2
#endif

namespace sx = statix;
namespace nn = statix::nn;

namespace {

constexpr std::size_t kBatch = 32, kWidth = 16, kClasses = 10, kDepth = STATIX_DEPTH;

using block = nn::residual<nn::conv2d<kWidth, kWidth, 3>, nn::batch_norm2d<kWidth>, nn::relu,
                           nn::conv2d<kWidth, kWidth, 3>, nn::batch_norm2d<kWidth>>;

// The blocks with a relu after each.
template <std::size_t... I>
auto blocks_with_relu(std::index_sequence<I...>)
    -> nn::sequential<nn::conv2d<1, kWidth, 3>, nn::batch_norm2d<kWidth>, nn::relu,
                      nn::sequential<std::conditional_t<true, block, decltype(I)>, nn::relu>..., nn::max_pool2d<2>,
                      nn::flatten, nn::linear<kWidth * 14 * 14, kClasses>>;
using model_type = decltype(blocks_with_relu(std::make_index_sequence<kDepth>{}));

sx::tensor<float, sx::dyn, 1, 28, 28> inputs() {
  sx::tensor<float, sx::dyn, 1, 28, 28> x(kBatch);
  x = sx::uniform<float, sx::dyn, 1, 28, 28>(sx::random::key{7}, kBatch);
  return x;
}
sx::tensor<std::int32_t, sx::dyn> labels() {
  sx::tensor<std::int32_t, sx::dyn> y(kBatch);
  for (std::size_t i = 0; i < kBatch; ++i) y(i) = std::int32_t((i * 7 + 3) % kClasses);
  return y;
}

float step(model_type& model, auto& optimizer, const sx::tensor<float, sx::dyn, 1, 28, 28>& x,
           const sx::tensor<std::int32_t, sx::dyn>& y) {
  auto [loss, grads] = nn::value_and_gradients(nn::cross_entropy(model(x), y), model);
  optimizer.step(grads);
  return loss;
}

void bm_statix(benchmark::State& state) {
  model_type model(sx::random::key{1});
  sx::optim::adam optimizer(model.parameters());
  const auto x = inputs();
  const auto y = labels();
  for (auto _ : state) benchmark::DoNotOptimize(step(model, optimizer, x, y));
}

#if defined(STATIX_HAVE_TORCH)
struct torch_block : torch::nn::Module {
  torch::nn::Conv2d c1{torch::nn::Conv2dOptions(kWidth, kWidth, 3).padding(1)};
  torch::nn::Conv2d c2{torch::nn::Conv2dOptions(kWidth, kWidth, 3).padding(1)};
  torch::nn::BatchNorm2d b1{kWidth}, b2{kWidth};
  torch_block() {
    register_module("c1", c1);
    register_module("b1", b1);
    register_module("c2", c2);
    register_module("b2", b2);
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::relu(x + b2(c2(torch::relu(b1(c1(x)))))); }
};
struct torch_model : torch::nn::Module {
  torch::nn::Conv2d stem{torch::nn::Conv2dOptions(1, kWidth, 3).padding(1)};
  torch::nn::BatchNorm2d bn{kWidth};
  std::vector<std::shared_ptr<torch_block>> body;
  torch::nn::Linear fc{kWidth * 14 * 14, kClasses};
  torch_model() {
    register_module("stem", stem);
    register_module("bn", bn);
    for (std::size_t k = 0; k < kDepth; ++k)
      body.push_back(register_module("block" + std::to_string(k), std::make_shared<torch_block>()));
    register_module("fc", fc);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(bn(stem(x)));
    for (auto& b : body) x = b->forward(x);
    return fc(torch::flatten(torch::max_pool2d(x, 2), 1));
  }
};
void bm_libtorch(benchmark::State& state) {
  torch::manual_seed(1);
  statix_bench::libtorch_adam_steps(state, std::make_shared<torch_model>(), {std::int64_t(kBatch), 1, 28, 28},
                                    std::int64_t(kBatch), std::int64_t(kClasses));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (!statix_bench::initialize(argc, argv)) return 1;
  {
    model_type model(sx::random::key{1});
    const auto x = inputs();
    const auto y = labels();
    using forward = sx::op::conv2d<1, 1, 1>;
    using input_grad = sx::op::conv2d_input_grad<1, 1, 1>;
    using weight_grad = sx::op::conv2d_weight_grad<1, 1, 1>;
    sx::reset_evaluations<forward>();
    sx::reset_evaluations<input_grad>();
    sx::reset_evaluations<weight_grad>();
    const auto loss = nn::cross_entropy(model(x), y);
    (void)nn::value_and_gradients(loss, model);
    std::printf(
        "depth %zu: sizeof(loss expression) %zu bytes; convolutions per step: %zu forward, %zu input "
        "gradients, %zu weight gradients (%zu layers)\n",
        kDepth, sizeof(loss), sx::evaluations<forward>(), sx::evaluations<input_grad>(), sx::evaluations<weight_grad>(),
        2 * kDepth + 1);
  }
  benchmark::RegisterBenchmark("residual_cnn/statix", bm_statix);
#if defined(STATIX_HAVE_TORCH)
  at::set_num_threads(1);
  benchmark::RegisterBenchmark("residual_cnn/libtorch", bm_libtorch);
#endif
  statix_bench::median_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  const auto ours = rep.us("residual_cnn/statix"), theirs = rep.us("residual_cnn/libtorch");
  std::printf("\nResidual CNN, %zu blocks, batch %zu, one training step, one thread (median CPU time)\n", kDepth,
              kBatch);
  if (ours) std::printf("  statix    %8.2f ms\n", *ours / 1e3);
  if (theirs) std::printf("  libtorch  %8.2f ms\n", *theirs / 1e3);
  if (ours && theirs)
    std::printf("  libtorch / statix %.2f (target: statix within 1.5x of libtorch, ratio >= 0.67: %s)\n",
                *theirs / *ours, *theirs / *ours >= 1 / 1.5 ? "met" : "MISSED");
  benchmark::Shutdown();
}
