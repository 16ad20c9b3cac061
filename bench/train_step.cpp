// One full training step (forward, cross-entropy loss, backward, Adam update) of the main job's two
// models at batch 128, float32, single thread:
//
//   mlp  784-256-10: linear, relu, linear
//   cnn  conv3x3 1->32, relu, maxpool 2, conv3x3 32->64, relu, maxpool 2, flatten, linear 3136->10
//
//   statix         nn::sequential, nn::value_and_gradients, optim::adam::step (what the main job runs)
//   hand_openblas  the MLP by hand: 5 cblas_sgemm calls on PyTorch-layout weights, fused loops for bias +
//                  relu, log-softmax + loss + its gradient, relu mask + bias gradients, and one Adam loop
//                  per parameter; buffers allocated once (the reference for the MLP)
//   libtorch       torch::nn::Sequential of the same layers, cross_entropy, backward, torch::optim::Adam
//                  (if libtorch was found at configure time)
//
// Before timing, one MLP step of statix and of hand_openblas from the same parameters must give the
// same loss (to 1e-5 relative) and the same parameters (to 1e-4, a tenth of
// an Adam step); the program stops otherwise. Medians of 5
// repetitions (bench/support.hpp), then the ratios against the targets.
//
//   taskset -c 1 build/release/bench/train_step
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <vector>

#include <statix/nn.hpp>
#include <statix/optim.hpp>

#include "support.hpp"

#if defined(STATIX_HAVE_OPENBLAS)
#include <cblas.h>
#endif
#if defined(STATIX_HAVE_TORCH)
#include "torch_step.hpp"
#endif

namespace sx = statix;
namespace nn = statix::nn;

namespace {

constexpr std::size_t kBatch = 128, kIn = 784, kHidden = 256, kClasses = 10;

using mlp = nn::sequential<nn::linear<kIn, kHidden>, nn::relu, nn::linear<kHidden, kClasses>>;
using cnn = nn::sequential<nn::conv2d<1, 32, 3>, nn::relu, nn::max_pool2d<2>,   //
                           nn::conv2d<32, 64, 3>, nn::relu, nn::max_pool2d<2>,  //
                           nn::flatten, nn::linear<64 * 7 * 7, kClasses>>;

/// A batch of inputs in [0, 1) and labels from a fixed seed.
template <std::size_t... E>
sx::tensor<float, sx::dyn, E...> inputs() {
  sx::tensor<float, sx::dyn, E...> x(kBatch);
  x = sx::uniform<float, sx::dyn, E...>(sx::random::key{7}, kBatch);
  return x;
}
sx::tensor<std::int32_t, sx::dyn> labels() {
  sx::tensor<std::int32_t, sx::dyn> y(kBatch);
  for (std::size_t i = 0; i < kBatch; ++i) y(i) = std::int32_t((i * 7 + 3) % kClasses);
  return y;
}

template <class Model, class X>
float run_statix(Model& model, auto& optimizer, const X& x, const sx::tensor<std::int32_t, sx::dyn>& y) {
  auto [loss, grads] = nn::value_and_gradients(nn::cross_entropy(model(x), y), model);
  optimizer.step(grads);
  return loss;
}

template <class Model, std::size_t... E>
void bm_statix(benchmark::State& state) {
  Model model(sx::random::key{1});
  sx::optim::adam optimizer(model.parameters());
  const auto x = inputs<E...>();
  const auto y = labels();
  for (auto _ : state) benchmark::DoNotOptimize(run_statix(model, optimizer, x, y));
}

// ---------------------------------------------------------------------------------------------------
// hand_openblas: the MLP step by hand, weights in PyTorch's (out, in) layout as statix keeps them.

#if defined(STATIX_HAVE_OPENBLAS)
struct hand_mlp {
  std::vector<float> W1, b1, W2, b2;                          // parameters
  std::vector<float> gW1, gb1, gW2, gb2;                      // gradients
  std::vector<float> mW1, mb1, mW2, mb2, vW1, vb1, vW2, vb2;  // Adam's moments
  std::vector<float> h, dh, z;                                // activations
  std::size_t t = 0;

  explicit hand_mlp(const mlp& m)
      : W1(m.layer<0>().weight.begin(), m.layer<0>().weight.end()),
        b1(m.layer<0>().bias.begin(), m.layer<0>().bias.end()),
        W2(m.layer<2>().weight.begin(), m.layer<2>().weight.end()),
        b2(m.layer<2>().bias.begin(), m.layer<2>().bias.end()),
        gW1(W1.size()),
        gb1(b1.size()),
        gW2(W2.size()),
        gb2(b2.size()),
        mW1(W1.size()),
        mb1(b1.size()),
        mW2(W2.size()),
        mb2(b2.size()),
        vW1(W1.size()),
        vb1(b1.size()),
        vW2(W2.size()),
        vb2(b2.size()),
        h(kBatch * kHidden),
        dh(kBatch * kHidden),
        z(kBatch * kClasses) {}

  /// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), m and v updated in the same loop.
  void adam(std::vector<float>& p, const std::vector<float>& g, std::vector<float>& m, std::vector<float>& v) const {
    const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    const float step = float(1e-3 / (1 - std::pow(0.9, double(t))));
    const float inv_sqrt_bias2 = float(1 / std::sqrt(1 - std::pow(0.999, double(t))));
    float* __restrict pp = p.data();
    const float* __restrict gp = g.data();
    float* __restrict mp = m.data();
    float* __restrict vp = v.data();
    for (std::size_t i = 0; i < p.size(); ++i) {
      mp[i] = beta1 * mp[i] + (1 - beta1) * gp[i];
      vp[i] = beta2 * vp[i] + (1 - beta2) * gp[i] * gp[i];
      pp[i] -= step * mp[i] / (std::sqrt(vp[i]) * inv_sqrt_bias2 + eps);
    }
  }

  [[gnu::noinline]] float step(const float* x, const std::int32_t* y) {
    constexpr int B = kBatch, I = kIn, H = kHidden, C = kClasses;
    // Forward: h = relu(x W1^T + b1), z = h W2^T + b2.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, I, 1.0f, x, I, W1.data(), I, 0.0f, h.data(), H);
    for (std::size_t i = 0; i < kBatch; ++i)
      for (std::size_t j = 0; j < kHidden; ++j) h[i * H + j] = std::max(h[i * H + j] + b1[j], 0.0f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, C, H, 1.0f, h.data(), H, W2.data(), H, 0.0f, z.data(), C);
    // Loss and d loss / d z = (softmax(z) - onehot(y)) / batch, in place; gb2 its column sums.
    float total = 0;
    std::fill(gb2.begin(), gb2.end(), 0.0f);
    for (std::size_t i = 0; i < kBatch; ++i) {
      float* zi = z.data() + i * C;
      float m = -std::numeric_limits<float>::infinity(), s = 0, e[kClasses];
      for (std::size_t j = 0; j < kClasses; ++j) m = std::max(m, zi[j] += b2[j]);
      for (std::size_t j = 0; j < kClasses; ++j) s += e[j] = std::exp(zi[j] - m);
      total += m + std::log(s) - zi[y[i]];
      for (std::size_t j = 0; j < kClasses; ++j) {
        const float d = (e[j] / s - (std::int32_t(j) == y[i] ? 1.0f : 0.0f)) / kBatch;
        zi[j] = d;
        gb2[j] += d;
      }
    }
    // Backward: gW2 = dz^T h, dh = dz W2 (masked by relu), gW1 = dh^T x.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, H, B, 1.0f, z.data(), C, h.data(), H, 0.0f, gW2.data(), H);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, C, 1.0f, z.data(), C, W2.data(), H, 0.0f, dh.data(),
                H);
    std::fill(gb1.begin(), gb1.end(), 0.0f);
    for (std::size_t i = 0; i < kBatch; ++i)
      for (std::size_t j = 0; j < kHidden; ++j) {
        const float d = h[i * H + j] > 0 ? dh[i * H + j] : 0.0f;
        dh[i * H + j] = d;
        gb1[j] += d;
      }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, I, B, 1.0f, dh.data(), H, x, I, 0.0f, gW1.data(), I);
    // Adam.
    ++t;
    adam(W1, gW1, mW1, vW1);
    adam(b1, gb1, mb1, vb1);
    adam(W2, gW2, mW2, vW2);
    adam(b2, gb2, mb2, vb2);
    return total / kBatch;
  }
};

void bm_hand_openblas(benchmark::State& state) {
  const mlp model(sx::random::key{1});
  hand_mlp m(model);
  const auto x = inputs<kIn>();
  const auto y = labels();
  for (auto _ : state) benchmark::DoNotOptimize(m.step(x.data(), y.data()));
}

/// One step of each from the same parameters: the same loss and the same parameters after.
bool check_against_hand() {
  mlp model(sx::random::key{1});
  hand_mlp hand(model);
  sx::optim::adam optimizer(model.parameters());
  const auto x = inputs<kIn>();
  const auto y = labels();
  double loss_error = 0, parameter_error = 0;
  for (int s = 0; s < 3; ++s) {
    const float a = run_statix(model, optimizer, x, y), b = hand.step(x.data(), y.data());
    loss_error = std::max(loss_error, double(std::abs(a - b)) / std::abs(double(b)));
  }
  auto compare = [&parameter_error](const auto& t, const std::vector<float>& v) {
    for (std::size_t i = 0; i < v.size(); ++i)
      parameter_error = std::max(parameter_error, double(std::abs(t.data()[i] - v[i])));
  };
  compare(model.layer<0>().weight, hand.W1);
  compare(model.layer<0>().bias, hand.b1);
  compare(model.layer<2>().weight, hand.W2);
  compare(model.layer<2>().bias, hand.b2);
  // An Adam step moves a parameter by up to lr = 1e-3 whatever the gradient's size, so rounding in a
  // near-zero gradient shows at that scale: 1e-4 is a tenth of a step.
  std::printf(
      "statix vs hand_openblas over 3 MLP steps: loss relative difference %.1e (<= 1e-5), parameters max "
      "|difference| %.1e (<= 1e-4)\n\n",
      loss_error, parameter_error);
  return loss_error <= 1e-5 && parameter_error <= 1e-4;
}
#endif

// ---------------------------------------------------------------------------------------------------
// libtorch

#if defined(STATIX_HAVE_TORCH)
torch::nn::Sequential torch_mlp() {
  return torch::nn::Sequential(torch::nn::Linear(kIn, kHidden), torch::nn::ReLU(),
                               torch::nn::Linear(kHidden, kClasses));
}
torch::nn::Sequential torch_cnn() {
  using torch::nn::Conv2dOptions;
  return torch::nn::Sequential(torch::nn::Conv2d(Conv2dOptions(1, 32, 3).padding(1)), torch::nn::ReLU(),
                               torch::nn::MaxPool2d(2), torch::nn::Conv2d(Conv2dOptions(32, 64, 3).padding(1)),
                               torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(),
                               torch::nn::Linear(64 * 7 * 7, kClasses));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (!statix_bench::initialize(argc, argv)) return 1;
#if defined(STATIX_HAVE_OPENBLAS)
  openblas_set_num_threads(1);
  if (!check_against_hand()) {
    std::fprintf(stderr, "train_step: statix and hand_openblas disagree; not benchmarking\n");
    return 1;
  }
  benchmark::RegisterBenchmark("train_step/mlp/hand_openblas", bm_hand_openblas);
#endif
  benchmark::RegisterBenchmark("train_step/mlp/statix", bm_statix<mlp, kIn>);
  benchmark::RegisterBenchmark("train_step/cnn/statix", bm_statix<cnn, 1, 28, 28>);
#if defined(STATIX_HAVE_TORCH)
  at::set_num_threads(1);
  benchmark::RegisterBenchmark("train_step/mlp/libtorch", statix_bench::libtorch_adam_steps<torch::nn::Sequential>,
                               torch_mlp(), std::vector<std::int64_t>{kBatch, kIn}, kBatch, kClasses);
  benchmark::RegisterBenchmark("train_step/cnn/libtorch", statix_bench::libtorch_adam_steps<torch::nn::Sequential>,
                               torch_cnn(), std::vector<std::int64_t>{kBatch, 1, 28, 28}, kBatch, kClasses);
#endif
  statix_bench::median_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  std::printf(
      "\nOne training step (forward, loss, backward, Adam), batch 128, float32, one thread (median CPU time)\n");
  auto ratio = [](const char* what, std::optional<double> num, std::optional<double> den, const char* target,
                  bool higher_is_better, double bound) {
    if (num && den) {
      const double r = *num / *den;
      std::printf("  %-36s %6.2f   (target %s: %s)\n", what, r, target,
                  (higher_is_better ? r >= bound : r <= bound) ? "met" : "MISSED");
    } else {
      std::printf("  %-36s %6s\n", what, "n/a");
    }
  };
  const auto mlp_statix = rep.us("train_step/mlp/statix"), cnn_statix = rep.us("train_step/cnn/statix");
  ratio("mlp: statix / hand_openblas", mlp_statix, rep.us("train_step/mlp/hand_openblas"), "<= 1.1", false, 1.1);
  ratio("mlp: libtorch / statix", rep.us("train_step/mlp/libtorch"), mlp_statix, ">= 2", true, 2);
  ratio("cnn: libtorch / statix", rep.us("train_step/cnn/libtorch"), cnn_statix, ">= 2", true, 2);
  if (mlp_statix) std::printf("  mlp: %.0f samples/s\n", kBatch / *mlp_statix * 1e6);
  if (cnn_statix) std::printf("  cnn: %.0f samples/s\n", kBatch / *cnn_statix * 1e6);
  benchmark::Shutdown();
}
