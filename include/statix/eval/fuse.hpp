// The user-facing evaluation entry points: sx::out / sx::fuse for several statements in one pass, and
// sx::eval to turn expressions into tensors.
#pragma once

#include <tuple>

#include "../tensor.hpp"

namespace statix {

template <class S>
concept statement_like = requires {
  typename S::kind;
  typename S::extents_type;
  requires std::is_same_v<S, statement<typename S::value_type, typename S::extents_type, typename S::kind,
                                       decltype(std::declval<S>().expr)>>;
};

/// The target of one statement of sx::fuse: `sx::out(m) = expr`, `sx::out(p) -= expr`, ...
template <class Dst>
class output {
 public:
  using T = typename Dst::value_type;
  using Ext = typename Dst::extents_type;

  explicit output(Dst& target) : target_(target) {}

  template <detail::assignable_from<T> X>
  auto operator=(X&& x) && {
    return detail::make_statement<assign_kind::set, T, Ext>(target_.data(), target_.shape(), std::forward<X>(x));
  }
  template <detail::assignable_from<T> X>
  auto operator+=(X&& x) && {
    return detail::make_statement<assign_kind::add, T, Ext>(target_.data(), target_.shape(), std::forward<X>(x));
  }
  template <detail::assignable_from<T> X>
  auto operator-=(X&& x) && {
    return detail::make_statement<assign_kind::sub, T, Ext>(target_.data(), target_.shape(), std::forward<X>(x));
  }
  template <detail::assignable_from<T> X>
  auto operator*=(X&& x) && {
    return detail::make_statement<assign_kind::mul, T, Ext>(target_.data(), target_.shape(), std::forward<X>(x));
  }
  template <detail::assignable_from<T> X>
  auto operator/=(X&& x) && {
    return detail::make_statement<assign_kind::div, T, Ext>(target_.data(), target_.shape(), std::forward<X>(x));
  }

 private:
  Dst& target_;
};

/// Marks a tensor (or non-const view) as written by a statement of sx::fuse.
template <tensor_like Dst>
  requires(!std::is_const_v<std::remove_pointer_t<decltype(std::declval<Dst&>().data())>>)
output<Dst> out(Dst& target) {
  return output<Dst>(target);
}

/// Runs the statements as ONE pass over their common shape; the result equals running them in order.
/// Outputs of different static shapes do not compile; different dynamic shapes throw shape_error
/// before anything is written.
template <statement_like First, statement_like... Rest>
void fuse(const First& first, const Rest&... rest) {
  using E0 = typename First::extents_type;
  static_assert((check::require<check::same_output_shape<op::fuse, diagnostic::shape_of_t<E0>,
                                                         diagnostic::shape_of_t<typename Rest::extents_type>,
                                                         same_static_extents<E0, typename Rest::extents_type>()>> &&
                 ...));
  if constexpr (((Rest::rank == First::rank) && ...)) {
    (((rest.shape != first.shape) ? throw_shape_mismatch("fuse", first.shape, rest.shape) : void()), ...);
    execute(first, rest...);
  }
}

namespace detail {
template <class T, class Ext>
struct tensor_of;
template <class T, std::size_t... E>
struct tensor_of<T, extents<E...>> {
  using type = tensor<T, E...>;
};
}  // namespace detail

/// The tensor type an expression evaluates to.
template <operand X>
using tensor_for = typename detail::tensor_of<std::remove_const_t<value_type_t<X>>, extents_t<X>>::type;

/// Evaluates one expression into a new tensor.
template <operand X>
tensor_for<X> eval(X&& x) {
  return tensor_for<X>(std::forward<X>(x));
}

namespace detail {
template <class... Stmt>
void execute_together(plan& p, const Stmt&... stmts) {
  const auto& first = std::get<0>(std::tie(stmts...));
  if constexpr (((Stmt::rank == std::remove_cvref_t<decltype(first)>::rank) && ...)) {
    if (((stmts.shape == first.shape) && ...)) {
      execute_in(p, stmts...);
      return;
    }
  }
  (execute_in(p, stmts), ...);
}

/// Evaluates nodes into tensors in one plan; `Together`: those of one shape as one pass, else each
/// statement on its own (a gradient that is a product alone then writes straight into its tensor).
template <bool Together, class Tensors, class Nodes, std::size_t... I>
void eval_into(Tensors& out, const Nodes& nodes, std::index_sequence<I...>) {
  plan p;
  p.forbid_epilogue();
  auto run = [&p](const auto&... stmts) {
    if constexpr (Together)
      execute_together(p, stmts...);
    else
      (execute_in(p, stmts), ...);
  };
  run(statement<typename std::tuple_element_t<I, Tensors>::value_type,
                typename std::tuple_element_t<I, Tensors>::extents_type, assign_kind::set,
                std::tuple_element_t<I, Nodes>>{std::get<I>(out).data(), std::get<I>(out).shape(),
                                                std::get<I>(nodes)}...);
}
}  // namespace detail

namespace detail {
template <bool Together, class... X>
std::tuple<tensor_for<X>...> eval_all(X&&... x) {
  std::tuple<node_t<X>...> nodes{as_node(std::forward<X>(x))...};
  auto out = std::apply(
      [](const auto&... node) { return std::tuple<tensor_for<X>...>{tensor_for<X>::for_overwrite(node.shape())...}; },
      nodes);
  detail::eval_into<Together>(out, nodes, std::index_sequence_for<X...>{});
  return out;
}
}  // namespace detail

/// Evaluates several expressions into a tuple of tensors in one plan: a value they share (a matmul, a
/// reduction, ... of the same operands) is computed once, and expressions of one shape run as one pass.
template <operand... X>
  requires(sizeof...(X) > 1)
std::tuple<tensor_for<X>...> eval(X&&... x) {
  return detail::eval_all<true>(std::forward<X>(x)...);
}

}  // namespace statix
