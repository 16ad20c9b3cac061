// The data movement around a convolution's products: output extents, unfolding an input into the
// product's matrix (im2col) and its adjoint (fold), transposes and row copies, and the direct loop of
// a depthwise convolution (one input channel per group, whose product would be one row tall).
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

#include "../../memory.hpp"
#include "../../shape.hpp"
#include "../../simd.hpp"

namespace statix::detail {

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

/// One output plane of a depthwise convolution: out = w (KH x KW) correlated with one input plane.
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
    workspace ws;
    T* padded = ws.take<T>(rows * pitch);
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

}  // namespace statix::detail
