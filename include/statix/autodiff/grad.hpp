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
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../eval/fuse.hpp"
#include "../ops/conv.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/layout.hpp"
#include "../ops/matmul.hpp"
#include "../ops/reduce.hpp"
#include "../shared.hpp"
#include "sum_list.hpp"
#include "symbolic.hpp"
#include "walk.hpp"

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

/// The order of an adjoint arriving at a node of order `target` from a reader of order `reader`.
constexpr int adjoint_order(int target, int reader) {
  return std::max(0, std::min(target, reader) - 1);
}

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

/// Is this leaf (a possible match) the variable? Another view of its memory is an error.
template <match How, class Leaf, class V>
bool is_variable(const Leaf& leaf, const V& var) {
  const bool same = leaf.data == var.data && leaf.size() == var.size();
  if constexpr (How == match::same_rank)
    if (same && leaf.shape() != var.shape) throw_view_of_variable();
  if (!same && overlaps(leaf.memory(), var.memory())) throw_view_of_variable();
  return same;
}

/// The adjoint that reaches operand I of `node` (whose adjoint is g): the primitive's rule, and for
/// elementwise nodes the broadcast undone. One place for both walks of the reverse pass.
template <std::size_t I, class Node, class G, class... A>
auto operand_adjoint(const Node& node, const G& g, const A&... a) {
  const auto& x = nth<I>(a...);
  using X = std::remove_cvref_t<decltype(x)>;
  if constexpr (requires { typename Node::op_type; }) {
    auto adjoint = Node::op_type::template partial<I>(g, node, a...);
    using others = typename other_extents<I, A...>::type;
    return unbroadcast_operand<I, decltype(adjoint), X, others>::run(std::move(adjoint), x);
  } else {
    using P = typename Node::primitive;
    constexpr bool has_rule = requires {
      P::template partial<I>(g, node, a...);
    };
    static_assert(check::require<check::derivative_rule<P, std::integral_constant<std::size_t, I>, has_rule>>);
    if constexpr (has_rule)
      return P::template partial<I>(g, node, a...);
    else
      return none{};
  }
}

/// The edges of the reverse passes (`reverse` and `deposit`), which hand an adjoint down a tree: to
/// operand I by its node's rule (broadcasting undone), to a cast's operand in the operand's dtype, to
/// an expansion's operand with what it broadcast summed out. A state `s` holds the adjoint arriving
/// at the node (`s.adjoint`); `s.with(g)` is the same walk with adjoint g.
template <class Pass>
struct adjoint_edges {
  template <std::size_t I, class Node, class S, class Down, class... A>
  static auto operand(const Node& node, const S& s, Down down, const A&... a) {
    const auto& x = nth<I>(a...);
    if constexpr (!Pass::template flows<std::remove_cvref_t<decltype(x)>, S>)
      return Pass::nothing(s);  // the rule is not even instantiated
    else
      return down(x, s.with(operand_adjoint<I>(node, s.adjoint, a...)));
  }
  template <class U, class X, class S, class Down>
  static auto cast(const cast_expr<U, X>& node, const S& s, Down down) {
    using G = std::remove_cvref_t<decltype(s.adjoint)>;
    return down(node.arg, s.with(cast_expr<typename X::value_type, G>{s.adjoint}));
  }
  template <class Ext, class X, class S, class Down>
  static auto expand(const expand_expr<Ext, X>& node, const S& s, Down down) {
    // The expanded operand is the only one: any extent the expansion changed was broadcast.
    using G = std::remove_cvref_t<decltype(s.adjoint)>;
    return down(node.arg, s.with(unbroadcast<typename X::extents_type, G, Ext>(s.adjoint, node.arg.shape())));
  }
};

/// What the passes that build an expression (`reverse`, `forward`) return: none where nothing flows,
/// else the sum of what their operands gave.
struct sums_contributions {
  template <class S>
  static none nothing(const S&) {
    return {};
  }
  template <class... C>
  static auto join(C... contributions) {
    return sum_of(std::move(contributions)...);
  }
};

/// The reverse pass inside one tree (the loss above its shared nodes, or a shared node's operand):
/// `visit(node, g, var)` is the contribution to var's gradient of the subtree `node` whose adjoint
/// is g (with node's shape), or none. It stops at shared nodes: what reaches them is collected by
/// `deposit` and summed before their operands are walked (see `gradients`).
struct reverse : adjoint_edges<reverse>, sums_contributions {
  template <class G, class V>
  struct state {
    using variable_type = V;
    const G& adjoint;
    const V& var;
    template <class H>
    state<H, V> with(const H& h) const {
      return {h, var};
    }
  };

  template <class N, class G, class V>
  static auto visit(const N& node, const G& g, const V& var) {
    return walk<reverse>(node, state<G, V>{g, var});
  }

  template <class N, class S>
  static constexpr bool flows = carries<N, typename S::variable_type::value_type>;

  template <class T, class Ext, class S>
  static auto leaf(const leaf_expr<T, Ext>& leaf, const S& s) {
    const auto& var = s.var;
    using VE = typename S::variable_type::extents_type;
    constexpr match how = leaf_match<Ext, VE>();
    if constexpr (how == match::no) {
      if (overlaps(leaf.memory(), var.memory())) throw_view_of_variable();
      return none{};
    } else {
      using choice = choose_expr<decltype(reshaped_to<how, VE>(s.adjoint, var.shape)), constant_expr<T, VE>>;
      if (!is_variable<how>(leaf, var)) return choice::pick_second(sym::zeros<T, VE>(var.shape));
      return choice::pick_first(reshaped_to<how, VE>(s.adjoint, var.shape));
    }
  }

  template <class A, class B, class S, class Down>
  static auto choice(const choose_expr<A, B>& node, const S& s, Down down) {
    using T = typename S::variable_type::value_type;
    using VE = typename S::variable_type::extents_type;
    auto or_zeros = [&](auto c) {
      if constexpr (is_none<decltype(c)>)
        return sym::zeros<T, VE>(s.var.shape);
      else
        return c;
    };
    using CA = decltype(or_zeros(down(*node.first, s)));
    using CB = decltype(or_zeros(down(*node.second, s)));
    if (node.first) return choose_expr<CA, CB>::pick_first(or_zeros(down(*node.first, s)));
    return choose_expr<CA, CB>::pick_second(or_zeros(down(*node.second, s)));
  }

  /// Every term of a sum has the sum's adjoint.
  template <class C, class S, class Down>
  static auto sum(const sum_list<C>& node, const S& s, Down down) {
    using R = decltype(down(std::declval<const C&>(), s));
    if constexpr (is_none<R>) {
      return none{};
    } else {
      sum_list<R> out{{}, s.var.shape};
      out.terms.reserve(node.terms.size());
      for (const C& t : node.terms) out.terms.push_back(down(t, s));
      return out;
    }
  }
};

template <int Order, class G>
auto erase(G g);

/// Adjoints that arrived at shared nodes, each erased to a shared node as soon as it arrives: (the
/// node, the adjoint).
using arrivals = std::vector<std::pair<shared_base::handle, shared_base::handle>>;
/// What a pass that writes its results elsewhere returns.
struct done {};

/// The walk that collects adjoints at shared nodes: `visit<Reader>(node, g, out)` hands g down
/// through node's tree as `reverse` does, and appends what arrives at each shared node it reaches
/// (not crossing them) to `out`. `Reader` is the derivative order of the node whose tree this is
/// (-1 for the loss: no bound), which bounds the order of what arrives (adjoint_order).
struct deposit : adjoint_edges<deposit> {
  template <class G, int Reader>
  struct state {
    const G& adjoint;
    arrivals& out;
    template <class H>
    state<H, Reader> with(const H& h) const {
      return {h, out};
    }
  };

  template <int Reader, class N, class G>
  static void visit(const N& node, const G& g, arrivals& out) {
    walk<deposit>(node, state<G, Reader>{g, out});
  }

  template <class N, class S>
  static constexpr bool flows = reaches_shared<N>;
  template <class S>
  static done nothing(const S&) {
    return {};
  }
  template <class... D>
  static done join(D...) {
    return {};
  }

  template <class U, class Ext, int K, class G, int Reader>
  static done shared(const shared_expr<U, Ext, K>& node, const state<G, Reader>& s) {
    constexpr int order = adjoint_order(K, Reader < 0 ? K : Reader);
    s.out.emplace_back(node.node, erase<order>(sym::expand<Ext>(s.adjoint, node.shape())));
    return {};
  }
  template <class A, class B, class S, class Down>
  static done choice(const choose_expr<A, B>& node, const S& s, Down down) {
    return node.first ? down(*node.first, s) : down(*node.second, s);
  }
  template <class C, class S, class Down>
  static done sum(const sum_list<C>& node, const S& s, Down down) {
    for (const C& t : node.terms) down(t, s);
    return {};
  }
};

/// The shared nodes a node reads, not crossing them (the edges the reverse pass orders by).
struct shared_children {
  template <class N>
  static void visit(const N& node, std::vector<shared_base::handle>& out) {
    if constexpr (kind_of<N> == node_kind::shared)
      out.push_back(node.node);
    else
      for_each_operand(node, [&out](const auto& x) { visit(x, out); });
  }
};

/// Tangents of shared nodes already derived in this forward pass (keyed by the node), and the
/// direction as a flat shared node, made when the first shared node needs it.
struct tangent_memo {
  std::vector<std::pair<const void*, shared_base::handle>> known;
  shared_base::handle direction;
};

/// The forward pass: `visit(node, var, dx, memo)` is the derivative of `node` along dx (a tangent of
/// var's shape), with node's shape, or none. The same walk as the reverse passes, the other way: each
/// operand's tangent is pushed through its node's rule.
struct forward : sums_contributions {
  template <class V, class D>
  struct state {
    using variable_type = V;
    const V& var;
    const D& dx;
    tangent_memo& memo;
  };

  template <class N, class V, class D>
  static auto visit(const N& node, const V& var, const D& dx, tangent_memo& memo) {
    return walk<forward>(node, state<V, D>{var, dx, memo});
  }

  template <class N, class S>
  static constexpr bool flows = carries<N, typename S::variable_type::value_type, true>;

  template <class T, class Ext, class S>
  static auto leaf(const leaf_expr<T, Ext>& leaf, const S& s) {
    constexpr match how = leaf_match<Ext, typename S::variable_type::extents_type>();
    if constexpr (how == match::no) {
      if (overlaps(leaf.memory(), s.var.memory())) throw_view_of_variable();
      return none{};
    } else {
      using choice = choose_expr<decltype(reshaped_to<how, Ext>(s.dx, leaf.shape())), constant_expr<T, Ext>>;
      if (!is_variable<how>(leaf, s.var)) return choice::pick_second(sym::zeros<T, Ext>(leaf.shape()));
      return choice::pick_first(reshaped_to<how, Ext>(s.dx, leaf.shape()));
    }
  }

  /// A shared node's tangent is derived once (through its operand) and shared by every reader.
  template <class U, class Ext, int K, class S>
  static auto shared(const shared_expr<U, Ext, K>& node, const S& s);

  template <std::size_t I, class Node, class S, class Down, class... A>
  static auto operand(const Node& node, const S& s, Down down, const A&... a) {
    const auto t = down(nth<I>(a...), s);
    using Tangent = std::remove_cvref_t<decltype(t)>;
    if constexpr (is_none<Tangent>) {
      return none{};
    } else if constexpr (requires { typename Node::op_type; }) {  // pointwise: the partial rule pushes too
      return sym::expand<typename Node::extents_type>(Node::op_type::template partial<I>(t, node, a...), node.shape());
    } else {
      using P = typename Node::primitive;
      constexpr bool has_rule = requires {
        P::template push<I>(t, node, a...);
      };
      static_assert(check::require<check::tangent_rule<P, std::integral_constant<std::size_t, I>, has_rule>>);
      if constexpr (has_rule)
        return P::template push<I>(t, node, a...);
      else
        return none{};
    }
  }

  template <class U, class X, class S, class Down>
  static auto cast(const cast_expr<U, X>& node, const S& s, Down down) {
    auto t = down(node.arg, s);
    if constexpr (is_none<decltype(t)>)
      return none{};
    else
      return cast_expr<U, decltype(t)>{std::move(t)};
  }

  template <class Ext, class X, class S, class Down>
  static auto expand(const expand_expr<Ext, X>& node, const S& s, Down down) {
    auto t = down(node.arg, s);
    if constexpr (is_none<decltype(t)>)
      return none{};
    else
      return expand_expr<Ext, decltype(t)>(std::move(t), node.shape());
  }

  template <class A, class B, class S, class Down>
  static auto choice(const choose_expr<A, B>& node, const S& s, Down down) {
    using T = typename choose_expr<A, B>::value_type;
    auto or_zeros = [&node](auto t) {
      if constexpr (is_none<decltype(t)>)
        return sym::zeros<T, typename choose_expr<A, B>::extents_type>(node.shape());
      else
        return t;
    };
    using TA = decltype(or_zeros(down(*node.first, s)));
    using TB = decltype(or_zeros(down(*node.second, s)));
    if (node.first) return choose_expr<TA, TB>::pick_first(or_zeros(down(*node.first, s)));
    return choose_expr<TA, TB>::pick_second(or_zeros(down(*node.second, s)));
  }

  template <class C, class S, class Down>
  static auto sum(const sum_list<C>& node, const S& s, Down down) {
    using R = decltype(down(std::declval<const C&>(), s));
    if constexpr (is_none<R>) {
      return none{};
    } else {
      sum_list<R> out{{}, node.extent};
      for (const C& t : node.terms) out.terms.push_back(down(t, s));
      return out;
    }
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

/// How many times a shared node made by sx::share may be differentiated (each derivative is a shared
/// node with one order less): the operand of every node built while differentiating is compiled
/// with its own derivatives, so this bounds what the compiler instantiates. 1: gradients; a second
/// derivative through such a node throws std::logic_error. `sx::share<2>(e)` allows Hessian-vector
/// products through e, at a higher compile cost.
inline constexpr int shared_derivative_order = 1;

[[noreturn]] inline void throw_derivative_order() {
  throw std::logic_error(
      "statix: a shared node was differentiated more times than its order allows (sx::share<Order>(e); the "
      "default, autodiff::shared_derivative_order, is " +
      std::to_string(shared_derivative_order) + ")");
}

/// Forward mode (jvp) through a shared node needs `sx::share<2>` or more: a tangent of every shared
/// operand would otherwise be compiled into every model for a mode that training never uses.
inline constexpr int forward_mode_order = 2;

[[noreturn]] inline void throw_forward_mode_order() {
  throw std::logic_error(
      "statix: forward mode (jvp) through a shared node needs sx::share<2>(e) or more; sx::share(e) and the "
      "layers' shared nodes are compiled for gradients only");
}

/// The operand of a shared node: the expression X behind the erased interface, able to evaluate
/// itself once per plan and to be differentiated `Order` more times.
template <class X, int Order>
class shared_operand final : public shared_node<typename X::value_type, X::rank> {
 public:
  using T = typename X::value_type;
  using Ext = typename X::extents_type;
  static constexpr std::size_t R = X::rank;
  using base = shared_node<T, R>;

  explicit shared_operand(X x) : base(shape_t<R>(x.shape())), operand_(std::move(x)) {}

  const T* value(plan& p) const override {
    if constexpr (lowers_to_memory) {
      return operand_.template lower<false>(p).data;
    } else {
      return static_cast<const T*>(
          p.value_once(typeid(shared_base), plan::signature_of(*this), element_count(this->shape()) * sizeof(T),
                       [this](void* out, plan& q) {
                         evaluate_into(static_cast<T*>(out), operand_, q.nested_for_kept_buffer());
                       })
              .get());
    }
  }
  bool write_whole(T* dst, plan& p) const override {
    if constexpr (lowers_to_memory) {
      return detail::whole_value<X>::write(operand_, dst, this->shape(), p);
    } else {
      p.write_once(typeid(shared_base), plan::signature_of(*this), dst, element_count(this->shape()) * sizeof(T),
                   [this](void* out, plan& q) { evaluate_into(static_cast<T*>(out), operand_, q.nested()); });
      return true;
    }
  }
  bool is_zero() const override { return detail::whole_value<X>::is_zero(operand_); }
  void for_each_memory(memory_visitor f) const override { operand_.for_each_memory(f); }
  void identify(signature& s) const { s.add(reinterpret_cast<std::uintptr_t>(static_cast<const shared_base*>(this))); }

  void children(std::vector<shared_base::handle>& out) const override { shared_children::visit(operand_, out); }

  void deposit(const shared_base::handle& adjoint, arrivals& out) const override {
    if constexpr (Order == 0 || !reaches_shared<X>) {
      static_cast<void>(adjoint), static_cast<void>(out);
      if constexpr (Order == 0 && reaches_shared<X>) throw_derivative_order();
    } else {
      deposit::visit<Order>(operand_, adjoint_of(adjoint), out);
    }
  }
  shared_base::handle sum(const std::vector<shared_base::handle>& adjoints) const override {
    sum_list<shared_expr<T, Ext, below>> total{{}, this->shape()};
    for (const auto& a : adjoints) total.terms.push_back(adjoint_of(a));
    return erase<below>(std::move(total));
  }
  shared_base::handle contribution(const shared_base::handle& adjoint, const flat_variable<float>& var) const override {
    return contribution_to(adjoint, var);
  }
  shared_base::handle contribution(const shared_base::handle& adjoint,
                                   const flat_variable<double>& var) const override {
    return contribution_to(adjoint, var);
  }
  shared_base::handle tangent(const flat_variable<float>& var, const shared_base::handle& direction,
                              tangent_memo& memo) const override {
    return tangent_along(var, direction, memo);
  }
  shared_base::handle tangent(const flat_variable<double>& var, const shared_base::handle& direction,
                              tangent_memo& memo) const override {
    return tangent_along(var, direction, memo);
  }

 private:
  static constexpr bool lowers_to_memory =
      detail::is_leaf<decltype(std::declval<const X&>().template lower<false>(std::declval<plan&>()))>;

  static constexpr int below = Order > 0 ? Order - 1 : 0;  // the order of this node's derivatives

  static shared_expr<T, Ext, below> adjoint_of(const shared_base::handle& h) {
    return {std::static_pointer_cast<const shared_node<T, R>>(h)};
  }

  template <class V>
  shared_base::handle contribution_to(const shared_base::handle& adjoint, const flat_variable<V>& var) const {
    if constexpr (!carries<X, V>) {
      static_cast<void>(adjoint), static_cast<void>(var);
      return nullptr;
    } else if constexpr (Order == 0) {
      throw_derivative_order();
    } else {
      auto c = reverse::visit(operand_, adjoint_of(adjoint), variable<V, extents<dyn>>{var.data, {var.size}});
      if constexpr (is_none<decltype(c)>)
        return nullptr;
      else
        return erase<below>(std::move(c));
    }
  }

  template <class V>
  shared_base::handle tangent_along(const flat_variable<V>& var, const shared_base::handle& direction,
                                    tangent_memo& memo) const {
    if constexpr (!carries<X, V, true>) {
      static_cast<void>(var), static_cast<void>(direction), static_cast<void>(memo);
      return nullptr;
    } else if constexpr (Order < forward_mode_order) {
      throw_forward_mode_order();
    } else {
      const shared_expr<V, extents<dyn>, 0> dx{std::static_pointer_cast<const shared_node<V, 1>>(direction)};
      auto t = forward::visit(operand_, variable<V, extents<dyn>>{var.data, {var.size}}, dx, memo);
      if constexpr (is_none<decltype(t)>)
        return nullptr;
      else
        return erase<below>(sym::expand<Ext>(std::move(t), this->shape()));
    }
  }

  X operand_;
};

/// g as a shared node that may be differentiated Order more times.
template <int Order, class G>
auto erase(G g) {
  using T = typename G::value_type;
  constexpr std::size_t R = G::rank;
  if constexpr (is_shared<G>)
    return std::shared_ptr<const shared_node<T, R>>(std::move(g.node));
  else
    return std::shared_ptr<const shared_node<T, R>>(std::make_shared<const shared_operand<G, Order>>(std::move(g)));
}

template <class U, class Ext, int K, class S>
auto forward::shared(const shared_expr<U, Ext, K>& node, const S& s) {
  using T = typename S::variable_type::value_type;
  for (const auto& [key, value] : s.memo.known)
    if (key == node.node.get())
      return shared_expr<U, Ext, K>{std::static_pointer_cast<const shared_node<U, Ext::rank>>(value)};
  if (!s.memo.direction) s.memo.direction = erase<0>(sym::reshape_as<extents<dyn>>(s.dx, shape_t<1>{s.var.size()}));
  shared_base::handle t = node.node->tangent(flat_variable<T>{s.var.data, s.var.size()}, s.memo.direction, s.memo);
  if (!t) t = erase<0>(sym::zeros<U, Ext>(node.shape()));
  s.memo.known.emplace_back(node.node.get(), t);
  return shared_expr<U, Ext, K>{std::static_pointer_cast<const shared_node<U, Ext::rank>>(t)};
}

/// The reverse pass through the shared nodes of a loss: each shared node an adjoint reaches, with the
/// sum of what arrived from all its readers, in an order where readers come first.
struct shared_adjoints {
  std::vector<std::pair<shared_base::handle, shared_base::handle>> nodes;  // (node, its adjoint)
};

template <class Loss, class Seed>
shared_adjoints reverse_through_shared(const Loss& loss, const Seed& seed) {
  using handle = shared_base::handle;
  arrivals arrived;
  deposit::visit<-1>(loss, seed, arrived);
  // Readers before what they read: reverse post-order of a depth-first walk from the loss's nodes.
  std::vector<handle> order, stack_children;
  std::vector<const shared_base*> seen;
  struct frame {
    handle node;
    std::vector<handle> children;
    std::size_t next = 0;
  };
  std::vector<frame> stack;  // explicit: a deep network must not deepen the call stack
  for (const auto& [start, adjoint] : arrived) {
    if (std::find(seen.begin(), seen.end(), start.get()) != seen.end()) continue;
    seen.push_back(start.get());
    stack.push_back({start, {}, 0});
    start->children(stack.back().children);
    while (!stack.empty()) {
      frame& top = stack.back();
      if (top.next < top.children.size()) {
        handle child = top.children[top.next++];
        if (std::find(seen.begin(), seen.end(), child.get()) != seen.end()) continue;
        seen.push_back(child.get());
        frame f{std::move(child), {}, 0};
        f.node->children(f.children);
        stack.push_back(std::move(f));
      } else {
        order.push_back(std::move(top.node));
        stack.pop_back();
      }
    }
  }
  shared_adjoints out;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    std::vector<handle> adjoints;
    for (const auto& [to, adjoint] : arrived)
      if (to == *it) adjoints.push_back(adjoint);
    if (adjoints.empty()) continue;  // read only where no derivative flows (a comparison, say)
    handle total = adjoints.size() == 1 ? adjoints.front() : (*it)->sum(adjoints);
    (*it)->deposit(total, arrived);
    out.nodes.emplace_back(*it, std::move(total));
  }
  return out;
}

/// A variable's gradient: what reaches it in the loss's tree, plus what each shared node's operand
/// contributes (flat, summed, then shaped as the variable).
template <class Loss, class Seed, class V>
auto gradient_through_shared(const Loss& loss, const Seed& seed, const shared_adjoints& shared, const V& var) {
  using T = typename V::value_type;
  using VE = typename V::extents_type;
  sum_list<shared_expr<T, extents<dyn>, adjoint_order(shared_order<Loss>, shared_order<Loss>)>> parts{{}, {var.size()}};
  const flat_variable<T> flat{var.data, var.size()};
  for (const auto& [node, adjoint] : shared.nodes)
    if (auto c = node->contribution(adjoint, flat))
      parts.terms.push_back({std::static_pointer_cast<const shared_node<T, 1>>(std::move(c))});
  return sum_of(reverse::visit(loss, seed, var), sym::reshape_as<VE>(std::move(parts), var.shape));
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
/// The loss's tree above its shared nodes is walked first; then each shared node, in an order where
/// its readers come first, gets the sum of the adjoints that arrived and its operand is walked once
/// with it. A variable's gradient is the sum of what reaches it in each of these trees.
template <class Loss, class... X>
auto gradients(const Loss& loss, const X&... xs) {
  using T = typename Loss::value_type;
  const auto seed = sym::literal<T, 1>();
  if constexpr (!reaches_shared<Loss>) {
    return std::tuple{gradient_of(reverse::visit(loss, seed, variable_of(xs)), variable_of(xs))...};
  } else {
    const shared_adjoints shared = reverse_through_shared(loss, seed);
    return std::tuple{gradient_through_shared(loss, seed, shared, variable_of(xs))...};
  }
}

}  // namespace autodiff

/// share(e): e as one node that may be read in several places: its value is computed once per
/// evaluation and its derivative taken once, with the adjoints of all its readers summed. Its type is
/// e's dtype and static extents only. Tensors, numbers and shared nodes are returned as they are
/// (their identity is their memory).
///
///   auto h = sx::share(sx::relu(sx::matmul(x, w1) + b1));
///   auto y = h + sx::relu(sx::matmul(h, w2) + b2);     // h computed once, differentiated once
template <int Order = autodiff::shared_derivative_order, operand X>
auto share(X&& x) {
  using N = node_t<X>;
  if constexpr (is_shared<N> || detail::is_memory_or_number<N>)
    return as_node(std::forward<X>(x));
  else
    return shared_expr<typename N::value_type, typename N::extents_type, Order>{
        autodiff::erase<Order>(as_node(std::forward<X>(x)))};
}

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
    return rule_failed<double>();
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
  // Each gradient on its own in the one plan: a gradient that is a single product or convolution
  // writes straight into its tensor, and the loop of a gradient is compiled for its type alone.
  auto all = std::apply([&](const auto&... g) { return detail::eval_all<false>(node, g...); },
                        autodiff::gradients(node, xs...));
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
                               same_static_extents<extents_t<X>, extents_t<D>>()>>);
  auto node = as_node(std::forward<E>(e));
  auto direction = as_node(std::forward<D>(dx));
  if (direction.shape() != x.shape()) throw_shape_mismatch("jvp", x.shape(), direction.shape());
  const auto var = autodiff::variable_of(x);
  autodiff::tangent_memo memo;
  auto t = autodiff::forward::visit(node, var, direction, memo);
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
