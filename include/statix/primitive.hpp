// primitive_expr: one node type for every primitive that materializes (matmul, convolution, pooling,
// reductions, softmax, transpose, ...). A primitive is a struct (in ops/) with its name, its dtype and
// static shape rules, its run-time shape rule and its kernel; primitive_expr adds what every
// materialization point needs: computed once per plan (identical nodes share the value), read by the
// enclosing loop as a plain leaf, and written straight into the destination when it is the whole
// expression.
#pragma once

#include <algorithm>
#include <memory>

#include "eval/kernel.hpp"
#include "expr.hpp"

namespace statix {

/// Evaluates `node` into memory of its shape, in plan `p` (which sees and adds to the values its
/// enclosing plans computed). The one way a kernel, or a node computing itself, evaluates an operand.
template <class Node>
void evaluate_into(typename Node::value_type* dst, const Node& node, plan& p) {
  execute_in(p, statement<typename Node::value_type, dyn_extents<Node::rank>, assign_kind::set, Node>{dst, node.shape(),
                                                                                                      node});
}
template <class Node>
void evaluate_into(typename Node::value_type* dst, const Node& node, plan&& p) {
  evaluate_into(dst, node, p);
}

/// An operand as contiguous row-major memory, for a primitive's kernel: its data, shape, and the
/// buffer it was evaluated into (null when it is a leaf's memory or a value the plan keeps).
template <class T, std::size_t R>
struct dense_operand {
  const T* data;
  shape_t<R> shape;
  std::shared_ptr<const void> keep_alive;
  std::size_t size() const { return element_count(shape); }
};

namespace detail {
template <class N>
inline constexpr bool is_leaf = false;
template <class T, class Ext>
inline constexpr bool is_leaf<leaf_expr<T, Ext>> = true;
template <class N>
inline constexpr bool is_owned_leaf = false;
template <class T, class Ext>
inline constexpr bool is_owned_leaf<owned_leaf_expr<T, Ext>> = true;
}  // namespace detail

/// A primitive's operand as memory: a leaf's own, a primitive's value (computed once in p), else the
/// expression evaluated once into a buffer that the result keeps alive.
template <class Node>
dense_operand<typename Node::value_type, Node::rank> dense(const Node& node, plan& p) {
  using T = typename Node::value_type;
  if constexpr (detail::is_leaf<Node>) {
    return {node.data, node.shape(), nullptr};
  } else if constexpr (detail::is_leaf<decltype(node.template lower<false>(p))>) {  // a primitive's value, in p
    auto leaf = node.template lower<false>(p);
    return {leaf.data, leaf.shape(), nullptr};
  } else {
    auto buffer = detail::shared_buffer<T>(element_count(node.shape()));
    evaluate_into(buffer.get(), node, p.nested_for_buffer());
    return {buffer.get(), node.shape(), std::move(buffer)};
  }
}

/// What a builder (an engine's or a layer's) returns after a failed compile-time rule: a scalar of the
/// dtype the expression would have had, so that the rule's error is the only one (no cascade of
/// errors where the result is used).
template <class T>
scalar_expr<T> rule_failed() {
  return {};
}

/// What a materializing primitive P (a struct in ops/) must define to be built over the nodes Args...:
/// its name (diagnostics, shape errors), the dtype and static extents of its value, its run-time
/// shape rule (`shape`, which throws shape_error naming the primitive), and `compute`, the kernel that
/// writes the value into memory of that shape. Its derivative rules (`partial<I>`, `push<I>`) are
/// checked where a derivative asks for them (autodiff/grad.hpp). docs/design.md, "Adding a
/// primitive", builds one.
template <class P, class... Args>
concept primitive = requires {
  { P::name } -> std::convertible_to<std::string_view>;
  typename P::template value_type<typename Args::value_type...>;
  typename P::template extents_type<typename Args::extents_type...>;
}
&&requires(const Args&... args, plan& p, typename P::template value_type<typename Args::value_type...>* out,
           const shape_t<P::template extents_type<typename Args::extents_type...>::rank>& out_shape) {
  {
    P::shape(args.shape()...)
    } -> std::convertible_to<shape_t<P::template extents_type<typename Args::extents_type...>::rank>>;
  P::compute(out, out_shape, p, args...);
};

template <class Prim, class... Args>
struct primitive_expr {
  static_assert(primitive<Prim, Args...>,
                "statix: a primitive needs `name`, `value_type<...>`, `extents_type<...>`, `shape(...)` and "
                "`compute(out, out_shape, plan, args...)` (see the concept `primitive` above)");
  static constexpr bool is_statix_expression = true;
  static constexpr node_kind kind = node_kind::operands;
  using value_type = typename Prim::template value_type<typename Args::value_type...>;
  using extents_type = typename Prim::template extents_type<typename Args::extents_type...>;
  static constexpr std::size_t rank = extents_type::rank;
  using primitive = Prim;

  detail::pack<Args...> args;
  shape_t<rank> extent;

  explicit primitive_expr(Args... a)
      : args{{std::move(a)}...}, extent(args.apply([](const auto&... x) { return Prim::shape(x.shape()...); })) {}

  const shape_t<rank>& shape() const { return extent; }
  std::size_t size() const { return element_count(extent); }
  bool flat_ok(std::size_t n) const { return size() == n; }
  static constexpr bool always_flat(std::size_t n) { return extents_type::static_size == n; }

  /// A leaf over the value, which `p` (or the plan it is nested in) keeps until it ends.
  template <bool Flat>
  auto lower(plan& p) const {
    return detail::leaf_over<Flat>(static_cast<const value_type*>(materialize(p).get()), extent);
  }

  /// Computes the value straight into `dst` (unless this plan has it already).
  void compute_root(value_type* dst, plan& p) const {
    p.write_once(typeid(primitive_expr), plan::signature_of(*this), dst, size() * sizeof(value_type),
                 [this](void* out, plan& q) { compute(static_cast<value_type*>(out), q); });
  }

  void identify(signature& s) const {
    args.apply([&s](const auto&... a) { (a.identify(s), ...); });
  }
  /// Operands are read at positions unrelated to the destination's: any overlap is a conflict.
  void for_each_memory(memory_visitor f) const {
    args.apply([u = f.unrelated()](const auto&... a) { (a.for_each_memory(u), ...); });
  }

 private:
  void compute(value_type* out, plan& p) const {
    ++evaluation_count<Prim>::value;
    plan operands = p.nested();  // operands never claim this plan's epilogue destination
    args.apply([&](const auto&... a) { Prim::compute(out, extent, operands, a...); });
  }

  std::shared_ptr<const void> materialize(plan& p) const {
    if constexpr (requires { Prim::row_blocked; }) {
      if (void* target = p.claim_target(extent)) {  // epilogue: compute into the destination by blocks of rows
        signature sig = plan::signature_of(*this);
        if (auto known = p.find(typeid(primitive_expr), sig)) return known;
        auto* dst = static_cast<value_type*>(target);
        ++evaluation_count<Prim>::value;
        plan operands = p.nested();
        p.set_producer(args.apply([&](const auto&... a) { return Prim::row_producer(dst, extent, operands, a...); }));
        std::shared_ptr<const void> value(std::shared_ptr<void>(), dst);
        p.remember(typeid(primitive_expr), std::move(sig), value, plan::seen_by::this_plan);
        return value;
      }
    }
    return p.value_once(typeid(primitive_expr), plan::signature_of(*this), size() * sizeof(value_type),
                        [this](void* out, plan& q) { compute(static_cast<value_type*>(out), q); });
  }
};

}  // namespace statix
