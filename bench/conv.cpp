// Convolutions, float32, single thread: statix sx::conv2d vs a naive direct loop vs libtorch's
// torch::conv2d (when found at configure time). 3x3 with 64 channels in and out on a 32x32 map, batch
// 1 and 32 (padding 1); 1x1 with the same channels; depthwise 3x3 (groups = 64).
//
//   taskset -c 1 build/release/bench/conv
#include <cstdio>
#include <string>

#include <statix/statix.hpp>

#include "support.hpp"

#if defined(STATIX_HAVE_TORCH)
#include <torch/torch.h>
#endif

namespace sx = statix;

namespace {

constexpr std::size_t C = 64, H = 32, W = 32;

template <std::size_t K, std::size_t Groups>
struct conv_case {
  static constexpr std::size_t pad = K / 2;
  sx::tensor<float, sx::dyn, C, H, W> x;
  sx::tensor<float, C, C / Groups, K, K> w;
  sx::tensor<float, sx::dyn, C, H, W> y;
  explicit conv_case(std::size_t batch) : x(batch), y(batch) {
    x = sx::randn<float, sx::dyn, C, H, W>(sx::random::key(1), batch);
    w = sx::randn<float, C, C / Groups, K, K>(sx::random::key(2)) * 0.05f;
  }
  static double flops(std::size_t batch) { return 2.0 * double(batch * C * H * W) * double(C / Groups * K * K); }
};

void set_flops(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

template <std::size_t K, std::size_t Groups>
void statix_conv(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  conv_case<K, Groups> c(batch);
  for (auto _ : state) {
    c.y = sx::conv2d<1, K / 2, Groups>(c.x, c.w);
    benchmark::ClobberMemory();
  }
  set_flops(state, c.flops(batch));
}

/// The direct seven-loop convolution a user would write first (inner loop over output columns).
template <std::size_t K, std::size_t Groups>
void naive_conv(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  conv_case<K, Groups> c(batch);
  constexpr std::size_t cg = C / Groups, og = C / Groups, pad = K / 2;
  for (auto _ : state) {
    const float* x = c.x.data();
    const float* w = c.w.data();
    float* y = c.y.data();
    for (std::size_t n = 0; n < batch; ++n)
      for (std::size_t o = 0; o < C; ++o) {
        float* out = y + (n * C + o) * H * W;
        std::fill_n(out, H * W, 0.0f);
        const std::size_t g = o / og;
        for (std::size_t ci = 0; ci < cg; ++ci)
          for (std::size_t kh = 0; kh < K; ++kh)
            for (std::size_t kw = 0; kw < K; ++kw) {
              const float wv = w[((o * cg + ci) * K + kh) * K + kw];
              const float* in = x + (n * C + g * cg + ci) * H * W;
              for (std::size_t i = 0; i < H; ++i) {
                const long ih = long(i + kh) - long(pad);
                if (ih < 0 || ih >= long(H)) continue;
                for (std::size_t j = 0; j < W; ++j) {
                  const long iw = long(j + kw) - long(pad);
                  if (iw >= 0 && iw < long(W)) out[i * W + j] += wv * in[ih * long(W) + iw];
                }
              }
            }
      }
    benchmark::ClobberMemory();
  }
  set_flops(state, c.flops(batch));
}

#if defined(STATIX_HAVE_TORCH)
template <std::size_t K, std::size_t Groups>
void torch_conv(benchmark::State& state) {
  const auto batch = static_cast<long>(state.range(0));
  torch::NoGradGuard no_grad;
  auto x = torch::randn({batch, long(C), long(H), long(W)});
  auto w = torch::randn({long(C), long(C / Groups), long(K), long(K)}) * 0.05;
  torch::Tensor y;
  for (auto _ : state) {
    y = torch::conv2d(x, w, {}, 1, long(K / 2), 1, long(Groups));
    benchmark::DoNotOptimize(y.data_ptr());
  }
  set_flops(state, conv_case<K, Groups>::flops(std::size_t(batch)));
}
#endif

struct row {
  const char* name;
  std::size_t batch;
  double flops;
};

}  // namespace

int main(int argc, char** argv) {
  if (!statix_bench::initialize(argc, argv)) return 1;
#if defined(STATIX_HAVE_TORCH)
  torch::set_num_threads(1);
#endif
  for (long batch : {1L, 32L}) {
    benchmark::RegisterBenchmark("conv3x3/statix", statix_conv<3, 1>)->Arg(batch);
    benchmark::RegisterBenchmark("conv3x3/naive", naive_conv<3, 1>)->Arg(batch);
    benchmark::RegisterBenchmark("conv1x1/statix", statix_conv<1, 1>)->Arg(batch);
    benchmark::RegisterBenchmark("conv1x1/naive", naive_conv<1, 1>)->Arg(batch);
    benchmark::RegisterBenchmark("depthwise3x3/statix", statix_conv<3, C>)->Arg(batch);
    benchmark::RegisterBenchmark("depthwise3x3/naive", naive_conv<3, C>)->Arg(batch);
#if defined(STATIX_HAVE_TORCH)
    benchmark::RegisterBenchmark("conv3x3/torch", torch_conv<3, 1>)->Arg(batch);
    benchmark::RegisterBenchmark("conv1x1/torch", torch_conv<1, 1>)->Arg(batch);
    benchmark::RegisterBenchmark("depthwise3x3/torch", torch_conv<3, C>)->Arg(batch);
#endif
  }
  statix_bench::median_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  std::printf("\nmedian time [us] and GFLOP/s, single thread\n%-14s %6s %20s %20s %20s %14s %14s\n", "conv", "batch",
              "statix", "naive", "torch", "naive/statix", "torch/statix");
  const row rows[] = {{"conv3x3", 1, conv_case<3, 1>::flops(1)},      {"conv3x3", 32, conv_case<3, 1>::flops(32)},
                      {"conv1x1", 1, conv_case<1, 1>::flops(1)},      {"conv1x1", 32, conv_case<1, 1>::flops(32)},
                      {"depthwise3x3", 1, conv_case<3, C>::flops(1)}, {"depthwise3x3", 32, conv_case<3, C>::flops(32)}};
  for (const row& r : rows) {
    auto cell = [&](const char* impl) {
      const auto t = rep.us(std::string(r.name) + "/" + impl + "/" + std::to_string(r.batch));
      char text[32] = "n/a";
      if (t) std::snprintf(text, sizeof text, "%.0f (%.1f)", *t, r.flops / (*t * 1e3));
      return std::string(text);
    };
    auto ratio = [&](const char* impl, bool target) {
      const auto t = rep.us(std::string(r.name) + "/" + impl + "/" + std::to_string(r.batch));
      const auto s = rep.us(std::string(r.name) + "/statix/" + std::to_string(r.batch));
      char text[32] = "n/a";
      if (t && s) std::snprintf(text, sizeof text, "%.2fx%s", *t / *s, !target ? "" : *t > *s ? " met" : " MISSED");
      return std::string(text);
    };
    std::printf("%-14s %6zu %20s %20s %20s %14s %14s\n", r.name, r.batch, cell("statix").c_str(), cell("naive").c_str(),
                cell("torch").c_str(), ratio("naive", false).c_str(),
                ratio("torch", std::string(r.name) == "conv3x3").c_str());
  }
  benchmark::Shutdown();
}
