// The loss and the parameter gradients of a 2-layer MLP (784-128-10, batch 128, float32, single
// thread), one training step's worth of work without the update:
//
//   h1 = relu(x W1 + b1);  logits = h1 W2 + b2;  loss = -mean_i(sum_j onehot[i,j] log_softmax(logits)[i,j])
//
//   hand_openblas           hand-written forward and backward: 5 cblas_sgemm calls (2 forward; dW2 = h1^T dz,
//                           dh1 = dz W2^T, dW1 = x^T dh1 through the transpose flags) and fused loops
//                           (bias + relu in place; per row: bias, log-softmax, loss and softmax - onehot;
//                           relu mask + bias-gradient column sums), buffers allocated once (the reference)
//   libtorch                the same expression on tensors that require grad, torch::autograd::grad for
//                           the four gradients (if libtorch was found)
//   libtorch_cross_entropy  torch::nn::functional::cross_entropy on integer labels, as a training loop
//                           usually writes it (if libtorch was found)
//   statix                  the expression, then sx::value_and_grad(loss, W1, b1, W2, b2)
//
// Every variant produces the loss value and dW1, db1, dW2, db2 per iteration. Before the runs (not
// timed) every variant's results are checked against a double-precision loop reference and against
// each other (max |difference| relative to the largest |element|, at most 1e-4); the program stops if
// they disagree. Defaults: 5 repetitions, medians (bench/support.hpp). After the runs it prints the
// ratios of the median times against the targets.
//
//   taskset -c 1 build/release/bench/mlp_grad
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <statix/statix.hpp>

#include "support.hpp"

#if defined(STATIX_HAVE_OPENBLAS)
#include <cblas.h>
#endif
#if defined(STATIX_HAVE_TORCH)
#include <torch/torch.h>
#endif

namespace sx = statix;

namespace {

constexpr std::size_t kBatch = 128, kIn = 784, kHidden = 128, kClasses = 10;
/// Multiply-adds x 2 of the five products (the elementwise work is small next to them).
constexpr double kFlops =
    2.0 * (kBatch * kIn * kHidden + kBatch * kHidden * kClasses) +                               // forward
    2.0 * (kHidden * kBatch * kClasses + kBatch * kClasses * kHidden + kIn * kBatch * kHidden);  // backward

// ---------------------------------------------------------------------------------------------------
// The problem: data, labels and parameters from a fixed seed.

struct problem {
  sx::tensor<float, kBatch, kIn> x;
  sx::tensor<float, kIn, kHidden> W1;
  sx::tensor<float, kHidden> b1;
  sx::tensor<float, kHidden, kClasses> W2;
  sx::tensor<float, kClasses> b2;
  sx::tensor<float, kBatch, kClasses> onehot;
  std::vector<std::int64_t> labels;

  problem() : labels(kBatch) {
    const sx::random::key key{2024};
    x = sx::uniform<float, kBatch, kIn>(key.fold_in(0));                          // "pixels" in [0, 1)
    W1 = sx::randn<float, kIn, kHidden>(key.fold_in(1)) * std::sqrt(2.0f / kIn);  // He initialization
    b1 = sx::randn<float, kHidden>(key.fold_in(2)) * 0.1f;
    W2 = sx::randn<float, kHidden, kClasses>(key.fold_in(3)) * std::sqrt(2.0f / kHidden);
    b2 = sx::randn<float, kClasses>(key.fold_in(4)) * 0.1f;
    const sx::tensor<float, kBatch> u = sx::uniform<float, kBatch>(key.fold_in(5));
    for (std::size_t i = 0; i < kBatch; ++i) {
      labels[i] = std::min<std::int64_t>(static_cast<std::int64_t>(u(i) * kClasses), kClasses - 1);
      onehot(i, static_cast<std::size_t>(labels[i])) = 1;
    }
  }
};

/// What a variant computed, copied out for the checks.
struct result {
  std::string name;
  double loss = 0;
  std::vector<double> dW1, db1, dW2, db2;
};

std::vector<double> copy_out(const float* p, std::size_t n) {
  return std::vector<double>(p, p + n);
}

result make_result(std::string name, double loss, const float* dW1, const float* db1, const float* dW2,
                   const float* db2) {
  return {std::move(name),
          loss,
          copy_out(dW1, kIn * kHidden),
          copy_out(db1, kHidden),
          copy_out(dW2, kHidden * kClasses),
          copy_out(db2, kClasses)};
}

void set_counters(benchmark::State& state) {
  state.counters["GFLOP/s"] = benchmark::Counter(kFlops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"].value /= 1e9;
}

// ---------------------------------------------------------------------------------------------------
// The reference for the checks: plain loops in double.

result reference_double(const problem& p) {
  std::vector<double> h1(kBatch * kHidden), dz(kBatch * kClasses), dh1(kBatch * kHidden);
  result r{"reference_double",
           0,
           std::vector<double>(kIn * kHidden),
           std::vector<double>(kHidden),
           std::vector<double>(kHidden * kClasses),
           std::vector<double>(kClasses)};
  for (std::size_t i = 0; i < kBatch; ++i)
    for (std::size_t j = 0; j < kHidden; ++j) {
      double s = p.b1(j);
      for (std::size_t k = 0; k < kIn; ++k) s += double{p.x(i, k)} * p.W1(k, j);
      h1[i * kHidden + j] = std::max(s, 0.0);
    }
  double total = 0;
  for (std::size_t i = 0; i < kBatch; ++i) {
    double z[kClasses], m = -std::numeric_limits<double>::infinity(), ysum = 0;
    for (std::size_t j = 0; j < kClasses; ++j) {
      double s = p.b2(j);
      for (std::size_t k = 0; k < kHidden; ++k) s += h1[i * kHidden + k] * p.W2(k, j);
      z[j] = s;
      m = std::max(m, s);
      ysum += p.onehot(i, j);
    }
    double e = 0;
    for (std::size_t j = 0; j < kClasses; ++j) e += std::exp(z[j] - m);
    const double lse = m + std::log(e);
    // d loss / d z[i, j] = (softmax(z_i)[j] * sum_c y[i, c] - y[i, j]) / batch.
    for (std::size_t j = 0; j < kClasses; ++j) {
      total -= p.onehot(i, j) * (z[j] - lse);
      dz[i * kClasses + j] = (std::exp(z[j] - lse) * ysum - p.onehot(i, j)) / kBatch;
    }
  }
  r.loss = total / kBatch;
  for (std::size_t i = 0; i < kBatch; ++i)
    for (std::size_t c = 0; c < kClasses; ++c) {
      const double d = dz[i * kClasses + c];
      r.db2[c] += d;
      for (std::size_t k = 0; k < kHidden; ++k) r.dW2[k * kClasses + c] += h1[i * kHidden + k] * d;
    }
  for (std::size_t i = 0; i < kBatch; ++i)
    for (std::size_t k = 0; k < kHidden; ++k) {
      double s = 0;
      for (std::size_t c = 0; c < kClasses; ++c) s += dz[i * kClasses + c] * p.W2(k, c);
      dh1[i * kHidden + k] = h1[i * kHidden + k] > 0 ? s : 0;
      r.db1[k] += dh1[i * kHidden + k];
    }
  for (std::size_t i = 0; i < kBatch; ++i)
    for (std::size_t k = 0; k < kIn; ++k) {
      const double xv = p.x(i, k);
      for (std::size_t j = 0; j < kHidden; ++j) r.dW1[k * kHidden + j] += xv * dh1[i * kHidden + j];
    }
  return r;
}

// ---------------------------------------------------------------------------------------------------
// hand_openblas: the expert reference.

#if defined(STATIX_HAVE_OPENBLAS)
/// h[i, j] = max(h[i, j] + b[j], 0), in place.
void bias_relu(float* __restrict h, const float* __restrict b) {
  for (std::size_t i = 0; i < kBatch; ++i)
    for (std::size_t j = 0; j < kHidden; ++j) h[i * kHidden + j] = std::max(h[i * kHidden + j] + b[j], 0.0f);
}

/// Per row of z (the logits without bias): adds the bias, computes log-softmax and the row's loss term, and
/// overwrites the row with d loss / d logits = (softmax * sum_j y_j - y) / batch; db2 gets the column sums
/// of that. Returns the loss.
float log_softmax_rows(float* __restrict z, const float* __restrict b, const float* __restrict y,
                       float* __restrict db) {
  constexpr float inv_batch = 1.0f / kBatch;
  float total = 0;
  std::fill_n(db, kClasses, 0.0f);
  for (std::size_t i = 0; i < kBatch; ++i) {
    float* zi = z + i * kClasses;
    const float* yi = y + i * kClasses;
    float m = -std::numeric_limits<float>::infinity();
    for (std::size_t j = 0; j < kClasses; ++j) {
      zi[j] += b[j];
      m = std::max(m, zi[j]);
    }
    float e[kClasses], s = 0, ysum = 0, yz = 0;
    for (std::size_t j = 0; j < kClasses; ++j) {
      e[j] = std::exp(zi[j] - m);
      s += e[j];
      ysum += yi[j];
      yz += yi[j] * zi[j];
    }
    total += (m + std::log(s)) * ysum - yz;  // -sum_j y_j (z_j - logsumexp(z))
    const float scale = ysum / s * inv_batch;
    for (std::size_t j = 0; j < kClasses; ++j) {
      const float d = e[j] * scale - yi[j] * inv_batch;
      zi[j] = d;
      db[j] += d;
    }
  }
  return total * inv_batch;
}

/// dh[i, j] = h[i, j] > 0 ? dh[i, j] : 0 in place (relu's derivative at 0 taken as 0), and db = the
/// column sums of the masked dh.
void relu_mask_column_sums(float* __restrict dh, const float* __restrict h, float* __restrict db) {
  std::fill_n(db, kHidden, 0.0f);
  for (std::size_t i = 0; i < kBatch; ++i)
    for (std::size_t j = 0; j < kHidden; ++j) {
      const float d = h[i * kHidden + j] > 0 ? dh[i * kHidden + j] : 0.0f;
      dh[i * kHidden + j] = d;
      db[j] += d;
    }
}

struct hand_mlp {
  const problem& p;
  sx::tensor<float, kBatch, kHidden> h1, dh1;
  sx::tensor<float, kBatch, kClasses> dz;  // the logits, then d loss / d logits in place
  sx::tensor<float, kIn, kHidden> dW1;
  sx::tensor<float, kHidden> db1;
  sx::tensor<float, kHidden, kClasses> dW2;
  sx::tensor<float, kClasses> db2;
  float loss = 0;

  explicit hand_mlp(const problem& prob) : p(prob) {}

  [[gnu::noinline]] void step() {
    constexpr int B = kBatch, I = kIn, H = kHidden, C = kClasses;
    const float* x = p.x.data();
    const float* W2 = p.W2.data();
    // Forward.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, I, 1.0f, x, I, p.W1.data(), H, 0.0f, h1.data(), H);
    bias_relu(h1.data(), p.b1.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, H, 1.0f, h1.data(), H, W2, C, 0.0f, dz.data(), C);
    loss = log_softmax_rows(dz.data(), p.b2.data(), p.onehot.data(), db2.data());
    // Backward.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, C, B, 1.0f, h1.data(), H, dz.data(), C, 0.0f, dW2.data(),
                C);  // dW2 = h1^T dz
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, C, 1.0f, dz.data(), C, W2, C, 0.0f, dh1.data(),
                H);  // dh1 = dz W2^T
    relu_mask_column_sums(dh1.data(), h1.data(), db1.data());
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, I, H, B, 1.0f, x, I, dh1.data(), H, 0.0f, dW1.data(),
                H);  // dW1 = x^T dh1
  }

  result get() const { return make_result("hand_openblas", loss, dW1.data(), db1.data(), dW2.data(), db2.data()); }
};

void bm_hand_openblas(benchmark::State& state) {
  const problem p;
  hand_mlp m(p);
  for (auto _ : state) {
    m.step();
    benchmark::DoNotOptimize(m.loss);
    benchmark::ClobberMemory();
  }
  set_counters(state);
}
#endif

// ---------------------------------------------------------------------------------------------------
// libtorch

#if defined(STATIX_HAVE_TORCH)
torch::Tensor torch_copy(const float* p, std::vector<std::int64_t> sizes) {
  return torch::from_blob(const_cast<float*>(p), sizes, torch::kFloat32).clone();
}

struct torch_mlp {
  torch::Tensor x, W1, b1, W2, b2, onehot, labels;

  explicit torch_mlp(const problem& p)
      : x(torch_copy(p.x.data(), {kBatch, kIn})),
        W1(torch_copy(p.W1.data(), {kIn, kHidden}).requires_grad_(true)),
        b1(torch_copy(p.b1.data(), {kHidden}).requires_grad_(true)),
        W2(torch_copy(p.W2.data(), {kHidden, kClasses}).requires_grad_(true)),
        b2(torch_copy(p.b2.data(), {kClasses}).requires_grad_(true)),
        onehot(torch_copy(p.onehot.data(), {kBatch, kClasses})),
        labels(torch::tensor(p.labels, torch::kInt64)) {}

  /// The logits; addmm(b, a, w) is what torch::nn::Linear runs for `a w + b`.
  torch::Tensor logits() const { return torch::addmm(b2, torch::relu(torch::addmm(b1, x, W1)), W2); }

  torch::Tensor loss_onehot() const { return -(onehot * torch::log_softmax(logits(), 1)).sum(1).mean(); }
  torch::Tensor loss_cross_entropy() const { return torch::nn::functional::cross_entropy(logits(), labels); }

  /// The loss value and the gradients (fresh tensors: nothing accumulates into .grad()).
  std::pair<float, std::vector<torch::Tensor>> value_and_grad(const torch::Tensor& loss) const {
    auto g = torch::autograd::grad({loss}, {W1, b1, W2, b2});
    return {loss.item<float>(), std::move(g)};
  }

  result get(std::string name, bool cross_entropy) const {
    auto [value, g] = value_and_grad(cross_entropy ? loss_cross_entropy() : loss_onehot());
    for (auto& t : g) t = t.contiguous();
    return make_result(std::move(name), value, g[0].data_ptr<float>(), g[1].data_ptr<float>(), g[2].data_ptr<float>(),
                       g[3].data_ptr<float>());
  }
};

void bm_libtorch(benchmark::State& state) {
  const torch_mlp m{problem()};
  for (auto _ : state) {
    auto [value, g] = m.value_and_grad(m.loss_onehot());
    benchmark::DoNotOptimize(value);
    benchmark::DoNotOptimize(g[0].data_ptr());
  }
  set_counters(state);
}

void bm_libtorch_cross_entropy(benchmark::State& state) {
  const torch_mlp m{problem()};
  for (auto _ : state) {
    auto [value, g] = m.value_and_grad(m.loss_cross_entropy());
    benchmark::DoNotOptimize(value);
    benchmark::DoNotOptimize(g[0].data_ptr());
  }
  set_counters(state);
}
#endif

// ---------------------------------------------------------------------------------------------------
// statix

/// The model as a user writes it; value_and_grad returns the loss value and one gradient tensor per
/// variable, of its shape.
[[gnu::noinline]] auto statix_value_and_grad(problem& p) {
  auto h1 = sx::relu(sx::matmul(p.x, p.W1) + p.b1);
  auto logits = sx::matmul(h1, p.W2) + p.b2;
  auto loss = -sx::mean(sx::sum<1>(p.onehot * sx::log_softmax<1>(logits)));
  return sx::value_and_grad(loss, p.W1, p.b1, p.W2, p.b2);
}

result statix_result(problem& p) {
  auto [value, gW1, gb1, gW2, gb2] = statix_value_and_grad(p);
  return make_result("statix", value, gW1.data(), gb1.data(), gW2.data(), gb2.data());
}

void bm_statix(benchmark::State& state) {
  problem p;
  for (auto _ : state) {
    auto [value, gW1, gb1, gW2, gb2] = statix_value_and_grad(p);
    benchmark::DoNotOptimize(value);
    benchmark::DoNotOptimize(gW1.data());
    benchmark::DoNotOptimize(gb1.data());
    benchmark::DoNotOptimize(gW2.data());
    benchmark::DoNotOptimize(gb2.data());
    benchmark::ClobberMemory();
  }
  set_counters(state);
}

// ---------------------------------------------------------------------------------------------------
// Correctness: every pair of variants (and the double reference) must agree.

/// max |a - b| over the largest |b| (a relative error that tiny elements do not inflate).
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

bool check_results() {
  constexpr double tolerance = 1e-4;
  problem p;
  std::vector<result> results{reference_double(p)};
#if defined(STATIX_HAVE_OPENBLAS)
  {
    hand_mlp m(p);
    m.step();
    results.push_back(m.get());
  }
#endif
#if defined(STATIX_HAVE_TORCH)
  {
    const torch_mlp m(p);
    results.push_back(m.get("libtorch", false));
    results.push_back(m.get("libtorch_cross_entropy", true));
  }
#endif
  results.push_back(statix_result(p));

  std::printf("Checking the loss and gradients of every pair of variants (max |diff| / max |element|, <= %.0e):\n",
              tolerance);
  bool ok = true;
  for (std::size_t a = 0; a < results.size(); ++a)
    for (std::size_t b = a + 1; b < results.size(); ++b) {
      const result& r = results[b];
      const result& ref = results[a];
      const double e[] = {std::abs(r.loss - ref.loss) / std::max(std::abs(ref.loss), 1e-30),
                          relative_error(r.dW1, ref.dW1), relative_error(r.db1, ref.db1),
                          relative_error(r.dW2, ref.dW2), relative_error(r.db2, ref.db2)};
      const bool good = std::all_of(std::begin(e), std::end(e), [&](double v) { return v <= tolerance; });
      ok = ok && good;
      std::printf("  %-22s vs %-22s loss %.1e  dW1 %.1e  db1 %.1e  dW2 %.1e  db2 %.1e  %s\n", r.name.c_str(),
                  ref.name.c_str(), e[0], e[1], e[2], e[3], e[4], good ? "ok" : "MISMATCH");
    }
  std::printf("  loss = %.6f\n\n", results.front().loss);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (!statix_bench::initialize(argc, argv)) return 1;
#if defined(STATIX_HAVE_OPENBLAS)
  openblas_set_num_threads(1);
#endif
#if defined(STATIX_HAVE_TORCH)
  at::set_num_threads(1);
#endif
  if (!check_results()) {
    std::fprintf(stderr, "mlp_grad: the variants disagree (see the check above); not benchmarking\n");
    return 1;
  }

#if defined(STATIX_HAVE_OPENBLAS)
  benchmark::RegisterBenchmark("mlp_grad/hand_openblas", bm_hand_openblas);
#endif
#if defined(STATIX_HAVE_TORCH)
  benchmark::RegisterBenchmark("mlp_grad/libtorch", bm_libtorch);
  benchmark::RegisterBenchmark("mlp_grad/libtorch_cross_entropy", bm_libtorch_cross_entropy);
#endif
  benchmark::RegisterBenchmark("mlp_grad/statix", bm_statix);
  statix_bench::median_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  const auto statix = rep.us("mlp_grad/statix"), hand = rep.us("mlp_grad/hand_openblas");
  const auto torch_onehot = rep.us("mlp_grad/libtorch"), torch_ce = rep.us("mlp_grad/libtorch_cross_entropy");
  std::printf("\nMLP 784-128-10, batch 128, float32, single thread: loss + dW1, db1, dW2, db2 (median CPU time)\n");
  auto ratio = [](const char* what, std::optional<double> num, std::optional<double> den, const char* target,
                  bool met) {
    if (num && den)
      std::printf("  %-40s %6.2f   (target %s: %s)\n", what, *num / *den, target, met ? "met" : "MISSED");
    else
      std::printf("  %-40s %6s\n", what, "n/a");
  };
  ratio("statix / hand_openblas", statix, hand, "<= 1.1", statix && hand && *statix / *hand <= 1.1);
  ratio("libtorch / statix", torch_onehot, statix, ">= 2", torch_onehot && statix && *torch_onehot / *statix >= 2);
  ratio("libtorch_cross_entropy / statix", torch_ce, statix, ">= 2", torch_ce && statix && *torch_ce / *statix >= 2);
  benchmark::Shutdown();
}
