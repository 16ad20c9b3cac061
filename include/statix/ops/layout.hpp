// Shape operations: transpose, permute, reshape. Reshaping memory is free (a leaf with new extents);
// transposing and permuting materialize, tile by tile, so that both the reads and the writes stay in
// cache lines already loaded.
#pragma once

#include <algorithm>

#include "../autodiff/symbolic.hpp"
#include "../diagnostics.hpp"
#include "../primitive.hpp"

namespace statix {

namespace detail {

/// out (row-major, `shape`) = in read with `stride` per output axis. The last two output axes are
/// walked in 32x32 tiles: one of them is usually the input's contiguous axis.
template <class T, std::size_t R>
void permute_copy(const T* in, T* out, const shape_t<R>& shape, const shape_t<R>& stride) {
  const std::size_t n = element_count(shape);
  if (n == 0) return;
  if constexpr (R == 0) {
    out[0] = in[0];
  } else if constexpr (R == 1) {
    for (std::size_t j = 0; j < shape[0]; ++j) out[j] = in[j * stride[0]];
  } else {
    constexpr std::size_t tile = 32;
    const std::size_t rows = shape[R - 2], cols = shape[R - 1];
    const std::size_t rs = stride[R - 2], cs = stride[R - 1];
    const std::size_t plane = rows * cols;
    shape_t<R> index{};
    for (std::size_t outer = 0; outer < n / plane; ++outer) {
      std::size_t base = 0;
      for (std::size_t d = 0; d + 2 < R; ++d) base += index[d] * stride[d];
      T* o = out + outer * plane;
      for (std::size_t i0 = 0; i0 < rows; i0 += tile)
        for (std::size_t j0 = 0; j0 < cols; j0 += tile)
          for (std::size_t i = i0; i < std::min(rows, i0 + tile); ++i)
            for (std::size_t j = j0; j < std::min(cols, j0 + tile); ++j) o[i * cols + j] = in[base + i * rs + j * cs];
      for (std::size_t d = R - 2; d-- > 0;) {
        if (++index[d] < shape[d]) break;
        index[d] = 0;
      }
    }
  }
}

template <std::size_t... P>
constexpr bool is_permutation_of_rank(std::size_t rank) {
  if (sizeof...(P) != rank) return false;
  const std::array<std::size_t, sizeof...(P)> p{P...};
  for (std::size_t k = 0; k < p.size(); ++k)
    if (std::count(p.begin(), p.end(), k) != 1) return false;
  return true;
}

/// The new static extents are compatible with the old: equal sizes when both are static; at most one
/// `dyn` in the new shape, whose static part divides a static old size.
template <class From, class To>
constexpr bool reshape_compatible() {
  std::size_t to_static = 1, to_dyn = 0;
  for (std::size_t e : To::values) (e == dyn ? ++to_dyn : to_static *= e);
  if (to_dyn > 1) return false;
  if (!From::all_static) return true;
  if (to_dyn == 0) return From::static_size == to_static;
  return to_static != 0 && From::static_size % to_static == 0;
}

/// The run-time shape of reshape<E...> of `from`: the one `dyn` extent takes what is left.
template <class To, std::size_t RF>
shape_t<To::rank> reshaped(const shape_t<RF>& from) {
  const std::size_t n = element_count(from);
  shape_t<To::rank> to{};
  std::size_t known = 1, dyn_at = To::rank;
  for (std::size_t k = 0; k < To::rank; ++k) {
    to[k] = To::values[k];
    if (to[k] == dyn)
      dyn_at = k;
    else
      known *= to[k];
  }
  if (dyn_at < To::rank) to[dyn_at] = known == 0 ? 0 : n / known;
  if (element_count(to) != n) throw_shape_mismatch("reshape", from, to);
  return to;
}

}  // namespace detail

namespace op {

template <std::size_t... P>
struct permute {
  static constexpr std::string_view name = "permute";
  static constexpr std::array<std::size_t, sizeof...(P)> order{P...};
  template <class V>
  using value_type = V;
  template <class E>
  using extents_type = extents<E::values[P]...>;

  template <std::size_t R>
  static shape_t<R> shape(const shape_t<R>& s) {
    return {s[P]...};
  }
  /// (X^T)^T = X, for sym::transpose.
  template <class X>
    requires(sizeof...(P) == 2 && order[0] == 1)
  static X transposed(const primitive_expr<permute, X>& node) {
    return node.args.apply([](const X& x) { return x; });
  }

  template <class T, std::size_t R, class Node>
  static void compute(T* out, const shape_t<R>& out_shape, plan& p, const Node& in) {
    const auto x = dense(in, p);
    shape_t<R> in_stride{};
    for (std::size_t d = R, natural = 1; d-- > 0;) {
      in_stride[d] = natural;
      natural *= x.shape[d];
    }
    shape_t<R> stride{};  // input stride of each output axis
    for (std::size_t k = 0; k < R; ++k) stride[k] = in_stride[order[k]];
    detail::permute_copy<T, R>(x.data, out, out_shape, stride);
  }

  /// The adjoint of a permutation is the inverse permutation; a tangent is permuted like the value.
  template <std::size_t I, class G, class Out, class X>
  static auto partial(const G& g, const Out&, const X&);
  template <std::size_t I, class Tangent, class Out, class X>
  static auto push(const Tangent& t, const Out&, const X&) {
    return primitive_expr<permute, Tangent>(t);
  }

 private:
  static constexpr std::array<std::size_t, sizeof...(P)> inverse_order() {
    std::array<std::size_t, sizeof...(P)> inv{};
    for (std::size_t k = 0; k < inv.size(); ++k) inv[order[k]] = k;
    return inv;
  }
  template <class G, std::size_t... K>
  static auto inverse(const G& g, std::index_sequence<K...>) {
    constexpr auto inv = inverse_order();
    return primitive_expr<permute<inv[K]...>, G>(g);
  }
};

/// The same elements with another run-time shape (given by a carrier node of that shape, which is
/// never evaluated): what a derivative uses to undo a reshape whose extents are only known at run time.
struct reshape_to {
  static constexpr std::string_view name = "reshape";
  template <class V, class C>
  using value_type = V;
  template <class EX, class EC>
  using extents_type = EC;

  template <std::size_t R, std::size_t RC>
  static shape_t<RC> shape(const shape_t<R>& from, const shape_t<RC>& to) {
    if (element_count(from) != element_count(to)) throw_shape_mismatch(name, from, to);
    return to;
  }
  template <class T, std::size_t R, class Node, class C>
  static void compute(T* out, const shape_t<R>&, plan& p, const Node& in, const C&) {
    evaluate_into(out, in, p);
  }
  template <std::size_t I, class G, class Out, class X, class C>
  static auto partial(const G& g, const Out&, const X& x, const C&);
  template <std::size_t I, class Tangent, class Out, class X, class C>
  static auto push(const Tangent& t, const Out& out, const X&, const C&);
};

}  // namespace op

namespace op {
/// reshape of an expression that is not plain memory: evaluated once, in its own element order.
template <std::size_t... E>
struct reshape {
  static constexpr std::string_view name = "reshape";
  template <class V>
  using value_type = V;
  template <class>
  using extents_type = extents<E...>;

  template <std::size_t R>
  static shape_t<sizeof...(E)> shape(const shape_t<R>& s) {
    return detail::reshaped<extents<E...>>(s);
  }
  template <class T, std::size_t R, class Node>
  static void compute(T* out, const shape_t<R>&, plan& p, const Node& in) {
    evaluate_into(out, in, p);
  }
  template <std::size_t I, class G, class Out, class X>
  static auto partial(const G& g, const Out&, const X& x);
  template <std::size_t I, class Tangent, class Out, class X>
  static auto push(const Tangent& t, const Out& out, const X&);
};
}  // namespace op

namespace sym {
/// The transpose of a matrix expression, simplified where its primitive has a rule of its own,
/// `P::transposed(node)`: (X^T)^T = X (permute, above), (A B)^T = B^T A^T (ops/matmul.hpp). So the
/// gradient of a weight read transposed (y = x W^T) is the product g^T x, with no transposed copy.
template <class G>
auto transpose(const G& g) {
  if constexpr (requires { G::primitive::transposed(g); })
    return G::primitive::transposed(g);
  else
    return primitive_expr<op::permute<1, 0>, G>(g);
}

/// `x` with static extents Ext and the run-time shape `to` of the same size: a view of memory, the
/// node itself when nothing changes, else a reshape evaluated once.
template <class Ext, class X>
auto reshape_as(X x, const shape_t<Ext::rank>& to) {
  using T = typename X::value_type;
  if constexpr (std::is_same_v<typename X::extents_type, Ext> && Ext::all_static) {
    return x;
  } else if constexpr (detail::is_leaf<X>) {
    if (element_count(to) != x.size()) throw_shape_mismatch("reshape", x.shape(), to);
    return leaf_expr<T, Ext>{x.data, to};
  } else {
    return primitive_expr<op::reshape_to, X, constant_expr<T, Ext>>(std::move(x), sym::zeros<T, Ext>(to));
  }
}
}  // namespace sym

namespace op {
template <std::size_t... P>
template <std::size_t I, class G, class Out, class X>
auto permute<P...>::partial(const G& g, const Out&, const X&) {
  if constexpr (sizeof...(P) == 2 && order[0] == 1)
    return sym::transpose(g);
  else
    return inverse(g, std::make_index_sequence<sizeof...(P)>{});
}

template <std::size_t I, class G, class Out, class X, class C>
auto reshape_to::partial(const G& g, const Out&, const X& x, const C&) {
  return sym::reshape_as<typename X::extents_type>(g, x.shape());
}
template <std::size_t I, class Tangent, class Out, class X, class C>
auto reshape_to::push(const Tangent& t, const Out& out, const X&, const C&) {
  return sym::reshape_as<typename Out::extents_type>(t, out.shape());
}
template <std::size_t... E>
template <std::size_t I, class G, class Out, class X>
auto reshape<E...>::partial(const G& g, const Out&, const X& x) {
  return sym::reshape_as<typename X::extents_type>(g, x.shape());
}
template <std::size_t... E>
template <std::size_t I, class Tangent, class Out, class X>
auto reshape<E...>::push(const Tangent& t, const Out& out, const X&) {
  return sym::reshape_as<typename Out::extents_type>(t, out.shape());
}
}  // namespace op

/// permute<P...>(e): axis k of the result is axis P[k] of e.
template <std::size_t... P, operand X>
auto permute(X&& x) {
  using Ext = extents_t<X>;
  constexpr bool ok = detail::is_permutation_of_rank<P...>(Ext::rank);
  static_assert(check::require<
                check::is_permutation<op::permute<P...>, diagnostic::shape_of_t<Ext>, diagnostic::axes<P...>, ok>>);
  if constexpr (ok)
    return primitive_expr<op::permute<P...>, node_t<X>>(as_node(std::forward<X>(x)));
  else
    return rule_failed<value_type_t<X>>();
}

/// transpose(e): the two axes of a matrix swapped.
template <operand X>
auto transpose(X&& x) {
  using Ext = extents_t<X>;
  static_assert(check::require<check::operand_rank<op::permute<1, 0>, diagnostic::shape_of_t<Ext>, Ext::rank == 2>>);
  if constexpr (Ext::rank == 2)
    return permute<1, 0>(std::forward<X>(x));
  else
    return rule_failed<value_type_t<X>>();
}

/// reshape<E...>(e): the same elements in row-major order with extents E... (one may be `dyn`: what
/// is left). Sizes are checked at compile time when static, else at run time (shape_error).
template <std::size_t... E, operand X>
auto reshape(X&& x) {
  using From = extents_t<X>;
  using To = extents<E...>;
  constexpr bool ok = detail::reshape_compatible<From, To>();
  static_assert(check::require<
                check::reshape_size<op::reshape<E...>, diagnostic::shape_of_t<From>, diagnostic::shape_of_t<To>, ok>>);
  if constexpr (ok) {
    auto node = as_node(std::forward<X>(x));
    using N = decltype(node);
    if constexpr (detail::is_leaf<N>) {  // memory: a view with new extents
      return leaf_expr<typename N::value_type, To>{node.data, detail::reshaped<To>(node.shape())};
    } else if constexpr (detail::is_owned_leaf<N>) {  // the same, still owning the memory
      using T = typename N::value_type;
      return owned_leaf_expr<T, To>{{node.leaf.data, detail::reshaped<To>(node.shape())}, std::move(node.owner)};
    } else {
      return primitive_expr<op::reshape<E...>, N>(std::move(node));
    }
  } else {
    return rule_failed<value_type_t<X>>();
  }
}

}  // namespace statix
