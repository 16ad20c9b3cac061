// Elementwise primitives. Each op is one struct: its name (for diagnostics and shape errors), its dtype
// rule, and its SIMD kernel, generic over xsimd batches. The builders below add the compile-time rules:
// same dtype, broadcastable shapes, scalars taking the expression's dtype.
#pragma once

#include <string_view>

#include "../autodiff/symbolic.hpp"
#include "../diagnostics.hpp"
#include "../map.hpp"

namespace statix {

namespace op {

/// Result dtype = the operands' (common) dtype.
struct arithmetic {
  template <class V, class... Rest>
  using result_type = V;
};
/// Result is a bool mask.
struct predicate {
  template <class... V>
  using result_type = bool;
};

// Each differentiable op carries `partial<I>(g, out, args...)`: the adjoint of argument I given the
// adjoint g of the result `out` (in the result's shape; broadcasting is undone by the caller). These
// are pointwise products with the op's local derivative, so the same rule pushes a tangent forward.
// clang-format off
struct add : arithmetic { static constexpr std::string_view name = "add";
  static auto apply(const auto& a, const auto& b) { return a + b; }
  template <std::size_t I> static auto partial(const auto& g, const auto&, const auto&, const auto&) { return g; } };
struct sub : arithmetic { static constexpr std::string_view name = "subtract";
  static auto apply(const auto& a, const auto& b) { return a - b; }
  template <std::size_t I> static auto partial(const auto& g, const auto&, const auto&, const auto&) {
    if constexpr (I == 0) return g; else return sym::neg(g); } };
struct mul : arithmetic { static constexpr std::string_view name = "multiply";
  static auto apply(const auto& a, const auto& b) { return a * b; }
  template <std::size_t I> static auto partial(const auto& g, const auto&, const auto& a, const auto& b) {
    if constexpr (I == 0) return sym::mul(g, b); else return sym::mul(g, a); } };
struct div : arithmetic { static constexpr std::string_view name = "divide";
  static auto apply(const auto& a, const auto& b) { return a / b; }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto&, const auto& b) {
    if constexpr (I == 0) return sym::div(g, b); else return sym::neg(sym::mul(g, sym::div(out, b))); } };
struct neg : arithmetic { static constexpr std::string_view name = "negate";
  static auto apply(const auto& a) { return -a; }
  template <std::size_t I> static auto partial(const auto& g, const auto&, const auto&) { return sym::neg(g); } };
/// A NaN on either side gives NaN (as PyTorch); the gradient of a tie goes to the first operand.
struct maximum : arithmetic { static constexpr std::string_view name = "maximum";
  static auto apply(const auto& a, const auto& b) { return simd::maximum(a, b); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& a, const auto& b) {
    auto first = sym::map<greater_equal>(a, b);
    if constexpr (I == 0) return sym::select(first, g, sym::zero_like(out));
    else return sym::select(first, sym::zero_like(out), g); } };
struct minimum : arithmetic { static constexpr std::string_view name = "minimum";
  static auto apply(const auto& a, const auto& b) { return simd::minimum(a, b); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& a, const auto& b) {
    auto first = sym::map<less_equal>(a, b);
    if constexpr (I == 0) return sym::select(first, g, sym::zero_like(out));
    else return sym::select(first, sym::zero_like(out), g); } };
struct pow : arithmetic { static constexpr std::string_view name = "pow";
  static auto apply(const auto& a, const auto& b) { return xsimd::pow(a, b); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& a, const auto& b) {
    if constexpr (I == 0) return sym::mul(g, sym::mul(b, sym::map<pow>(a, sym::sub(b, sym::one_like(out)))));
    else return sym::mul(g, sym::mul(out, sym::map<log>(a))); } };
/// The derivative at 0 is taken as 0.
struct abs : arithmetic { static constexpr std::string_view name = "abs";
  static auto apply(const auto& a) { return xsimd::abs(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& a) {
    return sym::select(sym::map<less>(a, sym::zero_like(out)), sym::neg(g),
                       sym::select(sym::map<greater>(a, sym::zero_like(out)), g, sym::zero_like(out))); } };
struct square : arithmetic { static constexpr std::string_view name = "square";
  static auto apply(const auto& a) { return a * a; }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& a) {
    return sym::mul(g, sym::mul(sym::literal<typename std::remove_cvref_t<decltype(out)>::value_type, 2>(), a)); } };
/// relu(NaN) is NaN and the derivative at 0 is taken as 0, as PyTorch does.
struct relu : arithmetic { static constexpr std::string_view name = "relu";
  template <class B> static B apply(const B& a) { return simd::max_with_zero(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& a) {
    return sym::select(sym::map<greater>(a, sym::zero_like(out)), g, sym::zero_like(out)); } };
struct exp : arithmetic { static constexpr std::string_view name = "exp";
  static auto apply(const auto& a) { return simd::exp(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto&) { return sym::mul(g, out); } };
struct expm1 : arithmetic { static constexpr std::string_view name = "expm1";
  static auto apply(const auto& a) { return xsimd::expm1(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto&) {
    return sym::mul(g, sym::add(out, sym::one_like(out))); } };
struct log : arithmetic { static constexpr std::string_view name = "log";
  static auto apply(const auto& a) { return xsimd::log(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto&, const auto& a) { return sym::div(g, a); } };
struct log1p : arithmetic { static constexpr std::string_view name = "log1p";
  static auto apply(const auto& a) { return xsimd::log1p(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& a) {
    return sym::div(g, sym::add(a, sym::one_like(out))); } };
struct sqrt : arithmetic { static constexpr std::string_view name = "sqrt";
  static auto apply(const auto& a) { return xsimd::sqrt(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto&) {
    using T = typename std::remove_cvref_t<decltype(out)>::value_type;
    return sym::div(sym::mul(g, sym::constant<T>(0.5)), out); } };
struct rsqrt : arithmetic { static constexpr std::string_view name = "rsqrt";
  template <class B> static B apply(const B& a) { return B(1) / xsimd::sqrt(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& a) {
    using T = typename std::remove_cvref_t<decltype(out)>::value_type;
    return sym::mul(g, sym::mul(sym::constant<T>(-0.5), sym::div(out, a))); } };
struct sigmoid : arithmetic { static constexpr std::string_view name = "sigmoid";
  template <class B> static B apply(const B& a) { return B(1) / (B(1) + simd::exp(-a)); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto&) {
    return sym::mul(g, sym::mul(out, sym::sub(sym::one_like(out), out))); } };
struct tanh : arithmetic { static constexpr std::string_view name = "tanh";
  static auto apply(const auto& a) { return xsimd::tanh(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto&) {
    return sym::mul(g, sym::sub(sym::one_like(out), sym::mul(out, out))); } };
struct sin : arithmetic { static constexpr std::string_view name = "sin";
  static auto apply(const auto& a) { return xsimd::sin(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto&, const auto& a) {
    return sym::mul(g, sym::map<cos>(a)); } };
struct cos : arithmetic { static constexpr std::string_view name = "cos";
  static auto apply(const auto& a) { return xsimd::cos(a); }
  template <std::size_t I> static auto partial(const auto& g, const auto&, const auto& a) {
    return sym::neg(sym::mul(g, sym::map<sin>(a))); } };

// Predicates have no derivative: a bool result stops differentiation.
struct less : predicate { static constexpr std::string_view name = "less";
  static auto apply(const auto& a, const auto& b) { return a < b; } };
struct less_equal : predicate { static constexpr std::string_view name = "less_equal";
  static auto apply(const auto& a, const auto& b) { return a <= b; } };
struct greater : predicate { static constexpr std::string_view name = "greater";
  static auto apply(const auto& a, const auto& b) { return a > b; } };
struct greater_equal : predicate { static constexpr std::string_view name = "greater_equal";
  static auto apply(const auto& a, const auto& b) { return a >= b; } };
struct equal : predicate { static constexpr std::string_view name = "equal";
  static auto apply(const auto& a, const auto& b) { return a == b; } };
struct not_equal : predicate { static constexpr std::string_view name = "not_equal";
  static auto apply(const auto& a, const auto& b) { return a != b; } };
struct logical_and : predicate { static constexpr std::string_view name = "logical_and";
  static auto apply(const auto& a, const auto& b) { return a && b; } };
struct logical_or : predicate { static constexpr std::string_view name = "logical_or";
  static auto apply(const auto& a, const auto& b) { return a || b; } };
struct logical_not : predicate { static constexpr std::string_view name = "logical_not";
  static auto apply(const auto& a) { return !a; } };

/// where(mask, a, b): the dtype of a and b; the mask has no derivative.
struct where { static constexpr std::string_view name = "where";
  template <class M, class V, class W> using result_type = V;
  template <class M, class B> static B apply(const M& m, const B& a, const B& b) {
    if constexpr (std::is_same_v<M, B>) return (m && a) || (!m && b);  // masks as values
    else return xsimd::select(m, a, b);
  }
  template <std::size_t I> static auto partial(const auto& g, const auto& out, const auto& m, const auto&, const auto&) {
    if constexpr (I == 1) return sym::select(m, g, sym::zero_like(out));
    else return sym::select(m, sym::zero_like(out), g); } };
// clang-format on

}  // namespace op

namespace detail {

/// Which operand dtypes an op accepts.
enum class operand_rule { numeric, floating, boolean };

template <class Op, operand_rule Rule, class T>
constexpr bool check_operand() {
  if constexpr (Rule == operand_rule::floating)
    return check::require<check::floating_operand<Op, T, floating_dtype<T>>>;
  else if constexpr (Rule == operand_rule::numeric)
    return check::require<check::numeric_operand<Op, T, numeric_dtype<T>>>;
  else
    return check::require<check::bool_operand<Op, T, std::is_same_v<T, bool>>>;
}

template <class Op, class NA, class NB>
auto combine(NA a, NB b) {
  using TA = typename NA::value_type;
  using TB = typename NB::value_type;
  using EA = typename NA::extents_type;
  using EB = typename NB::extents_type;
  static_assert(check::require<check::same_dtype<Op, TA, TB, std::is_same_v<TA, TB>>>);
  static_assert(check::require<check::broadcastable_shapes<Op, diagnostic::shape_of_t<EA>, diagnostic::shape_of_t<EB>,
                                                           detail::broadcast_extents<EA, EB>::ok>>);
  if constexpr (std::is_same_v<TA, TB> && detail::broadcast_extents<EA, EB>::ok)
    return map_expr<Op, NA, NB>(std::move(a), std::move(b));
  else
    return rule_failed<TA>();
}

/// A scalar next to an expression of dtype T becomes a scalar node of dtype T.
template <class Op, class T, class S>
scalar_expr<T> scalar_node(S s) {
  static_assert(check::require<check::scalar_fits_dtype<Op, S, T, scalar_for<S, T>>>);
  return {static_cast<T>(s)};
}

template <class Op, operand_rule Rule, class A, class B>
auto binary(A&& a, B&& b) {
  if constexpr (arithmetic_scalar<A>) {
    using T = value_type_t<B>;
    static_assert(check_operand<Op, Rule, T>());
    return combine<Op>(scalar_node<Op, T>(a), as_node(std::forward<B>(b)));
  } else if constexpr (arithmetic_scalar<B>) {
    using T = value_type_t<A>;
    static_assert(check_operand<Op, Rule, T>());
    return combine<Op>(as_node(std::forward<A>(a)), scalar_node<Op, T>(b));
  } else {
    static_assert(check_operand<Op, Rule, value_type_t<A>>());
    return combine<Op>(as_node(std::forward<A>(a)), as_node(std::forward<B>(b)));
  }
}

template <class Op, operand_rule Rule, class X>
auto unary(X&& x) {
  static_assert(check_operand<Op, Rule, value_type_t<X>>());
  using N = node_t<X>;
  return map_expr<Op, N>(as_node(std::forward<X>(x)));
}

}  // namespace detail

/// Two operands of an elementwise op: expressions or tensors, or one of them a plain number.
template <class A, class B>
concept elementwise_operands = (operand<A> && (operand<B> || arithmetic_scalar<B>)) ||
                               (arithmetic_scalar<A> && operand<B>);

#define STATIX_BINARY_OPERATOR(symbol, Op, rule)                                                   \
  template <class A, class B>                                                                      \
    requires elementwise_operands<A, B>                                                            \
  auto operator symbol(A&& a, B&& b) {                                                             \
    return detail::binary<Op, detail::operand_rule::rule>(std::forward<A>(a), std::forward<B>(b)); \
  }
// Operators cannot be declared without a macro or twelve copies; this is the only macro in statix.
STATIX_BINARY_OPERATOR(+, op::add, numeric)
STATIX_BINARY_OPERATOR(-, op::sub, numeric)
STATIX_BINARY_OPERATOR(*, op::mul, numeric)
STATIX_BINARY_OPERATOR(/, op::div, numeric)
STATIX_BINARY_OPERATOR(<, op::less, numeric)
STATIX_BINARY_OPERATOR(<=, op::less_equal, numeric)
STATIX_BINARY_OPERATOR(>, op::greater, numeric)
STATIX_BINARY_OPERATOR(>=, op::greater_equal, numeric)
STATIX_BINARY_OPERATOR(==, op::equal, numeric)
STATIX_BINARY_OPERATOR(!=, op::not_equal, numeric)
STATIX_BINARY_OPERATOR(&&, op::logical_and, boolean)
STATIX_BINARY_OPERATOR(||, op::logical_or, boolean)
#undef STATIX_BINARY_OPERATOR

template <operand X>
auto operator-(X&& x) {
  return detail::unary<op::neg, detail::operand_rule::numeric>(std::forward<X>(x));
}
template <operand X>
auto operator!(X&& x) {
  return detail::unary<op::logical_not, detail::operand_rule::boolean>(std::forward<X>(x));
}

// clang-format off
template <operand X> auto exp(X&& x) { return detail::unary<op::exp, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto expm1(X&& x) { return detail::unary<op::expm1, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto log(X&& x) { return detail::unary<op::log, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto log1p(X&& x) { return detail::unary<op::log1p, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto sqrt(X&& x) { return detail::unary<op::sqrt, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto rsqrt(X&& x) { return detail::unary<op::rsqrt, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto sigmoid(X&& x) { return detail::unary<op::sigmoid, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto tanh(X&& x) { return detail::unary<op::tanh, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto sin(X&& x) { return detail::unary<op::sin, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto cos(X&& x) { return detail::unary<op::cos, detail::operand_rule::floating>(std::forward<X>(x)); }
template <operand X> auto abs(X&& x) { return detail::unary<op::abs, detail::operand_rule::numeric>(std::forward<X>(x)); }
template <operand X> auto square(X&& x) { return detail::unary<op::square, detail::operand_rule::numeric>(std::forward<X>(x)); }
template <operand X> auto relu(X&& x) { return detail::unary<op::relu, detail::operand_rule::numeric>(std::forward<X>(x)); }

template <class A, class B> requires elementwise_operands<A, B>
auto maximum(A&& a, B&& b) { return detail::binary<op::maximum, detail::operand_rule::numeric>(std::forward<A>(a), std::forward<B>(b)); }
template <class A, class B> requires elementwise_operands<A, B>
auto minimum(A&& a, B&& b) { return detail::binary<op::minimum, detail::operand_rule::numeric>(std::forward<A>(a), std::forward<B>(b)); }
/// pow(e, s): e to the power s (a number or an expression); negative bases with integer exponents work.
template <class A, class B> requires elementwise_operands<A, B>
auto pow(A&& a, B&& b) { return detail::binary<op::pow, detail::operand_rule::floating>(std::forward<A>(a), std::forward<B>(b)); }
// clang-format on

/// where(mask, a, b): a where mask is true, else b. a or b may be a plain number.
template <operand M, class A, class B>
  requires elementwise_operands<A, B>
auto where(M&& mask, A&& a, B&& b) {
  using Op = op::where;
  static_assert(detail::check_operand<Op, detail::operand_rule::boolean, value_type_t<M>>());
  auto node = [](auto&& a_node, auto&& b_node, auto&& m_node) {
    using NA = std::remove_cvref_t<decltype(a_node)>;
    using NB = std::remove_cvref_t<decltype(b_node)>;
    using NM = std::remove_cvref_t<decltype(m_node)>;
    using TA = typename NA::value_type;
    using EA = typename NA::extents_type;
    using EB = typename NB::extents_type;
    using EM = typename NM::extents_type;
    static_assert(check::require<
                  check::same_dtype<Op, TA, typename NB::value_type, std::is_same_v<TA, typename NB::value_type>>>);
    static_assert(check::require<check::broadcastable_shapes<Op, diagnostic::shape_of_t<EA>, diagnostic::shape_of_t<EB>,
                                                             detail::broadcast_extents<EA, EB>::ok>>);
    static_assert(
        check::require<
            check::broadcastable_shapes<Op, diagnostic::shape_of_t<EM>, diagnostic::shape_of_t<broadcast_t<EA, EB>>,
                                        detail::broadcast_all<EM, EA, EB>::ok>>);
    if constexpr (std::is_same_v<TA, typename NB::value_type> && detail::broadcast_extents<EA, EB>::ok &&
                  detail::broadcast_all<EM, EA, EB>::ok)
      return map_expr<Op, NM, NA, NB>(std::move(m_node), std::move(a_node), std::move(b_node));
    else
      return rule_failed<TA>();
  };
  auto m = as_node(std::forward<M>(mask));
  if constexpr (arithmetic_scalar<A>) {
    using T = value_type_t<B>;
    return node(detail::scalar_node<Op, T>(a), as_node(std::forward<B>(b)), std::move(m));
  } else if constexpr (arithmetic_scalar<B>) {
    using T = value_type_t<A>;
    return node(as_node(std::forward<A>(a)), detail::scalar_node<Op, T>(b), std::move(m));
  } else {
    return node(as_node(std::forward<A>(a)), as_node(std::forward<B>(b)), std::move(m));
  }
}

/// cast<U>(e): elementwise conversion to dtype U (truncation toward zero for int32, x != 0 for bool,
/// 1/0 from bool).
template <dtype U, class X>
struct cast_expr {
  static constexpr bool is_statix_expression = true;
  static constexpr node_kind kind = node_kind::cast;
  using value_type = U;
  using extents_type = typename X::extents_type;
  static constexpr std::size_t rank = extents_type::rank;
  using from_type = typename X::value_type;

  X arg;

  const auto& shape() const { return arg.shape(); }
  bool flat_ok(std::size_t n) const { return arg.flat_ok(n); }
  static constexpr bool always_flat(std::size_t n) { return X::always_flat(n); }
  template <bool Flat>
  auto lower(plan& p) const {
    return cast_expr<U, decltype(arg.template lower<Flat>(p))>{arg.template lower<Flat>(p)};
  }
  void identify(signature& s) const { arg.identify(s); }
  void for_each_memory(memory_visitor f) const { arg.for_each_memory(f); }

  template <bool Flat, std::size_t R>
  struct cursor {
    decltype(std::declval<const X&>().template make_cursor<Flat, R>(std::declval<const loop_info<R>&>())) part;

    void set_row(const shape_t<R>& index) { part.set_row(index); }

    template <class C, simd::span S>
    simd::batch_of<U, C> load(S s) const {
      using F = from_type;
      if constexpr (std::is_same_v<F, bool>) {
        return xsimd::select(part.template load<U>(s), simd::batch<U>(1), simd::batch<U>(0));
      } else if constexpr (std::is_same_v<U, bool>) {
        auto nonzero = [this](auto sub) { return part.template load<F>(sub) != simd::batch<F>(0); };
        if constexpr (std::is_same_v<F, C>)
          return nonzero(s);
        else
          return simd::repack<bool, C, bool, F>(s, nonzero);
      } else if constexpr (simd::lanes<F> == simd::lanes<U>) {
        return xsimd::batch_cast<U>(part.template load<F>(s));
      } else {
        return simd::repack<U, U, F, F>(s, [this](auto sub) { return part.template load<F>(sub); });
      }
    }
  };

  template <bool Flat, std::size_t R>
  cursor<Flat, R> make_cursor(const loop_info<R>& loop) const {
    return {arg.template make_cursor<Flat, R>(loop)};
  }
};

template <dtype U, operand X>
auto cast(X&& x) {
  using N = node_t<X>;
  if constexpr (std::is_same_v<typename N::value_type, U>)
    return as_node(std::forward<X>(x));
  else
    return cast_expr<U, N>{as_node(std::forward<X>(x))};
}

}  // namespace statix
