// 2-d max and average pooling (K x K windows, stride S, no padding, per channel) and its gradient's
// kernel. Max follows PyTorch: a later tap takes a window over when strictly greater or NaN, so a
// NaN in a window is its maximum, and the gradient goes to the tap the forward kept.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>

#include "../../diagnostics.hpp"
#include "../../memory.hpp"
#include "../../primitive.hpp"
#include "../../simd.hpp"
#include "../elementwise.hpp"
#include "unfold.hpp"

namespace statix {

namespace detail {

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
  using U = simd::index_batch<B>;
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

/// Max over 2x2 windows with stride 2, one row of ow windows: out[q] is the maximum of ra[2q],
/// ra[2q + 1], rb[2q] and rb[2q + 1], NaN when any is (PyTorch's value; which tap it came from is
/// the gradient's question, pool_grad::rows_2x2). The two rows' maximum first, then each pair's, all
/// in registers: 2L inputs of each row per L windows, the last ones masked.
template <class T>
void max_pool_row_2x2(const T* ra, const T* rb, T* out, std::size_t ow) {
  using B = simd::wide_batch<T>;
  constexpr std::size_t L = B::size;
  auto block = [&](std::size_t q, std::size_t windows) {
    const std::size_t j = 2 * q, n0 = std::min(L, 2 * windows), n1 = 2 * windows - n0;
    const B m0 = simd::maximum(simd::load_up_to<B>(ra + j, n0), simd::load_up_to<B>(rb + j, n0));
    const B m1 = n1 == 0 ? m0 : simd::maximum(simd::load_up_to<B>(ra + j + L, n1), simd::load_up_to<B>(rb + j + L, n1));
    const auto [even, odd] = simd::deinterleave(m0, m1);
    simd::store_up_to(out + q, simd::maximum(even, odd), windows);
  };
  std::size_t q = 0;
  for (; q + L <= ow; q += L) block(q, L);
  if (q < ow) block(q, ow - q);
}

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
  workspace ws;
  T* split = Max ? ws.take<T>(S * S * phase + L) : nullptr;
  T* padded = ws.take<T>(2 * span);
  T* grad = padded + front;
  T* at = padded + span + front;  // the tap of each output's first maximum, as T
  T* dsplit = ws.take<T>(S * S * phase + L);
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

}  // namespace detail

namespace op {

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
    const auto x = dense(x_node, p);
    const std::size_t planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3];
    const std::size_t oh_count = out_shape[2], ow_count = out_shape[3];
    if constexpr (Max && K == 2 && S == 2) {  // the common case, in registers
      for (std::size_t c = 0; c < planes; ++c)
        for (std::size_t oh = 0; oh < oh_count; ++oh) {
          const T* ra = x.data + (c * h + 2 * oh) * w;
          detail::max_pool_row_2x2(ra, ra + w, out + (c * oh_count + oh) * ow_count, ow_count);
        }
    } else {  // any window and stride: a pass over each output row per window tap
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
                  // A NaN wins and stays, as in PyTorch. A select and an unconditional store, without
                  // short-circuit: a conditional store made this loop 17% of a CNN step.
                  orow[ow] = ((v > orow[ow]) | (v != v)) ? v : orow[ow];
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
  }

  /// dx = pool2d_grad(x, g) (the first maximum of each window, or the average's share); a tangent is
  /// picked at the maxima, or averaged. Defined in gradients.hpp.
  template <std::size_t I, class G, class Out, class X>
  static auto partial(const G& g, const Out& out, const X& x);
  template <std::size_t I, class Tangent, class Out, class X>
  static auto push(const Tangent& t, const Out& out, const X& x);
};

}  // namespace op

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
      return rule_failed<value_type_t<X>>();
  } else {
    return rule_failed<value_type_t<X>>();
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
