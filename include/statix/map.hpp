// map_expr: one node type for every elementwise primitive. An op is a small struct (ops/elementwise.hpp)
// with its name, its dtype rule and its SIMD kernel; map_expr adds broadcasting, the run-time shape
// check and the cursor.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

#include "expr.hpp"

namespace statix {

namespace detail {

/// The broadcast shape of several operands, left to right; throws shape_error naming `op`.
template <std::size_t RA>
constexpr auto broadcast_all_shapes(std::string_view, const shape_t<RA>& a) {
  return a;
}
template <std::size_t RA, std::size_t RB, std::size_t... R>
constexpr auto broadcast_all_shapes(std::string_view op, const shape_t<RA>& a, const shape_t<RB>& b,
                                    const shape_t<R>&... rest) {
  return broadcast_all_shapes(op, broadcast_shapes(op, a, b), rest...);
}

/// The dtype the operands of a node are loaded with: their own numeric dtype if they have one, else
/// (all bool) the loop's carrier.
template <class C, class... V>
struct operand_carrier {
  using type = C;
};
template <class C, class V, class... Rest>
struct operand_carrier<C, V, Rest...> {
  using type = std::conditional_t<std::is_same_v<V, bool>, typename operand_carrier<C, Rest...>::type, V>;
};

}  // namespace detail

/// What an elementwise op (ops/elementwise.hpp) must define: its name (for diagnostics and shape
/// errors) and the dtype of its result for operand dtypes V...; its SIMD kernel `apply` and its
/// derivative rule `partial<I>` are generic over registers and expressions, so they are checked where
/// they are used.
template <class Op, class... V>
concept elementwise_op = requires {
  { Op::name } -> std::convertible_to<std::string_view>;
  typename Op::template result_type<V...>;
};

template <class Op, class... Args>
struct map_expr {
  static_assert(elementwise_op<Op, typename Args::value_type...>,
                "statix: an elementwise op needs `name` and `result_type<V...>` (see ops/elementwise.hpp)");
  static constexpr bool is_statix_expression = true;
  static constexpr node_kind kind = node_kind::operands;
  using value_type = typename Op::template result_type<typename Args::value_type...>;
  using extents_type = broadcast_t<typename Args::extents_type...>;
  static constexpr std::size_t rank = extents_type::rank;
  using op_type = Op;

  detail::pack<Args...> args;
  shape_t<rank> extent;

  explicit map_expr(Args... a)
      : args{{std::move(a)}...},
        extent(args.apply([](const auto&... x) { return detail::broadcast_all_shapes(Op::name, x.shape()...); })) {}

  const shape_t<rank>& shape() const { return extent; }
  static constexpr bool always_flat(std::size_t n) { return (Args::always_flat(n) && ...); }
  template <bool Flat>
  auto lower(plan& p) const {
    return args.apply([&p](const auto&... a) {
      return map_expr<Op, decltype(a.template lower<Flat>(p))...>(a.template lower<Flat>(p)...);
    });
  }
  void identify(signature& s) const {
    args.apply([&s](const auto&... a) { (a.identify(s), ...); });
  }
  bool flat_ok(std::size_t n) const {
    return args.apply([n](const auto&... x) { return (x.flat_ok(n) && ...); });
  }

  template <bool Flat, std::size_t R>
  struct cursor {
    detail::pack<decltype(std::declval<const Args&>().template make_cursor<Flat, R>(
        std::declval<const loop_info<R>&>()))...>
        parts;

    void set_row(const shape_t<R>& index) {
      parts.apply([&](auto&... p) { (p.set_row(index), ...); });
    }

    template <class C, simd::span S>
    simd::batch_of<value_type, C> load(S s) const {
      using D = typename detail::operand_carrier<C, typename Args::value_type...>::type;
      auto compute = [this](auto sub) {
        return parts.apply([sub](const auto&... p) { return Op::apply(p.template load<D>(sub)...); });
      };
      if constexpr (std::is_same_v<value_type, bool> && !std::is_same_v<D, C>) {
        return simd::repack<bool, C, bool, D>(s, compute);  // a mask computed on another dtype's lanes
      } else {
        return compute(s);
      }
    }
  };

  template <bool Flat, std::size_t R>
  cursor<Flat, R> make_cursor(const loop_info<R>& loop) const {
    return args.apply([&](const auto&... a) { return cursor<Flat, R>{{{a.template make_cursor<Flat, R>(loop)}...}}; });
  }

  void for_each_memory(memory_visitor f) const {
    args.apply([f](const auto&... a) { (a.for_each_memory(f), ...); });
  }
};

}  // namespace statix
