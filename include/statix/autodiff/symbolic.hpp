// The vocabulary derivative rules are written in. Gradients are ordinary expressions, built from the
// same nodes as the user's, plus three that only derivation needs:
//   literal_expr<T, V>  a number known at compile time (the seed 1, -1, 0), so that `1 * x`, `x * 1`,
//                       `-(-x)` and `literal + literal` simplify away in the type, not at run time;
//   expand_expr         an operand read at the positions of a larger (broadcast) shape, or relabelled
//                       with other static extents; it costs nothing (the loop broadcasts);
//   choose_expr         one of two expressions, picked when the gradient is built (a leaf is the
//                       variable or not; an extent broadcast or not), and only the picked one runs.
// The builders in `sym::` simplify while they build; derivative rules (next to each primitive) call
// them.
#pragma once

#include <optional>

#include "../generators.hpp"
#include "../map.hpp"
#include "../primitive.hpp"

namespace statix {

namespace op {
struct add;
struct sub;
struct mul;
struct div;
struct neg;
struct where;
struct greater;
struct greater_equal;
struct less;
struct less_equal;
struct equal;
struct exp;
struct log;
struct pow;
struct sin;
struct cos;
}  // namespace op

/// `arg` read at the positions of `extent` (which it broadcasts to), with static extents Ext.
template <class Ext, class X>
struct expand_expr {
  static constexpr bool is_statix_expression = true;
  static constexpr node_kind kind = node_kind::expand;
  using value_type = typename X::value_type;
  using extents_type = Ext;
  static constexpr std::size_t rank = Ext::rank;

  X arg;
  shape_t<rank> extent;

  expand_expr(X x, const shape_t<rank>& to) : arg(std::move(x)), extent(to) {
    if (detail::broadcast_shapes("expand", arg.shape(), extent) != extent)
      throw_shape_mismatch("expand", arg.shape(), extent);
  }

  const shape_t<rank>& shape() const { return extent; }
  bool flat_ok(std::size_t n) const { return arg.flat_ok(n); }
  static constexpr bool always_flat(std::size_t n) { return X::always_flat(n); }
  /// The loop broadcasts every leaf to its own shape, so the operand lowers as itself.
  template <bool Flat>
  auto lower(plan& p) const {
    return arg.template lower<Flat>(p);
  }
  void identify(signature& s) const {
    arg.identify(s);
    for (std::size_t e : extent) s.add(e);
  }
  template <bool Flat, std::size_t R>
  auto make_cursor(const loop_info<R>& loop) const {
    return arg.template make_cursor<Flat, R>(loop);
  }
  void for_each_memory(memory_visitor f) const { arg.for_each_memory(f); }
};

/// The lowered form of choose_expr (rank R: 1 when flat): only the picked alternative was lowered
/// (and materialized).
template <class A, class B, std::size_t R>
struct chosen_expr {
  static constexpr bool is_statix_expression = true;
  using value_type = typename A::value_type;
  using extents_type = dyn_extents<R>;
  static constexpr std::size_t rank = R;

  std::optional<A> first;
  std::optional<B> second;
  shape_t<rank> extent;  // the choice's (a lowered constant has rank 0)

  const shape_t<rank>& shape() const { return extent; }

  template <bool Flat, std::size_t RL>
  struct cursor {
    std::optional<decltype(std::declval<const A&>().template make_cursor<Flat, RL>(
        std::declval<const loop_info<RL>&>()))>
        a;
    std::optional<decltype(std::declval<const B&>().template make_cursor<Flat, RL>(
        std::declval<const loop_info<RL>&>()))>
        b;
    void set_row(const shape_t<RL>& index) {
      if (a)
        a->set_row(index);
      else
        b->set_row(index);
    }
    template <class C, simd::span S>
    simd::batch_of<value_type, C> load(S s) const {
      return a ? a->template load<C>(s) : b->template load<C>(s);
    }
  };
  template <bool Flat, std::size_t RL>
  cursor<Flat, RL> make_cursor(const loop_info<RL>& loop) const {
    cursor<Flat, RL> c;
    if (first)
      c.a.emplace(first->template make_cursor<Flat, RL>(loop));
    else
      c.b.emplace(second->template make_cursor<Flat, RL>(loop));
    return c;
  }
};

/// One of two expressions of the same rank, picked when the expression is built: only the picked one
/// exists (the other may not even be constructible: a reshape to a size it does not have).
template <class A, class B>
struct choose_expr {
  static constexpr bool is_statix_expression = true;
  static constexpr node_kind kind = node_kind::choice;
  using value_type = typename A::value_type;
  using extents_type = typename A::extents_type;
  static constexpr std::size_t rank = A::rank;
  static_assert(B::rank == rank && std::is_same_v<typename B::value_type, value_type>);

  std::optional<A> first;
  std::optional<B> second;

  static choose_expr pick_first(A a) { return {std::move(a), std::nullopt}; }
  static choose_expr pick_second(B b) { return {std::nullopt, std::move(b)}; }
  bool use_first() const { return first.has_value(); }

  shape_t<rank> shape() const { return first ? first->shape() : second->shape(); }
  bool flat_ok(std::size_t n) const { return first ? first->flat_ok(n) : second->flat_ok(n); }
  static constexpr bool always_flat(std::size_t n) { return A::always_flat(n) && B::always_flat(n); }
  template <bool Flat>
  auto lower(plan& p) const {
    using LA = decltype(first->template lower<Flat>(p));
    using LB = decltype(second->template lower<Flat>(p));
    chosen_expr<LA, LB, Flat ? 1 : rank> out;
    if constexpr (Flat)
      out.extent = {element_count(shape())};
    else
      out.extent = shape();
    if (first)
      out.first.emplace(first->template lower<Flat>(p));
    else
      out.second.emplace(second->template lower<Flat>(p));
    return out;
  }
  void identify(signature& s) const {
    s.add(use_first());
    first ? first->identify(s) : second->identify(s);
  }
  void for_each_memory(memory_visitor f) const { first ? first->for_each_memory(f) : second->for_each_memory(f); }
  /// As a whole statement, the picked alternative is the statement: no test per register, and a
  /// picked matmul writes straight into the destination.
  void compute_root(value_type* dst, plan& p) const {
    auto run = [&](const auto& e) { evaluate_into(dst, e, p); };
    first ? run(*first) : run(*second);
  }
};

namespace detail {
// Run-time facts for whole statements (eval/kernel.hpp): zeros are known zeros; an expansion to its
// operand's own shape and a choice pass the questions on to what they read; `a + b` is `a` when b is
// zero. (x + 0 is x for every x but -0, so an element may stay -0 where the addition gave +0.)
template <class T, long V>
struct whole_value<literal_expr<T, V>> : written_if_materializing {
  static bool is_zero(const literal_expr<T, V>&) { return V == 0; }
};
template <class T>
struct whole_value<scalar_expr<T>> : written_if_materializing {
  static bool is_zero(const scalar_expr<T>& e) { return e.value == T(0); }
};
template <class T, class Ext>
struct whole_value<constant_expr<T, Ext>> : written_if_materializing {
  static bool is_zero(const constant_expr<T, Ext>& e) { return e.value == T(0); }
};
template <class Ext, class X>
struct whole_value<expand_expr<Ext, X>> {
  static bool is_zero(const expand_expr<Ext, X>& e) { return whole_value<X>::is_zero(e.arg); }
  template <class T, std::size_t R>
  static bool write(const expand_expr<Ext, X>& e, T* dst, const shape_t<R>& shape, plan& p) {
    if constexpr (X::rank == R) {
      if (e.arg.shape() == shape) return whole_value<X>::write(e.arg, dst, shape, p);
    }
    return false;
  }
};
template <class A, class B>
struct whole_value<choose_expr<A, B>> {
  static bool is_zero(const choose_expr<A, B>& e) {
    return e.first ? whole_value<A>::is_zero(*e.first) : whole_value<B>::is_zero(*e.second);
  }
  template <class T, std::size_t R>
  static bool write(const choose_expr<A, B>& e, T* dst, const shape_t<R>& shape, plan& p) {
    return e.first ? whole_value<A>::write(*e.first, dst, shape, p) : whole_value<B>::write(*e.second, dst, shape, p);
  }
};
template <class A, class B>
struct whole_value<map_expr<op::add, A, B>> {
  static bool is_zero(const map_expr<op::add, A, B>&) { return false; }
  template <class T, std::size_t R>
  static bool write(const map_expr<op::add, A, B>& e, T* dst, const shape_t<R>& shape, plan& p) {
    return e.args.apply([&](const A& a, const B& b) {
      if (whole_value<B>::is_zero(b)) return whole_value<A>::write(a, dst, shape, p);
      if (whole_value<A>::is_zero(a)) return whole_value<B>::write(b, dst, shape, p);
      return false;
    });
  }
};
}  // namespace detail

/// choose(pick_first, a, b): `a` when pick_first, else `b`, decided when the expression is built (a
/// layer's training or evaluation mode). One expression type for both; only the chosen one is ever
/// evaluated or differentiated.
template <operand A, operand B>
auto choose(bool pick_first, A&& a, B&& b) {
  using NA = node_t<A>;
  using NB = node_t<B>;
  static_assert(std::is_same_v<typename NA::value_type, typename NB::value_type>,
                "statix: choose needs two expressions of the same dtype");
  static_assert(same_static_extents<typename NA::extents_type, typename NB::extents_type>(),
                "statix: choose needs two expressions of the same shape");
  using choice = choose_expr<NA, NB>;
  if (pick_first) return choice::pick_first(as_node(std::forward<A>(a)));
  return choice::pick_second(as_node(std::forward<B>(b)));
}

template <class N>
inline constexpr bool is_literal = false;
template <class T, long V>
inline constexpr bool is_literal<literal_expr<T, V>> = true;

template <class N>
inline constexpr bool is_scalar_node = false;
template <class T>
inline constexpr bool is_scalar_node<scalar_expr<T>> = true;
template <class N>
inline constexpr bool is_constant = is_literal<N> || is_scalar_node<N>;
template <class N>
inline constexpr bool is_negation = false;
template <class X>
inline constexpr bool is_negation<map_expr<op::neg, X>> = true;
/// Is N the literal V?
template <class N, long V>
inline constexpr bool is_literal_of = false;
template <class T, long V>
inline constexpr bool is_literal_of<literal_expr<T, V>, V> = true;
/// A literal read at the positions of a shape (the spread seed of `sum`).
template <class N>
inline constexpr bool is_spread_literal = false;
template <class Ext, class T, long V>
inline constexpr bool is_spread_literal<expand_expr<Ext, literal_expr<T, V>>> = true;

/// Simplifying builders for derived expressions. Operands are nodes of one dtype whose shapes
/// broadcast (derivation builds them so; nothing here is user input).
namespace sym {

template <class T, long V>
constexpr literal_expr<T, V> literal() {
  return {};
}
/// The literals 0 and 1 in the dtype of node `n`.
template <class N>
constexpr literal_expr<typename N::value_type, 0> zero_like(const N&) {
  return {};
}
template <class N>
constexpr literal_expr<typename N::value_type, 1> one_like(const N&) {
  return {};
}
template <class T>
scalar_expr<T> constant(double v) {
  return {static_cast<T>(v)};
}

template <class Op, class... X>
auto map(X... x) {
  return map_expr<Op, X...>(std::move(x)...);
}

/// `x` with static extents Ext and the run-time shape `to` (equal to x's, or broadcast from it).
template <class Ext, class X>
auto expand(X x, const shape_t<Ext::rank>& to) {
  if constexpr (std::is_same_v<typename X::extents_type, Ext> && Ext::all_static)
    return x;  // the same static shape: nothing to say
  else
    return expand_expr<Ext, X>(std::move(x), to);
}

template <class A>
auto neg(A a) {
  if constexpr (is_literal<A>)
    return literal_expr<typename A::value_type, -static_cast<long>(A::value)>{};
  else if constexpr (is_scalar_node<A>)
    return A{-a.value};
  else if constexpr (is_negation<A>)
    return a.args.apply([](const auto& x) { return x; });  // -(-x) = x
  else
    return map<op::neg>(std::move(a));
}

/// The operand of a scalar multiple (`c * x` built by `mul`), or void.
template <class A>
struct scaled {
  static constexpr bool value = false;
};
template <class T, class X>
struct scaled<map_expr<op::mul, scalar_expr<T>, X>> {
  static constexpr bool value = true;
};

template <class A, class B>
auto mul(A a, B b) {
  if constexpr (is_literal<A> && is_literal<B>)
    return literal_expr<typename A::value_type, static_cast<long>(A::value * B::value)>{};
  else if constexpr (is_literal_of<A, 1>)
    return b;
  else if constexpr (is_literal_of<B, 1>)
    return a;
  else if constexpr (is_literal_of<A, -1>)
    return neg(std::move(b));
  else if constexpr (is_literal_of<B, -1>)
    return neg(std::move(a));
  else if constexpr (is_spread_literal<A> && !is_constant<B>)  // (c spread over S) b = c b spread over S
    return expand<typename A::extents_type>(mul(a.arg, std::move(b)), a.shape());
  else if constexpr (is_spread_literal<B> && !is_constant<A>)
    return mul(std::move(b), std::move(a));
  else if constexpr (is_constant<A> && is_constant<B>)
    return scalar_expr<typename A::value_type>{a.value * b.value};  // constant folding
  else if constexpr (is_constant<A> && scaled<B>::value)
    return b.args.apply([&](const auto& c, const auto& x) { return mul(mul(a, c), x); });  // a (c x) = (a c) x
  else if constexpr (is_constant<B> && !is_constant<A>)
    return mul(std::move(b), std::move(a));  // constants first, so that they meet and fold
  else
    return map<op::mul>(std::move(a), std::move(b));
}

template <class A, class B>
auto add(A a, B b) {
  if constexpr (is_literal<A> && is_literal<B>)
    return literal_expr<typename A::value_type, static_cast<long>(A::value + B::value)>{};
  else if constexpr (is_constant<A> && is_constant<B>)
    return scalar_expr<typename A::value_type>{a.value + b.value};
  else if constexpr (is_literal_of<A, 0>)
    return b;
  else if constexpr (is_literal_of<B, 0>)
    return a;
  else
    return map<op::add>(std::move(a), std::move(b));
}

template <class A, class B>
auto sub(A a, B b) {
  if constexpr (is_literal_of<B, 0>)
    return a;
  else if constexpr (is_literal_of<A, 0>)
    return neg(std::move(b));
  else if constexpr (is_literal<A> && is_literal<B>)
    return literal_expr<typename A::value_type, static_cast<long>(A::value - B::value)>{};
  else if constexpr (is_constant<A> && is_constant<B>)
    return scalar_expr<typename A::value_type>{a.value - b.value};
  else
    return map<op::sub>(std::move(a), std::move(b));
}

template <class A, class B>
auto div(A a, B b) {
  if constexpr (is_literal_of<B, 1>)
    return a;
  else
    return map<op::div>(std::move(a), std::move(b));
}

/// where(mask, a, b).
template <class M, class A, class B>
auto select(M m, A a, B b) {
  return map<op::where>(std::move(m), std::move(a), std::move(b));
}

/// Zeros of a shape, as a node.
template <class T, class Ext>
constant_expr<T, Ext> zeros(const shape_t<Ext::rank>& s) {
  return {s, T(0)};
}

}  // namespace sym
}  // namespace statix
