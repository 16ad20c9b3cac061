// Reductions (sum, mean, max, min over all or listed axes; argmax; sum_to, the adjoint of
// broadcasting). All are materialization points: computed once per plan into a buffer, then read as
// a leaf. Sum/mean/max/min read their operand through its fused cursor (no temporary for
// `sum(a * b)`). The softmax family is in softmax.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "../diagnostics.hpp"
#include "../primitive.hpp"
#include "elementwise.hpp"
#include "layout.hpp"

namespace statix {

namespace detail {

/// The static extents left when `axes` are removed.
template <class Ext, std::size_t... Axes>
constexpr auto remove_axes_values() {
  std::array<std::size_t, Ext::rank - sizeof...(Axes)> out{};
  std::size_t next = 0;
  for (std::size_t k = 0; k < Ext::rank; ++k)
    if (((k != Axes) && ...)) out[next++] = Ext::values[k];
  return out;
}
template <class Ext, std::size_t... Axes>
using remove_axes_t = typename extents_from<remove_axes_values<Ext, Axes...>()>::type;

template <std::size_t R, std::size_t... Axes>
constexpr shape_t<R - sizeof...(Axes)> remove_axes(const shape_t<R>& s) {
  shape_t<R - sizeof...(Axes)> out{};
  std::size_t next = 0;
  for (std::size_t k = 0; k < R; ++k)
    if (((k != Axes) && ...)) out[next++] = s[k];
  return out;
}

template <std::size_t Rank, std::size_t... Axes>
constexpr bool axes_valid() {
  const std::array<std::size_t, sizeof...(Axes)> a{Axes...};
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] >= Rank) return false;
    for (std::size_t j = 0; j < i; ++j)
      if (a[i] == a[j]) return false;
  }
  return true;
}

/// Lanes [0, n) of a register kept, the others set to `fill`.
template <class B>
B keep_first(const B& v, std::size_t n, typename B::value_type fill) {
  using T = typename B::value_type;
  alignas(64) T index[B::size];
  for (std::size_t k = 0; k < B::size; ++k) index[k] = static_cast<T>(k);
  return xsimd::select(B::load_aligned(index) < B(static_cast<T>(n)), v, B(fill));
}

template <class B>
typename B::value_type horizontal(const B& v, auto combine) {
  alignas(64) typename B::value_type lanes[B::size];
  v.store_aligned(lanes);
  typename B::value_type r = lanes[0];
  for (std::size_t k = 1; k < B::size; ++k) r = combine(r, lanes[k]);
  return r;
}

}  // namespace detail

namespace op {

/// What a reduction combines and starts from.
struct reduce_sum {
  static constexpr std::string_view name = "sum";
  template <class T>
  static constexpr T identity = T(0);
  static auto combine(const auto& a, const auto& b) { return a + b; }
};
struct reduce_max {
  static constexpr std::string_view name = "max";
  template <class T>
  static constexpr T identity = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                                     : std::numeric_limits<T>::lowest();
  template <class B>
  static B combine(const B& a, const B& b) {
    return simd::maximum(a, b);  // a NaN anywhere gives NaN
  }
};
struct reduce_min {
  static constexpr std::string_view name = "min";
  template <class T>
  static constexpr T identity = std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                                     : std::numeric_limits<T>::max();
  template <class B>
  static B combine(const B& a, const B& b) {
    return simd::minimum(a, b);
  }
};

/// sum/mean/max/min over `Axes` (sorted at the call); `Mean` divides the sums by the count reduced.
template <class Combine, bool Mean, std::size_t... Axes>
struct reduce {
  static constexpr std::string_view name = Mean ? std::string_view("mean") : Combine::name;
  template <class V>
  using value_type = V;
  template <class E>
  using extents_type = detail::remove_axes_t<E, Axes...>;

  template <std::size_t R>
  static auto shape(const shape_t<R>& s) {
    return detail::remove_axes<R, Axes...>(s);
  }

  template <class T, std::size_t RO, class Node>
  static void compute(T* out, const shape_t<RO>& out_shape, plan& p, const Node& in) {
    constexpr std::size_t R = Node::rank;
    std::array<bool, R> reduced{};
    ((reduced[Axes] = true), ...);
    const auto lowered = in.template lower<false>(p);
    run(lowered, in.shape(), reduced, out, element_count(out_shape));
    if constexpr (Mean) {
      std::size_t count = 1;
      for (std::size_t k = 0; k < R; ++k)
        if (reduced[k]) count *= in.shape()[k];
      const T scale = T(1) / static_cast<T>(count);
      for (std::size_t k = 0; k < element_count(out_shape); ++k) out[k] *= scale;
    }
  }

  /// One pass over the operand, row by row: rows whose last axis is reduced fold into one output
  /// value (four registers in flight), rows whose last axis is kept fold into an output row.
  template <class Node, std::size_t R, class T>
  static void run(const Node& in, const shape_t<R>& shape, const std::array<bool, R>& reduced, T* out,
                  std::size_t out_size) {
    constexpr T identity = Combine::template identity<T>;
    std::fill_n(out, out_size, identity);
    const std::size_t n = element_count(shape);
    if (n == 0) return;
    auto cur = in.template make_cursor<false, R>(loop_info<R>{shape, {}});
    using B = simd::batch<T>;
    constexpr std::size_t L = B::size;
    if constexpr (R == 0) {
      alignas(64) T v[L];
      cur.template load<T>(simd::tail_span{0, 1}).store_aligned(v);
      out[0] = v[0];
    } else {
      shape_t<R> out_stride{};
      for (std::size_t d = R, natural = 1; d-- > 0;) {
        out_stride[d] = reduced[d] ? 0 : natural;
        if (!reduced[d]) natural *= shape[d];
      }
      const std::size_t inner = shape[R - 1];
      detail::for_each_row(shape, 0, n / inner, [&](const shape_t<R>& index, std::size_t) {
        cur.set_row(index);
        T* o = out + detail::row_offset(out_stride, index);
        if (reduced[R - 1]) {
          B acc[4] = {B(identity), B(identity), B(identity), B(identity)};
          std::size_t j = 0;
          for (; j + 4 * L <= inner; j += 4 * L)
            for (std::size_t u = 0; u < 4; ++u)
              acc[u] = Combine::combine(acc[u], cur.template load<T>(simd::full_span{j + u * L}));
          for (; j + L <= inner; j += L) acc[0] = Combine::combine(acc[0], cur.template load<T>(simd::full_span{j}));
          if (j < inner)
            acc[1] = Combine::combine(
                acc[1], detail::keep_first(cur.template load<T>(simd::tail_span{j, inner - j}), inner - j, identity));
          const B all = Combine::combine(Combine::combine(acc[0], acc[1]), Combine::combine(acc[2], acc[3]));
          *o = Combine::combine(*o, detail::horizontal(all, [](T a, T b) { return Combine::combine(a, b); }));
        } else {
          std::size_t j = 0;
          for (; j + L <= inner; j += L) {
            const simd::full_span s{j};
            simd::store<T, T>(o, s, Combine::combine(simd::load<T, T>(o, s), cur.template load<T>(s)));
          }
          if (j < inner) {
            const simd::tail_span s{j, inner - j};
            simd::store<T, T>(o, s, Combine::combine(simd::load<T, T>(o, s), cur.template load<T>(s)));
          }
        }
      });
    }
  }

  /// Sums spread g back over the reduced axes (mean scales it); max and min send it to the elements
  /// equal to the result (every one of a tie).
  template <std::size_t I, class G, class Out, class X>
  static auto partial(const G& g, const Out& out, const X& x);
  template <std::size_t I, class Tangent, class Out, class X>
  static auto push(const Tangent& t, const Out& out, const X& x);
};

/// The sum of g over the axes along which a value of shape `target` (a carrier node, never
/// evaluated) was broadcast to g's shape: the adjoint of broadcasting.
struct sum_to {
  static constexpr std::string_view name = "sum_to";
  template <class V, class C>
  using value_type = V;
  template <class EG, class EC>
  using extents_type = EC;

  template <std::size_t RG, std::size_t RC>
  static shape_t<RC> shape(const shape_t<RG>& g, const shape_t<RC>& target) {
    static_assert(RC <= RG);
    if (detail::broadcast_shapes(name, target, g) != g) throw_shape_mismatch(name, g, target);
    return target;
  }
  template <class T, std::size_t RC, class G, class C>
  static void compute(T* out, const shape_t<RC>& target, plan& p, const G& g, const C&) {
    constexpr std::size_t RG = G::rank;
    std::array<bool, RG> reduced{};
    for (std::size_t k = 0; k < RG; ++k) reduced[k] = k < RG - RC || (target[k - (RG - RC)] == 1 && g.shape()[k] != 1);
    reduce<reduce_sum, false>::run(g.template lower<false>(p), g.shape(), reduced, out, element_count(target));
  }
  template <std::size_t I, class GG, class Out, class G, class C>
  static auto partial(const GG& gg, const Out&, const G& g, const C&) {
    return sym::expand<typename G::extents_type>(gg, g.shape());
  }
  template <std::size_t I, class Tangent, class Out, class G, class C>
  static auto push(const Tangent& t, const Out&, const G&, const C& c) {
    return primitive_expr<sum_to, Tangent, C>(t, c);
  }
};

/// argmax over one axis: the index (int32) of the first largest value, or of the first NaN (as PyTorch).
template <std::size_t Axis>
struct argmax {
  static constexpr std::string_view name = "argmax";
  template <class V>
  using value_type = std::int32_t;
  template <class E>
  using extents_type = detail::remove_axes_t<E, Axis>;

  template <std::size_t R>
  static auto shape(const shape_t<R>& s) {
    return detail::remove_axes<R, Axis>(s);
  }
  template <std::size_t RO, class Node>
  static void compute(std::int32_t* out, const shape_t<RO>&, plan& p, const Node& in) {
    const auto x = dense(in, p);
    const std::size_t length = x.shape[Axis];
    std::size_t inner = 1;
    for (std::size_t k = Axis + 1; k < Node::rank; ++k) inner *= x.shape[k];
    const std::size_t outer = length == 0 ? 0 : x.size() / (length * inner);
    for (std::size_t o = 0; o < outer; ++o) {
      const auto* base = x.data + o * length * inner;
      for (std::size_t i = 0; i < inner; ++i) {
        std::size_t best = 0;
        for (std::size_t l = 1; l < length; ++l) {
          const auto v = base[l * inner + i], b = base[best * inner + i];
          if (b != b) break;
          if (v > b || v != v) best = l;
        }
        out[o * inner + i] = static_cast<std::int32_t>(best);
      }
    }
  }
};

}  // namespace op

namespace detail {

template <std::size_t... Axes>
constexpr std::array<std::size_t, sizeof...(Axes)> sorted_axes() {
  std::array<std::size_t, sizeof...(Axes)> a{Axes...};
  std::sort(a.begin(), a.end());
  return a;
}

template <class Op, class X, std::size_t... Axes>
constexpr bool check_axes() {
  return check::require<check::axes_in_range<Op, diagnostic::shape_of_t<extents_t<X>>, diagnostic::axes<Axes...>,
                                             axes_valid<extents_t<X>::rank, Axes...>()>>;
}

template <template <std::size_t...> class Prim, std::size_t... Axes, class X, std::size_t... I>
auto reduce_sorted(X&& x, std::index_sequence<I...>) {
  constexpr auto sorted = sorted_axes<Axes...>();
  return primitive_expr<Prim<sorted[I]...>, node_t<X>>(as_node(std::forward<X>(x)));
}

/// A reduction over `Axes` (all axes when none are listed).
template <template <std::size_t...> class Prim, std::size_t... Axes, class X>
auto reduction(X&& x) {
  constexpr std::size_t R = extents_t<X>::rank;
  if constexpr (sizeof...(Axes) == 0) {
    return [&]<std::size_t... All>(std::index_sequence<All...>) {
      return reduce_sorted<Prim, All...>(std::forward<X>(x), std::make_index_sequence<R>{});
    }
    (std::make_index_sequence<R>{});
  } else {
    static_assert(check_axes<Prim<>, X, Axes...>());
    if constexpr (axes_valid<R, Axes...>())
      return reduce_sorted<Prim, Axes...>(std::forward<X>(x), std::make_index_sequence<sizeof...(Axes)>{});
    else
      return rule_failed<value_type_t<X>>();
  }
}

template <std::size_t... A>
using sum_over = op::reduce<op::reduce_sum, false, A...>;
template <std::size_t... A>
using mean_over = op::reduce<op::reduce_sum, true, A...>;
template <std::size_t... A>
using max_over = op::reduce<op::reduce_max, false, A...>;
template <std::size_t... A>
using min_over = op::reduce<op::reduce_min, false, A...>;

template <class Prim, std::size_t Axis, class X>
auto along_axis(X&& x) {
  static_assert(check_axes<Prim, X, Axis>());
  if constexpr (axes_valid<extents_t<X>::rank, Axis>())
    return primitive_expr<Prim, node_t<X>>(as_node(std::forward<X>(x)));
  else
    return rule_failed<value_type_t<X>>();
}

}  // namespace detail

/// sum(e): all elements (rank 0); sum<Axes...>(e): the listed axes removed.
template <std::size_t... Axes, operand X>
auto sum(X&& x) {
  static_assert(detail::check_operand<op::reduce_sum, detail::operand_rule::numeric, value_type_t<X>>());
  return detail::reduction<detail::sum_over, Axes...>(std::forward<X>(x));
}
template <std::size_t... Axes, operand X>
auto mean(X&& x) {
  static_assert(detail::check_operand<op::reduce_sum, detail::operand_rule::floating, value_type_t<X>>());
  return detail::reduction<detail::mean_over, Axes...>(std::forward<X>(x));
}
template <std::size_t... Axes, operand X>
auto max(X&& x) {
  static_assert(detail::check_operand<op::reduce_max, detail::operand_rule::numeric, value_type_t<X>>());
  return detail::reduction<detail::max_over, Axes...>(std::forward<X>(x));
}
template <std::size_t... Axes, operand X>
auto min(X&& x) {
  static_assert(detail::check_operand<op::reduce_min, detail::operand_rule::numeric, value_type_t<X>>());
  return detail::reduction<detail::min_over, Axes...>(std::forward<X>(x));
}

/// The index (int32) of the first largest element along Axis.
template <std::size_t Axis, operand X>
auto argmax(X&& x) {
  static_assert(detail::check_operand<op::argmax<Axis>, detail::operand_rule::numeric, value_type_t<X>>());
  return detail::along_axis<op::argmax<Axis>, Axis>(std::forward<X>(x));
}

namespace sym {

/// The static extents of Ext with the listed axes set to 1 (a reduction's result, axes kept).
template <class Ext, std::size_t... Axes>
constexpr auto kept_values() {
  auto v = Ext::values;
  ((v[Axes] = 1), ...);
  return v;
}

/// A value reduced over `Axes` of a shape `to` (static extents Ext), read back at every position of
/// that shape: the reduced axes are put back as extent 1 (a view of memory, or a small copy) unless
/// they lead, where broadcasting adds them.
template <class Ext, std::size_t... Axes, class G>
auto spread(G g, const shape_t<Ext::rank>& to) {
  constexpr std::array<std::size_t, sizeof...(Axes)> axes{Axes...};
  constexpr bool leading = [&] {
    for (std::size_t k = 0; k < axes.size(); ++k)
      if (axes[k] != k) return false;
    return true;
  }();
  if constexpr (G::rank == 0 || leading) {
    return expand<Ext>(std::move(g), to);
  } else {
    using Kept = typename detail::extents_from<kept_values<Ext, Axes...>()>::type;
    shape_t<Ext::rank> kept = to;
    ((kept[Axes] = 1), ...);
    return expand<Ext>(reshape_as<Kept>(std::move(g), kept), to);
  }
}

template <std::size_t... Axes, class X>
auto sum_over(X x) {
  return primitive_expr<detail::sum_over<Axes...>, X>(std::move(x));
}

}  // namespace sym

namespace op {

template <class Combine, bool Mean, std::size_t... Axes>
template <std::size_t I, class G, class Out, class X>
auto reduce<Combine, Mean, Axes...>::partial(const G& g, const Out& out, const X& x) {
  using Ext = typename X::extents_type;
  using T = typename X::value_type;
  if constexpr (std::is_same_v<Combine, reduce_sum>) {
    auto spread = sym::spread<Ext, Axes...>(g, x.shape());
    if constexpr (Mean)
      return sym::mul(
          sym::constant<T>(1.0 / static_cast<double>(element_count(x.shape()) / std::max<std::size_t>(1, out.size()))),
          std::move(spread));
    else
      return spread;
  } else {
    auto at_extremum = sym::map<op::equal>(x, sym::spread<Ext, Axes...>(out, x.shape()));
    return sym::select(at_extremum, sym::spread<Ext, Axes...>(g, x.shape()), sym::zero_like(x));
  }
}

template <class Combine, bool Mean, std::size_t... Axes>
template <std::size_t I, class Tangent, class Out, class X>
auto reduce<Combine, Mean, Axes...>::push(const Tangent& t, const Out& out, const X& x) {
  if constexpr (std::is_same_v<Combine, reduce_sum>) {
    return primitive_expr<reduce, Tangent>(t);
  } else {
    auto at_extremum = sym::map<op::equal>(x, sym::spread<typename X::extents_type, Axes...>(out, x.shape()));
    return sym::sum_over<Axes...>(sym::select(at_extremum, t, sym::zero_like(x)));
  }
}

}  // namespace op

}  // namespace statix
