// The graph walk of the derivative passes: a node's operand types by its kind (expr.hpp, node_kind),
// the traits that fold over them (does a derivative flow here, does it reach a shared node), and
// `walk`, the one dispatch by node kind that the reverse, deposit and forward passes (grad.hpp) share.
// A new node type declares its kind; no pass needs a case for it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "../expr.hpp"

namespace statix::autodiff {

/// No contribution (a subtree that cannot read the variable).
struct none {};
template <class X>
inline constexpr bool is_none = std::is_same_v<X, none>;

template <class... X>
struct types {};

namespace walk_detail {
template <std::size_t... I, class... A>
types<A...> types_of(const detail::pack_impl<std::index_sequence<I...>, A...>&);

template <class N>
auto operand_types_of() {
  constexpr node_kind k = kind_of<N>;
  if constexpr (k == node_kind::operands)
    return decltype(types_of(std::declval<const N&>().args)){};
  else if constexpr (k == node_kind::cast || k == node_kind::expand)
    return types<std::remove_cvref_t<decltype(std::declval<const N&>().arg)>>{};
  else if constexpr (k == node_kind::choice)
    return types<typename decltype(N::first)::value_type, typename decltype(N::second)::value_type>{};
  else if constexpr (k == node_kind::sum)
    return types<typename decltype(N::terms)::value_type>{};
  else
    return types<>{};  // leaves, shared nodes and values: nothing the walk enters
}
}  // namespace walk_detail

/// The types of the operands a walk enters from a node of type N.
template <class N>
using operand_types = decltype(walk_detail::operand_types_of<N>());

template <class N, class T, bool Through>
consteval bool carries_value();
template <class N>
consteval bool reaches_shared_value();
template <class N>
consteval int shared_order_value();

/// Can a value flow from a leaf of dtype T to this node through differentiable operations? With
/// `Through` false the question stops at shared nodes (the reverse pass differentiates a shared node's
/// operand once, on its own, with the sum of its adjoints); forward mode goes through them.
template <class N, class T, bool Through = false>
inline constexpr bool carries = carries_value<N, T, Through>();

/// Can an adjoint flow from this node to a shared node inside it (without crossing another one)?
template <class N>
inline constexpr bool reaches_shared = reaches_shared_value<N>();

/// The highest derivative order of the shared nodes an adjoint can reach from this node (0: none). A
/// gradient through them may be differentiated one time less, and what a derivative pass erases is
/// compiled for that many derivatives and no more.
template <class N>
inline constexpr int shared_order = shared_order_value<N>();

namespace walk_detail {
template <class T, bool Through, class... X>
consteval bool any_carries(types<X...>) {
  return (carries<X, T, Through> || ...);
}
template <class... X>
consteval bool any_reaches_shared(types<X...>) {
  return (reaches_shared<X> || ...);
}
template <class... X>
consteval int max_shared_order(types<X...>) {
  return std::max({0, shared_order<X>...});
}
}  // namespace walk_detail

template <class N, class T, bool Through>
consteval bool carries_value() {
  constexpr node_kind k = kind_of<N>;
  if constexpr (k == node_kind::leaf)
    return std::is_same_v<typename N::value_type, T> && floating_dtype<T>;
  else if constexpr (k == node_kind::shared)
    return Through && floating_dtype<typename N::value_type>;  // known at run time
  else
    return floating_dtype<typename N::value_type> && walk_detail::any_carries<T, Through>(operand_types<N>{});
}
template <class N>
consteval bool reaches_shared_value() {
  if constexpr (kind_of<N> == node_kind::shared)
    return floating_dtype<typename N::value_type>;
  else
    return floating_dtype<typename N::value_type> && walk_detail::any_reaches_shared(operand_types<N>{});
}
template <class N>
consteval int shared_order_value() {
  if constexpr (kind_of<N> == node_kind::shared)
    return N::order;
  else
    return walk_detail::max_shared_order(operand_types<N>{});
}

/// The one dispatch by node kind of the derivative passes. A pass P walks a node with its state s
/// (an adjoint and the variable on the way down, the variable and a direction on the way up) and says
/// what happens at each kind of node; the walk finds the kind, unpacks the operands and hands the
/// pass `down(x, s')`, the walk of operand x with state s':
///   P::flows<N, S>: does anything flow through N (else the walk returns P::nothing(s));
///   P::leaf(leaf, s), P::shared(node, s): the ends of a walk;
///   P::operand<I>(node, s, down, a...): operand I of map_expr / primitive_expr (operands a...),
///     the results joined by P::join(...);
///   P::cast(node, s, down), P::expand(node, s, down), P::choice(node, s, down), P::sum(node, s, down).
template <class P, class N, class S>
auto walk(const N& node, const S& s) {
  constexpr node_kind k = kind_of<N>;
  auto down = [](const auto& x, const auto& state) { return walk<P>(x, state); };
  if constexpr (!P::template flows<N, S>) {
    static_cast<void>(node);
    return P::nothing(s);
  } else if constexpr (k == node_kind::leaf) {
    return P::leaf(node, s);
  } else if constexpr (k == node_kind::shared) {
    return P::shared(node, s);
  } else if constexpr (k == node_kind::operands) {
    return node.args.apply([&](const auto&... a) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return P::join(P::template operand<I>(node, s, down, a...)...);
      }
      (std::index_sequence_for<decltype(a)...>{});
    });
  } else if constexpr (k == node_kind::cast) {
    return P::cast(node, s, down);
  } else if constexpr (k == node_kind::expand) {
    return P::expand(node, s, down);
  } else if constexpr (k == node_kind::choice) {
    return P::choice(node, s, down);
  } else {
    static_assert(k == node_kind::sum);
    return P::sum(node, s, down);
  }
}

/// Calls f on each operand a walk would enter from `node` (the picked one of a choice).
template <class N, class F>
void for_each_operand(const N& node, F&& f) {
  constexpr node_kind k = kind_of<N>;
  if constexpr (k == node_kind::operands)
    node.args.apply([&](const auto&... a) { (f(a), ...); });
  else if constexpr (k == node_kind::cast || k == node_kind::expand)
    f(node.arg);
  else if constexpr (k == node_kind::choice)
    node.first ? f(*node.first) : f(*node.second);
  else if constexpr (k == node_kind::sum)
    for (const auto& t : node.terms) f(t);
  else
    static_cast<void>(node), static_cast<void>(f);
}

}  // namespace statix::autodiff
