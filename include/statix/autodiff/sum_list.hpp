// sum_list<C>: the sum of a number of terms of one type known only at run time. The reverse pass
// needs it where a DAG meets its types: a shared node's adjoint sums what arrives from each of its
// readers, and how many readers of one type there are (how many distinct nodes of one type read it)
// is a run-time fact, while the type of each arrival is not.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "symbolic.hpp"

namespace statix {

template <class C>
struct sum_list {
  static constexpr bool is_statix_expression = true;
  static constexpr node_kind kind = node_kind::sum;
  using value_type = typename C::value_type;
  using extents_type = typename C::extents_type;
  static constexpr std::size_t rank = extents_type::rank;

  std::vector<C> terms;
  shape_t<rank> extent;  // every term's shape (and the shape of an empty sum: zeros)

  const shape_t<rank>& shape() const { return extent; }
  std::size_t size() const { return element_count(extent); }
  bool flat_ok(std::size_t n) const {
    if (size() != n) return false;
    for (const C& t : terms)
      if (!t.flat_ok(n)) return false;
    return true;
  }
  static constexpr bool always_flat(std::size_t n) { return extents_type::static_size == n && C::always_flat(n); }

  /// Terms known to be zero (a contribution through a leaf that is not the variable) are dropped; one
  /// term left is read as it is, fused into the loop; more are summed into a buffer, once per plan.
  template <bool Flat>
  auto lower(plan& p) const {
    constexpr std::size_t R = Flat ? 1 : rank;
    using lowered_term = decltype(std::declval<const C&>().template lower<Flat>(p));
    using sum = decltype(detail::leaf_over<Flat>(static_cast<const value_type*>(nullptr), extent));
    chosen_expr<lowered_term, sum, R> out;
    if constexpr (Flat)
      out.extent = {size()};
    else
      out.extent = extent;
    const C* only = nullptr;
    std::size_t nonzero = 0;
    for (const C& t : terms)
      if (!detail::whole_value<C>::is_zero(t)) {
        only = &t;
        ++nonzero;
      }
    if (nonzero == 1)
      out.first.emplace(only->template lower<Flat>(p));
    else
      out.second.emplace(detail::leaf_over<Flat>(materialize(p), extent));
    return out;
  }

  void identify(signature& s) const {
    s.add(terms.size());
    for (const C& t : terms) t.identify(s);
  }
  void for_each_memory(memory_visitor f) const {
    for (const C& t : terms) t.for_each_memory(f);
  }

 private:
  const value_type* materialize(plan& p) const {
    return static_cast<const value_type*>(
        p.value_once(typeid(sum_list), plan::signature_of(*this), size() * sizeof(value_type),
                     [this](void* out, plan& q) { add_terms(static_cast<value_type*>(out), q); })
            .get());
  }
  void add_terms(value_type* out, plan& p) const {
    bool first = true;
    for (const C& t : terms) {
      if (detail::whole_value<C>::is_zero(t)) continue;
      // The first term is written as a whole statement, which may compute a value straight into the
      // buffer and remember it there; the terms added next change the buffer, so that memory must be
      // forgotten with the statement's own plan (a temporary destination).
      if (first)
        execute_in(p.nested_for_buffer(),
                   statement<value_type, dyn_extents<rank>, assign_kind::set, C>{out, extent, t});
      else
        execute_in(p.nested_for_kept_buffer(),
                   statement<value_type, dyn_extents<rank>, assign_kind::add, C>{out, extent, t});
      first = false;
    }
    if (first) std::fill_n(out, size(), value_type(0));
  }
};

namespace detail {
/// Zero when every term is; a single non-zero term writes itself (a product straight into a gradient).
template <class C>
struct whole_value<sum_list<C>> {
  static bool is_zero(const sum_list<C>& e) {
    for (const C& t : e.terms)
      if (!whole_value<C>::is_zero(t)) return false;
    return true;
  }
  template <class T, std::size_t R>
  static bool write(const sum_list<C>& e, T* dst, const shape_t<R>& shape, plan& p) {
    const C* only = nullptr;
    for (const C& t : e.terms) {
      if (whole_value<C>::is_zero(t)) continue;
      if (only != nullptr) return false;
      only = &t;
    }
    return only != nullptr && whole_value<C>::write(*only, dst, shape, p);
  }
};
}  // namespace detail

}  // namespace statix
