// The evaluation loop. Statements (destination, compound-assignment kind, expression) of one shape run
// as ONE pass over the destination: per SIMD step each statement loads its operands, computes and stores
// before the next statement runs, so a later statement reading an earlier one's output at the same
// position sees the new value, exactly as if the statements ran one after the other.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>

#include "../expr.hpp"
#include "../parallel.hpp"
#include "plan.hpp"

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

/// Elements [first, last) of one row from `dst` (one pointer per statement): full registers, then a
/// padded tail. `Step` is the widest lane count of the statements; narrower ones take several registers
/// per step. The destinations arrive by value: SIMD stores may alias anything, so pointers read from
/// the statements in memory would be reloaded after every store.
template <std::size_t Step, class... Stmt, class Cursors, class Destinations, std::size_t... I>
inline void run_row(const Cursors& cursors, Destinations dst, std::size_t first, std::size_t last,
                    std::index_sequence<I...>) {
  std::size_t j = first;
  for (; j + Step <= last; j += Step) {
    (
        [&] {
          constexpr std::size_t w = stmt_lanes<Stmt>;
          for (std::size_t k = 0; k < Step; k += w)
            run_one<Stmt>(item<I>(cursors), item<I>(dst), simd::full_span{j + k});
        }(),
        ...);
  }
  if (j < last) {
    (
        [&] {
          constexpr std::size_t w = stmt_lanes<Stmt>;
          std::size_t k = j;
          if constexpr (w < Step) {  // a narrower statement may still have whole registers left
            for (; k + w <= last; k += w) run_one<Stmt>(item<I>(cursors), item<I>(dst), simd::full_span{k});
          }
          if (k < last) run_one<Stmt>(item<I>(cursors), item<I>(dst), simd::tail_span{k, last - k});
        }(),
        ...);
  }
}

template <class First, class... Rest>
constexpr const First& first_of(const First& first, const Rest&...) {
  return first;
}

/// Calls f(index, row) for rows [first, last) of `shape` (a row: the last extent), `index` the row's
/// position in the outer extents (its last entry 0): the row walk of every loop over an operand's
/// cursor (statements here, reductions in ops/reduce.hpp).
template <std::size_t R, class F>
void for_each_row(const shape_t<R>& shape, std::size_t first, std::size_t last, F&& f) {
  shape_t<R> index{};
  for (std::size_t d = R - 1, rest = first; d-- > 0;) {
    index[d] = rest % shape[d];
    rest /= shape[d];
  }
  for (std::size_t row = first; row < last; ++row) {
    f(static_cast<const shape_t<R>&>(index), row);
    for (std::size_t d = R - 1; d-- > 0;) {  // odometer over the outer extents
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

/// Runs elements [first, last) of the statements; unless the loop is flat, both are multiples of the
/// last extent (whole rows).
// Out of line on purpose: every statement with the same lowered type shares this one copy of the
// loop instead of inlining it at each call site (code size and compile time; the call is per pass).
// Statements, cursors and destinations travel as parameter packs and `pack`s, not std::tuple: the
// tuple's and std::apply's helpers were a tenth of the functions a gradient example compiled.
template <bool Flat, class... Stmt>
[[gnu::noinline]] void run_loop(std::span<const memory_range> outputs, std::size_t first, std::size_t last,
                                const Stmt&... stmts) {
  constexpr std::size_t R = std::remove_cvref_t<decltype(first_of(stmts...))>::rank;
  constexpr std::size_t step = std::max({stmt_lanes<Stmt>...});
  if (first >= last) return;
  loop_copies copies;
  loop_info<R> loop{first_of(stmts...).shape, outputs, &copies};
  // Merge neighbouring axes every operand reads as one (the destinations are dense): longer rows,
  // fewer tails. The rows of [first, last) must stay whole rows.
  std::optional<merged_axes<R>> merged;
  if constexpr (!Flat && R >= 2) {
    axis_merges<R> merges;
    merges.mergeable.fill(true);
    loop.probe = &merges;
    (stmts.expr.template make_cursor<Flat, R>(loop), ...);
    loop.probe = nullptr;
    merged = merge_axes(loop.shape, merges);
    if (merged && first % merged->shape[R - 1] == 0 && last % merged->shape[R - 1] == 0) {
      loop.merged = &*merged;
      loop.shape = merged->shape;
    }
  }
  const shape_t<R>& shape = loop.shape;
  using cursors_type = pack<decltype(stmts.expr.template make_cursor<Flat, R>(loop))...>;
  cursors_type cursors{{stmts.expr.template make_cursor<Flat, R>(loop)}...};
  using destinations = pack<typename Stmt::value_type*...>;
  constexpr auto seq = std::index_sequence_for<Stmt...>{};
  if constexpr (Flat || R <= 1) {
    run_row<step, Stmt...>(cursors, destinations{{stmts.dst}...}, first, last, seq);
  } else {
    const std::size_t inner = shape[R - 1];
    for_each_row(shape, first / inner, last / inner, [&](const shape_t<R>& index, std::size_t row) {
      cursors.apply([&](auto&... c) { (c.set_row(index), ...); });
      run_row<step, Stmt...>(cursors, destinations{{stmts.dst + row * inner}...}, 0, inner, seq);
    });
  }
}

/// Loops over at least twice this many elements run on the thread pool, in chunks of at least this
/// many: below, waking a thread costs more than it saves.
inline constexpr std::size_t parallel_loop_grain = std::size_t{1} << 15;

/// Does the loop of these (lowered) statements read a copy of an operand: memory a statement writes
/// at other positions (broadcast, an overlapping view, a value kept where a destination lies)? Such a
/// loop is not split between threads: each run_loop call copies the operand when it starts, and
/// another thread's range could already have overwritten it. The cursors are made as run_loop makes
/// them, so the answer is run_loop's own.
template <bool Flat, class... Stmt>
bool loop_reads_copies(std::span<const memory_range> outputs, const Stmt&... stmts) {
  constexpr std::size_t R = std::remove_cvref_t<decltype(first_of(stmts...))>::rank;
  loop_copies copies;
  loop_info<R> loop{first_of(stmts...).shape, outputs, &copies};
  (static_cast<void>(stmts.expr.template make_cursor<Flat, R>(loop)), ...);
  return !copies.empty();
}

/// Static extents have done their work (the checks) once a statement exists; the loop is instantiated
/// on the statements lowered to run-time extents (rank 1 when flat), so `a = b * c` compiles to one
/// kernel for every shape of a rank rather than one per shape: less code and much less compile time.
/// Lowering also materializes matmul, convolution, reductions, ... (once per plan).
template <bool Flat, class... Stmt>
void run_lowered(plan& p, std::span<const memory_range> outputs, const Stmt&... stmts) {
  ++evaluation_count<elementwise_pass>::value;
  const bool large = element_count(first_of(stmts...).shape) >= 2 * parallel_loop_grain && num_threads() > 1;
  auto lower = [&p](const auto& st) {
    using S = std::remove_cvref_t<decltype(st)>;
    using T = typename S::value_type;
    auto expr = st.expr.template lower<Flat>(p);
    if constexpr (Flat)
      return statement<T, extents<dyn>, typename S::kind, decltype(expr)>{
          st.dst, {element_count(st.shape)}, std::move(expr)};
    else
      return statement<T, dyn_extents<S::rank>, typename S::kind, decltype(expr)>{st.dst, st.shape, std::move(expr)};
  };
  [&](const auto&... lowered) {
    const std::size_t n = element_count(first_of(lowered...).shape);
    const plan::row_producer& producer = p.producer();
    if (!producer.compute_rows) {
      if (!large || loop_reads_copies<Flat>(outputs, lowered...)) {
        run_loop<Flat>(outputs, 0, n, lowered...);
        return;
      }
      // Whole rows per range (any range when flat): the ranges depend on the shape only.
      constexpr std::size_t R = std::remove_cvref_t<decltype(first_of(lowered...))>::rank;
      const std::size_t unit = Flat || R <= 1 ? 64 : first_of(lowered...).shape[R - 1];
      parallel_ranges(n, unit, parallel_loop_grain,
                      [&](std::size_t first, std::size_t last) { run_loop<Flat>(outputs, first, last, lowered...); });
      return;
    }
    // Epilogue: the producer writes a block of rows into the destination, the loop finishes them.
    const std::size_t inner = producer.rows == 0 ? 0 : n / producer.rows;
    for (std::size_t r = 0; r < producer.rows; r += producer.block) {
      const std::size_t r_end = std::min(producer.rows, r + producer.block);
      producer.compute_rows(r, r_end);
      run_loop<Flat>(outputs, r * inner, r_end * inner, lowered...);
    }
  }(lower(stmts)...);
}

/// A node computed by a kernel of its own into memory (matmul, convolution, reductions, ...).
template <class N>
concept materializing = requires(const N& node, typename N::value_type* dst, plan& p) {
  node.compute_root(dst, p);
};

/// Computes a materializing node of the destination's shape straight into it; false for anything else.
struct written_if_materializing {
  template <class E, class T, std::size_t R>
  static bool write(const E& e, T* dst, const shape_t<R>& shape, plan& p) {
    if constexpr (materializing<E> && E::rank == R && std::is_same_v<typename E::value_type, T>) {
      if (e.shape() != shape) return false;
      e.compute_root(dst, p);
      return true;
    } else {
      static_cast<void>(e), static_cast<void>(dst), static_cast<void>(shape), static_cast<void>(p);
      return false;
    }
  }
};

/// What a whole `=` statement can learn about its expression at run time, once the choices made when
/// it was built are known: whether a node's value is zero everywhere (a gradient's contribution
/// through a leaf that turned out not to be the variable), and whether a node can write its whole
/// value straight into the destination, so that a gradient `matmul + zeros` runs as the product
/// alone, into the gradient's memory, with no copy pass. Nodes that pass these questions on
/// specialize this (autodiff/symbolic.hpp).
template <class E>
struct whole_value : written_if_materializing {
  static bool is_zero(const E&) { return false; }
};

/// Does an expression read memory the statements write other than at the positions they write it (n
/// elements from the same start)? One type for every statement, so each node's walk compiles once.
struct read_conflicts {
  std::span<const memory_range> outputs;
  std::size_t n;
  bool conflict = false;
  std::vector<const void*> seen_shared;  // shared nodes walked already
  void operator()(memory_range m, std::size_t size) {
    for (const memory_range& out : outputs)
      if (overlaps(m, out) && !(m.begin == out.begin && size == n && n != dyn)) conflict = true;
  }
};
}  // namespace detail

/// Runs statements of one shape as one pass. Shapes must already be checked. When an expression reads
/// memory that a statement of this pass writes at other positions (through broadcasting, a partially
/// overlapping view, or any materializing node), a single statement reads a copy, and several
/// statements run one after the other instead: correct first, one pass when it is safe.
template <class... Stmt>
void execute_in(plan& p, const Stmt&... stmts) {
  const std::array<memory_range, sizeof...(Stmt)> outputs{stmts.memory()...};
  const auto& st0 = detail::first_of(stmts...);
  using first = std::remove_cvref_t<decltype(st0)>;
  const std::size_t n = element_count(st0.shape);
  if constexpr (sizeof...(Stmt) > 1) {
    detail::read_conflicts check{outputs, n, false, {}};
    (stmts.expr.for_each_memory(memory_visitor(check, &check.seen_shared)), ...);
    if (check.conflict) {  // one after the other, each with its own plan: values read must be fresh
      (execute_in(plan{}, stmts), ...);
      return;
    }
  } else if constexpr (std::is_same_v<typename first::kind, assign_kind::set>) {
    detail::read_conflicts check{outputs, dyn, false, {}};  // any read of the destination counts
    st0.expr.for_each_memory(memory_visitor(check, &check.seen_shared));
    if (!check.conflict) {
      // `y = matmul(a, b)`: straight into y.
      using E = decltype(st0.expr);
      if (detail::whole_value<E>::write(st0.expr, st0.dst, st0.shape, p)) return;
      if constexpr (detail::materializing<E> && E::rank == first::rank) {
        if (st0.expr.shape() == st0.shape) {  // a choice: the picked alternative as the statement
          st0.expr.compute_root(st0.dst, p);
          return;
        }
      }
      if (p.allows_epilogue()) p.offer_target(st0.dst, st0.shape);
    }
  }
  // Statically shaped statements whose operands all have the destination's size need no row loop:
  // instantiating only the flat loop halves their code (and compile time).
  constexpr std::size_t static_n = first::extents_type::static_size;
  if constexpr (static_n != dyn && (decltype(stmts.expr)::always_flat(static_n) && ...)) {
    detail::run_lowered<true>(p, outputs, stmts...);
  } else if ((stmts.expr.flat_ok(n) && ...)) {
    detail::run_lowered<true>(p, outputs, stmts...);
  } else {
    detail::run_lowered<false>(p, outputs, stmts...);
  }
}

template <class... Stmt>
void execute_in(plan&& p, const Stmt&... stmts) {
  execute_in(p, stmts...);
}

template <class... Stmt>
void execute(const Stmt&... stmts) {
  execute_in(plan{}, stmts...);
}

}  // namespace statix
