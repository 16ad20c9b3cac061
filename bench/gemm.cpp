// float32 matrix products, single thread: statix sx::matmul vs OpenBLAS cblas_sgemm vs Eigen, on the
// shapes of an MLP layer, a classifier head and square matrices, against the core's FMA peak (a bare
// loop of independent 512-bit FMAs). Also the epilogue (`relu(matmul(x, w) + b)` as one statement vs a
// product and then a separate elementwise pass), and the cost of an elementwise operand
// (`matmul(relu(a), b)`, evaluated once before packing) over a plain one.
//
//   taskset -c 1 build/release/bench/gemm
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <statix/statix.hpp>

#include "support.hpp"

#if defined(STATIX_HAVE_OPENBLAS)
#include <cblas.h>
#endif
#if defined(STATIX_HAVE_EIGEN)
#include <Eigen/Core>
#endif

namespace sx = statix;

namespace {

struct gemm_shape {
  std::size_t m, k, n;
  std::string name() const { return std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n); }
  double flops() const { return 2.0 * double(m) * double(k) * double(n); }
};
const gemm_shape kShapes[] = {{128, 784, 128}, {128, 784, 256}, {256, 128, 784},
                              {128, 128, 10},  {256, 256, 256}, {1024, 1024, 1024}};
/// Where an epilogue matters: a product whose output (16 MiB) is large next to its work.
const gemm_shape kWideOutput{4096, 64, 1024};

using matrix = sx::tensor<float, sx::dyn, sx::dyn>;

struct operands {
  matrix a, b, c;
  sx::tensor<float, sx::dyn> bias;
  explicit operands(const gemm_shape& s) : a(s.m, s.k), b(s.k, s.n), c(s.m, s.n), bias(s.n) {
    a = sx::uniform<float, sx::dyn, sx::dyn>(sx::random::key(1), s.m, s.k) - 0.5f;
    b = sx::uniform<float, sx::dyn, sx::dyn>(sx::random::key(2), s.k, s.n) - 0.5f;
    bias = sx::uniform<float, sx::dyn>(sx::random::key(3), s.n);
  }
};

void set_flops(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"].value /= 1e9;
}

void statix_matmul(benchmark::State& state, gemm_shape s) {
  operands o(s);
  for (auto _ : state) {
    o.c = sx::matmul(o.a, o.b);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s.flops());
}

void statix_epilogue(benchmark::State& state, gemm_shape s) {
  operands o(s);
  for (auto _ : state) {
    o.c = sx::relu(sx::matmul(o.a, o.b) + o.bias);
    benchmark::ClobberMemory();
  }
  set_flops(state, s.flops());
}

void statix_separate_pass(benchmark::State& state, gemm_shape s) {
  operands o(s);
  for (auto _ : state) {
    o.c = sx::matmul(o.a, o.b);
    o.c = sx::relu(o.c + o.bias);
    benchmark::ClobberMemory();
  }
  set_flops(state, s.flops());
}

void statix_elementwise_operand(benchmark::State& state, gemm_shape s) {
  operands o(s);
  for (auto _ : state) {
    o.c = sx::matmul(sx::relu(o.a), o.b);
    benchmark::ClobberMemory();
  }
  set_flops(state, s.flops());
}

#if defined(STATIX_HAVE_OPENBLAS)
void openblas_sgemm(benchmark::State& state, gemm_shape s) {
  operands o(s);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.0f, o.a.data(), int(s.k),
                o.b.data(), int(s.n), 0.0f, o.c.data(), int(s.n));
    benchmark::ClobberMemory();
  }
  set_flops(state, s.flops());
}
#endif

#if defined(STATIX_HAVE_EIGEN)
void eigen_product(benchmark::State& state, gemm_shape s) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  operands o(s);
  Eigen::Map<M> a(o.a.data(), Eigen::Index(s.m), Eigen::Index(s.k));
  Eigen::Map<M> b(o.b.data(), Eigen::Index(s.k), Eigen::Index(s.n));
  Eigen::Map<M> c(o.c.data(), Eigen::Index(s.m), Eigen::Index(s.n));
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::ClobberMemory();
  }
  set_flops(state, s.flops());
}
#endif

/// The core's FMA peak: independent accumulators (more than latency x ports, fewer than the registers:
/// 24 of AVX-512's 32, 12 of AVX2's 16, where 24 spilled and measured a third below the products),
/// no memory traffic.
constexpr int kPeakChains = sx::simd::detail::has_avx512 ? 24 : 12;
void fma_peak(benchmark::State& state) {
  using B = sx::simd::wide_batch<float>;
  constexpr int chains = kPeakChains;
  constexpr long steps = 10000;
  for (auto _ : state) {
    B acc[chains];
    for (int c = 0; c < chains; ++c) acc[c] = B(float(c));
    const B x(0.999f), y(1e-3f);
    benchmark::DoNotOptimize(acc);
    for (long i = 0; i < steps; ++i)
#pragma GCC unroll 24
      for (int c = 0; c < chains; ++c) acc[c] = xsimd::fma(acc[c], x, y);
    benchmark::DoNotOptimize(acc);
  }
  set_flops(state, 2.0 * chains * steps * B::size);
}

}  // namespace

int main(int argc, char** argv) {
  if (!statix_bench::initialize(argc, argv)) return 1;
#if defined(STATIX_HAVE_OPENBLAS)
  // One thread, as statix (bench/support.hpp); OPENBLAS_NUM_THREADS overrides, as STATIX_NUM_THREADS does.
  if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) openblas_set_num_threads(1);
  std::printf("OpenBLAS threads: %d\n", openblas_get_num_threads());
#endif
  for (const gemm_shape& s : kShapes) {
    const std::string n = s.name();
    benchmark::RegisterBenchmark(("gemm/statix/" + n).c_str(), statix_matmul, s);
#if defined(STATIX_HAVE_OPENBLAS)
    benchmark::RegisterBenchmark(("gemm/openblas/" + n).c_str(), openblas_sgemm, s);
#endif
#if defined(STATIX_HAVE_EIGEN)
    benchmark::RegisterBenchmark(("gemm/eigen/" + n).c_str(), eigen_product, s);
#endif
    benchmark::RegisterBenchmark(("epilogue/fused/" + n).c_str(), statix_epilogue, s);
    benchmark::RegisterBenchmark(("epilogue/separate_pass/" + n).c_str(), statix_separate_pass, s);
    benchmark::RegisterBenchmark(("operand/relu_then_matmul/" + n).c_str(), statix_elementwise_operand, s);
  }
  {
    const std::string n = kWideOutput.name();
    benchmark::RegisterBenchmark(("gemm/statix/" + n).c_str(), statix_matmul, kWideOutput);
    benchmark::RegisterBenchmark(("epilogue/fused/" + n).c_str(), statix_epilogue, kWideOutput);
    benchmark::RegisterBenchmark(("epilogue/separate_pass/" + n).c_str(), statix_separate_pass, kWideOutput);
  }
  benchmark::RegisterBenchmark("peak/fma", fma_peak);
  statix_bench::median_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  const double peak_us = rep.us("peak/fma").value_or(0);
  const double peak_gflops =
      peak_us > 0 ? 2.0 * kPeakChains * 10000 * sx::simd::wide_batch<float>::size / (peak_us * 1e3) : 0;
  std::printf("\nGFLOP/s (median), single thread; FMA peak %.1f GFLOP/s\n", peak_gflops);
  std::printf("%-16s %9s %9s %9s %15s %14s %16s %18s\n", "shape MxKxN", "statix", "openblas", "eigen",
              "statix/openblas", "% of peak", "epilogue gain", "relu(a) operand");
  std::vector<gemm_shape> rows(std::begin(kShapes), std::end(kShapes));
  rows.push_back(kWideOutput);
  for (const gemm_shape& s : rows) {
    const std::string n = s.name();
    auto gflops = [&](const std::string& name) {
      const auto t = rep.us(name);
      return t ? s.flops() / (*t * 1e3) : 0.0;
    };
    const double st = gflops("gemm/statix/" + n), ob = gflops("gemm/openblas/" + n), ei = gflops("gemm/eigen/" + n);
    const auto fused = rep.us("epilogue/fused/" + n), separate = rep.us("epilogue/separate_pass/" + n);
    const auto plain = rep.us("gemm/statix/" + n), relu_operand = rep.us("operand/relu_then_matmul/" + n);
    char ratio[32] = "n/a", gain[32] = "n/a", operand[32] = "n/a";
    if (ob > 0) std::snprintf(ratio, sizeof ratio, "%.2f %s", st / ob, st / ob >= 0.7 ? "met" : "MISSED");
    if (fused && separate) std::snprintf(gain, sizeof gain, "%.2fx", *separate / *fused);
    if (plain && relu_operand) std::snprintf(operand, sizeof operand, "+%.1f%%", 100 * (*relu_operand / *plain - 1));
    std::printf("%-16s %9.1f %9.1f %9.1f %15s %13.0f%% %16s %18s\n", n.c_str(), st, ob, ei, ratio,
                peak_gflops > 0 ? 100 * st / peak_gflops : 0.0, gain, operand);
  }
  benchmark::Shutdown();
}
