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
  static_assert(
      (check::require<check::same_output_shape<op::fuse, diagnostic::shape_of_t<E0>,
                                               diagnostic::shape_of_t<typename Rest::extents_type>,
                                               detail::same_static_extents<E0, typename Rest::extents_type>()>> &&
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

/// Evaluates one expression into a new tensor, or several into a tuple of tensors.
template <operand X>
tensor_for<X> eval(X&& x) {
  return tensor_for<X>(std::forward<X>(x));
}
template <operand... X>
  requires(sizeof...(X) > 1)
std::tuple<tensor_for<X>...> eval(X&&... x) {
  return {tensor_for<X>(std::forward<X>(x))...};
}

}  // namespace statix
