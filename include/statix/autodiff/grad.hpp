// Symbolic differentiation: sx::grad, sx::value_and_grad, sx::jvp, sx::gradcheck.
//
// The reverse pass walks the loss's expression type at compile time and builds, for each variable, a
// new expression: the sum over the leaves that read the variable of the adjoint arriving there. Each
// node hands its adjoint to its operands through its primitive's `partial<I>` rule (defined next to
// the primitive); broadcasting is undone by summing. Variables are tensors, identified by their
// memory: a leaf of a compatible type is the variable when it reads the same memory with the same
// shape, which is only known at run time, so its contribution is a choose_expr picked when the
// gradient is built (only the picked side is ever evaluated). The forward pass (jvp) walks the same
// way with each primitive's `push<I>` rule.
//
// Gradients are expressions: nothing runs until they are assigned or evaluated, they fuse with what
// surrounds them, and they can be differentiated again. Forward values a gradient needs (products,
// convolutions, softmax, ...) are the very nodes of the loss, so evaluating the loss and its
// gradients in one plan (value_and_grad) computes each of them once.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../eval/fuse.hpp"
#include "../ops/conv.hpp"
#include "../ops/conv_grad.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/layout.hpp"
#include "../ops/matmul.hpp"
#include "../ops/reduce.hpp"
#include "symbolic.hpp"

namespace statix {

namespace op {
struct grad {
  static constexpr std::string_view name = "grad";
};
struct jvp {
  static constexpr std::string_view name = "jvp";
};
}  // namespace op

namespace autodiff {

/// No contribution (a subtree that cannot read the variable).
struct none {};
template <class X>
inline constexpr bool is_none = std::is_same_v<X, none>;

/// The variable being differentiated for: its memory and shape.
template <class T, class Ext>
struct variable {
  using value_type = T;
  using extents_type = Ext;
  const T* data;
  shape_t<Ext::rank> shape;
  std::size_t size() const { return element_count(shape); }
  memory_range memory() const { return {data, data + size()}; }
};
template <tensor_like X>
auto variable_of(const X& x) {
  using T = std::remove_const_t<typename X::value_type>;
  return variable<T, typename X::extents_type>{x.data(), x.shape()};
}

/// Can a value flow from a leaf of dtype T to this node through differentiable operations?
template <class N, class T>
inline constexpr bool carries = false;
template <class T, class Ext>
inline constexpr bool carries<leaf_expr<T, Ext>, T> = floating_dtype<T>;
template <class Op, class... A, class T>
inline constexpr bool carries<map_expr<Op, A...>, T> = floating_dtype<typename map_expr<Op, A...>::value_type> &&
                                                       (carries<A, T> || ...);
template <class P, class... A, class T>
inline constexpr bool carries<primitive_expr<P, A...>, T> =
    floating_dtype<typename primitive_expr<P, A...>::value_type> && (carries<A, T> || ...);
template <class U, class X, class T>
inline constexpr bool carries<cast_expr<U, X>, T> =
    floating_dtype<U>&& floating_dtype<typename X::value_type>&& carries<X, T>;
template <class Ext, class X, class T>
inline constexpr bool carries<expand_expr<Ext, X>, T> = carries<X, T>;
template <class A, class B, class T>
inline constexpr bool carries<choose_expr<A, B>, T> = carries<A, T> || carries<B, T>;

/// How a leaf of static extents `Leaf` may be a variable of extents `Var`: the same rank with every
/// extent compatible (read as it is), or a view of the same size with other extents (read through a
/// reshape: `sx::reshape` of the variable, or a tensor_view over all of its memory).
enum class match { no, same_rank, reshaped };
template <class Leaf, class Var>
constexpr match leaf_match() {
  if constexpr (Leaf::rank == Var::rank) {
    bool compatible = true;
    for (std::size_t k = 0; k < Leaf::rank; ++k)
      if (Leaf::values[k] != Var::values[k] && Leaf::values[k] != dyn && Var::values[k] != dyn) compatible = false;
    if (compatible) return match::same_rank;
  }
  if constexpr (Leaf::all_static && Var::all_static)
    return Leaf::static_size == Var::static_size ? match::reshaped : match::no;
  else
    return match::reshaped;  // the sizes may agree at run time
}

/// `value` (with the shape of a leaf) as a contribution of shape `to` and static extents Ext: read as
/// it is for a leaf of compatible extents, through a reshape for a view of another shape.
template <match How, class Ext, class X, std::size_t R>
auto reshaped_to(X value, const shape_t<R>& to) {
  if constexpr (How == match::same_rank)
    return sym::expand<Ext>(std::move(value), to);
  else
    return sym::reshape_as<Ext>(std::move(value), to);
}

template <class A, class B>
auto plus(A a, B b) {
  if constexpr (is_none<A>)
    return b;
  else if constexpr (is_none<B>)
    return a;
  else
    return sym::add(std::move(a), std::move(b));
}
inline none sum_of() {
  return {};
}
template <class First, class... Rest>
auto sum_of(First first, Rest... rest) {
  return plus(std::move(first), sum_of(std::move(rest)...));
}

template <std::size_t I, class First, class... Rest>
const auto& nth(const First& first, const Rest&... rest) {
  if constexpr (I == 0)
    return first;
  else
    return nth<I - 1>(rest...);
}

/// Undoing broadcasting: g has the shape of a node, the operand had shape `to` (static extents Ext).
/// Whether an operand was broadcast along an axis is known from the types, except where its extent
/// is dyn and another operand's extent there may differ from 1 (NumPy's rule: a run-time 1
/// broadcasts); that case is summed by a primitive that copies when nothing was broadcast. (A
/// run-time choice between two expression types would double the gradient's type at every such
/// node, and compile time with it.)
enum class broadcast { never, always, maybe };
/// The extent of an operand with extents E along axis k of a result of rank R (aligned from the
/// right; 1 where E has no such axis).
template <class E, std::size_t R>
constexpr std::size_t extent_along(std::size_t k) {
  return k + E::rank >= R ? E::values[k + E::rank - R] : 1;
}
/// `Others` are the other operands' extents; `Result` the node's.
template <class Operand, class Result, class... Others>
constexpr broadcast broadcast_along() {
  if constexpr (Operand::rank < Result::rank) {
    return broadcast::always;
  } else {
    broadcast how = broadcast::never;
    for (std::size_t k = 0; k < Operand::rank; ++k) {
      const std::size_t a = Operand::values[k], o = Result::values[k];
      if (a == 1 && o != 1) return broadcast::always;
      // Another operand with an extent other than 1 along this axis (aligned from the right).
      const bool others_differ = ((extent_along<Others, Result::rank>(k) != 1) || ...);
      if (a == dyn && o != 1 && others_differ) how = broadcast::maybe;
    }
    return how;
  }
}
template <class Ext, class G, class... Others>
auto unbroadcast(G g, const shape_t<Ext::rank>& to) {
  using T = typename G::value_type;
  constexpr broadcast how = broadcast_along<Ext, typename G::extents_type, Others...>();
  if constexpr (how == broadcast::never)
    return sym::expand<Ext>(std::move(g), to);
  else
    return primitive_expr<op::sum_to, G, constant_expr<T, Ext>>(std::move(g), sym::zeros<T, Ext>(to));
}

/// The extents of the operands other than the I-th.
template <std::size_t I, class... A>
struct other_extents {
  template <std::size_t... K>
  static auto pick(std::index_sequence<K...>)
      -> std::tuple<typename std::tuple_element_t<K + (K >= I), std::tuple<A...>>::extents_type...>;
  using type = decltype(pick(std::make_index_sequence<sizeof...(A) - 1>{}));
};
template <std::size_t I, class G, class X, class Others>
struct unbroadcast_operand;
template <std::size_t I, class G, class X, class... Others>
struct unbroadcast_operand<I, G, X, std::tuple<Others...>> {
  static auto run(G g, const X& x) {
    return unbroadcast<typename X::extents_type, G, Others...>(std::move(g), x.shape());
  }
};

[[noreturn]] inline void throw_view_of_variable() {
  throw std::invalid_argument(
      "statix: grad/jvp: the expression reads a variable through a view of another shape; differentiate "
      "with respect to the view, or reshape with sx::reshape");
}

/// Nodes whose operands are a pack (`args`): map_expr and primitive_expr.
template <class N>
concept has_operands = requires(const N& node) {
  node.args;
};

/// Is this leaf (a possible match) the variable? Another view of its memory is an error.
template <match How, class Leaf, class V>
bool is_variable(const Leaf& leaf, const V& var) {
  const bool same = leaf.data == var.data && leaf.size() == var.size();
  if constexpr (How == match::same_rank)
    if (same && leaf.shape() != var.shape) throw_view_of_variable();
  if (!same && overlaps(leaf.memory(), var.memory())) throw_view_of_variable();
  return same;
}

/// The reverse pass: `visit(node, g, var)` is the contribution to var's gradient of the subtree `node`
/// whose adjoint is g (with node's shape), or none.
struct reverse {
  template <class N, class G, class V>
  static auto visit(const N& node, const G& g, const V& var) {
    using T = typename V::value_type;
    if constexpr (!carries<N, T>) {
      static_cast<void>(node), static_cast<void>(g), static_cast<void>(var);
      return none{};
    } else {
      return step(node, g, var);
    }
  }

  template <class T, class Ext, class G, class V>
  static auto step(const leaf_expr<T, Ext>& leaf, const G& g, const V& var) {
    using VE = typename V::extents_type;
    constexpr match how = leaf_match<Ext, VE>();
    if constexpr (how == match::no) {
      if (overlaps(leaf.memory(), var.memory())) throw_view_of_variable();
      return none{};
    } else {
      using choice = choose_expr<decltype(reshaped_to<how, VE>(g, var.shape)), constant_expr<T, VE>>;
      if (!is_variable<how>(leaf, var)) return choice::pick_second(sym::zeros<T, VE>(var.shape));
      return choice::pick_first(reshaped_to<how, VE>(g, var.shape));
    }
  }

  /// map_expr and primitive_expr: the sum of what reaches the variable through each operand.
  template <class N, class G, class V>
    requires has_operands<N>
  static auto step(const N& node, const G& g, const V& var) {
    return node.args.apply(
        [&](const auto&... a) { return operands(node, g, var, std::make_index_sequence<sizeof...(a)>{}, a...); });
  }
  template <class Node, class G, class V, std::size_t... I, class... A>
  static auto operands(const Node& node, const G& g, const V& var, std::index_sequence<I...>, const A&... a) {
    return sum_of(operand<I>(node, g, var, a...)...);
  }
  template <std::size_t I, class Node, class G, class V, class... A>
  static auto operand(const Node& node, const G& g, const V& var, const A&... a) {
    const auto& x = nth<I>(a...);
    using X = std::remove_cvref_t<decltype(x)>;
    if constexpr (!carries<X, typename V::value_type>) {
      return none{};
    } else if constexpr (requires { typename Node::op_type; }) {  // elementwise: then undo broadcasting
      auto adjoint = Node::op_type::template partial<I>(g, node, a...);
      using others = typename other_extents<I, A...>::type;
      return visit(x, unbroadcast_operand<I, decltype(adjoint), X, others>::run(std::move(adjoint), x), var);
    } else {
      return visit(x, Node::primitive::template partial<I>(g, node, a...), var);
    }
  }

  template <class U, class X, class G, class V>
  static auto step(const cast_expr<U, X>& node, const G& g, const V& var) {
    using From = typename X::value_type;
    return visit(node.arg, cast_expr<From, G>{g}, var);
  }

  template <class Ext, class X, class G, class V>
  static auto step(const expand_expr<Ext, X>& node, const G& g, const V& var) {
    // The expanded operand is the only one: any extent the expansion changed was broadcast.
    return visit(node.arg, unbroadcast<typename X::extents_type, G, Ext>(g, node.arg.shape()), var);
  }

  template <class A, class B, class G, class V>
  static auto step(const choose_expr<A, B>& node, const G& g, const V& var) {
    using T = typename V::value_type;
    using VE = typename V::extents_type;
    auto or_zeros = [&](auto c) {
      if constexpr (is_none<decltype(c)>)
        return sym::zeros<T, VE>(var.shape);
      else
        return c;
    };
    using CA = decltype(or_zeros(visit(*node.first, g, var)));
    using CB = decltype(or_zeros(visit(*node.second, g, var)));
    if (node.first) return choose_expr<CA, CB>::pick_first(or_zeros(visit(*node.first, g, var)));
    return choose_expr<CA, CB>::pick_second(or_zeros(visit(*node.second, g, var)));
  }
};

/// The forward pass: `visit(node, var, dx)` is the derivative of `node` along dx (a tangent of var's
/// shape), with node's shape, or none.
struct forward {
  template <class N, class V, class D>
  static auto visit(const N& node, const V& var, const D& dx) {
    if constexpr (!carries<N, typename V::value_type>) {
      static_cast<void>(node), static_cast<void>(var), static_cast<void>(dx);
      return none{};
    } else {
      return step(node, var, dx);
    }
  }

  template <class T, class Ext, class V, class D>
  static auto step(const leaf_expr<T, Ext>& leaf, const V& var, const D& dx) {
    constexpr match how = leaf_match<Ext, typename V::extents_type>();
    if constexpr (how == match::no) {
      if (overlaps(leaf.memory(), var.memory())) throw_view_of_variable();
      return none{};
    } else {
      using choice = choose_expr<decltype(reshaped_to<how, Ext>(dx, leaf.shape())), constant_expr<T, Ext>>;
      if (!is_variable<how>(leaf, var)) return choice::pick_second(sym::zeros<T, Ext>(leaf.shape()));
      return choice::pick_first(reshaped_to<how, Ext>(dx, leaf.shape()));
    }
  }

  template <class N, class V, class D>
    requires has_operands<N>
  static auto step(const N& node, const V& var, const D& dx) {
    return node.args.apply(
        [&](const auto&... a) { return operands(node, var, dx, std::make_index_sequence<sizeof...(a)>{}, a...); });
  }
  template <class Node, class V, class D, std::size_t... I, class... A>
  static auto operands(const Node& node, const V& var, const D& dx, std::index_sequence<I...>, const A&... a) {
    return sum_of(operand<I>(node, visit(nth<I>(a...), var, dx), a...)...);
  }
  template <std::size_t I, class Node, class Tangent, class... A>
  static auto operand(const Node& node, const Tangent& t, const A&... a) {
    if constexpr (is_none<Tangent>) {
      return none{};
    } else if constexpr (requires { typename Node::op_type; }) {  // pointwise: the partial rule pushes too
      return sym::expand<typename Node::extents_type>(Node::op_type::template partial<I>(t, node, a...), node.shape());
    } else {
      return Node::primitive::template push<I>(t, node, a...);
    }
  }

  template <class U, class X, class V, class D>
  static auto step(const cast_expr<U, X>& node, const V& var, const D& dx) {
    auto t = visit(node.arg, var, dx);
    if constexpr (is_none<decltype(t)>)
      return none{};
    else
      return cast_expr<U, decltype(t)>{std::move(t)};
  }

  template <class Ext, class X, class V, class D>
  static auto step(const expand_expr<Ext, X>& node, const V& var, const D& dx) {
    auto t = visit(node.arg, var, dx);
    if constexpr (is_none<decltype(t)>)
      return none{};
    else
      return expand_expr<Ext, decltype(t)>(std::move(t), node.shape());
  }

  template <class A, class B, class V, class D>
  static auto step(const choose_expr<A, B>& node, const V& var, const D& dx) {
    using T = typename choose_expr<A, B>::value_type;
    auto or_zeros = [&node](auto t) {
      if constexpr (is_none<decltype(t)>)
        return sym::zeros<T, typename choose_expr<A, B>::extents_type>(node.shape());
      else
        return t;
    };
    using TA = decltype(or_zeros(visit(*node.first, var, dx)));
    using TB = decltype(or_zeros(visit(*node.second, var, dx)));
    if (node.first) return choose_expr<TA, TB>::pick_first(or_zeros(visit(*node.first, var, dx)));
    return choose_expr<TA, TB>::pick_second(or_zeros(visit(*node.second, var, dx)));
  }
};

/// A contribution as the gradient of a variable: zeros when there is none.
template <class C, class V>
auto gradient_of(C c, const V& var) {
  if constexpr (is_none<C>)
    return sym::zeros<typename V::value_type, typename V::extents_type>(var.shape);
  else
    return c;
}

template <class L, class... X>
constexpr bool check_grad_arguments() {
  using T = value_type_t<L>;
  return check::require<check::scalar_loss<op::grad, diagnostic::shape_of_t<extents_t<L>>, extents_t<L>::rank == 0>> &&
         check::require<check::floating_variable<op::grad, T, floating_dtype<T>>> &&
         (check::require<check::tensor_variable<op::grad, std::remove_cvref_t<X>, tensor_like<X>>> && ...);
}

template <class X>
constexpr bool floating_tensor() {
  if constexpr (tensor_like<X>)
    return floating_dtype<std::remove_const_t<typename std::remove_cvref_t<X>::value_type>>;
  else
    return true;  // already reported
}

/// The gradients of a rank-0 node with respect to each variable, as a tuple of expressions.
template <class Loss, class... X>
auto gradients(const Loss& loss, const X&... xs) {
  using T = typename Loss::value_type;
  return std::tuple{gradient_of(reverse::visit(loss, sym::literal<T, 1>(), variable_of(xs)), variable_of(xs))...};
}

}  // namespace autodiff

/// The gradient of the scalar expression `loss` with respect to each tensor in xs: one expression
/// with the variable's dtype and shape, or a std::tuple of them for several variables.
template <class L, class... X>
  requires(operand<L> && sizeof...(X) > 0)
auto grad(L&& loss, X&&... xs) {
  static_assert(autodiff::check_grad_arguments<L, X...>());
  static_assert((check::require<check::floating_variable<op::grad, X, autodiff::floating_tensor<X>()>> && ...));
  if constexpr (extents_t<L>::rank == 0 && floating_dtype<value_type_t<L>> && (tensor_like<X> && ...)) {
    auto node = as_node(std::forward<L>(loss));
    auto all = autodiff::gradients(node, xs...);
    if constexpr (sizeof...(X) == 1)
      return std::get<0>(std::move(all));
    else
      return all;
  } else {
    return detail::rule_failed<double>();
  }
}

/// The loss value and its gradients, evaluated in one plan: values the gradients need from the
/// forward pass (products, convolutions, softmax, ...) are computed once. Returns
/// (value, gradient tensors...): `auto [value, gw, gb] = sx::value_and_grad(loss, w, b);`
template <class L, class... X>
  requires(operand<L> && sizeof...(X) > 0)
auto value_and_grad(L&& loss, X&&... xs) {
  static_assert(autodiff::check_grad_arguments<L, X...>());
  auto node = as_node(std::forward<L>(loss));
  using T = value_type_t<L>;
  auto all = std::apply([&](const auto&... g) { return eval(node, g...); }, autodiff::gradients(node, xs...));
  return std::apply(
      [](auto& value, auto&... g) {
        return std::tuple<T, std::remove_cvref_t<decltype(g)>...>{value.data()[0], std::move(g)...};
      },
      all);
}

/// Forward mode: the derivative of `e` along `dx` (a direction for the tensor x, of x's shape), an
/// expression of e's shape.
template <operand E, tensor_like X, operand D>
auto jvp(E&& e, X&& x, D&& dx) {
  using T = std::remove_const_t<value_type_t<X>>;
  static_assert(check::require<check::floating_variable<op::jvp, T, floating_dtype<T>>>);
  static_assert(check::require<check::same_dtype<op::jvp, T, value_type_t<D>, std::is_same_v<T, value_type_t<D>>>>);
  static_assert(
      check::require<
          check::tangent_shape<op::jvp, diagnostic::shape_of_t<extents_t<X>>, diagnostic::shape_of_t<extents_t<D>>,
                               detail::same_static_extents<extents_t<X>, extents_t<D>>()>>);
  auto node = as_node(std::forward<E>(e));
  auto direction = as_node(std::forward<D>(dx));
  if (direction.shape() != x.shape()) throw_shape_mismatch("jvp", x.shape(), direction.shape());
  const auto var = autodiff::variable_of(x);
  auto t = autodiff::forward::visit(node, var, direction);
  using N = decltype(node);
  if constexpr (autodiff::is_none<decltype(t)>)
    return sym::zeros<typename N::value_type, typename N::extents_type>(node.shape());
  else
    return sym::expand<typename N::extents_type>(std::move(t), node.shape());
}

/// What sx::gradcheck found: the largest errors of the analytic gradient against central differences
/// in double, and where the worst one is.
struct gradcheck_result {
  double max_abs_error = 0;  // max |analytic - numeric|
  double max_rel_error = 0;  // max |analytic - numeric| / max(|numeric|, |analytic|), over non-tiny values
  std::size_t variable = 0;  // the variable (0-based) and flat element index of the worst element
  std::size_t index = 0;
  double analytic = 0, numeric = 0;  // the two values there
  double rtol = 0, atol = 0;         // the tolerance checked: |a - n| <= atol + rtol |n|
  bool passed = true;

  explicit operator bool() const { return passed; }
  friend std::ostream& operator<<(std::ostream& os, const gradcheck_result& r) {
    return os << "gradcheck " << (r.passed ? "passed" : "FAILED") << ": max abs error " << r.max_abs_error
              << ", max rel error " << r.max_rel_error << "; worst at variable " << r.variable << ", element "
              << r.index << " (analytic " << r.analytic << ", numeric " << r.numeric << ")";
  }
};

struct gradcheck_options {
  double eps = 1e-5;  // step h = eps * max(1, |x|)
  double rtol = 0;    // 0: 1e-6 for double variables, 2e-3 for float
  double atol = 0;    // 0: rtol * max(1, largest |numeric|) of the variable
};

namespace autodiff {

template <class X>
using double_copy = tensor_for<decltype(cast<double>(std::declval<const X&>()))>;

template <class F, class... D>
double value_at(F& f, D&... d) {
  return static_cast<double>(eval(f(d...)).data()[0]);
}

}  // namespace autodiff

/// Compares sx::grad of `f(xs...)` (a scalar expression built by f from its arguments, in the
/// variables' dtype) with central differences of f evaluated on double copies of xs. f must accept
/// tensors of either dtype (a generic lambda).
template <class F, tensor_like... X>
gradcheck_result gradcheck(const gradcheck_options& options, F&& f, const X&... xs) {
  static_assert(sizeof...(X) > 0);
  auto analytic = std::apply([](const auto&... g) { return std::tuple{eval(g)...}; },
                             autodiff::gradients(as_node(f(xs...)), xs...));
  std::tuple<autodiff::double_copy<X>...> copies{eval(cast<double>(xs))...};
  constexpr bool all_double = (std::is_same_v<std::remove_const_t<typename X::value_type>, double> && ...);
  gradcheck_result r;
  r.rtol = options.rtol > 0 ? options.rtol : (all_double ? 1e-6 : 2e-3);
  double worst = -1;
  auto check_variable = [&](std::size_t k, auto& copy, const auto& g) {
    double* v = copy.data();
    double scale = 1;
    std::vector<double> numeric(copy.size());
    for (std::size_t i = 0; i < copy.size(); ++i) {
      const double x0 = v[i];
      const double h = options.eps * std::max(1.0, std::abs(x0));
      v[i] = x0 + h;
      const double up = std::apply([&](auto&... d) { return autodiff::value_at(f, d...); }, copies);
      v[i] = x0 - h;
      const double down = std::apply([&](auto&... d) { return autodiff::value_at(f, d...); }, copies);
      v[i] = x0;
      numeric[i] = (up - down) / (2 * h);
      scale = std::max(scale, std::abs(numeric[i]));
    }
    const double atol = options.atol > 0 ? options.atol : r.rtol * scale;
    r.atol = std::max(r.atol, atol);
    for (std::size_t i = 0; i < copy.size(); ++i) {
      const double a = static_cast<double>(g.data()[i]), n = numeric[i];
      const double err = std::abs(a - n);
      const double denominator = std::max(std::abs(a), std::abs(n));
      const double rel = denominator > atol ? err / denominator : 0;
      r.max_abs_error = std::max(r.max_abs_error, err);
      r.max_rel_error = std::max(r.max_rel_error, rel);
      const double excess = err / (atol + r.rtol * std::abs(n));
      if (!(err <= atol + r.rtol * std::abs(n))) r.passed = false;
      if (excess > worst || std::isnan(err)) {
        worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : excess;
        r.variable = k;
        r.index = i;
        r.analytic = a;
        r.numeric = n;
      }
    }
  };
  [&]<std::size_t... K>(std::index_sequence<K...>) {
    (check_variable(K, std::get<K>(copies), std::get<K>(analytic)), ...);
  }
  (std::index_sequence_for<X...>{});
  return r;
}

template <class F, tensor_like... X>
gradcheck_result gradcheck(F&& f, const X&... xs) {
  return gradcheck(gradcheck_options{}, std::forward<F>(f), xs...);
}

}  // namespace statix
