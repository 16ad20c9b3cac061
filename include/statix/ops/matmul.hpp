// matmul: (M, K) x (K, N) -> (M, N) and (B, M, K) x (K, N) -> (B, M, N), float or double. A batch of
// row-major matrices times one matrix is one product with B*M rows. Operands that are not plain memory
// are evaluated once into a buffer (packing then reads each element once). As the last step of an
// elementwise expression (`relu(matmul(x, w) + b)`) the product runs by blocks of rows straight into
// the destination, and the elementwise rest runs on each block while it is in cache.
#pragma once

#include "../diagnostics.hpp"
#include "../primitive.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"
#include "layout.hpp"

namespace statix {

namespace detail {

template <class Node>
inline constexpr bool is_matrix_transpose = false;
template <class X>
inline constexpr bool is_matrix_transpose<primitive_expr<op::permute<1, 0>, X>> = true;

template <class T>
struct matrix_operand {
  gemm::strided<T> view;
  std::shared_ptr<const void> keep_alive;
};

/// A matmul operand as strided memory. The transpose of a matrix is read transposed where it lies
/// (the product packs it anyway), not copied first: the gradients of a product are products with
/// transposes.
template <class Node>
matrix_operand<typename Node::value_type> matrix_operand_of(const Node& node, plan& p) {
  if constexpr (is_matrix_transpose<Node>) {
    if (!p.find(node)) {
      auto x = node.args.apply([&p](const auto& child) { return dense(child, p); });
      return {{x.data, 1, x.shape[1]}, std::move(x.keep_alive)};
    }
  }
  auto x = dense(node, p);
  return {{x.data, x.shape[Node::rank - 1]}, std::move(x.keep_alive)};
}

}  // namespace detail

namespace op {

struct matmul {
  static constexpr std::string_view name = "matmul";
  static constexpr bool row_blocked = true;
  template <class A, class B>
  using value_type = A;
  template <class EA, class EB>
  using extents_type = std::conditional_t<EA::rank == 2, extents<EA::values[0], EB::values[1]>,
                                          extents<EA::values[0], EA::values[1], EB::values[1]>>;

  template <std::size_t RA>
  static shape_t<RA> shape(const shape_t<RA>& a, const shape_t<2>& b) {
    if (a[RA - 1] != b[0]) throw_shape_mismatch(name, a, b);
    shape_t<RA> out = a;
    out[RA - 1] = b[1];
    return out;
  }

  template <class T, std::size_t R, class NA, class NB>
  static void compute(T* out, const shape_t<R>& out_shape, plan& p, const NA& a, const NB& b) {
    const auto da = detail::matrix_operand_of(a, p);
    const auto db = detail::matrix_operand_of(b, p);
    const std::size_t k = b.shape()[0], n = b.shape()[1];
    detail::gemm::multiply<T>(element_count(out_shape) / std::max<std::size_t>(n, 1), n, k, da.view, db.view, out);
  }

  template <class T, std::size_t R, class NA, class NB>
  static plan::row_producer row_producer(T* out, const shape_t<R>& out_shape, plan& p, const NA& a, const NB& b) {
    const std::size_t k = b.shape()[0], n = b.shape()[1];
    const std::size_t m = n == 0 ? 0 : element_count(out_shape) / n;
    auto da = detail::matrix_operand_of(a, p);  // in order: each may compute into the plan
    auto db = detail::matrix_operand_of(b, p);
    return producer<T>(out, m, n, k, std::move(da), std::move(db));
  }

  /// (A B)^T = B^T A^T for a product of matrices, for sym::transpose (a batched product's transpose
  /// stays a transposed copy).
  template <class A, class B>
    requires(A::rank == 2)
  static auto transposed(const primitive_expr<matmul, A, B>& node) {
    return node.args.apply([](const A& a, const B& b) {
      auto bt = sym::transpose(b);
      auto at = sym::transpose(a);
      return primitive_expr<matmul, decltype(bt), decltype(at)>(std::move(bt), std::move(at));
    });
  }

  /// d(AB) = dA B + A dB: the adjoint of A is g B^T, of B is A^T g (a batch of A's rows taken as one
  /// matrix of B*M rows).
  template <std::size_t I, class G, class Out, class A, class B>
  static auto partial(const G& g, const Out& out, const A& a, const B& b);
  template <std::size_t I, class Tangent, class Out, class A, class B>
  static auto push(const Tangent& t, const Out& out, const A& a, const B& b);

 private:
  /// Out of the operands' types: one instantiation per dtype, however many products a program has.
  template <class T>
  static plan::row_producer producer(T* out, std::size_t m, std::size_t n, std::size_t k, detail::matrix_operand<T> a,
                                     detail::matrix_operand<T> b) {
    auto make = [&]<class Tile>(Tile) {
      using product = detail::gemm::product<T, Tile>;
      auto prod = std::make_shared<product>(m, n, k, a.view, b.view, out, n);
      auto keep = std::pair{std::move(a.keep_alive), std::move(b.keep_alive)};  // B is packed on the first call
      return plan::row_producer{
          [prod, keep = std::move(keep)](std::size_t first, std::size_t last) { prod->rows(first, last); }, m,
          product::row_block};
    };
    if (detail::gemm::use_narrow<T>(n)) return make(detail::gemm::narrow_tile<T>{});
    return make(detail::gemm::wide_tile<T>{});
  }
};

}  // namespace op

/// matmul(a, b): (M, K) x (K, N) -> (M, N), or (B, M, K) x (K, N) -> (B, M, N).
template <operand A, operand B>
auto matmul(A&& a, B&& b) {
  using EA = extents_t<A>;
  using EB = extents_t<B>;
  using TA = value_type_t<A>;
  using TB = value_type_t<B>;
  static_assert(detail::check_operand<op::matmul, detail::operand_rule::floating, TA>());
  static_assert(check::require<check::same_dtype<op::matmul, TA, TB, std::is_same_v<TA, TB>>>);
  constexpr bool ranks_ok = (EA::rank == 2 || EA::rank == 3) && EB::rank == 2;
  static_assert(check::require<check::operand_rank<op::matmul, diagnostic::shape_of_t<EA>, ranks_ok>>);
  if constexpr (ranks_ok && std::is_same_v<TA, TB>) {
    constexpr std::size_t ka = EA::values[EA::rank - 1], kb = EB::values[0];
    static_assert(
        check::require<check::matmul_inner_extents<op::matmul, diagnostic::shape_of_t<EA>, diagnostic::shape_of_t<EB>,
                                                   ka == kb || ka == dyn || kb == dyn>>);
    if constexpr (ka == kb || ka == dyn || kb == dyn)
      return primitive_expr<op::matmul, node_t<A>, node_t<B>>(as_node(std::forward<A>(a)), as_node(std::forward<B>(b)));
    else
      return rule_failed<TA>();
  } else {
    return rule_failed<TA>();
  }
}

namespace op {

template <std::size_t I, class G, class Out, class A, class B>
auto matmul::partial(const G& g, const Out&, const A& a, const B& b) {
  if constexpr (I == 0) {
    return primitive_expr<matmul, G, primitive_expr<permute<1, 0>, B>>(g, primitive_expr<permute<1, 0>, B>(b));
  } else if constexpr (A::rank == 2) {
    return primitive_expr<matmul, primitive_expr<permute<1, 0>, A>, G>(primitive_expr<permute<1, 0>, A>(a), g);
  } else {  // (B, M, K): the rows of every batch are rows of one (B*M, K) matrix
    using EA = typename A::extents_type;
    using EG = typename G::extents_type;
    const std::size_t rows = a.shape()[0] * a.shape()[1];
    auto a2 = sym::reshape_as<extents<dyn, EA::values[2]>>(a, {rows, a.shape()[2]});
    auto g2 = sym::reshape_as<extents<dyn, EG::values[2]>>(g, {rows, g.shape()[2]});
    using AT = primitive_expr<permute<1, 0>, decltype(a2)>;
    return primitive_expr<matmul, AT, decltype(g2)>(AT(std::move(a2)), std::move(g2));
  }
}

template <std::size_t I, class Tangent, class Out, class A, class B>
auto matmul::push(const Tangent& t, const Out&, const A& a, const B& b) {
  if constexpr (I == 0)
    return primitive_expr<matmul, Tangent, B>(t, b);
  else
    return primitive_expr<matmul, A, Tangent>(a, t);
}

}  // namespace op

}  // namespace statix
