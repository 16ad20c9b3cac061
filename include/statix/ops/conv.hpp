// conv2d (NCHW, groups, stride, zero padding; the kernel size is in the weight's type) and 2-d max /
// average pooling. A convolution is a matrix product per image and group: weights (O/G, C/G*KH*KW)
// times the unfolded input (C/G*KH*KW, H'*W'), written straight into the NCHW output. A 1x1 stride-1
// convolution needs no unfolding (the input plane is already that matrix); a depthwise one (one input
// channel per group) is a direct loop, since its product would be one row tall.
#pragma once

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "../diagnostics.hpp"
#include "../primitive.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"

namespace statix {

namespace detail {

/// Output extent of a window of size k, stride s, padding p over n (static `dyn` stays `dyn`).
constexpr std::size_t window_out(std::size_t n, std::size_t k, std::size_t s, std::size_t p) {
  return n == dyn ? dyn : (n + 2 * p - k) / s + 1;
}

/// The output columns ow whose input column ow*S + kw - P lies inside [0, w): [first, last).
template <std::size_t S, std::size_t P>
constexpr std::pair<std::size_t, std::size_t> columns_inside(std::size_t kw, std::size_t w, std::size_t ow_count) {
  const std::size_t first = kw >= P ? 0 : (P - kw + S - 1) / S;
  const std::size_t last = w + P <= kw ? 0 : std::min(ow_count, (w + P - kw - 1) / S + 1);
  return {first, last};
}

/// dst[i] = src[i] (copy_short) or dst[i] += src[i] (add_short) for i < n: short runs (a row of an
/// image plane), where a call to memmove, or a vectorized loop's prologue and scalar epilogue, cost
/// more than the values; full registers, then one masked register.
template <class T>
void copy_short(const T* src, std::size_t n, T* dst) {
  using B = simd::batch<T>;
  std::size_t i = 0;
  for (; i + B::size <= n; i += B::size) B::load_unaligned(src + i).store_unaligned(dst + i);
  if (i < n) simd::store_first(dst + i, simd::load_first<B>(src + i, n - i), n - i);
}
template <class T>
void add_short(const T* src, std::size_t n, T* dst) {
  using B = simd::batch<T>;
  std::size_t i = 0;
  for (; i + B::size <= n; i += B::size)
    (B::load_unaligned(dst + i) + B::load_unaligned(src + i)).store_unaligned(dst + i);
  if (i < n)
    simd::store_first(dst + i, simd::load_first<B>(dst + i, n - i) + simd::load_first<B>(src + i, n - i), n - i);
}

/// col[(c*KH + kh)*KW + kw][oh*OW + ow] = x[c][oh*S + kh - P][ow*S + kw - P] (0 outside x), with rows
/// of col `pitch` apart (several images side by side). The copies are inline: rows of a few dozen
/// values, where a call to memmove per row cost a third of the weight gradient's product.
template <std::size_t KH, std::size_t KW, std::size_t S, std::size_t P, class T>
void unfold_into(const T* x, std::size_t channels, std::size_t h, std::size_t w, std::size_t oh_count,
                 std::size_t ow_count, T* col, std::size_t pitch) {
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t kh = 0; kh < KH; ++kh)
      for (std::size_t kw = 0; kw < KW; ++kw) {
        T* out = col + ((c * KH + kh) * KW + kw) * pitch;
        const auto [first, last] = columns_inside<S, P>(kw, w, ow_count);
        for (std::size_t oh = 0; oh < oh_count; ++oh, out += ow_count) {
          const std::size_t ih = oh * S + kh;
          T* __restrict o = out;
          if (ih < P || ih - P >= h || first >= last) {
            for (std::size_t q = 0; q < ow_count; ++q) o[q] = T(0);
            continue;
          }
          const T* __restrict row = x + (c * h + (ih - P)) * w;
          for (std::size_t q = 0; q < first; ++q) o[q] = T(0);
          if constexpr (S == 1)
            copy_short(row + first + kw - P, last - first, o + first);
          else
            for (std::size_t q = first; q < last; ++q) o[q] = row[q * S + kw - P];
          for (std::size_t q = last; q < ow_count; ++q) o[q] = T(0);
        }
      }
}

/// One output plane of a depthwise convolution: out += w (KH x KW) correlated with one input plane.
template <std::size_t KH, std::size_t KW, std::size_t S, std::size_t P, class T>
void depthwise_plane(const T* x, std::size_t h, std::size_t w, const T* weights, T* out, std::size_t oh_count,
                     std::size_t ow_count) {
  if constexpr (S == 1) {
    // Stride 1: a zero-padded copy of the plane (wide enough for whole registers), then per register
    // of outputs the KH x KW products accumulated in a register and stored once.
    using B = simd::wide_batch<T>;
    constexpr std::size_t L = B::size;
    const std::size_t pitch = (ow_count + L - 1) / L * L + KW;
    const std::size_t rows = h + 2 * P;
    T* padded = scratch<T, 6>(rows * pitch);
    std::fill_n(padded, rows * pitch, T(0));
    for (std::size_t i = 0; i < h; ++i) std::copy_n(x + i * w, w, padded + (i + P) * pitch + P);
    B wv[KH * KW];
    for (std::size_t k = 0; k < KH * KW; ++k) wv[k] = B(weights[k]);
    for (std::size_t oh = 0; oh < oh_count; ++oh) {
      T* o = out + oh * ow_count;
      for (std::size_t ow = 0; ow < ow_count; ow += L) {
        B acc(T(0));
        for (std::size_t kh = 0; kh < KH; ++kh) {
          const T* row = padded + (oh + kh) * pitch + ow;
          for (std::size_t kw = 0; kw < KW; ++kw) acc = xsimd::fma(wv[kh * KW + kw], B::load_unaligned(row + kw), acc);
        }
        if (ow + L <= ow_count)
          acc.store_unaligned(o + ow);
        else
          simd::store_first(o + ow, acc, ow_count - ow);
      }
    }
    return;
  }
  std::fill_n(out, oh_count * ow_count, T(0));
  for (std::size_t oh = 0; oh < oh_count; ++oh) {
    T* __restrict o = out + oh * ow_count;  // restrict: lets the loop below vectorize
    for (std::size_t kh = 0; kh < KH; ++kh) {
      const std::size_t ih = oh * S + kh;
      if (ih < P || ih - P >= h) continue;
      const T* __restrict row = x + (ih - P) * w;
      for (std::size_t kw = 0; kw < KW; ++kw) {
        const T wv = weights[kh * KW + kw];
        const auto [ow_first, ow_last] = columns_inside<S, P>(kw, w, ow_count);
        for (std::size_t ow = ow_first; ow < ow_last; ++ow) o[ow] += wv * row[ow * S + kw - P];
      }
    }
  }
}

/// Below this many channels per group (in or out), Winograd's transforms cost more than its 2.25x
/// fewer multiplications save.
inline constexpr std::size_t winograd_min_channels = 8;

/// Winograd F(2x2, 3x3) for stride-1 3x3 convolutions (Lavin and Gray, 2015): each 2x2 block of
/// outputs from a 4x4 block of input with 16 multiplications instead of 36, as 16 matrix products
/// (one per position of the transformed 4x4 block) of transformed weights (O x C) by transformed
/// input (C x tiles). 2.25x fewer multiplications; the transforms are additions.
template <class T>
struct winograd_3x3 {
  // The transformed arrays are [16][rows][columns]: 16 planes far apart in memory. Writing one
  // tile's 16 values at once would hit 16 addresses a multiple of 4 KiB apart (the same cache set),
  // so each transform works on a whole row of tiles (or of channels) in a local block and writes
  // 16 contiguous runs.

  /// U[16][o][c] = G w G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
  static void transform_weights(const T* w, std::size_t outputs, std::size_t channels, T* u) {
    const std::size_t plane = outputs * channels;
    std::vector<T> block(16 * channels);
    for (std::size_t o = 0; o < outputs; ++o) {
      for (std::size_t c = 0; c < channels; ++c) {
        const T* g = w + (o * channels + c) * 9;
        T gg[4][3];
        for (std::size_t j = 0; j < 3; ++j) {
          gg[0][j] = g[j];
          gg[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
          gg[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
          gg[3][j] = g[6 + j];
        }
        for (std::size_t i = 0; i < 4; ++i) {
          const T r0 = gg[i][0], r1 = gg[i][1], r2 = gg[i][2];
          block[(i * 4 + 0) * channels + c] = r0;
          block[(i * 4 + 1) * channels + c] = T(0.5) * (r0 + r1 + r2);
          block[(i * 4 + 2) * channels + c] = T(0.5) * (r0 - r1 + r2);
          block[(i * 4 + 3) * channels + c] = r2;
        }
      }
      for (std::size_t k = 0; k < 16; ++k)
        std::copy_n(block.data() + k * channels, channels, u + k * plane + o * channels);
    }
  }

  /// V[16][c][tile] = B^T d B for the 4x4 input block d of every tile, B^T = [1 0 -1 0; 0 1 1 0;
  /// 0 -1 1 0; 0 1 0 -1]; the input is read through a zero-padded copy of each plane.
  /// Rows of V are `columns` apart (several images' tiles side by side; v points at this image's).
  static void transform_input(const T* x, std::size_t channels, std::size_t h, std::size_t w, std::size_t pad,
                              std::size_t tiles_y, std::size_t tiles_x, T* padded, T* v, std::size_t columns) {
    using B = simd::batch<T>;
    constexpr std::size_t L = B::size;
    // Each padded row holds its even columns, then its odd ones: a tile's columns 0..3 are then
    // even[tx], odd[tx], even[tx + 1], odd[tx + 1], and L neighbouring tiles' are four registers.
    const std::size_t ph = 2 * tiles_y + 2, half = tiles_x + 1, pitch = 2 * half;
    const std::size_t step = channels * columns;
    for (std::size_t c = 0; c < channels; ++c) {
      std::fill_n(padded, ph * pitch, T(0));
      // Column j + pad of the padded row: x's even columns land in one half, its odd ones in the other.
      const std::size_t inside = std::min(w, pitch - pad);
      for (std::size_t i = 0; i < h && i + pad < ph; ++i) {
        const T* src = x + (c * h + i) * w;
        T* row = padded + (i + pad) * pitch;
        T* even_to = row + pad % 2 * half + pad / 2;
        T* odd_to = row + (pad + 1) % 2 * half + (pad + 1) / 2;
        simd::deinterleave(src, inside, even_to, odd_to);
      }
      for (std::size_t ty = 0; ty < tiles_y; ++ty)
        for (std::size_t tx = 0; tx < tiles_x; tx += L) {
          const std::size_t count = std::min(L, tiles_x - tx);
          // Column j of the four-column blocks of input row r of these tiles.
          const auto load = [&](std::size_t r, std::size_t j) {
            const T* at = padded + (2 * ty + r) * pitch + j % 2 * half + j / 2 + tx;
            return simd::load_up_to<B>(at, count);
          };
          // B^T d (row i of it: rows a and b of d, added or subtracted), then its columns times B,
          // into 16 runs over tiles.
          constexpr std::size_t rows_a[4] = {0, 1, 2, 1}, rows_b[4] = {2, 2, 1, 3};
          for (std::size_t i = 0; i < 4; ++i) {
            B t[4];
            for (std::size_t j = 0; j < 4; ++j)
              t[j] = i == 1 ? load(rows_a[i], j) + load(rows_b[i], j) : load(rows_a[i], j) - load(rows_b[i], j);
            const B u[4] = {t[0] - t[2], t[1] + t[2], t[2] - t[1], t[1] - t[3]};
            T* out = v + (i * 4) * step + c * columns + ty * tiles_x + tx;
            for (std::size_t j = 0; j < 4; ++j) simd::store_up_to(out + j * step, u[j], count);
          }
        }
    }
  }

  /// out[o] = A^T m A per tile, A^T = [1 1 1 0; 0 1 -1 -1], cut to the output's extent; rows of m
  /// `columns` apart (m points at this image's tiles). A register holds one value of each of L
  /// neighbouring tiles of a row; the two output columns of those tiles are interleaved on the way out.
  static void transform_output(const T* m, std::size_t columns, std::size_t outputs, std::size_t tiles_y,
                               std::size_t tiles_x, std::size_t oh, std::size_t ow, T* out) {
    using B = simd::batch<T>;
    constexpr std::size_t L = B::size;
    const std::size_t step = outputs * columns;
    for (std::size_t o = 0; o < outputs; ++o)
      for (std::size_t ty = 0; ty < tiles_y; ++ty)
        for (std::size_t tx = 0; tx < tiles_x; tx += L) {
          const std::size_t count = std::min(L, tiles_x - tx);
          const T* at = m + o * columns + ty * tiles_x + tx;
          const auto load = [at, step, count](std::size_t k) { return simd::load_up_to<B>(at + k * step, count); };
          B r[2][4];
          for (std::size_t j = 0; j < 4; ++j) {
            const B m0 = load(j), m1 = load(4 + j), m2 = load(8 + j), m3 = load(12 + j);
            r[0][j] = m0 + m1 + m2;
            r[1][j] = m1 - m2 - m3;
          }
          const std::size_t width = std::min(2 * count, ow - 2 * tx);
          for (std::size_t a = 0; a < 2 && 2 * ty + a < oh; ++a) {
            const B even = r[a][0] + r[a][1] + r[a][2], odd = r[a][1] - r[a][2] - r[a][3];
            const auto [low, high] = simd::interleave(even, odd);
            T* row = out + (o * oh + 2 * ty + a) * ow + 2 * tx;
            simd::store_up_to(row, low, std::min(width, L));
            if (width > L) simd::store_up_to(row + L, high, width - L);
          }
        }
  }

  /// Products at least this wide: a 14 x 14 plane has 49 tiles, too few for the product's panels
  /// of 16 columns and for the cost of packing its operands per call.
  static constexpr std::size_t min_columns = 384;
  /// Images per call of run(): enough for products min_columns wide.
  static std::size_t images_per_call(std::size_t oh, std::size_t ow, std::size_t images) {
    const std::size_t tiles = (oh + 1) / 2 * ((ow + 1) / 2);
    return std::max<std::size_t>(1, std::min(images, (min_columns + tiles - 1) / std::max<std::size_t>(tiles, 1)));
  }

  /// One group of `images` images: image i's x (channels, h, w) at x + i * x_stride, its output
  /// (outputs, oh, ow) at out + i * out_stride, with the group's weights already transformed into u
  /// (transform_weights: once per call, not once per image). The images' tiles lie side by side in
  /// the transformed arrays, so that each of the 16 products is as wide as all of them.
  static void run(const T* x, std::size_t x_stride, const T* u, std::size_t channels, std::size_t outputs,
                  std::size_t h, std::size_t wd, std::size_t pad, std::size_t oh, std::size_t ow, T* out,
                  std::size_t out_stride, std::size_t images) {
    const std::size_t tiles_y = (oh + 1) / 2, tiles_x = (ow + 1) / 2, tiles = tiles_y * tiles_x;
    const std::size_t columns = images * tiles;
    T* v = scratch<T, 3>(16 * channels * columns);
    T* m = scratch<T, 4>(16 * outputs * columns);
    T* padded = scratch<T, 5>((2 * tiles_y + 2) * (2 * tiles_x + 2));
    for (std::size_t i = 0; i < images; ++i)
      transform_input(x + i * x_stride, channels, h, wd, pad, tiles_y, tiles_x, padded, v + i * tiles, columns);
    for (std::size_t k = 0; k < 16; ++k)
      gemm::multiply<T>(outputs, columns, channels, u + k * outputs * channels, v + k * channels * columns,
                        m + k * outputs * columns);
    for (std::size_t i = 0; i < images; ++i)
      transform_output(m + i * tiles, columns, outputs, tiles_y, tiles_x, oh, ow, out + i * out_stride);
  }
};

}  // namespace detail

namespace op {

template <std::size_t Stride, std::size_t Pad, std::size_t Groups>
struct conv2d {
  static constexpr std::string_view name = "conv2d";
  template <class A, class B>
  using value_type = A;
  template <class EX, class EW>
  using extents_type =
      extents<EX::values[0], EW::values[0], detail::window_out(EX::values[2], EW::values[2], Stride, Pad),
              detail::window_out(EX::values[3], EW::values[3], Stride, Pad)>;

  static shape_t<4> shape(const shape_t<4>& x, const shape_t<4>& w) {
    const bool ok = x[1] == w[1] * Groups && w[0] % Groups == 0 && x[2] + 2 * Pad >= w[2] && x[3] + 2 * Pad >= w[3];
    if (!ok) throw_shape_mismatch(name, x, w);
    return {x[0], w[0], (x[2] + 2 * Pad - w[2]) / Stride + 1, (x[3] + 2 * Pad - w[3]) / Stride + 1};
  }

  template <class T, class NX, class NW>
  static void compute(T* out, const shape_t<4>& out_shape, plan& p, const NX& x_node, const NW& w_node) {
    constexpr std::size_t KH = NW::extents_type::values[2], KW = NW::extents_type::values[3];
    const auto x = detail::dense(x_node, p);
    const auto w = detail::dense(w_node, p);
    const std::size_t batch = x.shape[0], channels = x.shape[1], h = x.shape[2], wd = x.shape[3];
    const std::size_t cg = channels / Groups, og = out_shape[1] / Groups;
    const std::size_t oh = out_shape[2], ow = out_shape[3], plane = oh * ow;
    const std::size_t depth = cg * KH * KW;  // the product's inner extent
    constexpr bool pointwise = KH == 1 && KW == 1 && Stride == 1 && Pad == 0;
    const bool winograd = KH == 3 && KW == 3 && Stride == 1 && std::min(cg, og) >= detail::winograd_min_channels;
    const bool unfolds = !winograd && !pointwise && cg != 1;
    T* col = unfolds ? detail::scratch<T, 2>(depth * plane) : nullptr;
    if (winograd) {
      T* transformed = detail::scratch<T, 2>(Groups * 16 * og * cg);
      for (std::size_t g = 0; g < Groups; ++g)
        detail::winograd_3x3<T>::transform_weights(w.data + g * og * depth, og, cg, transformed + g * 16 * og * cg);
      const std::size_t chunk = detail::winograd_3x3<T>::images_per_call(oh, ow, batch);
      for (std::size_t n = 0; n < batch; n += chunk)
        for (std::size_t g = 0; g < Groups; ++g)
          detail::winograd_3x3<T>::run(x.data + (n * channels + g * cg) * h * wd, channels * h * wd,
                                       transformed + g * 16 * og * cg, cg, og, h, wd, Pad, oh, ow,
                                       out + (n * out_shape[1] + g * og) * plane, out_shape[1] * plane,
                                       std::min(chunk, batch - n));
      return;
    }
    for (std::size_t n = 0; n < batch; ++n)
      for (std::size_t g = 0; g < Groups; ++g) {
        const T* xg = x.data + (n * channels + g * cg) * h * wd;
        const T* wg = w.data + g * og * depth;
        T* og_out = out + (n * out_shape[1] + g * og) * plane;
        if (cg == 1 && !pointwise) {  // depthwise: one input plane per group
          for (std::size_t o = 0; o < og; ++o)
            detail::depthwise_plane<KH, KW, Stride, Pad>(xg, h, wd, wg + o * depth, og_out + o * plane, oh, ow);
        } else if constexpr (pointwise) {
          detail::gemm::multiply<T>(og, plane, depth, wg, xg, og_out);
        } else {
          detail::unfold_into<KH, KW, Stride, Pad>(xg, cg, h, wd, oh, ow, col, plane);
          detail::gemm::multiply<T>(og, plane, depth, wg, col, og_out);
        }
      }
  }

  /// dx = conv2d_input_grad(g, w), dw = conv2d_weight_grad(x, g) (defined with those primitives, in
  /// conv_backward.hpp); a tangent is conv2d(tx, w) + conv2d(x, tw).
  template <std::size_t I, class G, class Out, class X, class W>
  static auto partial(const G& g, const Out& out, const X& x, const W& w);
  template <std::size_t I, class Tangent, class Out, class X, class W>
  static auto push(const Tangent& t, const Out& out, const X& x, const W& w);
};

/// Max or average over K x K windows with stride S (no padding), per channel.
template <std::size_t K, std::size_t S, bool Max>
struct pool2d {
  static constexpr std::string_view name = Max ? "max_pool2d" : "avg_pool2d";
  template <class A>
  using value_type = A;
  template <class EX>
  using extents_type = extents<EX::values[0], EX::values[1], detail::window_out(EX::values[2], K, S, 0),
                               detail::window_out(EX::values[3], K, S, 0)>;

  static shape_t<4> shape(const shape_t<4>& x) {
    if (x[2] < K || x[3] < K) throw_shape_mismatch(name, x, shape_t<2>{K, K});
    return {x[0], x[1], (x[2] - K) / S + 1, (x[3] - K) / S + 1};
  }

  template <class T, class NX>
  static void compute(T* out, const shape_t<4>& out_shape, plan& p, const NX& x_node) {
    const auto x = detail::dense(x_node, p);
    const std::size_t planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3];
    const std::size_t oh_count = out_shape[2], ow_count = out_shape[3];
    const T scale = T(1) / static_cast<T>(K * K);
    for (std::size_t c = 0; c < planes; ++c) {
      const T* in = x.data + c * h * w;
      T* o = out + c * oh_count * ow_count;
      for (std::size_t oh = 0; oh < oh_count; ++oh) {
        T* orow = o + oh * ow_count;
        std::fill_n(orow, ow_count, Max ? -std::numeric_limits<T>::infinity() : T(0));
        for (std::size_t kh = 0; kh < K; ++kh) {
          const T* row = in + (oh * S + kh) * w;
          for (std::size_t kw = 0; kw < K; ++kw)
            for (std::size_t ow = 0; ow < ow_count; ++ow) {
              const T v = row[ow * S + kw];
              if constexpr (Max) {
                if (v > orow[ow] || v != v) orow[ow] = v;  // a NaN wins and stays, as in PyTorch
              } else {
                orow[ow] += v;
              }
            }
        }
        if constexpr (!Max)
          for (std::size_t ow = 0; ow < ow_count; ++ow) orow[ow] *= scale;
      }
    }
  }

  /// dx = pool2d_grad(x, g) (the first maximum of each window, or the average's share); a tangent is
  /// picked at the maxima, or averaged. Defined in conv_backward.hpp.
  template <std::size_t I, class G, class Out, class X>
  static auto partial(const G& g, const Out& out, const X& x);
  template <std::size_t I, class Tangent, class Out, class X>
  static auto push(const Tangent& t, const Out& out, const X& x);
};

}  // namespace op

/// conv2d<Stride, Pad, Groups>(x, w): x (N, C, H, W), w (O, C / Groups, KH, KW) -> (N, O, H', W'),
/// H' = (H + 2 Pad - KH) / Stride + 1. Cross-correlation, as in PyTorch.
template <std::size_t Stride = 1, std::size_t Pad = 0, std::size_t Groups = 1, operand X, operand W>
auto conv2d(X&& x, W&& w) {
  using EX = extents_t<X>;
  using EW = extents_t<W>;
  using P = op::conv2d<Stride, Pad, Groups>;
  static_assert(Stride > 0 && Groups > 0, "statix: conv2d needs Stride > 0 and Groups > 0");
  static_assert(detail::check_operand<P, detail::operand_rule::floating, value_type_t<X>>());
  static_assert(
      check::require<
          check::same_dtype<P, value_type_t<X>, value_type_t<W>, std::is_same_v<value_type_t<X>, value_type_t<W>>>>);
  constexpr bool ranks_ok = EX::rank == 4 && EW::rank == 4;
  static_assert(check::require<check::operand_rank<P, diagnostic::shape_of_t<EX>, ranks_ok>>);
  if constexpr (ranks_ok && std::is_same_v<value_type_t<X>, value_type_t<W>>) {
    constexpr auto xv = EX::values;
    constexpr auto wv = EW::values;
    constexpr bool channels_ok = wv[2] != dyn && wv[3] != dyn &&
                                 (xv[1] == dyn || wv[1] == dyn || xv[1] == wv[1] * Groups) &&
                                 (wv[0] == dyn || wv[0] % Groups == 0);
    static_assert(
        check::require<check::conv_channels<P, diagnostic::shape_of_t<EX>, diagnostic::shape_of_t<EW>, channels_ok>>);
    constexpr bool fits = (xv[2] == dyn || xv[2] + 2 * Pad >= wv[2]) && (xv[3] == dyn || xv[3] + 2 * Pad >= wv[3]);
    static_assert(check::require<check::window_fits<P, diagnostic::shape_of_t<EX>, fits>>);
    if constexpr (channels_ok && fits)
      return primitive_expr<P, node_t<X>, node_t<W>>(as_node(std::forward<X>(x)), as_node(std::forward<W>(w)));
    else
      return detail::rule_failed<value_type_t<X>>();
  } else {
    return detail::rule_failed<value_type_t<X>>();
  }
}

template <std::size_t K, std::size_t S, bool Max, operand X>
auto pool2d(X&& x) {
  using EX = extents_t<X>;
  using P = op::pool2d<K, S, Max>;
  static_assert(K > 0 && S > 0, "statix: pooling needs K > 0 and S > 0");
  static_assert(detail::check_operand<P, detail::operand_rule::floating, value_type_t<X>>());
  static_assert(check::require<check::operand_rank<P, diagnostic::shape_of_t<EX>, EX::rank == 4>>);
  if constexpr (EX::rank == 4) {
    constexpr bool fits = (EX::values[2] == dyn || EX::values[2] >= K) && (EX::values[3] == dyn || EX::values[3] >= K);
    static_assert(check::require<check::window_fits<P, diagnostic::shape_of_t<EX>, fits>>);
    if constexpr (fits)
      return primitive_expr<P, node_t<X>>(as_node(std::forward<X>(x)));
    else
      return detail::rule_failed<value_type_t<X>>();
  } else {
    return detail::rule_failed<value_type_t<X>>();
  }
}

/// max_pool2d<K, S = K>(x), avg_pool2d<K, S = K>(x): x (N, C, H, W) -> (N, C, (H - K) / S + 1, ...).
template <std::size_t K, std::size_t S = K, operand X>
auto max_pool2d(X&& x) {
  return pool2d<K, S, true>(std::forward<X>(x));
}
template <std::size_t K, std::size_t S = K, operand X>
auto avg_pool2d(X&& x) {
  return pool2d<K, S, false>(std::forward<X>(x));
}

}  // namespace statix
