// The mistakes a user makes, each behind an #if: build with -DMISTAKE=N to see the diagnostic that
// statix gives (docs/guide.md quotes them). Without MISTAKE, it shows the run-time checks.
//
//   g++ -std=c++20 -march=native -Iinclude -DMISTAKE=1 -fsyntax-only examples/shape_errors.cpp
#include <cstdint>
#include <cstdio>

#include <statix/statix.hpp>

namespace sx = statix;

#ifndef MISTAKE
#define MISTAKE 0
#endif

int main() {
  sx::tensor<float, 3, 4> a;
  sx::tensor<float, 4, 3> b;
  sx::tensor<double, 3, 4> d;
  sx::tensor<std::int32_t, 3, 4> labels;
  (void)b;
  (void)d;
  (void)labels;

#if MISTAKE == 1  // elementwise op on shapes that do not broadcast
  auto c = a + b;
#elif MISTAKE == 2  // mixing dtypes without a cast
  auto c = a * d;
#elif MISTAKE == 3  // assigning to a tensor of another shape
  a = b * 2;
#elif MISTAKE == 4  // fusing outputs of different shapes
  sx::fuse(sx::out(a) = a * 2, sx::out(b) = b + 1);
#elif MISTAKE == 5  // a fractional scalar against int32
  auto c = labels * 0.5;
#elif MISTAKE == 6  // a transcendental op on int32
  auto c = sx::log(labels);
#endif

  // Dynamic extents are checked at run time, before anything is written.
  sx::tensor<float, sx::dyn, 4> x(3), y(5);
  try {
    x = x + y;
  } catch (const sx::shape_error& e) {
    std::printf("caught sx::shape_error: %s\n", e.what());
  }
  try {
    sx::fuse(sx::out(x) = x * 2, sx::out(y) = y * 2);
  } catch (const sx::shape_error& e) {
    std::printf("caught sx::shape_error: %s\n", e.what());
  }
  return 0;
}
