// The backward kernels of conv2d and pooling: the gradients of a convolution with respect to its input
// and its weights, and of max / average pooling with respect to its input. Every kernel overwrites its
// result (elements no window reads get 0).
//
// conv2d, as the forward, per image and group, one matrix product where it can:
// - input gradient: the transposed weights (C/G*KH*KW x O/G) times the upstream gradient (O/G x H'*W'),
//   folded back onto the input (fold, the adjoint of unfold); 1x1 stride 1 needs no folding. A
//   stride-1 3x3 input gradient is itself a stride-1 3x3 convolution (of the gradient, padded by
//   2 - P, with the flipped, transposed weights): the forward's Winograd kernel, where it pays.
// - weight gradient: the unfolded input (C/G*KH*KW x H'*W') times the transposed gradient, summed over
//   the batch (then transposed once); stride-1 3x3 by Winograd F(2x2, 3x3) where it pays, with the
//   forward's input transform and the adjoints of its other two.
// - depthwise (one input channel per group): direct loops, the weight gradient's sums in registers.
// Small planes put several images side by side in one product.
//
// Scratch (per thread and type): slots 7, 8 and 9 here; gemm::multiply uses 0 and 1, the forward's
// Winograd kernel (the input gradient's) 3, 4 and 5, depthwise_plane (the depthwise input gradient's)
// 6. None may run while a caller holds those slots.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "conv.hpp"

namespace statix::detail {

/// out (cols x rows) = the transpose of a (rows x cols, rows lda apart), in square blocks so that
/// both sides are read and written a cache line at a time.
template <class T>
void transpose_into(const T* a, std::size_t rows, std::size_t cols, std::size_t lda, T* out) {
  constexpr std::size_t block = 16;
  for (std::size_t i0 = 0; i0 < rows; i0 += block) {
    const std::size_t i1 = std::min(rows, i0 + block);
    for (std::size_t j0 = 0; j0 < cols; j0 += block) {
      const std::size_t j1 = std::min(cols, j0 + block);
      for (std::size_t j = j0; j < j1; ++j)
        for (std::size_t i = i0; i < i1; ++i) out[j * rows + i] = a[i * lda + j];
    }
  }
}

/// rows x cols values from src (rows `from` apart) to dst (rows `to` apart).
template <class T>
void copy_rows(const T* src, std::size_t from, T* dst, std::size_t to, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    const T* __restrict in = src + r * from;
    T* __restrict out = dst + r * to;
    for (std::size_t j = 0; j < cols; ++j) out[j] = in[j];
  }
}

/// The adjoint of unfold: x[c][oh*S + kh - P][ow*S + kw - P] += col[(c*KH + kh)*KW + kw][oh*OW + ow]
/// for every position inside x (the padding's share is dropped); rows of col `pitch` apart.
template <std::size_t KH, std::size_t KW, std::size_t S, std::size_t P, class T>
void fold(const T* col, std::size_t pitch, std::size_t channels, std::size_t h, std::size_t w, std::size_t oh_count,
          std::size_t ow_count, T* x) {
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t kh = 0; kh < KH; ++kh)
      for (std::size_t kw = 0; kw < KW; ++kw) {
        const T* in = col + ((c * KH + kh) * KW + kw) * pitch;
        const auto [ow_first, ow_last] = columns_inside<S, P>(kw, w, ow_count);
        if (ow_first >= ow_last) continue;
        for (std::size_t oh = 0; oh < oh_count; ++oh, in += ow_count) {
          const std::size_t ih = oh * S + kh;
          if (ih < P || ih - P >= h) continue;
          T* __restrict row = x + (c * h + (ih - P)) * w;
          const T* __restrict src = in;
          if constexpr (S == 1)
            add_short(src + ow_first, ow_last - ow_first, row + ow_first + kw - P);
          else
            for (std::size_t ow = ow_first; ow < ow_last; ++ow) row[ow * S + kw - P] += src[ow];
        }
      }
}

/// The Winograd gradients pay from the forward's winograd_min_channels on both sides (measured with
/// the images of a call side by side in the transformed arrays, float, 3x3 stride 1, in -> out
/// channels, plane, batch; ms by Winograd against unfolding): input gradient 32 -> 64 14x14 128:
/// 22.1 against 24.0; 16 -> 16 28x28 32: 3.3 against 4.1; 64 -> 64 8x8 32: 3.1 against 4.0;
/// 128 -> 128 8x8 32: 11.3 against 14.5. The weight gradient's products run per image (tiles deep),
/// so it needs tiles: from 16 per image (32 -> 32 8x8 64: 2.4 against 2.6; 32 -> 64 14x14 128: 18.9
/// against 21.6; 64 -> 64 32x32 16: 16.6 against 18.3).
inline constexpr std::size_t winograd_weight_grad_min_tiles = 16;

/// The input gradient's products take whole images along their columns until there are this many.
inline constexpr std::size_t input_grad_min_columns = 512;

/// The weight gradient's products take whole images along their inner extent until it is this long.
inline constexpr std::size_t weight_grad_min_inner = 512;

/// Winograd F(2x2, 3x3) weight gradient, the gradient's side: d[k][tile][o] = (A y A^T)[k] for the
/// 2x2 tile y of every output channel's gradient (zero past oh, ow), A^T = [1 1 1 0; 0 1 -1 -1] (the
/// forward's output transform, whose adjoint this is). Reads the gradient transposed, gt (oh*ow x
/// outputs), so that the loops run over output channels; one position k at a time, so that the 16
/// planes of d (a multiple of 4 KiB apart) are not written at once.
template <class T>
void winograd_gradient_transform(const T* gt, std::size_t outputs, std::size_t oh, std::size_t ow, std::size_t tiles_y,
                                 std::size_t tiles_x, const T* zero, T* d) {
  constexpr T a[4][2] = {{1, 0}, {1, 1}, {1, -1}, {0, -1}};  // A = (A^T)^T
  for (std::size_t k = 0; k < 16; ++k) {
    const std::size_t i = k / 4, j = k % 4;
    const T c00 = a[i][0] * a[j][0], c01 = a[i][0] * a[j][1], c10 = a[i][1] * a[j][0], c11 = a[i][1] * a[j][1];
    for (std::size_t ty = 0; ty < tiles_y; ++ty)
      for (std::size_t tx = 0; tx < tiles_x; ++tx) {
        const std::size_t y = 2 * ty, x = 2 * tx;
        const T* __restrict y00 = gt + (y * ow + x) * outputs;
        const T* __restrict y01 = x + 1 < ow ? y00 + outputs : zero;
        const T* __restrict y10 = y + 1 < oh ? y00 + ow * outputs : zero;
        const T* __restrict y11 = x + 1 < ow && y + 1 < oh ? y00 + (ow + 1) * outputs : zero;
        T* __restrict out = d + (k * tiles_y * tiles_x + ty * tiles_x + tx) * outputs;
        for (std::size_t o = 0; o < outputs; ++o) out[o] = c00 * y00[o] + c01 * y01[o] + c10 * y10[o] + c11 * y11[o];
      }
  }
}

/// The Winograd weight gradient's end: dw[o][c] (3x3) = G^T M G for the 4x4 block M[k] = m[k][c][o],
/// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (the adjoint of the forward's weight transform).
template <class T>
void winograd_weight_output(const T* m, std::size_t channels, std::size_t outputs, T* dw) {
  const std::size_t step = channels * outputs;
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t o = 0; o < outputs; ++o) {
      T b[4][4];
      for (std::size_t k = 0; k < 16; ++k) b[k / 4][k % 4] = m[k * step + c * outputs + o];
      T t[3][4];  // G^T M: rows M0 + (M1 + M2)/2, (M1 - M2)/2, (M1 + M2)/2 + M3
      for (std::size_t j = 0; j < 4; ++j) {
        t[0][j] = b[0][j] + T(0.5) * (b[1][j] + b[2][j]);
        t[1][j] = T(0.5) * (b[1][j] - b[2][j]);
        t[2][j] = T(0.5) * (b[1][j] + b[2][j]) + b[3][j];
      }
      T* out = dw + (o * channels + c) * 9;
      for (std::size_t a = 0; a < 3; ++a) {
        out[a * 3 + 0] = t[a][0] + T(0.5) * (t[a][1] + t[a][2]);
        out[a * 3 + 1] = T(0.5) * (t[a][1] - t[a][2]);
        out[a * 3 + 2] = T(0.5) * (t[a][1] + t[a][2]) + t[a][3];
      }
    }
}

// Gradient of y = conv2d<S, P, G>(x, w) (cross-correlation, NCHW, as PyTorch) with respect to x.
// g: (n, o, oh, ow) upstream gradient; w: (o, c / G, KH, KW); dx: (n, c, h, wd), OVERWRITTEN (not accumulated).
// oh = (h + 2P - KH) / S + 1, ow likewise (floor: some input rows/cols may not be read; their dx is 0).
template <std::size_t KH, std::size_t KW, std::size_t S, std::size_t P, std::size_t G, class T>
void conv2d_input_grad(const T* g, const T* w, T* dx, std::size_t n, std::size_t c, std::size_t h, std::size_t wd,
                       std::size_t o, std::size_t oh, std::size_t ow) {
  const std::size_t cg = c / G, og = o / G, plane = oh * ow, in_plane = h * wd;
  const std::size_t depth = cg * KH * KW;
  constexpr bool pointwise = KH == 1 && KW == 1 && S == 1 && P == 0;
  if (n * c * in_plane == 0) return;
  if (og == 0 || plane == 0) {
    std::fill_n(dx, n * c * in_plane, T(0));
    return;
  }

  if (cg == 1 && !pointwise) {
    // Depthwise. Stride 1 with P < K: dx is the stride-1 correlation of g, zero-padded by K - 1 - P,
    // with the flipped kernel: the forward's depthwise loop. Otherwise the transposed loop: every
    // output's gradient spread over its window.
    constexpr bool as_forward = S == 1 && KH == KW && P < KH;
    T* extra = og > 1 && as_forward ? scratch<T, 9>(in_plane) : nullptr;
    for (std::size_t ni = 0; ni < n; ++ni)
      for (std::size_t ci = 0; ci < c; ++ci) {
        T* d = dx + (ni * c + ci) * in_plane;
        if constexpr (!as_forward) std::fill_n(d, in_plane, T(0));
        for (std::size_t j = 0; j < og; ++j) {
          const std::size_t oi = ci * og + j;
          const T* gp = g + (ni * o + oi) * plane;
          const T* wk = w + oi * KH * KW;
          if constexpr (as_forward) {
            T flipped[KH * KW];
            for (std::size_t k = 0; k < KH * KW; ++k) flipped[k] = wk[KH * KW - 1 - k];
            T* target = j == 0 ? d : extra;
            depthwise_plane<KH, KW, 1, KH - 1 - P>(gp, oh, ow, flipped, target, h, wd);
            if (j > 0)
              for (std::size_t i = 0; i < in_plane; ++i) d[i] += extra[i];
          } else {
            for (std::size_t r = 0; r < oh; ++r) {
              const T* __restrict grow = gp + r * ow;
              for (std::size_t kh = 0; kh < KH; ++kh) {
                const std::size_t ih = r * S + kh;
                if (ih < P || ih - P >= h) continue;
                for (std::size_t kw = 0; kw < KW; ++kw) {
                  const T wv = wk[kh * KW + kw];
                  const auto [first, last] = columns_inside<S, P>(kw, wd, ow);
                  T* __restrict drow = d + (ih - P) * wd;
                  for (std::size_t q = first; q < last; ++q) drow[q * S + kw - P] += wv * grow[q];
                }
              }
            }
          }
        }
      }
    return;
  }

  if constexpr (KH == 3 && KW == 3 && S == 1 && P <= 2) {
    if (std::min(cg, og) >= winograd_min_channels) {
      // dx[c] = sum_o g[o] correlated (padding 2 - P) with w[o][c] rotated by 180 degrees.
      T* flipped = scratch<T, 7>(G * cg * og * 9);
      for (std::size_t gi = 0; gi < G; ++gi)
        for (std::size_t ci = 0; ci < cg; ++ci)
          for (std::size_t oi = 0; oi < og; ++oi) {
            const T* src = w + ((gi * og + oi) * cg + ci) * 9;
            T* dst = flipped + ((gi * cg + ci) * og + oi) * 9;
            for (std::size_t k = 0; k < 9; ++k) dst[k] = src[8 - k];
          }
      T* u = scratch<T, 8>(G * 16 * cg * og);
      for (std::size_t gi = 0; gi < G; ++gi)
        winograd_3x3<T>::transform_weights(flipped + gi * cg * og * 9, cg, og, u + gi * 16 * cg * og);
      const std::size_t chunk = winograd_3x3<T>::images_per_call(h, wd, n);
      for (std::size_t n0 = 0; n0 < n; n0 += chunk)
        for (std::size_t gi = 0; gi < G; ++gi)
          winograd_3x3<T>::run(g + (n0 * o + gi * og) * plane, o * plane, u + gi * 16 * cg * og, og, cg, oh, ow, 2 - P,
                               h, wd, dx + (n0 * c + gi * cg) * in_plane, c * in_plane, std::min(chunk, n - n0));
      return;
    }
  }

  // The transposed weights of every group: wt[g] (depth x og). Small planes take several images
  // per product (their gradients side by side), so that the product is wide enough for its tiles.
  T* wt = scratch<T, 7>(G * depth * og);
  for (std::size_t gi = 0; gi < G; ++gi) transpose_into(w + gi * og * depth, og, depth, depth, wt + gi * depth * og);
  const std::size_t chunk = std::min(n, std::max<std::size_t>(1, (input_grad_min_columns + plane - 1) / plane));
  const std::size_t columns = chunk * plane;
  T* col = chunk > 1 || !pointwise ? scratch<T, 8>(depth * columns) : nullptr;
  T* rhs = chunk > 1 ? scratch<T, 9>(og * columns) : nullptr;
  for (std::size_t gi = 0; gi < G; ++gi)
    for (std::size_t n0 = 0; n0 < n; n0 += chunk) {
      const std::size_t images = std::min(chunk, n - n0), k = images * plane;
      const T* gg = g + (n0 * o + gi * og) * plane;
      T* d = dx + (n0 * c + gi * cg) * in_plane;
      if (chunk == 1) {
        if constexpr (pointwise) {
          gemm::multiply<T>(cg, plane, og, wt + gi * depth * og, gg, d);
        } else {
          gemm::multiply<T>(depth, plane, og, wt + gi * depth * og, gg, col);
          std::fill_n(d, cg * in_plane, T(0));
          fold<KH, KW, S, P>(col, plane, cg, h, wd, oh, ow, d);
        }
        continue;
      }
      for (std::size_t i = 0; i < images; ++i) copy_rows(gg + i * o * plane, plane, rhs + i * plane, k, og, plane);
      gemm::multiply<T>(depth, k, og, wt + gi * depth * og, rhs, col);
      for (std::size_t i = 0; i < images; ++i) {
        T* di = d + i * c * in_plane;
        if constexpr (pointwise) {
          copy_rows(col + i * plane, k, di, plane, cg, plane);
        } else {
          std::fill_n(di, cg * in_plane, T(0));
          fold<KH, KW, S, P>(col + i * plane, k, cg, h, wd, oh, ow, di);
        }
      }
    }
}

// ... with respect to w. x: (n, c, h, wd); g as above; dw: (o, c / G, KH, KW), OVERWRITTEN.
template <std::size_t KH, std::size_t KW, std::size_t S, std::size_t P, std::size_t G, class T>
void conv2d_weight_grad(const T* x, const T* g, T* dw, std::size_t n, std::size_t c, std::size_t h, std::size_t wd,
                        std::size_t o, std::size_t oh, std::size_t ow) {
  const std::size_t cg = c / G, og = o / G, plane = oh * ow, in_plane = h * wd;
  const std::size_t depth = cg * KH * KW;
  constexpr bool pointwise = KH == 1 && KW == 1 && S == 1 && P == 0;
  std::fill_n(dw, o * depth, T(0));
  if (n == 0 || og == 0 || plane == 0 || depth == 0) return;

  if (cg == 1 && !pointwise) {
    // Depthwise: dw[o][kh][kw] = sum over the batch of the dot product of g[o] with the input
    // positions that tap (kh, kw) read.
    if constexpr (S == 1) {
      // Every tap's sum in a register: per register of gradient, one load of the zero-padded input
      // and one FMA per tap. The last register of a row holds ow % L outputs: its other lanes are
      // zeroed on both sides (an infinite input there must not make a NaN).
      using B = simd::wide_batch<T>;
      constexpr std::size_t L = B::size;
      const std::size_t full = ow / L, rest = ow % L, pitch = (full + 1) * L + KW, rows = h + 2 * P;
      T* padded = scratch<T, 9>(rows * pitch);
      std::fill_n(padded, rows * pitch, T(0));
      alignas(64) T lane[L];
      for (std::size_t i = 0; i < L; ++i) lane[i] = T(i);
      const auto inside = B::load_aligned(lane) < B(T(rest));
      // Each input plane is padded once and serves the og outputs of its group; their sums wait in
      // `sums` (KH*KW registers per output) between images.
      T* sums = scratch<T, 7>(o * KH * KW * L);
      std::fill_n(sums, o * KH * KW * L, T(0));
      for (std::size_t ci = 0; ci < c; ++ci)
        for (std::size_t ni = 0; ni < n; ++ni) {
          const T* xp = x + (ni * c + ci) * in_plane;
          for (std::size_t i = 0; i < h; ++i) copy_short(xp + i * wd, wd, padded + (i + P) * pitch + P);
          for (std::size_t oi = ci * og; oi < (ci + 1) * og; ++oi) {
            T* sum = sums + oi * KH * KW * L;
            B acc[KH * KW];
            for (std::size_t k = 0; k < KH * KW; ++k) acc[k] = B::load_unaligned(sum + k * L);
            const T* gp = g + (ni * o + oi) * plane;
            for (std::size_t r = 0; r < oh; ++r) {
              const T* grow = gp + r * ow;
              const T* base = padded + r * pitch;
              for (std::size_t v = 0; v < full; ++v) {
                const B gv = B::load_unaligned(grow + v * L);
                for (std::size_t kh = 0; kh < KH; ++kh)
                  for (std::size_t kw = 0; kw < KW; ++kw)
                    acc[kh * KW + kw] =
                        xsimd::fma(gv, B::load_unaligned(base + kh * pitch + v * L + kw), acc[kh * KW + kw]);
              }
              if (rest != 0) {
                const B gv = simd::load_first<B>(grow + full * L, rest);
                for (std::size_t kh = 0; kh < KH; ++kh)
                  for (std::size_t kw = 0; kw < KW; ++kw) {
                    const B xv = B::load_unaligned(base + kh * pitch + full * L + kw);
                    acc[kh * KW + kw] = xsimd::fma(gv, xsimd::select(inside, xv, B(T(0))), acc[kh * KW + kw]);
                  }
              }
            }
            for (std::size_t k = 0; k < KH * KW; ++k) acc[k].store_unaligned(sum + k * L);
          }
        }
      for (std::size_t oi = 0; oi < o; ++oi)
        for (std::size_t k = 0; k < KH * KW; ++k)
          dw[oi * KH * KW + k] = xsimd::hadd(B::load_unaligned(sums + (oi * KH * KW + k) * L));
      return;
    }
    // Strided: partial sums per output column, summed once at the end.
    T* acc = scratch<T, 7>(KH * KW * ow);
    for (std::size_t oi = 0; oi < o; ++oi) {
      const std::size_t ci = oi / og;
      std::fill_n(acc, KH * KW * ow, T(0));
      for (std::size_t ni = 0; ni < n; ++ni) {
        const T* gp = g + (ni * o + oi) * plane;
        const T* xp = x + (ni * c + ci) * in_plane;
        for (std::size_t r = 0; r < oh; ++r) {
          const T* __restrict grow = gp + r * ow;
          for (std::size_t kh = 0; kh < KH; ++kh) {
            const std::size_t ih = r * S + kh;
            if (ih < P || ih - P >= h) continue;
            for (std::size_t kw = 0; kw < KW; ++kw) {
              const auto [first, last] = columns_inside<S, P>(kw, wd, ow);
              const T* __restrict xrow = xp + (ih - P) * wd;
              T* __restrict a = acc + (kh * KW + kw) * ow;
              for (std::size_t q = first; q < last; ++q) a[q] += grow[q] * xrow[q * S + kw - P];
            }
          }
        }
      }
      for (std::size_t k = 0; k < KH * KW; ++k) {
        T s = 0;
        for (std::size_t q = 0; q < ow; ++q) s += acc[k * ow + q];
        dw[oi * KH * KW + k] = s;
      }
    }
    return;
  }

  if constexpr (KH == 3 && KW == 3 && S == 1 && P <= 2) {
    const std::size_t tiles_y = (oh + 1) / 2, tiles_x = (ow + 1) / 2, tiles = tiles_y * tiles_x;
    if (std::min(cg, og) >= winograd_min_channels && tiles >= winograd_weight_grad_min_tiles) {
      // Per image: V[16][c][tile] (the forward's input transform), D[16][tile][o] = A g A^T per 2x2
      // tile of the gradient; per position k of the 4x4 block, M[k] (c x o) += V[k] D[k]; at the end,
      // dw[o][c] = G^T M[.][c][o] G.
      using wino = winograd_3x3<T>;
      const std::size_t ph = 2 * tiles_y + 2, pw = 2 * tiles_x + 2, block = 16 * cg * og;
      T* sum = scratch<T, 7>(2 * block);
      T* part = sum + block;
      T* v = scratch<T, 8>(16 * cg * tiles + ph * pw);
      T* padded = v + 16 * cg * tiles;
      T* transposed = scratch<T, 9>(plane * og + 16 * tiles * og + og);
      T* d = transposed + plane * og;
      T* zero = d + 16 * tiles * og;
      std::fill_n(zero, og, T(0));
      for (std::size_t gi = 0; gi < G; ++gi) {
        for (std::size_t ni = 0; ni < n; ++ni) {
          wino::transform_input(x + (ni * c + gi * cg) * in_plane, cg, h, wd, P, tiles_y, tiles_x, padded, v, tiles);
          transpose_into(g + (ni * o + gi * og) * plane, og, plane, plane, transposed);
          winograd_gradient_transform(transposed, og, oh, ow, tiles_y, tiles_x, zero, d);
          T* into = ni == 0 ? sum : part;
          for (std::size_t k = 0; k < 16; ++k)
            gemm::multiply<T>(cg, og, tiles, v + k * cg * tiles, d + k * tiles * og, into + k * cg * og);
          if (ni > 0) {
            T* __restrict to = sum;
            for (std::size_t e = 0; e < block; ++e) to[e] += part[e];
          }
        }
        winograd_weight_output(sum, cg, og, dw + gi * og * depth);
      }
      return;
    }
  }

  // dw[g]^T (depth x og) = sum over images of col[n][g] (depth x plane) times g[n][g]^T (plane x og):
  // the unfolded input as it comes (the product reads it in place), the small gradient transposed.
  // Small planes take several images per product (their planes side by side along the inner
  // extent), so that each product is long enough to amortize writing its result.
  const std::size_t chunk = std::min(n, std::max<std::size_t>(1, (weight_grad_min_inner + plane - 1) / plane));
  const std::size_t inner = chunk * plane;
  // Slot 7: the sum and one product's result.
  T* sum = scratch<T, 7>(2 * depth * og);
  T* part = sum + depth * og;
  T* a = chunk > 1 || !pointwise ? scratch<T, 8>(depth * inner) : nullptr;
  T* b = scratch<T, 9>(inner * og);
  for (std::size_t gi = 0; gi < G; ++gi) {
    for (std::size_t n0 = 0; n0 < n; n0 += chunk) {
      const std::size_t images = std::min(chunk, n - n0), k = images * plane;
      const T* lhs = a;
      for (std::size_t i = 0; i < images; ++i) {
        const T* xg = x + ((n0 + i) * c + gi * cg) * in_plane;
        transpose_into(g + ((n0 + i) * o + gi * og) * plane, og, plane, plane, b + i * plane * og);
        if constexpr (pointwise) {
          if (chunk == 1)
            lhs = xg;
          else
            copy_rows(xg, plane, a + i * plane, k, depth, plane);
        } else {
          unfold_into<KH, KW, S, P>(xg, cg, h, wd, oh, ow, a + i * plane, k);
        }
      }
      if (n0 == 0) {
        gemm::multiply<T>(depth, og, k, lhs, b, sum);
      } else {
        gemm::multiply<T>(depth, og, k, lhs, b, part);
        T* __restrict to = sum;
        for (std::size_t e = 0; e < depth * og; ++e) to[e] += part[e];
      }
    }
    transpose_into(sum, depth, og, og, dw + gi * og * depth);
  }
}

namespace pool_grad {

struct swap_pairs {  // lanes 0 1 2 3 ... -> 1 0 3 2 ...
  static constexpr std::size_t get(std::size_t i, std::size_t) { return i ^ 1; }
};

/// 2x2 windows, stride 2, one row of windows: input rows ra, rb, gradient row grad, output rows da,
/// db. Each register holds the two columns of half as many windows: lanes 2i and 2i + 1 see their
/// window's four values (a partner lane's swapped in), both find the window's first maximum and keep
/// the gradient where it is theirs. The last windows of a row go through masked loads and stores:
/// rows of 14 or 7 windows (the pools of a 28x28 image) are mostly tail.
template <bool Max, class T>
void rows_2x2(const T* ra, const T* rb, const T* grad, T* da, T* db, std::size_t ow) {
  using B = simd::wide_batch<T>;
  using U = xsimd::batch<std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>, typename B::arch_type>;
  constexpr std::size_t L = B::size;
  const auto swap = xsimd::make_batch_constant<U, swap_pairs>();
  const auto low = xsimd::make_batch_constant<U, simd::detail::spread_half<0>>();
  const auto high = xsimd::make_batch_constant<U, simd::detail::spread_half<1>>();
  alignas(64) T column[L];
  for (std::size_t i = 0; i < L; ++i) column[i] = T(i % 2);
  const B own = B::load_aligned(column);  // the window column of each lane
  const auto even = own == B(T(0));
  const B zero(T(0)), one(T(1)), two(T(2)), three(T(3)), quarter(T(0.25));
  // Windows [q, q + windows), windows <= L; `count` lanes of a register are valid (all but in a tail).
  auto block = [&](std::size_t q, std::size_t windows) {
    const B gv = simd::load_up_to<B>(grad + q, windows);
    for (std::size_t half = 0; half < 2 && half * L < 2 * windows; ++half) {
      const std::size_t j = 2 * q + half * L, count = std::min(L, 2 * windows - half * L);
      const B gd = half == 0 ? xsimd::swizzle(gv, low) : xsimd::swizzle(gv, high);
      if constexpr (Max) {
        const B x0 = simd::load_up_to<B>(ra + j, count), x1 = simd::load_up_to<B>(rb + j, count);
        const B x0s = xsimd::swizzle(x0, swap), x1s = xsimd::swizzle(x1, swap);
        const B v1 = xsimd::select(even, x0s, x0), v2 = xsimd::select(even, x1, x1s);
        const B v3 = xsimd::select(even, x1s, x1);
        // The forward's rule (PyTorch's): a later tap takes over when greater or NaN.
        B best = xsimd::select(even, x0, x0s);  // v0
        auto greater = best < v1 || xsimd::isnan(v1);
        B at = xsimd::select(greater, one, zero);
        best = xsimd::select(greater, v1, best);
        greater = best < v2 || xsimd::isnan(v2);
        at = xsimd::select(greater, two, at);
        best = xsimd::select(greater, v2, best);
        at = xsimd::select(best < v3 || xsimd::isnan(v3), three, at);
        simd::store_up_to(da + j, xsimd::select(at == own, gd, zero), count);
        simd::store_up_to(db + j, xsimd::select(at == own + two, gd, zero), count);
      } else {
        const B v = gd * quarter;
        simd::store_up_to(da + j, v, count);
        simd::store_up_to(db + j, v, count);
      }
    }
  };
  std::size_t q = 0;
  for (; q + L <= ow; q += L) block(q, L);
  if (q < ow) block(q, ow - q);
}

/// out[sw * pitch + m] = row[m*S + sw] for the w values of row (S phases, each pw = ceil(w / S) long, zero
/// past the row's end): whole groups of S in one loop (loads of whole registers, shuffled), then the tail.
template <std::size_t S, class T>
void deinterleave(const T* __restrict row, std::size_t w, T* __restrict out, std::size_t pitch, std::size_t pw) {
  const std::size_t groups = w / S;
  for (std::size_t m = 0; m < groups; ++m)
    for (std::size_t sw = 0; sw < S; ++sw) out[sw * pitch + m] = row[m * S + sw];
  for (std::size_t m = groups; m < pw; ++m)
    for (std::size_t sw = 0; sw < S; ++sw) out[sw * pitch + m] = m * S + sw < w ? row[m * S + sw] : T(0);
}
/// The inverse: row[m*S + sw] = in[sw * pitch + m] for the w values of row.
template <std::size_t S, class T>
void interleave(const T* __restrict in, std::size_t pitch, T* __restrict row, std::size_t w) {
  const std::size_t groups = w / S;
  for (std::size_t m = 0; m < groups; ++m)
    for (std::size_t sw = 0; sw < S; ++sw) row[m * S + sw] = in[sw * pitch + m];
  for (std::size_t j = groups * S; j < w; ++j) row[j] = in[(j % S) * pitch + j / S];
}

}  // namespace pool_grad

// Gradient of y = max_pool2d<K, S> (Max = true) or avg_pool2d<K, S> (no padding) w.r.t. x.
// x: (planes, h, w) (planes = N*C); g: (planes, oh, ow); dx: (planes, h, w), OVERWRITTEN.
// Max: each window's gradient goes to the tap the forward keeps (row-major window order, a later tap
// taking over when strictly greater or NaN: the first maximum, or the last NaN, as PyTorch); overlapping
// windows (S < K) accumulate. Avg: g / (K*K) to every element of the window, accumulated.
template <std::size_t K, std::size_t S, bool Max, class T>
void pool2d_grad(const T* x, const T* g, T* dx, std::size_t planes, std::size_t h, std::size_t w, std::size_t oh,
                 std::size_t ow) {
  const std::size_t in_plane = h * w;
  if (oh == 0 || ow == 0) {
    std::fill_n(dx, planes * in_plane, T(0));
    return;
  }
  if constexpr (K == 2 && S == 2) {
    // The common case, in registers: rows of windows straight from x to dx.
    for (std::size_t p = 0; p < planes; ++p) {
      const T* in = x + p * in_plane;
      const T* gp = g + p * oh * ow;
      T* d = dx + p * in_plane;
      for (std::size_t r = 0; r < oh; ++r) {
        const T* ra = in + 2 * r * w;
        const T* rb = ra + w;
        T* da = d + 2 * r * w;
        T* db = da + w;
        const T* grad = gp + r * ow;
        pool_grad::rows_2x2<Max>(ra, rb, grad, da, db, ow);
        std::fill(da + 2 * ow, da + w, T(0));  // columns in no window
        std::fill(db + 2 * ow, db + w, T(0));
      }
      std::fill(d + 2 * oh * w, d + in_plane, T(0));  // rows in no window
    }
    return;
  }
  // Any K and S: each plane split by row and column remainder mod S into S*S phase planes (pw phase
  // columns per row), in which window tap (kh, kw) of output (r, q) is element (r + kh/S)*pw + q + kw/S
  // of phase (kh%S, kw%S): for a fixed tap, consecutive outputs are consecutive elements, on a grid of
  // pw columns per output row (the columns past ow get a zero gradient). In registers, a run of the
  // grid at a time: (max) every tap compared, which one holds the first maximum; then per element of
  // each phase plane of dx, the sum over the taps that land there of the gradient of the output they
  // belong to (read at the tap's offset back, no scatter). Only the split and the merge stride.
  using B = simd::wide_batch<T>;
  constexpr std::size_t L = B::size;
  const std::size_t ph = (h + S - 1) / S, pw = (w + S - 1) / S, phase = ph * pw;
  const std::size_t grid = (oh - 1) * pw + ow;       // the last output row stops at ow: taps stay inside
  const std::size_t front = (K - 1) / S * (pw + 1);  // the largest tap offset: zeros before the grid
  const std::size_t span = front + phase + L;        // padded gradient (and tap index) runs
  T* split = Max ? scratch<T, 7>(S * S * phase + L) : nullptr;
  T* padded = scratch<T, 8>(2 * span);
  T* grad = padded + front;
  T* at = padded + span + front;  // the tap of each output's first maximum, as T
  T* dsplit = scratch<T, 9>(S * S * phase + L);
  std::fill_n(padded, 2 * span, T(0));
  if constexpr (Max) std::fill_n(split + S * S * phase, L, T(0));
  const B scale(T(1) / static_cast<T>(K * K));
  for (std::size_t p = 0; p < planes; ++p) {
    const T* in = x + p * in_plane;
    const T* gp = g + p * oh * ow;
    T* d = dx + p * in_plane;
    for (std::size_t r = 0; r < oh; ++r) {
      std::copy_n(gp + r * ow, ow, grad + r * pw);
      if (r + 1 < oh) std::fill(grad + r * pw + ow, grad + (r + 1) * pw, T(0));
    }
    if constexpr (Max) {
      for (std::size_t i = 0; i < ph * S; ++i) {
        T* out = split + (i % S) * S * phase + (i / S) * pw;  // phase (i % S, sw) at out + sw * phase
        if (i >= h) {
          for (std::size_t sw = 0; sw < S; ++sw) std::fill_n(out + sw * phase, pw, T(0));
          continue;
        }
        pool_grad::deinterleave<S>(in + i * w, w, out, phase, pw);
      }
      const B below(-std::numeric_limits<T>::infinity());
      for (std::size_t e = 0; e < grid; e += L) {
        B best = below, tap(T(0));
        for (std::size_t kh = 0; kh < K; ++kh)
          for (std::size_t kw = 0; kw < K; ++kw) {
            const B v = B::load_unaligned(split + ((kh % S) * S + kw % S) * phase + (kh / S) * pw + kw / S + e);
            const auto greater = best < v || xsimd::isnan(v);
            tap = xsimd::select(greater, B(T(kh * K + kw)), tap);
            best = xsimd::select(greater, v, best);
          }
        tap.store_unaligned(at + e);
      }
    }
    for (std::size_t sh = 0; sh < S; ++sh)
      for (std::size_t sw = 0; sw < S; ++sw) {
        T* out = dsplit + (sh * S + sw) * phase;
        for (std::size_t e = 0; e < phase; e += L) {
          B sum(T(0));
          for (std::size_t kh = sh; kh < K; kh += S)
            for (std::size_t kw = sw; kw < K; kw += S) {
              const std::size_t back = kh / S * pw + kw / S;  // grad[e - back] is the output tap (kh, kw) is in
              const B gv = B::load_unaligned(grad + e - back);
              if constexpr (Max)
                sum += xsimd::select(B::load_unaligned(at + e - back) == B(T(kh * K + kw)), gv, B(T(0)));
              else
                sum += gv;
            }
          (Max ? sum : sum * scale).store_unaligned(out + e);
        }
      }
    for (std::size_t i = 0; i < h; ++i)
      pool_grad::interleave<S>(dsplit + (i % S) * S * phase + (i / S) * pw, phase, d + i * w, w);
  }
}

}  // namespace statix::detail
