// The fusion benchmark: one Adam step and one SGD-with-momentum step on N float32 parameters,
// single thread, written several ways:
//
//   statix_fuse      sx::fuse(...) as a user writes it: ONE pass over p, g and the state
//   statix_op_by_op  every op evaluated into its own fresh temporary (what an op-by-op library does)
//   hand_fused       a hand-written loop over raw __restrict pointers, vectorized by g++ (the reference)
//   eigen            one statement per state tensor on Eigen arrays (if Eigen was found)
//   torch            torch::optim::Adam / SGD ::step() on one parameter tensor (if libtorch was found)
//   pattern          a kernel with the update's own memory access pattern and trivial arithmetic:
//                    the bandwidth limit (Adam reads p, g, m, v and writes p, m, v: 28 bytes/element;
//                    SGD reads p, g, buf and writes p, buf: 20 bytes/element)
//   stream_triad     a[i] = b[i] + s * c[i] (12 bytes/element), the machine's reference bandwidth
//
// Every benchmark reports ns_per_elem and GB/s (at 28 bytes/element for Adam, 20 for SGD, 12 for the
// triad) as user counters, computed from CPU time. Defaults: 5 repetitions of at least 0.1 s each,
// medians only (--benchmark_repetitions=, --benchmark_min_time= and the other flags override them).
// After the runs the program prints, per N, the ratios against the project's targets.
//
//   taskset -c 1 build/bench/bench/adam_fusion --benchmark_out=adam.json --benchmark_out_format=json
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <statix/statix.hpp>

#if defined(STATIX_HAVE_EIGEN)
#include <Eigen/Core>
#endif
#if defined(STATIX_HAVE_TORCH)
#include <torch/torch.h>
#endif

namespace sx = statix;

namespace {

using vec = sx::tensor<float, sx::dyn>;

constexpr std::size_t kSizes[] = {std::size_t{1} << 12, std::size_t{1} << 16, std::size_t{1} << 20,
                                  std::size_t{1} << 24};
constexpr double kAdamBytes = 28;   // read p, g, m, v; write p, m, v
constexpr double kSgdBytes = 20;    // read p, g, buf; write p, buf
constexpr double kTriadBytes = 12;  // read b, c; write a

// ---------------------------------------------------------------------------------------------------
// Hyperparameters and initial values

struct adam_hparams {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float bc1 = 1, bc2 = 1;  // bias corrections 1 - beta^t, precomputed

  static adam_hparams at_step(int t) {
    adam_hparams h;
    h.bc1 = static_cast<float>(1 - std::pow(double{h.beta1}, t));
    h.bc2 = static_cast<float>(1 - std::pow(double{h.beta2}, t));
    return h;
  }
};

struct sgd_hparams {
  float lr = 1e-3f, momentum = 0.9f;  // PyTorch's SGD: dampening 0, no Nesterov, no weight decay
};

/// Uniform in [lo, hi) from a hash of (seed, i): cheap enough to fill 16Mi elements quickly.
float uniform_at(std::uint64_t seed, std::size_t i, float lo, float hi) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * static_cast<float>(z >> 40) * 0x1p-24f;
}

void fill(float* x, std::size_t n, std::uint64_t seed, float lo, float hi) {
  for (std::size_t i = 0; i < n; ++i) x[i] = uniform_at(seed, i, lo, hi);
}

/// Parameters in [-1, 1), gradients in [-0.01, 0.01), moments of the matching magnitude (or zeros,
/// as in a first step).
void init_adam(float* p, float* g, float* m, float* v, std::size_t n, bool zero_state = false) {
  fill(p, n, 1, -1.f, 1.f);
  fill(g, n, 2, -1e-2f, 1e-2f);
  if (zero_state) {
    std::fill_n(m, n, 0.f);
    std::fill_n(v, n, 0.f);
  } else {
    fill(m, n, 3, -1e-2f, 1e-2f);
    fill(v, n, 4, 1e-6f, 1e-4f);
  }
}

void init_sgd(float* p, float* g, float* buf, std::size_t n, bool zero_state = false) {
  fill(p, n, 1, -1.f, 1.f);
  fill(g, n, 2, -1e-2f, 1e-2f);
  if (zero_state)
    std::fill_n(buf, n, 0.f);
  else
    fill(buf, n, 5, -1e-2f, 1e-2f);
}

/// Floats in the same kind of memory statix tensors get (64-byte aligned; large ones on transparent
/// huge pages), for the raw-pointer kernels and Eigen: the variants differ in code, not in pages.
class aligned_floats {
 public:
  explicit aligned_floats(std::size_t n) : n_(n) {
    auto [p, deleter] = sx::detail::allocate_bytes(n * sizeof(float));
    p_ = std::unique_ptr<float[], sx::detail::aligned_free>(static_cast<float*>(p), deleter);
    std::fill_n(p_.get(), n, 0.f);
  }
  float* data() { return p_.get(); }
  const float* data() const { return p_.get(); }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_;
  std::unique_ptr<float[], sx::detail::aligned_free> p_;
};

#if defined(STATIX_HAVE_EIGEN)
using eigen_array = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;
/// An Eigen array over aligned_floats.
struct eigen_floats {
  aligned_floats storage;
  eigen_array array;
  explicit eigen_floats(std::size_t n) : storage(n), array(storage.data(), static_cast<Eigen::Index>(n)) {}
};
#endif

// ---------------------------------------------------------------------------------------------------
// Adam, the implementations. Each is a separate noinline function so its loop can be found in
// `objdump -d` (the names are in an anonymous namespace; look for adam_statix_fuse etc.).

[[gnu::noinline]] void adam_statix_fuse(vec& p, const vec& g, vec& m, vec& v, const adam_hparams& h) {
  const float lr = h.lr, b1 = h.beta1, b2 = h.beta2, eps = h.eps, bc1 = h.bc1, bc2 = h.bc2;
  sx::fuse(sx::out(m) = b1 * m + (1 - b1) * g,  //
           sx::out(v) = b2 * v + (1 - b2) * g * g, sx::out(p) -= lr * (m / bc1) / (sx::sqrt(v / bc2) + eps));
}

[[gnu::noinline]] void adam_statix_op_by_op(vec& p, const vec& g, vec& m, vec& v, const adam_hparams& h) {
  const float lr = h.lr, b1 = h.beta1, b2 = h.beta2, eps = h.eps, bc1 = h.bc1, bc2 = h.bc2;
  auto t1 = sx::eval(b1 * m);
  auto t2 = sx::eval((1 - b1) * g);
  auto t3 = sx::eval(t1 + t2);  // new m
  auto t4 = sx::eval(b2 * v);
  auto t5 = sx::eval((1 - b2) * g);
  auto t6 = sx::eval(t5 * g);
  auto t7 = sx::eval(t4 + t6);  // new v
  auto t8 = sx::eval(t3 / bc1);
  auto t9 = sx::eval(t7 / bc2);
  auto t10 = sx::eval(sx::sqrt(t9));
  auto t11 = sx::eval(t10 + eps);
  auto t12 = sx::eval(t8 / t11);
  auto t13 = sx::eval(lr * t12);
  auto t14 = sx::eval(p - t13);  // new p
  m = t3;
  v = t7;
  p = t14;
}

/// The expert reference: the same arithmetic in one loop. (g++ vectorizes it only without errno
/// semantics for sqrt: bench/CMakeLists.txt compiles this program with -fno-math-errno, which does
/// not change the statix or Eigen code: they call the sqrt instruction through intrinsics.)
[[gnu::noinline]] void adam_hand_fused(float* __restrict p, const float* __restrict g, float* __restrict m,
                                       float* __restrict v, std::size_t n, adam_hparams h) {
  const float lr = h.lr, b1 = h.beta1, b2 = h.beta2, eps = h.eps, bc1 = h.bc1, bc2 = h.bc2;
  const float a1 = 1 - b1, a2 = 1 - b2;
  for (std::size_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = b1 * m[i] + a1 * gi;
    const float vi = b2 * v[i] + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi / bc1) / (std::sqrt(vi / bc2) + eps);
  }
}

/// Adam's access pattern (read p, g, m, v; write p, m, v) with trivial arithmetic: the bandwidth limit.
[[gnu::noinline]] void adam_pattern(float* __restrict p, const float* __restrict g, float* __restrict m,
                                    float* __restrict v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = 0.5f * m[i] + gi;
    const float vi = 0.5f * v[i] + gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= 1e-3f * (mi + vi);
  }
}

#if defined(STATIX_HAVE_EIGEN)
[[gnu::noinline]] void adam_eigen(eigen_array& p, const eigen_array& g, eigen_array& m, eigen_array& v,
                                  const adam_hparams& h) {
  const float lr = h.lr, b1 = h.beta1, b2 = h.beta2, eps = h.eps, bc1 = h.bc1, bc2 = h.bc2;
  m = b1 * m + (1 - b1) * g;
  v = b2 * v + (1 - b2) * g * g;
  p -= lr * (m / bc1) / ((v / bc2).sqrt() + eps);
}
#endif

// ---------------------------------------------------------------------------------------------------
// SGD with momentum (PyTorch's formula): buf = momentum * buf + g; p -= lr * buf.

[[gnu::noinline]] void sgd_statix_fuse(vec& p, const vec& g, vec& buf, const sgd_hparams& h) {
  const float lr = h.lr, momentum = h.momentum;
  sx::fuse(sx::out(buf) = momentum * buf + g, sx::out(p) -= lr * buf);
}

[[gnu::noinline]] void sgd_statix_op_by_op(vec& p, const vec& g, vec& buf, const sgd_hparams& h) {
  const float lr = h.lr, momentum = h.momentum;
  auto t1 = sx::eval(momentum * buf);
  auto t2 = sx::eval(t1 + g);  // new buf
  auto t3 = sx::eval(lr * t2);
  auto t4 = sx::eval(p - t3);  // new p
  buf = t2;
  p = t4;
}

[[gnu::noinline]] void sgd_hand_fused(float* __restrict p, const float* __restrict g, float* __restrict buf,
                                      std::size_t n, sgd_hparams h) {
  const float lr = h.lr, momentum = h.momentum;
  for (std::size_t i = 0; i < n; ++i) {
    const float b = momentum * buf[i] + g[i];
    buf[i] = b;
    p[i] -= lr * b;
  }
}

/// SGD's access pattern (read p, g, buf; write p, buf). SGD's own arithmetic is already trivial, so
/// this differs from the hand loop only in its constants.
[[gnu::noinline]] void sgd_pattern(float* __restrict p, const float* __restrict g, float* __restrict buf,
                                   std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float b = 0.5f * buf[i] + g[i];
    buf[i] = b;
    p[i] += b;
  }
}

#if defined(STATIX_HAVE_EIGEN)
[[gnu::noinline]] void sgd_eigen(eigen_array& p, const eigen_array& g, eigen_array& buf, const sgd_hparams& h) {
  buf = h.momentum * buf + g;
  p -= h.lr * buf;
}
#endif

/// STREAM triad.
[[gnu::noinline]] void stream_triad(float* __restrict a, const float* __restrict b, const float* __restrict c,
                                    std::size_t n, float s) {
  for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

#if defined(STATIX_HAVE_TORCH)
torch::Tensor torch_copy(const float* x, std::size_t n) {
  return torch::from_blob(const_cast<float*>(x), {static_cast<std::int64_t>(n)}, torch::kFloat32).clone();
}

torch::optim::AdamOptions torch_adam_options(const adam_hparams& h) {
  return torch::optim::AdamOptions(h.lr)
      .betas(std::make_tuple(double{h.beta1}, double{h.beta2}))
      .eps(h.eps)
      .weight_decay(0)
      .amsgrad(false);
}

torch::optim::SGDOptions torch_sgd_options(const sgd_hparams& h) {
  return torch::optim::SGDOptions(h.lr).momentum(h.momentum).dampening(0).nesterov(false).weight_decay(0);
}
#endif

// ---------------------------------------------------------------------------------------------------
// The benchmarks

std::size_t size_of(const benchmark::State& state) {
  return static_cast<std::size_t>(state.range(0));
}

/// The timed loop every benchmark shares: one `step()` per iteration, with the memory it writes
/// (`written`) kept observable, then the ns/element and GB/s counters at `bytes_per_element`.
template <class Step>
void time_steps(benchmark::State& state, double bytes_per_element, const void* written, Step&& step) {
  for (auto _ : state) {
    step();
    benchmark::DoNotOptimize(written);
    benchmark::ClobberMemory();
  }
  using C = benchmark::Counter;
  const double elements = static_cast<double>(size_of(state));
  // value * iterations / seconds, inverted: seconds per (1e-9 * element) = ns per element.
  state.counters["ns_per_elem"] = C(elements * 1e-9, C::kIsIterationInvariantRate | C::kInvert);
  state.counters["GB/s"] = C(elements * bytes_per_element * 1e-9, C::kIsIterationInvariantRate);
}

void bm_adam_statix_fuse(benchmark::State& state) {
  const std::size_t n = size_of(state);
  vec p(n), g(n), m(n), v(n);
  init_adam(p.data(), g.data(), m.data(), v.data(), n);
  const auto h = adam_hparams::at_step(10);
  time_steps(state, kAdamBytes, p.data(), [&] { adam_statix_fuse(p, g, m, v, h); });
}

void bm_adam_statix_op_by_op(benchmark::State& state) {
  const std::size_t n = size_of(state);
  vec p(n), g(n), m(n), v(n);
  init_adam(p.data(), g.data(), m.data(), v.data(), n);
  const auto h = adam_hparams::at_step(10);
  time_steps(state, kAdamBytes, p.data(), [&] { adam_statix_op_by_op(p, g, m, v, h); });
}

void bm_adam_hand_fused(benchmark::State& state) {
  const std::size_t n = size_of(state);
  aligned_floats p(n), g(n), m(n), v(n);
  init_adam(p.data(), g.data(), m.data(), v.data(), n);
  const auto h = adam_hparams::at_step(10);
  time_steps(state, kAdamBytes, p.data(), [&] { adam_hand_fused(p.data(), g.data(), m.data(), v.data(), n, h); });
}

void bm_adam_pattern(benchmark::State& state) {
  const std::size_t n = size_of(state);
  aligned_floats p(n), g(n), m(n), v(n);
  init_adam(p.data(), g.data(), m.data(), v.data(), n);
  time_steps(state, kAdamBytes, p.data(), [&] { adam_pattern(p.data(), g.data(), m.data(), v.data(), n); });
}

#if defined(STATIX_HAVE_EIGEN)
void bm_adam_eigen(benchmark::State& state) {
  const std::size_t n = size_of(state);
  eigen_floats p(n), g(n), m(n), v(n);
  init_adam(p.array.data(), g.array.data(), m.array.data(), v.array.data(), n);
  const auto h = adam_hparams::at_step(10);
  time_steps(state, kAdamBytes, p.array.data(), [&] { adam_eigen(p.array, g.array, m.array, v.array, h); });
}
#endif

#if defined(STATIX_HAVE_TORCH)
void bm_adam_torch(benchmark::State& state) {
  const std::size_t n = size_of(state);
  aligned_floats p0(n), g0(n), m0(n), v0(n);
  init_adam(p0.data(), g0.data(), m0.data(), v0.data(), n);
  torch::Tensor p = torch_copy(p0.data(), n).requires_grad_(true);
  p.mutable_grad() = torch_copy(g0.data(), n);
  torch::optim::Adam opt(std::vector<torch::Tensor>{p}, torch_adam_options(adam_hparams{}));
  opt.step();  // creates the state (exp_avg, exp_avg_sq) outside the timed loop
  time_steps(state, kAdamBytes, p.data_ptr(), [&] { opt.step(); });
}
#endif

void bm_sgd_statix_fuse(benchmark::State& state) {
  const std::size_t n = size_of(state);
  vec p(n), g(n), buf(n);
  init_sgd(p.data(), g.data(), buf.data(), n);
  const sgd_hparams h;
  time_steps(state, kSgdBytes, p.data(), [&] { sgd_statix_fuse(p, g, buf, h); });
}

void bm_sgd_statix_op_by_op(benchmark::State& state) {
  const std::size_t n = size_of(state);
  vec p(n), g(n), buf(n);
  init_sgd(p.data(), g.data(), buf.data(), n);
  const sgd_hparams h;
  time_steps(state, kSgdBytes, p.data(), [&] { sgd_statix_op_by_op(p, g, buf, h); });
}

void bm_sgd_hand_fused(benchmark::State& state) {
  const std::size_t n = size_of(state);
  aligned_floats p(n), g(n), buf(n);
  init_sgd(p.data(), g.data(), buf.data(), n);
  const sgd_hparams h;
  time_steps(state, kSgdBytes, p.data(), [&] { sgd_hand_fused(p.data(), g.data(), buf.data(), n, h); });
}

void bm_sgd_pattern(benchmark::State& state) {
  const std::size_t n = size_of(state);
  aligned_floats p(n), g(n), buf(n);
  init_sgd(p.data(), g.data(), buf.data(), n);
  time_steps(state, kSgdBytes, p.data(), [&] { sgd_pattern(p.data(), g.data(), buf.data(), n); });
}

#if defined(STATIX_HAVE_EIGEN)
void bm_sgd_eigen(benchmark::State& state) {
  const std::size_t n = size_of(state);
  eigen_floats p(n), g(n), buf(n);
  init_sgd(p.array.data(), g.array.data(), buf.array.data(), n);
  const sgd_hparams h;
  time_steps(state, kSgdBytes, p.array.data(), [&] { sgd_eigen(p.array, g.array, buf.array, h); });
}
#endif

#if defined(STATIX_HAVE_TORCH)
void bm_sgd_torch(benchmark::State& state) {
  const std::size_t n = size_of(state);
  aligned_floats p0(n), g0(n), b0(n);
  init_sgd(p0.data(), g0.data(), b0.data(), n);
  torch::Tensor p = torch_copy(p0.data(), n).requires_grad_(true);
  p.mutable_grad() = torch_copy(g0.data(), n);
  torch::optim::SGD opt(std::vector<torch::Tensor>{p}, torch_sgd_options(sgd_hparams{}));
  opt.step();  // creates the momentum buffer outside the timed loop
  time_steps(state, kSgdBytes, p.data_ptr(), [&] { opt.step(); });
}
#endif

void bm_stream_triad(benchmark::State& state) {
  const std::size_t n = size_of(state);
  aligned_floats a(n), b(n), c(n);
  fill(b.data(), n, 6, -1.f, 1.f);
  fill(c.data(), n, 7, -1.f, 1.f);
  time_steps(state, kTriadBytes, a.data(), [&] { stream_triad(a.data(), b.data(), c.data(), n, 0.5f); });
}

struct entry {
  const char* name;
  void (*fn)(benchmark::State&);
};

/// Registration in order: per N, Adam's implementations, SGD's, then the triad. Names are
/// "<optimizer>/<implementation>/<N>" (scripts/plot_bench.py parses them).
void register_benchmarks() {
  const std::vector<entry> entries = {
    {"adam/statix_fuse", bm_adam_statix_fuse},
    {"adam/hand_fused", bm_adam_hand_fused},
    {"adam/statix_op_by_op", bm_adam_statix_op_by_op},
#if defined(STATIX_HAVE_EIGEN)
    {"adam/eigen", bm_adam_eigen},
#endif
#if defined(STATIX_HAVE_TORCH)
    {"adam/torch", bm_adam_torch},
#endif
    {"adam/pattern", bm_adam_pattern},
    {"sgd/statix_fuse", bm_sgd_statix_fuse},
    {"sgd/hand_fused", bm_sgd_hand_fused},
    {"sgd/statix_op_by_op", bm_sgd_statix_op_by_op},
#if defined(STATIX_HAVE_EIGEN)
    {"sgd/eigen", bm_sgd_eigen},
#endif
#if defined(STATIX_HAVE_TORCH)
    {"sgd/torch", bm_sgd_torch},
#endif
    {"sgd/pattern", bm_sgd_pattern},
    {"stream/triad", bm_stream_triad},
  };
  for (const std::size_t n : kSizes)
    for (const entry& e : entries)
      benchmark::RegisterBenchmark(e.name, e.fn)->Arg(static_cast<std::int64_t>(n))->Unit(benchmark::kMicrosecond);
}

// ---------------------------------------------------------------------------------------------------
// Correctness: one step of every implementation from the same state must give the same numbers.
// The state starts at zero and the bias corrections are those of step 1, so that libtorch's first
// step (which keeps its own step count) computes the same update.

double max_abs_diff(const float* a, const float* b, std::size_t n) {
  double d = 0;
  for (std::size_t i = 0; i < n; ++i) d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
  return d;
}

bool check_results() {
  constexpr std::size_t n = 1000;  // not a multiple of the SIMD width: the tails run too
  constexpr double tolerance = 1e-6;
  bool ok = true;
  auto report = [&](const char* what, double dp, double ds1, double ds2) {
    const bool good = dp <= tolerance && ds1 <= tolerance && ds2 <= tolerance;
    ok = ok && good;
    std::printf("  %-22s max |diff| vs hand_fused: p %.2e, state %.2e %.2e  %s\n", what, dp, ds1, ds2,
                good ? "ok" : "MISMATCH");
  };
  std::printf("Checking one step of each implementation against hand_fused (N = %zu):\n", n);

  const auto h = adam_hparams::at_step(1);
  aligned_floats p(n), g(n), m(n), v(n);
  init_adam(p.data(), g.data(), m.data(), v.data(), n, true);
  adam_hand_fused(p.data(), g.data(), m.data(), v.data(), n, h);
  {
    vec p2(n), g2(n), m2(n), v2(n);
    init_adam(p2.data(), g2.data(), m2.data(), v2.data(), n, true);
    adam_statix_fuse(p2, g2, m2, v2, h);
    report("adam/statix_fuse", max_abs_diff(p2.data(), p.data(), n), max_abs_diff(m2.data(), m.data(), n),
           max_abs_diff(v2.data(), v.data(), n));
    init_adam(p2.data(), g2.data(), m2.data(), v2.data(), n, true);
    adam_statix_op_by_op(p2, g2, m2, v2, h);
    report("adam/statix_op_by_op", max_abs_diff(p2.data(), p.data(), n), max_abs_diff(m2.data(), m.data(), n),
           max_abs_diff(v2.data(), v.data(), n));
  }
#if defined(STATIX_HAVE_EIGEN)
  {
    eigen_floats p2(n), g2(n), m2(n), v2(n);
    init_adam(p2.array.data(), g2.array.data(), m2.array.data(), v2.array.data(), n, true);
    adam_eigen(p2.array, g2.array, m2.array, v2.array, h);
    report("adam/eigen", max_abs_diff(p2.array.data(), p.data(), n), max_abs_diff(m2.array.data(), m.data(), n),
           max_abs_diff(v2.array.data(), v.data(), n));
  }
#endif
#if defined(STATIX_HAVE_TORCH)
  {
    aligned_floats p0(n), g0(n), m0(n), v0(n);
    init_adam(p0.data(), g0.data(), m0.data(), v0.data(), n, true);
    torch::Tensor p2 = torch_copy(p0.data(), n).requires_grad_(true);
    p2.mutable_grad() = torch_copy(g0.data(), n);
    torch::optim::Adam opt(std::vector<torch::Tensor>{p2}, torch_adam_options(h));
    opt.step();
    auto& st = static_cast<torch::optim::AdamParamState&>(*opt.state().begin()->second);
    const torch::Tensor pt = p2.detach().contiguous();
    report("adam/torch", max_abs_diff(pt.data_ptr<float>(), p.data(), n),
           max_abs_diff(st.exp_avg().data_ptr<float>(), m.data(), n),
           max_abs_diff(st.exp_avg_sq().data_ptr<float>(), v.data(), n));
  }
#endif

  const sgd_hparams hs;
  aligned_floats q(n), gq(n), b(n);
  init_sgd(q.data(), gq.data(), b.data(), n, true);
  sgd_hand_fused(q.data(), gq.data(), b.data(), n, hs);
  {
    vec q2(n), g2(n), b2(n);
    init_sgd(q2.data(), g2.data(), b2.data(), n, true);
    sgd_statix_fuse(q2, g2, b2, hs);
    report("sgd/statix_fuse", max_abs_diff(q2.data(), q.data(), n), max_abs_diff(b2.data(), b.data(), n), 0);
    init_sgd(q2.data(), g2.data(), b2.data(), n, true);
    sgd_statix_op_by_op(q2, g2, b2, hs);
    report("sgd/statix_op_by_op", max_abs_diff(q2.data(), q.data(), n), max_abs_diff(b2.data(), b.data(), n), 0);
  }
#if defined(STATIX_HAVE_EIGEN)
  {
    eigen_floats q2(n), g2(n), b2(n);
    init_sgd(q2.array.data(), g2.array.data(), b2.array.data(), n, true);
    sgd_eigen(q2.array, g2.array, b2.array, hs);
    report("sgd/eigen", max_abs_diff(q2.array.data(), q.data(), n), max_abs_diff(b2.array.data(), b.data(), n), 0);
  }
#endif
#if defined(STATIX_HAVE_TORCH)
  {
    aligned_floats q0(n), g0(n), b0(n);
    init_sgd(q0.data(), g0.data(), b0.data(), n, true);
    torch::Tensor q2 = torch_copy(q0.data(), n).requires_grad_(true);
    q2.mutable_grad() = torch_copy(g0.data(), n);
    torch::optim::SGD opt(std::vector<torch::Tensor>{q2}, torch_sgd_options(hs));
    opt.step();
    auto& st = static_cast<torch::optim::SGDParamState&>(*opt.state().begin()->second);
    const torch::Tensor qt = q2.detach().contiguous();
    report("sgd/torch", max_abs_diff(qt.data_ptr<float>(), q.data(), n),
           max_abs_diff(st.momentum_buffer().data_ptr<float>(), b.data(), n), 0);
  }
#endif
  std::printf("\n");
  return ok;
}

// ---------------------------------------------------------------------------------------------------
// Reporting: the console lines, and the results kept for the summary.

struct result {
  double cpu_us = 0;   // median CPU time per iteration
  double real_us = 0;  // median real time per iteration
  double cv = 0;       // coefficient of variation of the CPU time over the repetitions
  double iterations = 0;
};

/// Prints one line per benchmark (the median, or each run without repetitions) and keeps the medians.
class collecting_reporter : public benchmark::ConsoleReporter {
 public:
  collecting_reporter() : ConsoleReporter(OO_None) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    const Run* median = nullptr;
    const Run* mean = nullptr;
    const Run* stddev = nullptr;
    std::vector<const Run*> plain;
    for (const Run& r : runs) {
      if (r.error_occurred) {
        GetOutputStream() << r.benchmark_name() << "  ERROR: " << r.error_message << '\n';
        continue;
      }
      if (r.run_type == Run::RT_Iteration)
        plain.push_back(&r);
      else if (r.aggregate_name == "median")
        median = &r;
      else if (r.aggregate_name == "mean")
        mean = &r;
      else if (r.aggregate_name == "stddev")
        stddev = &r;
    }
    if (median != nullptr) {
      result res{median->GetAdjustedCPUTime(), median->GetAdjustedRealTime(), 0,
                 static_cast<double>(median->iterations)};
      if (mean != nullptr && stddev != nullptr && mean->GetAdjustedCPUTime() > 0)
        res.cv = stddev->GetAdjustedCPUTime() / mean->GetAdjustedCPUTime();
      print(*median, &res);
      keep(*median, res);
    } else {
      for (const Run* r : plain) {
        const result res{r->GetAdjustedCPUTime(), r->GetAdjustedRealTime(), -1, static_cast<double>(r->iterations)};
        print(*r, nullptr);
        keep(*r, res);
      }
    }
  }

  /// Median (or last) result of `function_name` ("adam/statix_fuse") at size n.
  std::optional<result> find(const std::string& function_name, std::size_t n) const {
    const auto it = results_.find({function_name, n});
    if (it == results_.end()) return std::nullopt;
    return it->second;
  }

 private:
  void print(const Run& r, const result* res) {
    auto& out = GetOutputStream();
    char line[512];
    if (!header_done_) {
      // An aggregate's `iterations` is its number of repetitions.
      const bool aggregate = r.run_type == Run::RT_Aggregate;
      std::snprintf(line, sizeof line, "%-34s %12s %12s %10s %12s %9s %7s",
                    aggregate ? "Benchmark (median)" : "Benchmark", "Time [us]", "CPU [us]",
                    aggregate ? "Reps" : "Iterations", "ns/element", "GB/s", aggregate ? "CV" : "");
      out << line << '\n' << std::string(std::strlen(line), '-') << '\n';
      header_done_ = true;
    }
    auto counter = [&](const char* name) {
      const auto it = r.counters.find(name);
      return it == r.counters.end() ? 0.0 : it->second.value;
    };
    char cv[16] = "";
    if (res != nullptr && res->cv >= 0) std::snprintf(cv, sizeof cv, "%5.1f%%", 100 * res->cv);
    std::snprintf(line, sizeof line, "%-34s %12.2f %12.2f %10lld %12.3f %9.1f %7s", r.run_name.str().c_str(),
                  r.GetAdjustedRealTime(), r.GetAdjustedCPUTime(), static_cast<long long>(r.iterations),
                  counter("ns_per_elem"), counter("GB/s"), cv);
    out << line << std::endl;
  }

  void keep(const Run& r, const result& res) {
    const std::size_t n = std::stoull(r.run_name.args.empty() ? "0" : r.run_name.args);
    results_[{r.run_name.function_name, n}] = res;
  }

  bool header_done_ = false;
  std::map<std::pair<std::string, std::size_t>, result> results_;
};

std::string size_name(std::size_t n) {
  if (n >= (std::size_t{1} << 20) && n % (std::size_t{1} << 20) == 0) return std::to_string(n >> 20) + "Mi";
  if (n >= (std::size_t{1} << 10) && n % (std::size_t{1} << 10) == 0) return std::to_string(n >> 10) + "Ki";
  return std::to_string(n);
}

/// Per N: the time and bandwidth of every implementation, then fuse against the targets.
void print_summary(const collecting_reporter& rep, const char* opt, const char* title, double bytes) {
  const std::string o = opt;
  const char* impls[] = {"statix_fuse", "hand_fused", "statix_op_by_op", "eigen", "torch", "pattern"};
  std::printf("\n%s: median CPU time per step, ns/element, GB/s at %.0f bytes/element\n", title, bytes);
  std::printf("%-6s", "N");
  for (const char* impl : impls) std::printf(" %27s", impl);
  std::printf("\n");
  for (const std::size_t n : kSizes) {
    std::printf("%-6s", size_name(n).c_str());
    for (const char* impl : impls) {
      const auto r = rep.find(o + "/" + impl, n);
      if (!r) {
        std::printf(" %27s", "n/a");
        continue;
      }
      const double seconds = r->cpu_us * 1e-6;
      char cell[64];
      std::snprintf(cell, sizeof cell, "%.1fus %.3fns %.1fGB/s", r->cpu_us, seconds * 1e9 / static_cast<double>(n),
                    bytes * static_cast<double>(n) / seconds * 1e-9);
      std::printf(" %27s", cell);
    }
    std::printf("\n");
  }

  std::printf("\n%s: statix_fuse against the targets (ratios of median times)\n", title);
  std::printf("%-6s %22s %26s %24s %24s %12s\n", "N", "hand/fuse (>=0.95)", "BW % of pattern (>=90% @16Mi)",
              "op_by_op/fuse (>=5 @1Mi+)", "eigen/fuse (>=1.5 @1Mi+)", "torch/fuse");
  for (const std::size_t n : kSizes) {
    const auto fuse = rep.find(o + "/statix_fuse", n);
    std::printf("%-6s", size_name(n).c_str());
    // ratio = t(other) / t(fuse); `target` <= 0 means none at this size.
    auto cell = [&](const char* other, double scale, double target, const char* fmt, int width) {
      const auto r = rep.find(o + "/" + other, n);
      char text[64];
      if (!fuse || !r) {
        std::snprintf(text, sizeof text, "n/a");
      } else {
        const double ratio = scale * r->cpu_us / fuse->cpu_us;
        char value[32];
        std::snprintf(value, sizeof value, fmt, ratio);
        std::snprintf(text, sizeof text, "%s%s", value, target <= 0 ? "" : ratio >= target ? " met" : " MISSED");
      }
      std::printf(" %*s", width, text);
    };
    const bool large = n >= (std::size_t{1} << 20);
    cell("hand_fused", 1, 0.95, "%.3f", 22);
    cell("pattern", 100, n >= (std::size_t{1} << 24) ? 90 : 0, "%.1f%%", 26);
    cell("statix_op_by_op", 1, large ? 5 : 0, "%.2fx", 24);
    cell("eigen", 1, large ? 1.5 : 0, "%.2fx", 24);
    cell("torch", 1, 0, "%.2fx", 12);
    std::printf("\n");
  }
}

void print_triad(const collecting_reporter& rep) {
  std::printf("\nSTREAM triad (12 bytes/element):");
  for (const std::size_t n : kSizes) {
    const auto r = rep.find("stream/triad", n);
    if (r) std::printf("  %s %.1f GB/s", size_name(n).c_str(), 12.0 * static_cast<double>(n) / (r->cpu_us * 1e3));
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
#if defined(STATIX_HAVE_TORCH)
  torch::set_num_threads(1);
#endif
  if (std::getenv("STATIX_NUM_THREADS") == nullptr) sx::set_num_threads(1);  // as the peers, per core
  // Defaults that the command line can override (later flags win): 5 repetitions, medians only.
  // Set as flags rather than per benchmark so that the names stay "<optimizer>/<impl>/<N>".
  std::vector<char*> args{argv[0]};
  std::string defaults[] = {"--benchmark_repetitions=5", "--benchmark_min_time=0.1",
                            "--benchmark_report_aggregates_only=true"};
  for (std::string& d : defaults) args.push_back(d.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;

  const bool ok = check_results();
  register_benchmarks();
  collecting_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter, "adam", "Adam", kAdamBytes);
  print_summary(reporter, "sgd", "SGD with momentum", kSgdBytes);
  print_triad(reporter);
  benchmark::Shutdown();
  if (!ok) std::printf("\nWARNING: some implementations disagree with hand_fused (see the check above)\n");
  return ok ? 0 : 1;
}
