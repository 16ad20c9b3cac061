// conv2d and pooling, forward and backward, against double-precision references at every blocking
// and Winograd edge, groups, strides, paddings; NaN in pooling windows.
#include "support.hpp"

#include <statix/ops/conv.hpp>

using namespace statix_test;

namespace {

/// Direct convolution in double (cross-correlation, zero padding, groups).
template <class X, class W>
std::vector<double> reference_conv(const X& x, const W& w, std::size_t stride, std::size_t pad, std::size_t groups) {
  const std::size_t n = x.extent(0), h = x.extent(2), wd = x.extent(3);
  const std::size_t o = w.extent(0), cg = w.extent(1), kh = w.extent(2), kw = w.extent(3);
  const std::size_t oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
  std::vector<double> out(n * o * oh * ow);
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t oc = 0; oc < o; ++oc) {
      const std::size_t g = oc / (o / groups);
      for (std::size_t i = 0; i < oh; ++i)
        for (std::size_t j = 0; j < ow; ++j) {
          double s = 0;
          for (std::size_t ci = 0; ci < cg; ++ci)
            for (std::size_t p = 0; p < kh; ++p)
              for (std::size_t q = 0; q < kw; ++q) {
                const long ih = long(i * stride + p) - long(pad), iw = long(j * stride + q) - long(pad);
                if (ih < 0 || iw < 0 || ih >= long(h) || iw >= long(wd)) continue;
                s += double(x(b, g * cg + ci, std::size_t(ih), std::size_t(iw))) * double(w(oc, ci, p, q));
              }
          out[((b * o + oc) * oh + i) * ow + j] = s;
        }
    }
  return out;
}

template <class T, std::size_t S, std::size_t P, std::size_t G, std::size_t K, std::size_t C, std::size_t O>
void check_conv(std::size_t n, std::size_t h, std::size_t w) {
  sx::tensor<T, sx::dyn, C, sx::dyn, sx::dyn> x(n, h, w);
  sx::tensor<T, O, C / G, K, K> wt;
  fill_uniform(x, -1, 1, unsigned(h * 31 + w));
  fill_uniform(wt, -1, 1, unsigned(K + C));
  const auto y = sx::eval(sx::conv2d<S, P, G>(x, wt));
  const std::string what = "conv2d<" + std::to_string(S) + ", " + std::to_string(P) + ", " + std::to_string(G) +
                           "> K=" + std::to_string(K) + " " + std::to_string(h) + "x" + std::to_string(w);
  BOOST_TEST_REQUIRE(y.extent(2) == (h + 2 * P - K) / S + 1, what);
  check_close(y.data(), reference_conv(x, wt, S, P, G), tolerance<T>(16) * std::sqrt(double(C * K * K)) * 4, what);
}

template <std::size_t K, std::size_t S, bool Max, class T = double>
void check_pool(std::size_t h, std::size_t w, bool nans = false) {
  sx::tensor<T, sx::dyn, 3, sx::dyn, sx::dyn> x(2, h, w);
  fill_uniform(x, -1, 1, unsigned(h + w));
  if (nans)
    for (std::size_t i = 0; i < x.size(); i += 7 + i % 5) x.data()[i] = std::numeric_limits<T>::quiet_NaN();
  const auto y = Max ? sx::eval(sx::max_pool2d<K, S>(x)) : sx::eval(sx::avg_pool2d<K, S>(x));
  const std::size_t oh = (h - K) / S + 1, ow = (w - K) / S + 1;
  BOOST_TEST_REQUIRE((y.extent(2) == oh && y.extent(3) == ow));
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t i = 0; i < oh; ++i)
        for (std::size_t j = 0; j < ow; ++j) {
          double r = Max ? -1e300 : 0;  // the reference in double
          for (std::size_t p = 0; p < K; ++p)
            for (std::size_t q = 0; q < K; ++q) {
              const double v = x(b, c, i * S + p, j * S + q);
              r = Max ? (std::isnan(r) || std::isnan(v) ? r + v : std::max(r, v)) : r + v / double(K * K);
            }
          if (std::isnan(r))  // a NaN in the window gives NaN, as in PyTorch
            BOOST_TEST_REQUIRE(std::isnan(y(b, c, i, j)));
          else
            BOOST_TEST_REQUIRE(std::abs(y(b, c, i, j) - r) <= tolerance<T>(8));
        }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv)

BOOST_AUTO_TEST_CASE(kernel_sizes_strides_paddings) {
  for (std::size_t hw : {7u, 8u, 13u}) {
    check_conv<float, 1, 0, 1, 1, 5, 6>(2, hw, hw + 2);  // pointwise: no unfolding
    check_conv<float, 1, 1, 1, 3, 4, 8>(2, hw, hw + 1);
    check_conv<float, 2, 1, 1, 3, 3, 5>(1, hw, hw);
    check_conv<double, 1, 2, 1, 5, 2, 3>(2, hw + 1, hw);
    check_conv<double, 3, 3, 1, 7, 3, 2>(1, hw, hw + 3);
    check_conv<float, 2, 0, 1, 1, 4, 4>(1, hw, hw);  // strided 1x1
  }
  check_conv<float, 1, 1, 1, 3, 64, 64>(1, 9, 11);  // many channels: Winograd F(2x2, 3x3)
}

BOOST_AUTO_TEST_CASE(winograd_edges) {
  // Stride-1 3x3 with at least 8 channels per group: odd and even output sizes (partial 2x2
  // tiles), paddings 0..2, groups, float and double.
  for (std::size_t hw : {3u, 4u, 7u, 10u}) {
    check_conv<float, 1, 1, 1, 3, 8, 8>(2, hw, hw + 1);
    check_conv<double, 1, 0, 1, 3, 8, 9>(1, hw + 2, hw + 3);
    check_conv<float, 1, 2, 2, 3, 16, 16>(1, hw, hw);
    check_conv<double, 1, 1, 1, 3, 12, 8>(2, hw + 1, hw);
  }
  // Several images per call, their tiles side by side in the products (the last call takes fewer).
  check_conv<float, 1, 1, 1, 3, 8, 12>(11, 14, 14);  // 49 tiles: 8 images per call, then 3
  check_conv<double, 1, 0, 1, 3, 9, 8>(7, 21, 20);   // 90 tiles, odd output height: 5, then 2
}

BOOST_AUTO_TEST_CASE(groups_and_depthwise) {
  for (std::size_t hw : {5u, 12u, 17u}) {
    check_conv<float, 1, 1, 2, 3, 4, 6>(2, hw, hw);
    check_conv<float, 1, 1, 8, 3, 8, 8>(2, hw, hw + 1);   // depthwise
    check_conv<double, 2, 2, 4, 5, 4, 8>(1, hw, hw + 2);  // depthwise, two outputs per channel
    check_conv<float, 1, 0, 1, 3, 1, 4>(3, hw, hw);       // one input channel
  }
}

BOOST_AUTO_TEST_CASE(static_shapes_and_aliasing) {
  sx::tensor<float, 2, 3, 10, 10> x;
  sx::tensor<float, 3, 3, 3, 3> w;
  fill_uniform(x, -1, 1, 12);
  fill_uniform(w, -1, 1, 13);
  const sx::tensor<float, 2, 3, 5, 5> y = sx::conv2d<2, 1>(x, w);  // H' computed at compile time
  check_close(y.data(), reference_conv(x, w, 2, 1, 1), 1e-5, "static conv2d<2, 1>");
  const auto expected = reference_conv(x, w, 1, 1, 1);
  x = sx::conv2d<1, 1>(x, w);  // into its own input
  check_close(x.data(), expected, 1e-5, "conv2d into its input");
  const sx::tensor<float, 2, 3, 5, 5> z = sx::conv2d<2, 1>(x, w);
  const sx::tensor<float, 2, 3, 2, 2> p = sx::max_pool2d<2>(sx::conv2d<2, 1>(x, w));  // shape from the types
  for (std::size_t i = 0; i < 24; ++i) {
    const std::size_t plane = i / 4, r = i % 4 / 2, c = i % 2;
    const float* zp = z.data() + plane * 25;
    const float ref = std::max({zp[2 * r * 5 + 2 * c], zp[2 * r * 5 + 2 * c + 1], zp[(2 * r + 1) * 5 + 2 * c],
                                zp[(2 * r + 1) * 5 + 2 * c + 1]});
    BOOST_TEST(p.data()[i] == ref);
  }
}

BOOST_AUTO_TEST_CASE(dynamic_mismatch) {
  sx::tensor<float, sx::dyn, sx::dyn, sx::dyn, sx::dyn> x(1, 4, 5, 5);
  sx::tensor<float, 2, sx::dyn, 3, 3> wd(3);
  BOOST_CHECK_THROW((sx::conv2d<1, 1>(x, wd)), sx::shape_error);  // 4 channels, weights for 3
  sx::tensor<float, sx::dyn, 4, sx::dyn, sx::dyn> small(1, 2, 2);
  sx::tensor<float, 2, 4, 5, 5> big;
  BOOST_CHECK_THROW(sx::conv2d(small, big), sx::shape_error);  // the kernel does not fit
  BOOST_CHECK_THROW(sx::max_pool2d<3>(small), sx::shape_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pooling)

BOOST_AUTO_TEST_CASE(max_and_average_odd_sizes) {
  for (std::size_t h : {2u, 5u, 8u, 11u}) {
    check_pool<2, 2, true>(h, h + 1);
    check_pool<2, 2, false>(h + 1, h);
    check_pool<2, 1, true>(h, h);
  }
  check_pool<3, 2, true>(9, 7);
  check_pool<3, 3, false>(9, 10);
  check_pool<2, 2, true, float>(7, 8);
  check_pool<3, 2, false, float>(11, 9);
  for (std::size_t h : {5u, 8u}) {
    check_pool<2, 2, true>(h, h + 1, true);
    check_pool<2, 1, true>(h, h, true);
    check_pool<2, 2, true, float>(h + 1, h + 3, true);
    check_pool<2, 2, false, float>(h + 1, h + 3, true);
  }
}

BOOST_AUTO_TEST_CASE(max_pooling_2x2_rows_at_every_register_tail) {
  // Rows of ow windows read 2 ow values of two rows each: ow around one and two registers of windows
  // (8 and 16 lanes of float, 4 and 8 of double) covers whole blocks, half-register tails and both.
  for (std::size_t ow : {1u, 3u, 4u, 5u, 7u, 8u, 9u, 12u, 15u, 16u, 17u, 24u, 31u, 32u, 33u, 40u}) {
    check_pool<2, 2, true, float>(5, 2 * ow + ow % 2);
    check_pool<2, 2, true, double>(4, 2 * ow + ow % 2);
    check_pool<2, 2, true, float>(3, 2 * ow, true);
    check_pool<2, 2, true, double>(4, 2 * ow + 1, true);
  }
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// The exact adjoints of conv2d in double: for every output element and kernel tap inside the input,
/// dx += g * w and dw += g * x.
struct conv_gradients {
  std::vector<double> dx, dw;
};

template <class T>
conv_gradients reference_conv_gradients(const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& g,
                                        std::size_t n, std::size_t c, std::size_t h, std::size_t wd, std::size_t o,
                                        std::size_t kh, std::size_t kw, std::size_t stride, std::size_t pad,
                                        std::size_t groups) {
  const std::size_t cg = c / groups, og = o / groups;
  const std::size_t oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
  conv_gradients r{std::vector<double>(x.size()), std::vector<double>(w.size())};
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t oc = 0; oc < o; ++oc)
      for (std::size_t i = 0; i < oh; ++i)
        for (std::size_t j = 0; j < ow; ++j) {
          const double gv = g[((b * o + oc) * oh + i) * ow + j];
          for (std::size_t ci = 0; ci < cg; ++ci)
            for (std::size_t p = 0; p < kh; ++p)
              for (std::size_t q = 0; q < kw; ++q) {
                const long ih = long(i * stride + p) - long(pad), iw = long(j * stride + q) - long(pad);
                if (ih < 0 || iw < 0 || ih >= long(h) || iw >= long(wd)) continue;
                const std::size_t xi = ((b * c + oc / og * cg + ci) * h + std::size_t(ih)) * wd + std::size_t(iw);
                const std::size_t wi = ((oc * cg + ci) * kh + p) * kw + q;
                r.dx[xi] += gv * double(w[wi]);
                r.dw[wi] += gv * double(x[xi]);
              }
        }
  return r;
}

/// Relative 1e-5 (float) or 1e-12 (double) of the reference (absolute below 1), or 16 ulps of T times
/// the square root of the number of terms summed, if larger (Winograd's transforms add to the rounding
/// of long float sums: 64 channels of 3x3 in float reach 1.03e-5).
template <class T>
void check_gradient(const std::vector<T>& got, const std::vector<double>& ref, std::size_t terms,
                    const std::string& what) {
  const double rtol = std::max(std::is_same_v<T, float> ? 1e-5 : 1e-12, tolerance<T>(16) * std::sqrt(double(terms)));
  check_close(got.data(), ref, rtol, what);
}

template <class T, std::size_t KH, std::size_t KW, std::size_t S, std::size_t P, std::size_t G>
void check_conv_backward(std::size_t n, std::size_t c, std::size_t o, std::size_t h, std::size_t wd) {
  const std::size_t oh = (h + 2 * P - KH) / S + 1, ow = (wd + 2 * P - KW) / S + 1;
  std::vector<T> x(n * c * h * wd), w(o * (c / G) * KH * KW), g(n * o * oh * ow);
  const unsigned seed = unsigned(n * 1000 + c * 100 + o * 10 + h + wd);
  fill_uniform(x.data(), x.size(), -1, 1, seed);
  fill_uniform(w.data(), w.size(), -1, 1, seed + 1);
  fill_uniform(g.data(), g.size(), -1, 1, seed + 2);
  const auto ref = reference_conv_gradients(x, w, g, n, c, h, wd, o, KH, KW, S, P, G);
  const std::string what = std::string(std::is_same_v<T, float> ? "float" : "double") + " conv2d<" + std::to_string(S) +
                           ", " + std::to_string(P) + ", " + std::to_string(G) + "> " + std::to_string(KH) + "x" +
                           std::to_string(KW) + " n=" + std::to_string(n) + " c=" + std::to_string(c) +
                           " o=" + std::to_string(o) + " " + std::to_string(h) + "x" + std::to_string(wd);
  // NaN-filled results: every element must be overwritten, none accumulated onto.
  std::vector<T> dx(x.size(), std::numeric_limits<T>::quiet_NaN()), dw(w.size(), std::numeric_limits<T>::quiet_NaN());
  for (int twice = 0; twice < 2; ++twice) {  // the second call reuses grown scratch buffers
    sx::detail::conv2d_input_grad<KH, KW, S, P, G>(g.data(), w.data(), dx.data(), n, c, h, wd, o, oh, ow);
    check_gradient(dx, ref.dx, o / G * KH * KW, what + " input gradient");
    sx::detail::conv2d_weight_grad<KH, KW, S, P, G>(x.data(), g.data(), dw.data(), n, c, h, wd, o, oh, ow);
    check_gradient(dw, ref.dw, n * oh * ow, what + " weight gradient");
  }
}

/// Pooling's gradient against loops over every window: max to the first maximum (strictly greater
/// than every earlier element of the window, from -inf), average g / K^2 to every element.
template <std::size_t K, std::size_t S, bool Max, class T>
void check_pool_backward(std::size_t planes, std::size_t h, std::size_t w, bool ties = false, bool nans = false) {
  const std::size_t oh = (h - K) / S + 1, ow = (w - K) / S + 1;
  std::vector<T> x(planes * h * w), g(planes * oh * ow);
  fill_uniform(x.data(), x.size(), -1, 1, unsigned(planes + h * 7 + w));
  fill_uniform(g.data(), g.size(), -1, 1, unsigned(planes + h + w * 7));
  if (ties)  // three values: many windows hold their maximum twice or more
    for (T& v : x) v = std::round(v);
  if (nans)  // some windows hold one NaN, some two
    for (std::size_t i = 0; i < x.size(); i += 5 + i % 3) x[i] = std::numeric_limits<T>::quiet_NaN();
  std::vector<double> ref(x.size());
  for (std::size_t p = 0; p < planes; ++p)
    for (std::size_t i = 0; i < oh; ++i)
      for (std::size_t j = 0; j < ow; ++j) {
        const double gv = g[(p * oh + i) * ow + j];
        double best = -std::numeric_limits<double>::infinity();
        std::size_t at = 0;
        for (std::size_t a = 0; a < K; ++a)
          for (std::size_t b = 0; b < K; ++b) {
            const std::size_t xi = (p * h + i * S + a) * w + j * S + b;
            if (Max && (x[xi] > best || std::isnan(x[xi]))) {  // PyTorch's rule: a NaN takes over
              best = x[xi];
              at = xi;
            }
            if (!Max) ref[xi] += gv / double(K * K);
          }
        if (Max) ref[at] += gv;
      }
  std::vector<T> dx(x.size(), std::numeric_limits<T>::quiet_NaN());
  sx::detail::pool2d_grad<K, S, Max>(x.data(), g.data(), dx.data(), planes, h, w, oh, ow);
  check_close(dx.data(), ref, tolerance<T>(8),
              std::string(Max ? "max" : "avg") + "_pool2d<" + std::to_string(K) + ", " + std::to_string(S) +
                  "> gradient " + std::to_string(h) + "x" + std::to_string(w) + (ties ? " (ties)" : "") +
                  (nans ? " (NaN)" : ""));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv_backward)

BOOST_AUTO_TEST_CASE(pointwise_and_strided_1x1) {
  for (std::size_t hw : {5u, 8u}) {
    check_conv_backward<float, 1, 1, 1, 0, 1>(3, 3, 8, hw, hw + 1);  // one product, no folding
    check_conv_backward<float, 1, 1, 1, 0, 1>(1, 17, 1, hw, hw);
    check_conv_backward<double, 1, 1, 1, 0, 2>(3, 8, 6, hw, hw + 2);
    check_conv_backward<float, 1, 1, 2, 0, 1>(3, 3, 8, hw + 1, hw);  // floor drops the last row
    check_conv_backward<double, 1, 1, 3, 1, 1>(1, 8, 3, hw, hw);
    check_conv_backward<float, 1, 1, 1, 2, 1>(1, 3, 3, hw, hw);  // padding wider than the kernel
  }
}

BOOST_AUTO_TEST_CASE(kernel_sizes_strides_paddings) {
  for (std::size_t hw : {7u, 10u}) {
    check_conv_backward<float, 3, 3, 1, 1, 1>(3, 3, 8, hw, hw + 1);
    check_conv_backward<double, 3, 3, 1, 0, 1>(1, 1, 3, hw, hw);  // one input channel
    check_conv_backward<float, 3, 3, 2, 1, 1>(3, 3, 5, hw, hw + 2);
    check_conv_backward<double, 3, 3, 3, 2, 1>(1, 8, 3, hw + 1, hw);
    check_conv_backward<float, 3, 3, 2, 0, 1>(1, 17, 3, hw, hw + 1);
    check_conv_backward<float, 5, 5, 1, 2, 1>(3, 3, 4, hw, hw);
    check_conv_backward<double, 5, 5, 2, 1, 1>(1, 8, 3, hw + 2, hw + 1);
    check_conv_backward<float, 5, 5, 3, 0, 1>(1, 3, 8, hw + 3, hw + 4);
    check_conv_backward<double, 5, 5, 1, 0, 1>(3, 3, 1, hw, hw + 3);
    check_conv_backward<float, 3, 5, 1, 2, 1>(1, 3, 4, hw, hw);  // rectangular kernels
    check_conv_backward<double, 1, 3, 2, 1, 1>(3, 2, 3, hw, hw + 1);
  }
}

BOOST_AUTO_TEST_CASE(planes_of_512_and_more) {  // one image per product (smaller planes share one)
  check_conv_backward<float, 3, 3, 1, 1, 1>(2, 3, 5, 24, 25);
  check_conv_backward<double, 5, 5, 2, 2, 1>(2, 4, 3, 47, 45);
  check_conv_backward<float, 1, 1, 1, 0, 1>(2, 3, 4, 23, 23);
  check_conv_backward<double, 1, 1, 1, 0, 2>(3, 4, 2, 32, 17);
}

BOOST_AUTO_TEST_CASE(stride_1_3x3_and_winograd) {
  // Stride-1 3x3, paddings 0..2, odd and even sizes: by unfolding (fewer than 8 channels on a side)...
  for (std::size_t hw : {4u, 7u, 10u}) {
    check_conv_backward<float, 3, 3, 1, 1, 1>(3, 4, 17, hw, hw + 1);
    check_conv_backward<double, 3, 3, 1, 0, 1>(1, 17, 7, hw + 1, hw);
    // ... by Winograd F(2x2, 3x3) for the input gradient, and for the weight gradient from 16 tiles
    // per image (unfolding below: 4x4 and 7x7 here)
    check_conv_backward<float, 3, 3, 1, 2, 1>(1, 8, 8, hw, hw);
    check_conv_backward<double, 3, 3, 1, 1, 2>(3, 16, 16, hw, hw + 3);
  }
  // ... and with many channels, groups, several images per call (their tiles side by side in the
  // products, the last call with fewer).
  check_conv_backward<float, 3, 3, 1, 1, 1>(2, 64, 64, 16, 17);
  check_conv_backward<double, 3, 3, 1, 0, 1>(1, 64, 65, 15, 16);
  check_conv_backward<float, 3, 3, 1, 2, 2>(1, 128, 130, 14, 13);
  check_conv_backward<float, 3, 3, 1, 1, 1>(1, 128, 128, 7, 8);
  check_conv_backward<double, 3, 3, 1, 1, 1>(1, 65, 64, 17, 16);
  check_conv_backward<float, 3, 3, 1, 1, 1>(11, 8, 12, 14, 14);  // 49 tiles: 8 images per call, then 3
  check_conv_backward<double, 3, 3, 1, 0, 1>(7, 9, 8, 21, 20);   // 110 input tiles: 4, then 3
}

BOOST_AUTO_TEST_CASE(groups_and_depthwise) {
  for (std::size_t hw : {5u, 12u, 17u}) {
    check_conv_backward<float, 3, 3, 1, 1, 2>(3, 6, 4, hw, hw);
    check_conv_backward<double, 5, 5, 2, 2, 2>(1, 4, 6, hw, hw + 1);
    check_conv_backward<float, 3, 3, 1, 1, 8>(3, 8, 8, hw, hw + 1);   // depthwise
    check_conv_backward<float, 3, 3, 1, 1, 17>(1, 17, 17, hw, hw);    // depthwise, 17 channels
    check_conv_backward<double, 3, 3, 1, 0, 3>(3, 3, 6, hw, hw + 2);  // two outputs per channel
    check_conv_backward<double, 5, 5, 2, 2, 4>(1, 4, 8, hw, hw + 2);  // strided depthwise
    check_conv_backward<float, 3, 3, 3, 1, 3>(3, 3, 3, hw, hw + 1);
    check_conv_backward<float, 5, 5, 1, 2, 8>(1, 8, 16, hw, hw);
    check_conv_backward<float, 1, 1, 2, 1, 3>(1, 3, 3, hw, hw);  // depthwise 1x1, strided and padded
    check_conv_backward<float, 3, 3, 1, 0, 1>(3, 1, 8, hw, hw);  // one input channel: the depthwise loops
  }
}

BOOST_AUTO_TEST_CASE(pooling_max_and_average) {
  for (std::size_t h : {2u, 5u, 8u, 11u}) {
    check_pool_backward<2, 2, true, float>(6, h, h + 1);
    check_pool_backward<2, 2, false, double>(6, h + 1, h);
    check_pool_backward<2, 1, true, double>(3, h, h);  // overlapping windows accumulate
    check_pool_backward<2, 1, false, float>(3, h + 1, h);
    check_pool_backward<2, 3, true, float>(2, h + 2, h + 1);  // gaps between windows
    check_pool_backward<2, 3, false, double>(2, h + 1, h + 2);
  }
  for (std::size_t h : {3u, 9u, 10u}) {
    check_pool_backward<3, 2, true, float>(3, h, h + 2);
    check_pool_backward<3, 2, false, double>(3, h + 1, h);
    check_pool_backward<3, 3, true, double>(2, h, h + 1);
    check_pool_backward<3, 3, false, float>(2, h + 2, h);
    check_pool_backward<3, 1, true, float>(1, h, h);
  }
  // Rows of several registers of windows plus a tail (the vectorized 2x2 path), and large planes.
  for (std::size_t w : {32u, 37u, 67u, 75u}) {
    check_pool_backward<2, 2, true, float>(3, 9, w);
    check_pool_backward<2, 2, false, float>(2, 10, w);
    check_pool_backward<2, 2, true, double>(3, 8, w);
    check_pool_backward<2, 2, false, double>(2, 7, w);
    check_pool_backward<3, 2, true, float>(2, 33, w);
    check_pool_backward<3, 2, false, double>(2, 32, w);
  }
}

BOOST_AUTO_TEST_CASE(max_pooling_gradient_goes_where_the_forward_kept_a_nan) {
  for (std::size_t h : {4u, 7u, 12u}) {
    check_pool_backward<2, 2, true, float>(3, h, 4 * h + 37, false, true);
    check_pool_backward<2, 2, true, double>(2, h + 1, 2 * h + 21, false, true);
    check_pool_backward<3, 2, true, float>(3, h + 1, h, false, true);
    check_pool_backward<3, 1, true, double>(2, h, h, false, true);
  }
}

BOOST_AUTO_TEST_CASE(max_pooling_ties_go_to_the_first_maximum) {
  for (std::size_t h : {4u, 7u, 12u}) {
    check_pool_backward<2, 2, true, float>(5, h, h + 1, true);
    check_pool_backward<3, 2, true, double>(5, h + 1, h, true);
    check_pool_backward<3, 1, true, float>(2, h, h, true);
    check_pool_backward<2, 3, true, double>(2, h, h + 2, true);
    check_pool_backward<2, 2, true, float>(2, h, 4 * h + 37, true);
    check_pool_backward<2, 2, true, double>(2, h + 1, 2 * h + 21, true);
  }
}

BOOST_AUTO_TEST_SUITE_END()
