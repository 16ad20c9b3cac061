// Row reductions on (4096 x 1024) float32, single thread: sx::sum<1> and sx::softmax<1> against a
// hand-written loop, Eigen (when found) and the machine's bandwidth (a STREAM triad over the same
// number of bytes). Bandwidth counts the bytes that must move: sum reads 16 MiB (and writes 16 KiB),
// softmax reads 16 MiB and writes 16 MiB.
//
//   taskset -c 1 build/release/bench/reduce
#include <cmath>
#include <cstdio>
#include <string>

#include <statix/statix.hpp>

#include "support.hpp"

#if defined(STATIX_HAVE_EIGEN)
#include <Eigen/Core>
#endif

namespace sx = statix;

namespace {

constexpr std::size_t R = 4096, N = 1024;
constexpr double kSumBytes = 4.0 * R * N + 4.0 * R;
constexpr double kSoftmaxBytes = 8.0 * R * N;

using matrix = sx::tensor<float, sx::dyn, N>;

matrix input() {
  matrix x(R);
  x = sx::randn<float, sx::dyn, N>(sx::random::key(7), R);
  return x;
}

void set_bandwidth(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void statix_sum(benchmark::State& state) {
  const matrix x = input();
  sx::tensor<float, sx::dyn> s(R);
  for (auto _ : state) {
    s = sx::sum<1>(x);
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, kSumBytes);
}

void hand_sum(benchmark::State& state) {
  const matrix x = input();
  sx::tensor<float, sx::dyn> s(R);
  for (auto _ : state) {
    const float* __restrict p = x.data();
    float* __restrict out = s.data();
    for (std::size_t i = 0; i < R; ++i) {
      float acc = 0;
#pragma omp simd reduction(+ : acc)
      for (std::size_t j = 0; j < N; ++j) acc += p[i * N + j];
      out[i] = acc;
    }
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, kSumBytes);
}

void statix_softmax(benchmark::State& state) {
  const matrix x = input();
  matrix y(R);
  for (auto _ : state) {
    y = sx::softmax<1>(x);
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, kSoftmaxBytes);
}

/// Softmax as three passes per row with std::exp (what a straightforward loop does).
void hand_softmax(benchmark::State& state) {
  const matrix x = input();
  matrix y(R);
  for (auto _ : state) {
    for (std::size_t i = 0; i < R; ++i) {
      const float* p = x.data() + i * N;
      float* o = y.data() + i * N;
      float m = p[0];
      for (std::size_t j = 1; j < N; ++j) m = std::max(m, p[j]);
      float s = 0;
      for (std::size_t j = 0; j < N; ++j) s += (o[j] = std::exp(p[j] - m));
      const float inv = 1 / s;
      for (std::size_t j = 0; j < N; ++j) o[j] *= inv;
    }
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, kSoftmaxBytes);
}

#if defined(STATIX_HAVE_EIGEN)
using eigen_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void eigen_sum(benchmark::State& state) {
  matrix x = input();
  Eigen::Map<eigen_matrix> m(x.data(), R, N);
  Eigen::VectorXf s(R);
  for (auto _ : state) {
    s.noalias() = m.rowwise().sum();
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, kSumBytes);
}

void eigen_softmax(benchmark::State& state) {
  matrix x = input();
  matrix y(R);
  Eigen::Map<eigen_matrix> m(x.data(), R, N), out(y.data(), R, N);
  for (auto _ : state) {
    out = (m.colwise() - m.rowwise().maxCoeff()).array().exp();
    out.array().colwise() /= out.rowwise().sum().array();
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, kSoftmaxBytes);
}
#endif

/// a = b + s * c over the same 4096 x 1024 floats: 12 bytes per element.
void stream_triad(benchmark::State& state) {
  sx::tensor<float, sx::dyn> a(R * N), b(R * N), c(R * N);
  b.fill(1);
  c.fill(2);
  for (auto _ : state) {
    float* __restrict pa = a.data();
    const float* __restrict pb = b.data();
    const float* __restrict pc = c.data();
    for (std::size_t i = 0; i < R * N; ++i) pa[i] = pb[i] + 3.0f * pc[i];
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, 12.0 * R * N);
}

}  // namespace

int main(int argc, char** argv) {
  if (!statix_bench::initialize(argc, argv)) return 1;
  benchmark::RegisterBenchmark("sum_rows/statix", statix_sum);
  benchmark::RegisterBenchmark("sum_rows/hand", hand_sum);
  benchmark::RegisterBenchmark("softmax_rows/statix", statix_softmax);
  benchmark::RegisterBenchmark("softmax_rows/hand", hand_softmax);
#if defined(STATIX_HAVE_EIGEN)
  benchmark::RegisterBenchmark("sum_rows/eigen", eigen_sum);
  benchmark::RegisterBenchmark("softmax_rows/eigen", eigen_softmax);
#endif
  benchmark::RegisterBenchmark("stream/triad", stream_triad);
  statix_bench::median_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  const auto triad = rep.us("stream/triad");
  const double triad_gbs = triad ? 12.0 * R * N / (*triad * 1e3) : 0;
  std::printf("\n(4096 x 1024) float32, median; STREAM triad %.1f GB/s\n%-14s %18s %18s %18s %22s\n", triad_gbs, "op",
              "statix", "hand", "eigen", "statix % of triad BW");
  for (const auto& [op, bytes] : {std::pair{"sum_rows", kSumBytes}, std::pair{"softmax_rows", kSoftmaxBytes}}) {
    auto cell = [&](const char* impl) {
      const auto t = rep.us(std::string(op) + "/" + impl);
      char text[40] = "n/a";
      if (t) std::snprintf(text, sizeof text, "%.0fus %.1fGB/s", *t, bytes / (*t * 1e3));
      return std::string(text);
    };
    const auto s = rep.us(std::string(op) + "/statix");
    char share[32] = "n/a";
    if (s && triad_gbs > 0) {
      const double pct = 100 * bytes / (*s * 1e3) / triad_gbs;
      std::snprintf(share, sizeof share, "%.0f%% %s", pct, pct >= 80 ? "met" : "MISSED");
    }
    std::printf("%-14s %18s %18s %18s %22s\n", op, cell("statix").c_str(), cell("hand").c_str(), cell("eigen").c_str(),
                share);
  }
  benchmark::Shutdown();
}
