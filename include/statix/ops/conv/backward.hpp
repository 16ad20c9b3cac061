// The gradients of conv2d with respect to its input and its weights (the kernels of the primitives
// in gradients.hpp). Every kernel overwrites its result (elements no window reads get 0). As the
// forward, per image and group, one matrix product where it can:
// - input gradient: the transposed weights (C/G*KH*KW x O/G) times the upstream gradient (O/G x H'*W'),
//   folded back onto the input (fold, the adjoint of unfold); 1x1 stride 1 needs no folding. A
//   stride-1 3x3 input gradient is itself a stride-1 3x3 convolution (of the gradient, padded by
//   2 - P, with the flipped, transposed weights): the forward's Winograd kernel.
// - weight gradient: the unfolded input (C/G*KH*KW x H'*W') times the transposed gradient, summed over
//   the batch (then transposed once); stride-1 3x3 by Winograd F(2x2, 3x3), with the forward's input
//   transform and the adjoints of its other two.
// - depthwise (one input channel per group): direct loops, the weight gradient's sums in registers.
// Small planes put several images side by side in one product. algorithm.hpp chooses.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../../memory.hpp"
#include "../../simd.hpp"
#include "../gemm.hpp"
#include "algorithm.hpp"
#include "unfold.hpp"
#include "winograd.hpp"

namespace statix::detail {

// Gradient of y = conv2d<S, P, G>(x, w) (cross-correlation, NCHW, as PyTorch) with respect to x.
// g: (n, o, oh, ow) upstream gradient; w: (o, c / G, KH, KW); dx: (n, c, h, wd), OVERWRITTEN (not accumulated).
// oh = (h + 2P - KH) / S + 1, ow likewise (floor: some input rows/cols may not be read; their dx is 0).
template <std::size_t KH, std::size_t KW, std::size_t S, std::size_t P, std::size_t G, class T>
void conv2d_input_grad(const T* g, const T* w, T* dx, std::size_t n, std::size_t c, std::size_t h, std::size_t wd,
                       std::size_t o, std::size_t oh, std::size_t ow) {
  const std::size_t cg = c / G, og = o / G, plane = oh * ow, in_plane = h * wd;
  const std::size_t depth = cg * KH * KW;
  using algorithms = conv_algorithms<KH, KW, S, P>;
  constexpr bool pointwise = algorithms::pointwise_shape;
  const conv_algorithm algorithm = algorithms::input_grad(cg, og);
  if (n * c * in_plane == 0) return;
  if (og == 0 || plane == 0) {
    std::fill_n(dx, n * c * in_plane, T(0));
    return;
  }

  if (algorithm == conv_algorithm::depthwise) {
    // Depthwise. Stride 1 with P < K: dx is the stride-1 correlation of g, zero-padded by K - 1 - P,
    // with the flipped kernel: the forward's depthwise loop. Otherwise the transposed loop: every
    // output's gradient spread over its window.
    constexpr bool as_forward = S == 1 && KH == KW && P < KH;
    workspace ws;
    T* extra = og > 1 && as_forward ? ws.take<T>(in_plane) : nullptr;
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

  if constexpr (algorithms::winograd_gradient_shape) {
    if (algorithm == conv_algorithm::winograd) {
      // dx[c] = sum_o g[o] correlated (padding 2 - P) with w[o][c] rotated by 180 degrees.
      workspace ws;
      T* flipped = ws.take<T>(G * cg * og * 9);
      for (std::size_t gi = 0; gi < G; ++gi)
        for (std::size_t ci = 0; ci < cg; ++ci)
          for (std::size_t oi = 0; oi < og; ++oi) {
            const T* src = w + ((gi * og + oi) * cg + ci) * 9;
            T* dst = flipped + ((gi * cg + ci) * og + oi) * 9;
            for (std::size_t k = 0; k < 9; ++k) dst[k] = src[8 - k];
          }
      T* u = ws.take<T>(G * 16 * cg * og);
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
  workspace ws;
  T* wt = ws.take<T>(G * depth * og);
  for (std::size_t gi = 0; gi < G; ++gi) transpose_into(w + gi * og * depth, og, depth, depth, wt + gi * depth * og);
  const std::size_t chunk = std::min(n, std::max<std::size_t>(1, (input_grad_min_columns + plane - 1) / plane));
  const std::size_t columns = chunk * plane;
  T* col = chunk > 1 || !pointwise ? ws.take<T>(depth * columns) : nullptr;
  T* rhs = chunk > 1 ? ws.take<T>(og * columns) : nullptr;
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
  using algorithms = conv_algorithms<KH, KW, S, P>;
  constexpr bool pointwise = algorithms::pointwise_shape;
  const conv_algorithm algorithm = algorithms::weight_grad(cg, og, oh, ow);
  std::fill_n(dw, o * depth, T(0));
  if (n == 0 || og == 0 || plane == 0 || depth == 0) return;

  if (algorithm == conv_algorithm::depthwise) {
    // Depthwise: dw[o][kh][kw] = sum over the batch of the dot product of g[o] with the input
    // positions that tap (kh, kw) read.
    if constexpr (S == 1) {
      // Every tap's sum in a register: per register of gradient, one load of the zero-padded input
      // and one FMA per tap. The last register of a row holds ow % L outputs: its other lanes are
      // zeroed on both sides (an infinite input there must not make a NaN).
      using B = simd::wide_batch<T>;
      constexpr std::size_t L = B::size;
      const std::size_t full = ow / L, rest = ow % L, pitch = (full + 1) * L + KW, rows = h + 2 * P;
      workspace ws;
      T* padded = ws.take<T>(rows * pitch);
      std::fill_n(padded, rows * pitch, T(0));
      alignas(64) T lane[L];
      for (std::size_t i = 0; i < L; ++i) lane[i] = T(i);
      const auto inside = B::load_aligned(lane) < B(T(rest));
      // Each input plane is padded once and serves the og outputs of its group; their sums wait in
      // `sums` (KH*KW registers per output) between images.
      T* sums = ws.take<T>(o * KH * KW * L);
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
    workspace ws;
    T* acc = ws.take<T>(KH * KW * ow);
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

  if constexpr (algorithms::winograd_gradient_shape) {
    const std::size_t tiles_y = (oh + 1) / 2, tiles_x = (ow + 1) / 2, tiles = tiles_y * tiles_x;
    if (algorithm == conv_algorithm::winograd) {
      // Per image: V[16][c][tile] (the forward's input transform), D[16][tile][o] = A g A^T per 2x2
      // tile of the gradient; per position k of the 4x4 block, M[k] (c x o) += V[k] D[k]; at the end,
      // dw[o][c] = G^T M[.][c][o] G.
      using wino = winograd_3x3<T>;
      const std::size_t ph = 2 * tiles_y + 2, pw = 2 * tiles_x + 2, block = 16 * cg * og;
      workspace ws;
      T* sum = ws.take<T>(2 * block);
      T* part = sum + block;
      T* v = ws.take<T>(16 * cg * tiles + ph * pw);
      T* padded = v + 16 * cg * tiles;
      T* transposed = ws.take<T>(plane * og + 16 * tiles * og + og);
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
  // The sum and one product's result.
  workspace ws;
  T* sum = ws.take<T>(2 * depth * og);
  T* part = sum + depth * og;
  T* a = chunk > 1 || !pointwise ? ws.take<T>(depth * inner) : nullptr;
  T* b = ws.take<T>(inner * og);
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

}  // namespace statix::detail
