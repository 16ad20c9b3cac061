// What every expression is made of: the concepts, the cursor protocol the evaluation loop drives, and
// the leaf-like nodes (tensor memory, owned memory, a run-time number, a compile-time literal, a
// constant of a shape); the nodes with children are map_expr (map.hpp), primitive_expr
// (primitive.hpp), shared_expr (shared.hpp) and the derivative nodes (autodiff/symbolic.hpp).
//
// A node is an immutable value with `value_type`, `extents_type` (static extents), `rank`, `shape()`
// (run-time shape, checked when the node is built) and `cursor<Flat>(loop)`. A cursor is what one
// evaluation loop reads: `set_row(index)` places it at the start of a row of the destination,
// `load<C>(span)` yields one SIMD register of values (a mask carried by dtype C for bool nodes).
// Flat cursors are used when every leaf has the destination's size: the whole tensor is one row.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "dtype.hpp"
#include "eval/signature.hpp"
#include "shape.hpp"
#include "simd.hpp"

namespace statix {

class plan;  // eval/plan.hpp: nodes only pass it on

/// How a node reaches its operands: the one classification the graph walks dispatch on (the
/// derivative passes and their traits, autodiff/walk.hpp). A node declares it as `static constexpr
/// node_kind kind`; one that reads no differentiable operand (a constant, a number, an index
/// generator) declares nothing and is a `value`.
enum class node_kind {
  value,     // no operand a derivative flows through
  leaf,      // a tensor's memory (leaf_expr): where variables are found
  operands,  // a pack `args` and a rule per operand (map_expr, primitive_expr)
  cast,      // `arg` in another dtype (cast_expr)
  expand,    // `arg` read at the positions of a larger shape (expand_expr)
  choice,    // `first` or `second`, picked when built (choose_expr)
  sum,       // `terms` of one type (sum_list)
  shared,    // a node read in several places, behind a handle (shared_expr)
};
template <class N>
inline constexpr node_kind kind_of = [] {
  if constexpr (requires {
                  { N::kind } -> std::convertible_to<node_kind>;
                })
    return N::kind;
  else
    return node_kind::value;
}();

template <class E>
concept expression = requires {
  typename std::remove_cvref_t<E>::value_type;
  typename std::remove_cvref_t<E>::extents_type;
  requires std::remove_cvref_t<E>::is_statix_expression;
};

/// Owning tensors and views: operands that enter an expression as leaves.
template <class X>
concept tensor_like = requires(const std::remove_cvref_t<X>& x) {
  requires std::remove_cvref_t<X>::is_statix_tensor;
  x.data();
  x.shape();
};

template <class X>
concept operand = expression<X> || tensor_like<X>;

/// A span of memory being written by the statement(s) under evaluation.
struct memory_range {
  const void* begin;
  const void* end;
  friend bool operator==(const memory_range&, const memory_range&) = default;
};

inline bool overlaps(const memory_range& a, const memory_range& b) {
  std::less<const void*> lt;
  return lt(a.begin, b.end) && lt(b.begin, a.end);
}

/// What `for_each_memory` calls for each range an expression reads: the range and how many elements
/// are read at the destination's own positions (dyn: at unrelated positions). A non-owning reference
/// to the caller's callable: typed callables would instantiate every node's walk once per caller and
/// once more per enclosing primitive (a third of the functions g++ compiled for a gradient).
class memory_visitor {
 public:
  template <class F>
    requires(!std::same_as<std::remove_const_t<F>, memory_visitor> && std::invocable<F&, memory_range, std::size_t>)
  /// `seen` remembers the shared nodes walked already (null: every node is walked on every path).
  explicit memory_visitor(F& f, std::vector<const void*>* seen = nullptr)
      : callable_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* c, memory_range m, std::size_t n) { (*static_cast<F*>(c))(m, n); }),
        seen_(seen) {}
  void operator()(memory_range m, std::size_t n) const { call_(callable_, m, unrelated_ ? dyn : n); }
  /// True the first time this walk reaches the shared node `node`: a value read along many paths of
  /// a DAG is walked once, not once per path.
  bool first_visit(const void* node) const {
    if (seen_ == nullptr) return true;
    if (std::find(seen_->begin(), seen_->end(), node) != seen_->end()) return false;
    seen_->push_back(node);
    return true;
  }
  /// The same visitor for operands read at positions unrelated to the destination's (a primitive's).
  memory_visitor unrelated() const {
    memory_visitor v = *this;
    v.unrelated_ = true;
    return v;
  }

 private:
  void* callable_;
  void (*call_)(void*, memory_range, std::size_t);
  std::vector<const void*>* seen_;
  bool unrelated_ = false;
};

/// The contract of a node, as the planner and the evaluation loop use it: its dtype, static extents
/// and rank; its run-time shape (checked when the node was built); whether one flat loop can read it
/// for a destination of n elements (`flat_ok`, and `always_flat` for a static size); `lower<Flat>(p)`,
/// the node the loop reads (materializing what must be, once per plan); `identify`, what makes it
/// the same value as another node in a plan; and `for_each_memory`, the memory it reads (aliasing).
/// Every node type is checked against it where it is defined (primitives: `primitive` in
/// primitive.hpp; elementwise ops: `elementwise_op` in map.hpp).
template <class N>
concept node = expression<N> && requires(const N& n, plan& p, signature& s, memory_visitor v, std::size_t k) {
  { N::rank } -> std::convertible_to<std::size_t>;
  { n.shape() } -> std::convertible_to<shape_t<N::rank>>;
  { n.flat_ok(k) } -> std::convertible_to<bool>;
  { N::always_flat(k) } -> std::convertible_to<bool>;
  n.template lower<true>(p);
  n.template lower<false>(p);
  n.identify(s);
  n.for_each_memory(v);
};

namespace detail {

/// A minimal tuple for the children of a node. std::tuple's constrained constructors cost more
/// compile time than the whole rest of a node (measured: about half of an expression's instantiation
/// time); this aggregate has none, and `apply` calls `f(children...)` without std::apply's machinery.
template <std::size_t I, class T>
struct pack_item {
  T value;
};
template <class Seq, class... T>
struct pack_impl;
template <std::size_t... I, class... T>
struct pack_impl<std::index_sequence<I...>, T...> : pack_item<I, T>... {
  template <class F>
  constexpr decltype(auto) apply(F&& f) const {
    return f(static_cast<const pack_item<I, T>&>(*this).value...);
  }
  template <class F>
  constexpr decltype(auto) apply(F&& f) {
    return f(static_cast<pack_item<I, T>&>(*this).value...);
  }
};
template <class... T>
using pack = pack_impl<std::index_sequence_for<T...>, T...>;
/// Item I of a pack (the base class deduces its type).
template <std::size_t I, class T>
constexpr const T& item(const pack_item<I, T>& p) {
  return p.value;
}
template <std::size_t I, class T>
constexpr T& item(pack_item<I, T>& p) {
  return p.value;
}

/// Strides of an operand of shape `s` (rank r <= R) read at the positions of a loop of shape `loop`:
/// broadcast extents and missing leading extents get stride 0.
template <std::size_t R, std::size_t r>
constexpr shape_t<R> broadcast_strides(const shape_t<r>& s, const shape_t<R>& loop) {
  static_assert(r <= R);
  shape_t<R> stride{};
  std::size_t natural = 1;
  for (std::size_t k = r; k-- > 0;) {
    const std::size_t d = k + (R - r);
    stride[d] = (s[k] == 1 && loop[d] != 1) ? 0 : natural;
    natural *= s[k];
  }
  return stride;
}

template <std::size_t R>
constexpr std::size_t row_offset(const shape_t<R>& stride, const shape_t<R>& index) {
  std::size_t off = 0;
  for (std::size_t d = 0; d + 1 < R; ++d) off += index[d] * stride[d];
  return off;
}

/// Which neighbouring axes of a loop every operand reads as one: `mergeable[d]` says axis d can be
/// merged with the next inner axis of extent > 1 (d's stride is that axis's stride times its extent).
template <std::size_t R>
struct axis_merges {
  std::array<bool, R> mergeable;

  void report(const shape_t<R>& stride, const shape_t<R>& shape) {
    std::size_t inner = R;  // the next inner axis of extent > 1
    for (std::size_t d = R; d-- > 0;) {
      if (shape[d] == 1) continue;
      if (inner < R && stride[d] != stride[inner] * shape[inner]) mergeable[d] = false;
      inner = d;
    }
  }
};

/// A loop's shape with neighbouring axes merged (right-aligned, leading extents 1): an image batch
/// (N, C, H, W) plus a bias (C, 1, 1) runs as (1, N, C, H*W), rows of H*W instead of W.
template <std::size_t R>
struct merged_axes {
  shape_t<R> original;
  shape_t<R> shape;                   // what the loop runs over
  std::array<std::size_t, R> source;  // the original axis whose stride each loop axis takes (R: none)
};

}  // namespace detail

/// Copies of operands a loop overwrites, owned by the loop for as long as it runs.
using loop_copies = std::vector<std::unique_ptr<std::byte[]>>;

/// What a cursor needs to know about the loop driving it: the destination's shape (with axes merged
/// when `merged` is set), and the memory written by the statements of this loop (a leaf reading it at
/// other positions takes a copy, kept in `copies`). With `probe` set, cursors are made only to report
/// the strides of their operands to it; they are not read.
template <std::size_t R>
struct loop_info {
  shape_t<R> shape;
  std::span<const memory_range> outputs;
  loop_copies* copies = nullptr;
  const detail::merged_axes<R>* merged = nullptr;
  detail::axis_merges<R>* probe = nullptr;

  /// A copy of `n` values at `data` that lives until the loop ends.
  template <class T>
  const T* copy_of(const T* data, std::size_t n) const {
    static_assert(std::is_trivially_copyable_v<T> && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    auto& bytes = copies->emplace_back(std::make_unique_for_overwrite<std::byte[]>(n * sizeof(T)));
    T* copy = reinterpret_cast<T*>(bytes.get());
    std::copy_n(data, n, copy);
    return copy;
  }

  /// The strides, in this loop, of an operand of the given shape (broadcast: stride 0).
  template <std::size_t r>
  shape_t<R> strides_of(const shape_t<r>& extent) const {
    if (!merged) {
      const shape_t<R> stride = detail::broadcast_strides(extent, shape);
      if (probe) probe->report(stride, shape);
      return stride;
    }
    const shape_t<R> original = detail::broadcast_strides(extent, merged->original);
    shape_t<R> stride{};
    for (std::size_t d = 0; d < R; ++d) stride[d] = merged->source[d] < R ? original[merged->source[d]] : 0;
    return stride;
  }
};

namespace detail {

/// The merged form of a loop of `shape` given what its operands reported; nothing when no axes merge.
template <std::size_t R>
std::optional<merged_axes<R>> merge_axes(const shape_t<R>& shape, const axis_merges<R>& merges) {
  merged_axes<R> m{shape, shape, {}};
  std::size_t out = R;  // one past the loop axis being filled, from the inside out
  for (std::size_t d = R; d-- > 0;) {
    if (shape[d] == 1) continue;
    if (out < R && merges.mergeable[d]) {
      m.shape[out] *= shape[d];
    } else {
      --out;
      m.shape[out] = shape[d];
      m.source[out] = d;
    }
  }
  for (std::size_t d = 0; d < out; ++d) {
    m.shape[d] = 1;
    m.source[d] = R;
  }
  if (m.shape == shape) return std::nullopt;
  return m;
}

}  // namespace detail

template <dtype T, class Ext>
struct leaf_expr;

namespace detail {
/// The leaf over `shape` at `data` as a loop reads it: run-time extents, one row when `Flat`. What
/// every node lowers to when its value is memory (a tensor's, or a value a plan keeps).
template <bool Flat, class T, std::size_t R>
auto leaf_over(const T* data, const shape_t<R>& shape) {
  if constexpr (Flat)
    return leaf_expr<T, extents<dyn>>{data, {element_count(shape)}};
  else
    return leaf_expr<T, dyn_extents<R>>{data, shape};
}
}  // namespace detail

/// A leaf reading contiguous row-major memory it does not own: an lvalue tensor, a view, or (lowered)
/// a value its plan keeps. A pointer and the extents, trivially copyable, so that the nodes above it
/// are too: owning leaves gave every node type a copy constructor, a move constructor and a destructor
/// for the compiler's back end (a fifth of a gradient example's compile time).
template <dtype T, class Ext>
struct leaf_expr {
  static constexpr bool is_statix_expression = true;
  static constexpr node_kind kind = node_kind::leaf;
  using value_type = T;
  using extents_type = Ext;
  static constexpr std::size_t rank = Ext::rank;

  const T* data;
  shape_t<rank> extent;

  constexpr const shape_t<rank>& shape() const { return extent; }
  std::size_t size() const { return element_count(extent); }
  bool flat_ok(std::size_t n) const { return size() == n; }
  /// True when, for a statically shaped destination of `n` elements, flat_ok holds for every shape.
  static constexpr bool always_flat(std::size_t n) { return Ext::static_size == n; }
  /// The same node with run-time extents only (`Flat`: as one row of its element count); see execute().
  template <bool Flat>
  auto lower(plan&) const {
    return detail::leaf_over<Flat>(data, extent);
  }
  void identify(signature& s) const {
    s.add(reinterpret_cast<std::uintptr_t>(data));
    for (std::size_t e : extent) s.add(e);
  }
  memory_range memory() const { return {data, data + size()}; }

  template <bool Flat, std::size_t R>
  struct cursor {
    const T* base;
    const T* row;
    shape_t<R> stride;
    bool inner_contiguous;

    void set_row(const shape_t<R>& index) {
      if constexpr (!Flat) row = base + detail::row_offset(stride, index);
    }
    template <class C, simd::span S>
    simd::batch_of<T, C> load(S s) const {
      if constexpr (Flat) {
        return simd::load<T, C>(base, s);
      } else {
        if (inner_contiguous) return simd::load<T, C>(row, s);
        return simd::batch_of<T, C>(row[0]);
      }
    }
  };

  template <bool Flat, std::size_t R>
  cursor<Flat, R> make_cursor(const loop_info<R>& loop) const {
    cursor<Flat, R> c{data, data, {}, true};
    if constexpr (!Flat) {
      c.stride = loop.strides_of(extent);
      c.inner_contiguous = R == 0 || c.stride[R - 1] == 1;
    }
    if (loop.probe) return c;
    const memory_range mine = memory();
    // Same size as the loop means same positions (shapes were checked to broadcast).
    const bool same_positions = size() == element_count(loop.shape);
    for (const memory_range& out : loop.outputs) {
      if (overlaps(mine, out) && !(same_positions && out.begin == mine.begin)) {
        c.base = c.row = loop.copy_of(data, size());
        break;
      }
    }
    return c;
  }

  void for_each_memory(memory_visitor f) const { f(memory(), element_count(extent)); }
};

/// A plain number inside an expression; it has the dtype of the expression it met.
template <dtype T>
struct scalar_expr {
  static constexpr bool is_statix_expression = true;
  using value_type = T;
  using extents_type = extents<>;
  static constexpr std::size_t rank = 0;

  T value;

  constexpr shape_t<0> shape() const { return {}; }
  bool flat_ok(std::size_t) const { return true; }
  static constexpr bool always_flat(std::size_t) { return true; }
  template <bool Flat>
  scalar_expr lower(plan&) const {
    return *this;
  }
  void identify(signature& s) const { s.add_bits(value); }

  struct cursor {
    T value;
    template <std::size_t R>
    void set_row(const shape_t<R>&) {}
    template <class C, simd::span S>
    simd::batch_of<T, C> load(S) const {
      return simd::batch_of<T, C>(value);
    }
  };
  template <bool Flat, std::size_t R>
  cursor make_cursor(const loop_info<R>&) const {
    return {value};
  }
  void for_each_memory(memory_visitor) const {}
};

/// A temporary tensor inside an expression (`x + sx::eval(y)`), moved into shared ownership so the
/// expression cannot dangle. Lowering gives the plain leaf: while an expression is evaluated, it keeps
/// its own memory. Not a variable for autodiff (no tensor of the caller's can be this memory).
template <dtype T, class Ext>
struct owned_leaf_expr {
  static constexpr bool is_statix_expression = true;
  using value_type = T;
  using extents_type = Ext;
  static constexpr std::size_t rank = Ext::rank;

  leaf_expr<T, Ext> leaf;
  std::shared_ptr<const void> owner;

  constexpr const shape_t<rank>& shape() const { return leaf.shape(); }
  std::size_t size() const { return leaf.size(); }
  bool flat_ok(std::size_t n) const { return leaf.flat_ok(n); }
  static constexpr bool always_flat(std::size_t n) { return Ext::static_size == n; }
  template <bool Flat>
  auto lower(plan& p) const {
    return leaf.template lower<Flat>(p);
  }
  void identify(signature& s) const { leaf.identify(s); }
  void for_each_memory(memory_visitor f) const { leaf.for_each_memory(f); }
};

/// A number known at compile time inside a derived expression.
template <dtype T, long V>
struct literal_expr {
  static constexpr bool is_statix_expression = true;
  using value_type = T;
  using extents_type = extents<>;
  static constexpr std::size_t rank = 0;
  static constexpr T value = static_cast<T>(V);

  constexpr shape_t<0> shape() const { return {}; }
  bool flat_ok(std::size_t) const { return true; }
  static constexpr bool always_flat(std::size_t) { return true; }
  template <bool Flat>
  scalar_expr<T> lower(plan&) const {
    return {value};
  }
  void identify(signature& s) const { s.add_bits(value); }
  template <bool Flat, std::size_t R>
  typename scalar_expr<T>::cursor make_cursor(const loop_info<R>&) const {
    return {value};
  }
  void for_each_memory(memory_visitor) const {}
};

/// A node of one repeated value with a shape (zeros, ones, full).
template <dtype T, class Ext>
struct constant_expr {
  static constexpr bool is_statix_expression = true;
  using value_type = T;
  using extents_type = Ext;
  static constexpr std::size_t rank = Ext::rank;

  shape_t<rank> extent;
  T value;

  const shape_t<rank>& shape() const { return extent; }
  bool flat_ok(std::size_t) const { return true; }
  static constexpr bool always_flat(std::size_t) { return true; }
  template <bool Flat>
  scalar_expr<T> lower(plan&) const {
    return {value};
  }
  void identify(signature& s) const {
    for (std::size_t e : extent) s.add(e);
    s.add_bits(value);
  }
  void for_each_memory(memory_visitor) const {}

  template <bool Flat, std::size_t R>
  typename scalar_expr<T>::cursor make_cursor(const loop_info<R>&) const {
    return {value};
  }
};

/// Turns an operand into a node: expressions are copied (they are small values), lvalue tensors are
/// referenced, temporary tensors are moved into shared ownership so the expression cannot dangle.
template <operand X>
auto as_node(X&& x) {
  using D = std::remove_cvref_t<X>;
  if constexpr (expression<D>) {
    return D(std::forward<X>(x));
  } else {
    using T = std::remove_const_t<typename D::value_type>;
    using node = leaf_expr<T, typename D::extents_type>;
    if constexpr (std::is_lvalue_reference_v<X> || D::is_view) {
      return node{x.data(), x.shape()};
    } else {
      auto owned = std::make_shared<const D>(std::forward<X>(x));
      const node leaf{owned->data(), owned->shape()};
      return owned_leaf_expr<T, typename D::extents_type>{leaf, std::move(owned)};
    }
  }
}

template <class X>
using node_t = decltype(as_node(std::declval<X>()));

template <class X>
using value_type_t = typename std::remove_cvref_t<X>::value_type;
template <class X>
using extents_t = typename std::remove_cvref_t<X>::extents_type;

static_assert(node<leaf_expr<float, extents<3, dyn>>> && node<owned_leaf_expr<std::int32_t, extents<dyn>>> &&
              node<scalar_expr<double>> && node<literal_expr<float, 2>> && node<constant_expr<bool, extents<dyn, 4>>>);

}  // namespace statix
