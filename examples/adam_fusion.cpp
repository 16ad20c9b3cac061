// Adam, written the way the paper writes it, runs as ONE SIMD pass over p, g, m, v.
//
//   build/release/examples/adam_fusion [N] [steps]
//
// Prints the time per step against the same update evaluated op by op (each op into its own
// temporary), and checks both give the same parameters.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <statix/statix.hpp>

namespace sx = statix;
using vec = sx::tensor<float, sx::dyn>;

struct adam {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  int t = 0;

  void step(vec& p, const vec& g, vec& m, vec& v) {
    ++t;
    const float bc1 = 1 - std::pow(beta1, t), bc2 = 1 - std::pow(beta2, t);
    sx::fuse(sx::out(m) = beta1 * m + (1 - beta1) * g,  //
             sx::out(v) = beta2 * v + (1 - beta2) * g * g, sx::out(p) -= lr * (m / bc1) / (sx::sqrt(v / bc2) + eps));
  }

  // The same update, one op at a time: what an op-by-op library does.
  void step_op_by_op(vec& p, const vec& g, vec& m, vec& v) {
    ++t;
    const float bc1 = 1 - std::pow(beta1, t), bc2 = 1 - std::pow(beta2, t);
    vec t1 = beta1 * m, t2 = (1 - beta1) * g;
    m = t1 + t2;
    vec t3 = g * g, t4 = beta2 * v, t5 = (1 - beta2) * t3;
    v = t4 + t5;
    vec t6 = m / bc1, t7 = v / bc2, t8 = sx::sqrt(t7), t9 = t8 + eps, t10 = t6 / t9, t11 = lr * t10;
    p -= t11;
  }
};

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : std::size_t{1} << 20;
  const int steps = argc > 2 ? std::stoi(argv[2]) : 200;
  const sx::random::key key(2024);

  vec p = sx::randn<float, sx::dyn>(key.fold_in(0), n), g(n), m(n), v(n);
  vec p2 = p, m2(n), v2(n);
  adam fused, op_by_op;

  using clock = std::chrono::steady_clock;
  double fused_s = 0, op_s = 0;
  for (int s = 0; s < steps; ++s) {
    g = 0.01f * sx::randn<float, sx::dyn>(key.fold_in(s + 1), n);  // a fresh "gradient" each step
    auto t0 = clock::now();
    fused.step(p, g, m, v);
    auto t1 = clock::now();
    op_by_op.step_op_by_op(p2, g, m2, v2);
    auto t2 = clock::now();
    fused_s += std::chrono::duration<double>(t1 - t0).count();
    op_s += std::chrono::duration<double>(t2 - t1).count();
  }

  float max_diff = 0;
  for (std::size_t i = 0; i < n; ++i) max_diff = std::max(max_diff, std::abs(p(i) - p2(i)));
  const double bytes = 28.0 * static_cast<double>(n);  // read p, g, m, v; write p, m, v
  std::printf("Adam on %zu float parameters, %d steps\n", n, steps);
  std::printf("  fused (sx::fuse):  %8.1f us/step  %6.2f ns/element  %6.1f GB/s\n", 1e6 * fused_s / steps,
              1e9 * fused_s / steps / static_cast<double>(n), bytes * steps / fused_s / 1e9);
  std::printf("  op by op:          %8.1f us/step  %6.2f ns/element  (%.1fx slower)\n", 1e6 * op_s / steps,
              1e9 * op_s / steps / static_cast<double>(n), op_s / fused_s);
  std::printf("  max |p_fused - p_op_by_op| = %g\n", static_cast<double>(max_diff));
  return max_diff < 1e-6f ? EXIT_SUCCESS : EXIT_FAILURE;
}
