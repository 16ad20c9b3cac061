// shared_expr: one value read in several places of an expression (`sx::share(e)`), so that the
// expression is a DAG and not a tree. Expressions hold their operands by value; a value read twice
// (`x + f(x)`, batch norm's input, attention's q, k and v of one x) would be copied into both readers,
// in the object and in the derivation, and every copy differentiated on its own: a stack of d residual
// blocks cost 2^d. A shared node holds its operand behind a reference-counted handle instead, and its
// type is only its dtype, static extents and derivative order, `shared_expr<T, Ext, Order>`:
//   - in memory: copying it copies the handle, so an expression's size does not grow with the number
//     of paths through it;
//   - in its type: the operand's type is erased, so a block that reads a shared x and is shared in
//     turn has the same type at every depth: a stack of d identical blocks compiles one block;
//   - in the forward plan: its value is computed once per plan, identified by the handle (a one-word
//     signature however deep it is);
//   - in the reverse pass (autodiff/grad.hpp): the adjoints arriving from its readers are summed, and
//     its operand is differentiated once, with that sum.
// What the erased operand can do is a small virtual interface (shared_node), implemented for each
// operand type by autodiff::shared_operand.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "eval/kernel.hpp"
#include "expr.hpp"

namespace statix {

namespace autodiff {
struct tangent_memo;
}

/// A variable as derivatives cross a shared node: its memory, as one flat array.
template <class T>
struct flat_variable {
  const T* data;
  std::size_t size;
};

/// Any shared node, whatever its dtype and shape: what the derivative passes ask of its operand.
class shared_base {
 public:
  using handle = std::shared_ptr<const shared_base>;
  shared_base() = default;
  shared_base(const shared_base&) = delete;
  shared_base& operator=(const shared_base&) = delete;
  virtual ~shared_base() = default;

  /// The shared nodes the operand reads (not through another shared node).
  virtual void children(std::vector<handle>& out) const = 0;
  /// The operand walked with this node's adjoint (a shared node of its dtype and shape): what arrives
  /// at the shared nodes it reads, as (node, adjoint) pairs, each adjoint of its node's dtype and shape.
  virtual void deposit(const handle& adjoint, std::vector<std::pair<handle, handle>>& out) const = 0;
  /// One node for the sum of several adjoints of this node.
  virtual handle sum(const std::vector<handle>& adjoints) const = 0;
  /// What the operand contributes to the gradient of `var` given this node's adjoint: a flat node of
  /// the variable's dtype and size, or null when no variable of that dtype can be read there.
  virtual handle contribution(const handle& adjoint, const flat_variable<float>& var) const = 0;
  virtual handle contribution(const handle& adjoint, const flat_variable<double>& var) const = 0;
  /// The derivative of this node along `direction` (a flat node of var's dtype and size), of this
  /// node's dtype and shape, or null when it does not depend on var.
  virtual handle tangent(const flat_variable<float>& var, const handle& direction, autodiff::tangent_memo&) const = 0;
  virtual handle tangent(const flat_variable<double>& var, const handle& direction, autodiff::tangent_memo&) const = 0;
};

/// A shared node of dtype T and rank R: its shape and how it evaluates.
template <class T, std::size_t R>
class shared_node : public shared_base {
 public:
  explicit shared_node(const shape_t<R>& extent) : extent_(extent) {}
  const shape_t<R>& shape() const { return extent_; }
  /// The value's memory, computed in p (or a plan it is nested in) at most once.
  virtual const T* value(plan& p) const = 0;
  /// Computes the value straight into dst (this node's shape): false when it cannot.
  virtual bool write_whole(T* dst, plan& p) const = 0;
  virtual bool is_zero() const = 0;
  virtual void for_each_memory(memory_visitor f) const = 0;

 private:
  shape_t<R> extent_;
};

/// A handle to a shared node of dtype T and extents Ext that may be differentiated `Order` more
/// times (the derivative passes compile what that needs, and no more: see autodiff::shared_operand).
template <class T, class Ext, int Order = 1>
struct shared_expr {
  static constexpr bool is_statix_expression = true;
  static constexpr node_kind kind = node_kind::shared;
  using value_type = T;
  using extents_type = Ext;
  static constexpr std::size_t rank = Ext::rank;
  static constexpr int order = Order;

  std::shared_ptr<const shared_node<T, rank>> node;

  const shape_t<rank>& shape() const { return node->shape(); }
  std::size_t size() const { return element_count(shape()); }
  bool flat_ok(std::size_t n) const { return size() == n; }
  static constexpr bool always_flat(std::size_t n) { return Ext::static_size == n; }
  template <bool Flat>
  auto lower(plan& p) const {
    return detail::leaf_over<Flat>(node->value(p), shape());
  }
  /// One word, whatever the depth: the handle is the node's identity.
  void identify(signature& s) const { s.add(reinterpret_cast<std::uintptr_t>(node.get())); }
  /// Walked once per walk (a DAG is read along many paths); read at positions unrelated to the reader's.
  void for_each_memory(memory_visitor f) const {
    if (f.first_visit(node.get())) node->for_each_memory(f.unrelated());
  }
};

template <class N>
inline constexpr bool is_shared = false;
template <class T, class Ext, int Order>
inline constexpr bool is_shared<shared_expr<T, Ext, Order>> = true;

namespace detail {
/// A whole statement `y = share(e)` computes e straight into y (once per plan).
template <class U, class Ext, int Order>
struct whole_value<shared_expr<U, Ext, Order>> {
  static bool is_zero(const shared_expr<U, Ext, Order>& e) { return e.node->is_zero(); }
  template <class T, std::size_t R>
  static bool write(const shared_expr<U, Ext, Order>& e, T* dst, const shape_t<R>& shape, plan& p) {
    if constexpr (R == Ext::rank && std::is_same_v<T, U>) return e.shape() == shape && e.node->write_whole(dst, p);
    static_cast<void>(e), static_cast<void>(dst), static_cast<void>(shape), static_cast<void>(p);
    return false;
  }
};

/// Nodes that are memory or a number already: sharing them adds nothing.
template <class N>
inline constexpr bool is_memory_or_number = false;
template <class T, class Ext>
inline constexpr bool is_memory_or_number<leaf_expr<T, Ext>> = true;
template <class T, class Ext>
inline constexpr bool is_memory_or_number<owned_leaf_expr<T, Ext>> = true;
template <class T>
inline constexpr bool is_memory_or_number<scalar_expr<T>> = true;
}  // namespace detail

}  // namespace statix
