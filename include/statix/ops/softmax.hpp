// The softmax family: softmax, log_softmax and logsumexp over one axis. A materialization point
// that works on one row at a time, so that a row read from memory is reused from L1 for its max, its
// sum of exponentials and its output; its derivative rules next to it.
#pragma once

#include <cmath>
#include <limits>

#include "reduce.hpp"

namespace statix {

namespace op {

/// softmax, log_softmax and logsumexp over one axis, shifted by the maximum so that large inputs
/// (1e4) do not overflow; -inf entries contribute 0 (a row of only -inf gives logsumexp -inf).
enum class softmax_kind { softmax, log_softmax, logsumexp };

template <softmax_kind Kind, std::size_t Axis>
struct softmax_family {
  static constexpr std::string_view name = Kind == softmax_kind::softmax       ? "softmax"
                                           : Kind == softmax_kind::log_softmax ? "log_softmax"
                                                                               : "logsumexp";
  template <class V>
  using value_type = V;
  template <class E>
  using extents_type = std::conditional_t<Kind == softmax_kind::logsumexp, detail::remove_axes_t<E, Axis>, E>;

  template <std::size_t R>
  static auto shape(const shape_t<R>& s) {
    if constexpr (Kind == softmax_kind::logsumexp)
      return detail::remove_axes<R, Axis>(s);
    else
      return s;
  }

  template <class T, std::size_t RO, class Node>
  static void compute(T* out, const shape_t<RO>&, plan& p, const Node& in) {
    const auto x = dense(in, p);
    const std::size_t length = x.shape[Axis];
    std::size_t inner = 1;
    for (std::size_t k = Axis + 1; k < Node::rank; ++k) inner *= x.shape[k];
    const std::size_t outer = length == 0 || inner == 0 ? 0 : x.size() / (length * inner);
    for (std::size_t o = 0; o < outer; ++o) {
      const T* row = x.data + o * length * inner;
      if (inner == 1)
        contiguous_row(row, length, Kind == softmax_kind::logsumexp ? out + o : out + o * length);
      else
        strided_rows(row, length, inner, Kind == softmax_kind::logsumexp ? out + o * inner : out + o * length * inner);
    }
  }

  /// The shift: the row's maximum, or 0 when it is -inf (all entries -inf), so exp stays defined.
  template <class T>
  static T shift_of(T m) {
    return std::isinf(m) && m < 0 ? T(0) : m;
  }

  /// One contiguous row: its max, then exp(x - max) (stored for softmax) and their sum, then the output,
  /// all while the row is in L1. On the widest registers: exp is a polynomial of FMAs, and this loop is
  /// compute-bound once the row is in cache (measured: 256-bit registers reached 60% of the bandwidth).
  template <class T>
  static void contiguous_row(const T* x, std::size_t n, T* out) {
    using B = simd::wide_batch<T>;
    constexpr std::size_t L = B::size;
    constexpr T minus_inf = -std::numeric_limits<T>::infinity();
    const std::size_t full = n - n % L, rest = n - full;
    auto load_rest = [&](const T* p, T fill) {  // the last partial register, padded with `fill`
      alignas(64) T buf[L];
      std::fill(buf, buf + L, fill);
      std::copy_n(p + full, rest, buf);
      return B::load_aligned(buf);
    };
    auto store_rest = [&](T* p, const B& v) { simd::store_first(p + full, v, rest); };
    // Four chains: one max per register would wait on the previous one's latency.
    B mx[4] = {B(minus_inf), B(minus_inf), B(minus_inf), B(minus_inf)};
    std::size_t j = 0;
    for (; j + 4 * L <= full; j += 4 * L)
      for (std::size_t u = 0; u < 4; ++u) mx[u] = xsimd::max(mx[u], B::load_unaligned(x + j + u * L));
    for (; j < full; j += L) mx[0] = xsimd::max(mx[0], B::load_unaligned(x + j));
    if (rest) mx[1] = xsimd::max(mx[1], load_rest(x, minus_inf));
    const B all = xsimd::max(xsimd::max(mx[0], mx[1]), xsimd::max(mx[2], mx[3]));
    const T shift = shift_of(detail::horizontal(all, [](T a, T b) { return std::max(a, b); }));
    const B shift_b(shift);
    // Four registers in flight: exp is a chain of ~15 dependent operations, so fewer leave the FMA
    // units waiting on latency (measured: 2 in flight ran 25% slower).
    B sum[4] = {B(T(0)), B(T(0)), B(T(0)), B(T(0))};
    for (j = 0; j + 4 * L <= full; j += 4 * L) {
      // The next row (rows are contiguous) is fetched while this loop computes, so that memory and
      // arithmetic overlap instead of taking turns. A prefetch never faults. The next output row too
      // for log_softmax, whose last pass writes it; softmax writes it in this loop, where prefetching
      // it measured slower (and so did prefetching into L2 only).
      for (std::size_t u = 0; u < 4; ++u) {
        __builtin_prefetch(x + n + j + u * L);
        if constexpr (Kind == softmax_kind::log_softmax) __builtin_prefetch(out + n + j + u * L, 1);
      }
      B e[4];
      for (std::size_t u = 0; u < 4; ++u) e[u] = simd::exp_nonpositive(B::load_unaligned(x + j + u * L) - shift_b);
      for (std::size_t u = 0; u < 4; ++u) {
        if constexpr (Kind == softmax_kind::softmax) e[u].store_unaligned(out + j + u * L);
        sum[u] += e[u];
      }
    }
    for (; j < full; j += L) {
      const B e = simd::exp_nonpositive(B::load_unaligned(x + j) - shift_b);
      if constexpr (Kind == softmax_kind::softmax) e.store_unaligned(out + j);
      sum[0] += e;
    }
    if (rest) {
      const B e = simd::exp_nonpositive(load_rest(x, minus_inf) - shift_b);  // padding: exp(-inf) = 0
      if constexpr (Kind == softmax_kind::softmax) store_rest(out, e);
      sum[1] += e;
    }
    const T total = xsimd::hadd((sum[0] + sum[1]) + (sum[2] + sum[3]));
    if constexpr (Kind == softmax_kind::softmax) {
      const B scale(T(1) / total);
      for (j = 0; j < full; j += L) (B::load_unaligned(out + j) * scale).store_unaligned(out + j);
      if (rest) store_rest(out, load_rest(out, T(0)) * scale);
    } else if constexpr (Kind == softmax_kind::log_softmax) {
      const B offset(shift + std::log(total));
      for (j = 0; j < full; j += L) (B::load_unaligned(x + j) - offset).store_unaligned(out + j);
      if (rest) store_rest(out, load_rest(x, T(0)) - offset);
    } else {
      *out = shift + std::log(total);
    }
  }

  /// A reduced axis that is not the last: `inner` independent rows at stride `inner`, vectorized across.
  template <class T>
  static void strided_rows(const T* x, std::size_t length, std::size_t inner, T* out) {
    using B = simd::batch<T>;
    constexpr std::size_t L = B::size;
    auto block = [&](auto s) {
      B mx(-std::numeric_limits<T>::infinity());
      for (std::size_t l = 0; l < length; ++l) mx = xsimd::max(mx, simd::load<T, T>(x + l * inner, s));
      const B shift = xsimd::select(mx == B(-std::numeric_limits<T>::infinity()), B(T(0)), mx);
      B sum(T(0));
      for (std::size_t l = 0; l < length; ++l) {
        const B e = simd::exp(simd::load<T, T>(x + l * inner, s) - shift);
        if constexpr (Kind == softmax_kind::softmax) simd::store<T, T>(out + l * inner, s, e);
        sum += e;
      }
      if constexpr (Kind == softmax_kind::softmax) {
        const B scale = B(T(1)) / sum;
        for (std::size_t l = 0; l < length; ++l)
          simd::store<T, T>(out + l * inner, s, simd::load<T, T>(out + l * inner, s) * scale);
      } else if constexpr (Kind == softmax_kind::log_softmax) {
        const B offset = shift + xsimd::log(sum);
        for (std::size_t l = 0; l < length; ++l)
          simd::store<T, T>(out + l * inner, s, simd::load<T, T>(x + l * inner, s) - offset);
      } else {
        simd::store<T, T>(out, s, shift + xsimd::log(sum));
      }
    };
    std::size_t j = 0;
    for (; j + L <= inner; j += L) block(simd::full_span{j});
    if (j < inner) block(simd::tail_span{j, inner - j});
  }

  /// softmax: y (g - sum(g y)); log_softmax: g - exp(y) sum(g); logsumexp: g exp(x - y). They read
  /// the forward value y (the same node, computed once per plan), never recompute it.
  template <std::size_t I, class G, class Out, class X>
  static auto partial(const G& g, const Out& out, const X& x);
  template <std::size_t I, class Tangent, class Out, class X>
  static auto push(const Tangent& t, const Out& out, const X& x);
};

}  // namespace op

template <std::size_t Axis, operand X>
auto softmax(X&& x) {
  using P = op::softmax_family<op::softmax_kind::softmax, Axis>;
  static_assert(detail::check_operand<P, detail::operand_rule::floating, value_type_t<X>>());
  return detail::along_axis<P, Axis>(std::forward<X>(x));
}
template <std::size_t Axis, operand X>
auto log_softmax(X&& x) {
  using P = op::softmax_family<op::softmax_kind::log_softmax, Axis>;
  static_assert(detail::check_operand<P, detail::operand_rule::floating, value_type_t<X>>());
  return detail::along_axis<P, Axis>(std::forward<X>(x));
}
template <std::size_t Axis, operand X>
auto logsumexp(X&& x) {
  using P = op::softmax_family<op::softmax_kind::logsumexp, Axis>;
  static_assert(detail::check_operand<P, detail::operand_rule::floating, value_type_t<X>>());
  return detail::along_axis<P, Axis>(std::forward<X>(x));
}

namespace op {

template <softmax_kind Kind, std::size_t Axis>
template <std::size_t I, class G, class Out, class X>
auto softmax_family<Kind, Axis>::partial(const G& g, const Out& y, const X& x) {
  using Ext = typename X::extents_type;
  if constexpr (Kind == softmax_kind::softmax) {
    return sym::mul(y, sym::sub(g, sym::spread<Ext, Axis>(sym::sum_over<Axis>(sym::mul(g, y)), x.shape())));
  } else if constexpr (Kind == softmax_kind::log_softmax) {
    return sym::sub(g, sym::mul(sym::map<op::exp>(y), sym::spread<Ext, Axis>(sym::sum_over<Axis>(g), x.shape())));
  } else {
    auto weights = sym::map<op::exp>(sym::sub(x, sym::spread<Ext, Axis>(y, x.shape())));  // softmax of x
    return sym::mul(sym::spread<Ext, Axis>(g, x.shape()), std::move(weights));
  }
}

template <softmax_kind Kind, std::size_t Axis>
template <std::size_t I, class Tangent, class Out, class X>
auto softmax_family<Kind, Axis>::push(const Tangent& t, const Out& y, const X& x) {
  using Ext = typename X::extents_type;
  if constexpr (Kind == softmax_kind::softmax) {  // the Jacobian is symmetric
    return partial<I>(t, y, x);
  } else if constexpr (Kind == softmax_kind::log_softmax) {
    auto p = sym::map<op::exp>(y);
    return sym::sub(t, sym::spread<Ext, Axis>(sym::sum_over<Axis>(sym::mul(p, t)), x.shape()));
  } else {
    auto weights = sym::map<op::exp>(sym::sub(x, sym::spread<Ext, Axis>(y, x.shape())));
    return sym::sum_over<Axis>(sym::mul(std::move(weights), t));
  }
}

}  // namespace op

}  // namespace statix
