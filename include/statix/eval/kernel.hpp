// The evaluation loop. Statements (destination, compound-assignment kind, expression) of one shape run
// as ONE pass over the destination: per SIMD step each statement loads its operands, computes and stores
// before the next statement runs, so a later statement reading an earlier one's output at the same
// position sees the new value, exactly as if the statements ran one after the other.
#pragma once

#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>

#include "../expr.hpp"

namespace statix {

/// How a statement combines the value with its destination: `=`, `+=`, `-=`, `*=`, `/=`.
namespace assign_kind {
struct set {
  static constexpr std::string_view name = "assignment";
  template <class B>
  static B apply(const B&, const B& v) {
    return v;
  }
};
struct add {
  static constexpr std::string_view name = "+=";
  template <class B>
  static B apply(const B& d, const B& v) {
    return d + v;
  }
};
struct sub {
  static constexpr std::string_view name = "-=";
  template <class B>
  static B apply(const B& d, const B& v) {
    return d - v;
  }
};
struct mul {
  static constexpr std::string_view name = "*=";
  template <class B>
  static B apply(const B& d, const B& v) {
    return d * v;
  }
};
struct div {
  static constexpr std::string_view name = "/=";
  template <class B>
  static B apply(const B& d, const B& v) {
    return d / v;
  }
};
}  // namespace assign_kind

/// `dst (op)= expr` over memory `dst` of shape `shape`; built by tensor assignment and by `sx::out`.
template <dtype T, class Ext, class Kind, class Expr>
struct statement {
  using value_type = T;
  using extents_type = Ext;
  using kind = Kind;
  static constexpr std::size_t rank = Ext::rank;

  T* dst;
  shape_t<rank> shape;
  Expr expr;

  memory_range memory() const { return {dst, dst + element_count(shape)}; }
};

namespace detail {

/// The dtype whose lane count a statement runs at; bool destinations carry float masks.
template <class T>
using carrier_of = std::conditional_t<std::is_same_v<T, bool>, float, T>;

template <class Stmt>
inline constexpr std::size_t stmt_lanes = simd::lanes<carrier_of<typename Stmt::value_type>>;

template <class Stmt, class Cursor, class S>
inline void run_one(const Cursor& cur, typename Stmt::value_type* dst, S s) {
  using T = typename Stmt::value_type;
  using C = carrier_of<T>;
  auto v = cur.template load<C>(s);
  if constexpr (std::is_same_v<typename Stmt::kind, assign_kind::set>) {
    simd::store<T, C>(dst, s, v);
  } else {
    simd::store<T, C>(dst, s, Stmt::kind::apply(simd::load<T, C>(dst, s), v));
  }
}

/// One row of `count` elements from `dst` (one pointer per statement): full registers, then a padded
/// tail. `Step` is the widest lane count of the statements; narrower ones take several registers per
/// step. The destinations arrive by value: SIMD stores may alias anything, so pointers read from the
/// statements in memory would be reloaded after every store.
template <std::size_t Step, class... Stmt, class Cursors, std::size_t... I>
inline void run_row(const Cursors& cursors, std::tuple<typename Stmt::value_type*...> dst, std::size_t count,
                    std::index_sequence<I...>) {
  std::size_t j = 0;
  for (; j + Step <= count; j += Step) {
    (
        [&] {
          constexpr std::size_t w = stmt_lanes<Stmt>;
          for (std::size_t k = 0; k < Step; k += w)
            run_one<Stmt>(std::get<I>(cursors), std::get<I>(dst), simd::full_span{j + k});
        }(),
        ...);
  }
  if (j < count) {
    (
        [&] {
          constexpr std::size_t w = stmt_lanes<Stmt>;
          std::size_t k = j;
          if constexpr (w < Step) {  // a narrower statement may still have whole registers left
            for (; k + w <= count; k += w) run_one<Stmt>(std::get<I>(cursors), std::get<I>(dst), simd::full_span{k});
          }
          if (k < count) run_one<Stmt>(std::get<I>(cursors), std::get<I>(dst), simd::tail_span{k, count - k});
        }(),
        ...);
  }
}

// Out of line on purpose: every statement with the same lowered type shares this one copy of the
// loop instead of inlining it at each call site (code size and compile time; the call is per pass).
template <bool Flat, class... Stmt>
[[gnu::noinline]] void run_loop(const std::tuple<const Stmt&...>& stmts, std::span<const memory_range> outputs) {
  constexpr std::size_t R = std::tuple_element_t<0, std::tuple<Stmt...>>::rank;
  constexpr std::size_t step = std::max({stmt_lanes<Stmt>...});
  const shape_t<R>& shape = std::get<0>(stmts).shape;
  const loop_info<R> loop{shape, outputs};
  auto cursors =
      std::apply([&](const auto&... st) { return std::tuple{st.expr.template make_cursor<Flat, R>(loop)...}; }, stmts);
  constexpr auto seq = std::index_sequence_for<Stmt...>{};
  const std::size_t n = element_count(shape);
  if (n == 0) return;
  if constexpr (Flat || R <= 1) {
    run_row<step, Stmt...>(cursors, std::apply([](const auto&... st) { return std::tuple{st.dst...}; }, stmts), n, seq);
  } else {
    const std::size_t inner = shape[R - 1];
    shape_t<R> index{};
    for (std::size_t row = 0; row < n / inner; ++row) {
      std::apply([&](auto&... c) { (c.set_row(index), ...); }, cursors);
      run_row<step, Stmt...>(cursors,
                             std::apply([&](const auto&... st) { return std::tuple{st.dst + row * inner...}; }, stmts),
                             inner, seq);
      for (std::size_t d = R - 1; d-- > 0;) {  // odometer over the outer extents
        if (++index[d] < shape[d]) break;
        index[d] = 0;
      }
    }
  }
}

/// Static extents have done their work (the checks) once a statement exists; the loop is instantiated
/// on the statements lowered to run-time extents (rank 1 when flat), so `a = b * c` compiles to one
/// kernel for every shape of a rank rather than one per shape: less code and much less compile time.
template <bool Flat, class... Stmt>
void run_lowered(std::span<const memory_range> outputs, const Stmt&... stmts) {
  auto lower = [](const auto& st) {
    using S = std::remove_cvref_t<decltype(st)>;
    using T = typename S::value_type;
    auto expr = st.expr.template lower<Flat>();
    if constexpr (Flat)
      return statement<T, extents<dyn>, typename S::kind, decltype(expr)>{
          st.dst, {element_count(st.shape)}, std::move(expr)};
    else
      return statement<T, dyn_extents<S::rank>, typename S::kind, decltype(expr)>{st.dst, st.shape, std::move(expr)};
  };
  [&](const auto&... lowered) {
    run_loop<Flat>(std::tuple<const decltype(lowered)&...>{lowered...}, outputs);
  }(lower(stmts)...);
}

}  // namespace detail

/// Runs statements of one shape as one pass. Shapes must already be checked. When an expression reads
/// memory that a statement of this pass writes at other positions (through broadcasting or a
/// partially overlapping view), a single statement reads a copy, and several statements run one after
/// the other instead: correct first, one pass when it is safe.
template <class... Stmt>
void execute(const Stmt&... stmts) {
  const std::array<memory_range, sizeof...(Stmt)> outputs{stmts.memory()...};
  const std::size_t n = element_count(std::get<0>(std::tie(stmts...)).shape);
  if constexpr (sizeof...(Stmt) > 1) {
    bool conflict = false;
    auto check = [&](memory_range m, std::size_t size) {
      for (const memory_range& out : outputs)
        if (overlaps(m, out) && !(m.begin == out.begin && size == n)) conflict = true;
    };
    (stmts.expr.for_each_memory(check), ...);
    if (conflict) {
      (execute(stmts), ...);
      return;
    }
  }
  // Statically shaped statements whose operands all have the destination's size need no row loop:
  // instantiating only the flat loop halves their code (and compile time).
  using first = std::tuple_element_t<0, std::tuple<Stmt...>>;
  constexpr std::size_t static_n = first::extents_type::static_size;
  if constexpr (static_n != dyn && (decltype(stmts.expr)::always_flat(static_n) && ...)) {
    detail::run_lowered<true>(outputs, stmts...);
  } else if ((stmts.expr.flat_ok(n) && ...)) {
    detail::run_lowered<true>(outputs, stmts...);
  } else {
    detail::run_lowered<false>(outputs, stmts...);
  }
}

}  // namespace statix
