// The example of README.md, built and run by the test suite so that the README stays true.
#include <statix/statix.hpp>
namespace sx = statix;

int main() {
  const std::size_t n = 1 << 20;
  sx::tensor<float, sx::dyn> p = sx::randn<float, sx::dyn>(sx::random::key{0}, n), g(n), m(n), v(n);
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, bc1 = 0.1f, bc2 = 0.001f;
  g = 0.01f * sx::randn<float, sx::dyn>(sx::random::key{1}, n);
  // One pass over p, g, m, v: the third statement sees the new m and v, as if run in order.
  sx::fuse(sx::out(m) = b1 * m + (1 - b1) * g,      //
           sx::out(v) = b2 * v + (1 - b2) * g * g,  //
           sx::out(p) -= lr * (m / bc1) / (sx::sqrt(v / bc2) + eps));
  sx::tensor<float, 3, 4> a;
  sx::tensor<float, 4> row{1, 2, 3, 4};
  sx::tensor<float, 3, 4> b = sx::where(a > 0, a, 0.f) + row;  // broadcasting, no temporaries
  // sx::tensor<float, 4, 3> c = a + b;   // compile error: shape mismatch ... shape<3, 4> ... shape<4, 3>
}
