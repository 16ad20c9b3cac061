// Winograd F(2x2, 3x3) for stride-1 3x3 convolutions (Lavin and Gray, 2015): the forward pass (whose
// kernel the input gradient reuses, as a convolution of the gradient with the flipped weights), and
// the weight gradient's two transforms (the adjoints of the forward's).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../../memory.hpp"
#include "../../simd.hpp"
#include "../gemm.hpp"
#include "algorithm.hpp"
#include "unfold.hpp"

namespace statix::detail {

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
    workspace ws;
    T* v = ws.take<T>(16 * channels * columns);
    T* m = ws.take<T>(16 * outputs * columns);
    T* padded = ws.take<T>((2 * tiles_y + 2) * (2 * tiles_x + 2));
    for (std::size_t i = 0; i < images; ++i)
      transform_input(x + i * x_stride, channels, h, wd, pad, tiles_y, tiles_x, padded, v + i * tiles, columns);
    for (std::size_t k = 0; k < 16; ++k)
      gemm::multiply<T>(outputs, columns, channels, u + k * outputs * channels, v + k * channels * columns,
                        m + k * outputs * columns);
    for (std::size_t i = 0; i < images; ++i)
      transform_output(m + i * tiles, columns, outputs, tiles_y, tiles_x, oh, ow, out + i * out_stride);
  }
};

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

}  // namespace statix::detail
