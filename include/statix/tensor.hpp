// Owning tensors, views over foreign memory, and assignment (the point where lazy expressions run).
#pragma once

#include <algorithm>
#include <cassert>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "diagnostics.hpp"
#include "eval/kernel.hpp"
#include "expr.hpp"

namespace statix {

namespace detail {

template <class T, std::size_t R>
struct nested_list {
  using type = std::initializer_list<typename nested_list<T, R - 1>::type>;
};
template <class T>
struct nested_list<T, 0> {
  using type = T;
};

template <class T, std::size_t R, class L>
void nested_shape(const L& list, shape_t<R>& s, std::size_t depth) {
  if constexpr (!std::is_same_v<L, T>) {
    s[depth] = list.size();
    if (list.size() > 0) nested_shape<T, R>(*list.begin(), s, depth + 1);
  }
}

template <class T, std::size_t R, class L>
void nested_copy(const L& list, const shape_t<R>& s, std::size_t depth, T*& out) {
  if constexpr (std::is_same_v<L, T>) {
    *out++ = list;
  } else {
    if (list.size() != s[depth])
      throw shape_error("statix: ragged nested initializer: a list of " + std::to_string(list.size()) +
                        " elements where " + std::to_string(s[depth]) + " were expected at depth " +
                        std::to_string(depth));
    for (const auto& sub : list) nested_copy<T, R>(sub, s, depth + 1, out);
  }
}

template <class T>
std::unique_ptr<T[], aligned_free> allocate_for_overwrite(std::size_t n) {
  static_assert(std::is_trivially_default_constructible_v<T>);
  if (n == 0) return nullptr;
  auto [p, deleter] = allocate_bytes(n * sizeof(T));
  return std::unique_ptr<T[], aligned_free>(static_cast<T*>(p), deleter);
}
template <class T>
std::unique_ptr<T[], aligned_free> allocate_zeroed(std::size_t n) {
  auto storage = allocate_for_overwrite<T>(n);
  std::uninitialized_value_construct_n(storage.get(), n);
  return storage;
}

/// The static extents with the dynamic ones filled in from `dyn_values`, in order.
template <class Ext, class... I>
constexpr shape_t<Ext::rank> fill_dynamic(I... dyn_values) {
  const std::array<std::size_t, sizeof...(I)> given{static_cast<std::size_t>(dyn_values)...};
  shape_t<Ext::rank> s{};
  std::size_t next = 0;
  for (std::size_t k = 0; k < Ext::rank; ++k) s[k] = Ext::values[k] == dyn ? given[next++] : Ext::values[k];
  return s;
}

/// Checks a run-time shape against the static extents; returns it.
template <class Ext>
shape_t<Ext::rank> checked_shape(std::string_view what, const shape_t<Ext::rank>& s) {
  for (std::size_t k = 0; k < Ext::rank; ++k)
    if (Ext::values[k] != dyn && Ext::values[k] != s[k]) throw_shape_mismatch(what, Ext::values, s);
  return s;
}

/// Static and run-time checks of `dst (kind)= x`, then the statement itself.
template <class Kind, dtype T, class Ext, class X>
auto make_statement(T* dst, const shape_t<Ext::rank>& dst_shape, X&& x) {
  if constexpr (arithmetic_scalar<X>) {
    static_assert(check::require<check::scalar_fits_dtype<Kind, std::remove_cvref_t<X>, T, scalar_for<X, T>>>);
    return statement<T, Ext, Kind, scalar_expr<T>>{dst, dst_shape, scalar_expr<T>{static_cast<T>(x)}};
  } else {
    using S = value_type_t<X>;
    using SE = extents_t<X>;
    static_assert(
        check::require<check::same_dtype<Kind, T, std::remove_const_t<S>, std::is_same_v<T, std::remove_const_t<S>>>>);
    static_assert(check::require<check::assignable_shape<Kind, diagnostic::shape_of_t<Ext>, diagnostic::shape_of_t<SE>,
                                                         assignable_static<Ext, SE>()>>);
    auto node = as_node(std::forward<X>(x));
    if constexpr (SE::rank <= Ext::rank) {
      if (broadcast_shapes(Kind::name, dst_shape, node.shape()) != dst_shape)
        throw_shape_mismatch(Kind::name, dst_shape, node.shape());
    }
    return statement<T, Ext, Kind, decltype(node)>{dst, dst_shape, std::move(node)};
  }
}

template <class X, class T>
concept assignable_from = (operand<X> || arithmetic_scalar<X>);

}  // namespace detail

/// Shared by tensor and tensor_view: shape queries, element access, iteration, compound assignment.
template <class Derived, class T, class Ext>
class dense_base {
 public:
  using value_type = std::remove_const_t<T>;
  using extents_type = Ext;
  static constexpr std::size_t rank = Ext::rank;
  static constexpr bool is_statix_tensor = true;

  const shape_t<rank>& shape() const { return self().extent_; }
  std::size_t extent(std::size_t k) const { return shape()[k]; }
  std::size_t size() const { return element_count(shape()); }
  T* data() { return self().ptr(); }
  const T* data() const { return self().ptr(); }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  /// Element access `a(i, j, ...)`, bounds-checked in debug builds.
  template <std::integral... I>
    requires(sizeof...(I) == rank)
  T& operator()(I... index) { return data()[offset(index...)]; }
  template <std::integral... I>
    requires(sizeof...(I) == rank)
  const T& operator()(I... index) const { return data()[offset(index...)]; }
  /// The value of a rank-0 tensor.
  value_type item() const requires(rank == 0) { return data()[0]; }

  template <detail::assignable_from<value_type> X>
  Derived& operator+=(X&& x) {
    return update<assign_kind::add>(std::forward<X>(x));
  }
  template <detail::assignable_from<value_type> X>
  Derived& operator-=(X&& x) {
    return update<assign_kind::sub>(std::forward<X>(x));
  }
  template <detail::assignable_from<value_type> X>
  Derived& operator*=(X&& x) {
    return update<assign_kind::mul>(std::forward<X>(x));
  }
  template <detail::assignable_from<value_type> X>
  Derived& operator/=(X&& x) {
    return update<assign_kind::div>(std::forward<X>(x));
  }

  /// Every element set to `v`.
  Derived& fill(value_type v) {
    std::fill(begin(), end(), v);
    return self();
  }

 protected:
  template <class Kind, class X>
  Derived& update(X&& x) {
    execute(detail::make_statement<Kind, value_type, Ext>(data(), shape(), std::forward<X>(x)));
    return self();
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  const Derived& self() const { return static_cast<const Derived&>(*this); }

  template <class... I>
  std::size_t offset(I... index) const {
    const std::array<std::size_t, rank> idx{static_cast<std::size_t>(index)...};
    std::size_t off = 0;
    for (std::size_t k = 0; k < rank; ++k) {
      assert(idx[k] < shape()[k] && "statix: index out of range");
      off = off * shape()[k] + idx[k];
    }
    return off;
  }
};

template <class T, std::size_t... E>
class tensor_view;

namespace detail {
template <class T, std::size_t First, std::size_t... Rest>
tensor_view<T, dyn, Rest...> rows_of_impl(T* p, const shape_t<1 + sizeof...(Rest)>& s, std::size_t first,
                                          std::size_t last);
}

/// An owning, row-major, 64-byte aligned tensor of dtype T with extents E... (`dyn` = run time).
template <dtype T, std::size_t... E>
class tensor : public dense_base<tensor<T, E...>, T, extents<E...>> {
  using base = dense_base<tensor<T, E...>, T, extents<E...>>;
  friend base;

 public:
  using base::rank;
  using typename base::extents_type;
  static constexpr bool is_view = false;

  /// Zeros; dynamic extents are 0 until assigned or resized.
  tensor() : tensor(of_shape(detail::fill_dynamic<extents_type>(((void)E, std::size_t{0})...))) {}

  /// Zeros with the given dynamic extents, in order: `tensor<float, dyn, 784> x(batch);`
  template <std::integral... I>
    requires(sizeof...(I) == extents_type::dynamic_count && sizeof...(I) > 0)
  explicit tensor(I... dynamic_extents) : tensor(of_shape(detail::fill_dynamic<extents_type>(dynamic_extents...))) {}

  /// Nested braces: `tensor<float, 2, 3> a{{1, 2, 3}, {4, 5, 6}};` A count that disagrees with a static
  /// extent, or ragged lists, throw shape_error: never a silent truncation.
  tensor(typename detail::nested_list<T, sizeof...(E)>::type values) requires(sizeof...(E) > 0) {
    shape_t<rank> s{};
    detail::nested_shape<T, rank>(values, s, 0);
    init(detail::checked_shape<extents_type>("nested initializer", s));
    T* out = storage_.get();
    detail::nested_copy<T, rank>(values, extent_, 0, out);
  }

  /// Braces always hold values, as for std::vector: `tensor<float, dyn, 20> x{64}` would read as 64
  /// rows to some and as the value 64 to others, so it does not compile; dynamic extents go in
  /// parentheses, `x(64)`. (A rank-1 `tensor<int32, dyn> a{64}` is the one value 64.)
  template <class U>
    requires(sizeof...(E) >= 2 && std::is_arithmetic_v<U>)
  tensor(std::initializer_list<U>) {
    static_assert(check::require<check::braces_hold_values<tensor, !std::is_same_v<U, U>>>);  // always fails
  }

  /// A rank-0 tensor holding `value`.
  explicit tensor(T value) requires(sizeof...(E) == 0) : tensor() { storage_[0] = value; }

  /// Evaluates an expression (or copies a tensor of another type with the same dtype).
  template <operand X>
    requires(!std::is_same_v<std::remove_cvref_t<X>, tensor>)
  tensor(X&& x) : tensor(for_overwrite(shape_for(x))) { base::template update<assign_kind::set>(std::forward<X>(x)); }

  /// A zero tensor of the given run-time shape (static extents are checked against it).
  static tensor of_shape(const shape_t<rank>& s) {
    tensor t(uninitialized_tag{});
    t.init(detail::checked_shape<extents_type>("tensor shape", s));
    return t;
  }
  /// A tensor of the given shape whose elements are not initialized (as std::make_unique_for_overwrite):
  /// for a caller that writes every element before reading any. Evaluation makes its results this
  /// way; zero-filling them first was a pass of its own (a page-faulting one, for fresh memory).
  static tensor for_overwrite(const shape_t<rank>& s) {
    tensor t(uninitialized_tag{});
    t.extent_ = detail::checked_shape<extents_type>("tensor shape", s);
    t.storage_ = detail::allocate_for_overwrite<T>(element_count(s));
    return t;
  }

  tensor(const tensor& other) : tensor(for_overwrite(other.shape())) {
    std::copy(other.begin(), other.end(), this->begin());
  }
  tensor(tensor&& other) noexcept : storage_(std::move(other.storage_)), extent_(other.extent_) {
    other.extent_ = detail::fill_dynamic<extents_type>(((void)E, std::size_t{0})...);
  }
  /// Value semantics: takes the other tensor's shape (reusing the buffer when the size is the same).
  tensor& operator=(const tensor& other) {
    if (this != &other) {
      if (this->size() != other.size()) storage_ = detail::allocate_for_overwrite<T>(other.size());
      extent_ = other.extent_;
      std::copy(other.begin(), other.end(), this->begin());
    }
    return *this;
  }
  tensor& operator=(tensor&& other) noexcept {
    storage_ = std::move(other.storage_);
    std::swap(extent_, other.extent_);
    other.extent_ = detail::fill_dynamic<extents_type>(((void)E, std::size_t{0})...);
    return *this;
  }

  /// Evaluates `x` into this tensor, whose shape stays (a dynamic mismatch throws shape_error first).
  template <detail::assignable_from<T> X>
    requires(!std::is_same_v<std::remove_cvref_t<X>, tensor>)
  tensor& operator=(X&& x) { return base::template update<assign_kind::set>(std::forward<X>(x)); }

  /// New dynamic extents; contents become zeros.
  template <std::integral... I>
    requires(sizeof...(I) == extents_type::dynamic_count && sizeof...(I) > 0)
  void resize(I... dynamic_extents) { init(detail::fill_dynamic<extents_type>(dynamic_extents...)); }

  /// Rows [first, last) of the leading extent, as a view (no copy): the batches of a data set.
  auto rows(std::size_t first, std::size_t last) requires(sizeof...(E) > 0) {
    return detail::rows_of_impl<T, E...>(this->data(), this->shape(), first, last);
  }
  auto rows(std::size_t first, std::size_t last) const requires(sizeof...(E) > 0) {
    return detail::rows_of_impl<const T, E...>(this->data(), this->shape(), first, last);
  }

 private:
  struct uninitialized_tag {};
  explicit tensor(uninitialized_tag) {}

  void init(const shape_t<rank>& s) {
    extent_ = s;
    storage_ = detail::allocate_zeroed<T>(element_count(s));
  }
  T* ptr() const { return storage_.get(); }

  template <class X>
  static shape_t<rank> shape_for(const X& x) {
    if constexpr (extents_type::all_static) {
      return extents_type::values;
    } else if constexpr (extents_t<X>::rank == rank) {
      shape_t<rank> s = x.shape();
      for (std::size_t k = 0; k < rank; ++k)
        if (extents_type::values[k] != dyn) s[k] = extents_type::values[k];
      return s;
    } else {
      static_assert(extents_t<X>::rank == rank,
                    "statix: a tensor with dynamic extents takes them from a value of the same rank");
      return {};
    }
  }

  std::unique_ptr<T[], detail::aligned_free> storage_;
  shape_t<rank> extent_{};
};

/// A tensor over memory it does not own: `tensor_view<float, dyn, 3> v(ptr, n);` Usable as an operand
/// and (for non-const T) as an assignment target. Copies of a view refer to the same memory.
template <class T, std::size_t... E>
class tensor_view : public dense_base<tensor_view<T, E...>, T, extents<E...>> {
  using base = dense_base<tensor_view<T, E...>, T, extents<E...>>;
  friend base;
  static_assert(dtype<std::remove_const_t<T>>, "statix: tensor_view needs a dtype (float, double, int32, bool)");

 public:
  using base::rank;
  using typename base::extents_type;
  using typename base::value_type;
  static constexpr bool is_view = true;

  template <std::integral... I>
    requires(sizeof...(I) == extents_type::dynamic_count)
  explicit tensor_view(T* p, I... dynamic_extents)
      : ptr_(p), extent_(detail::fill_dynamic<extents_type>(dynamic_extents...)) {}
  tensor_view(T* p, const shape_t<rank>& s) : ptr_(p), extent_(detail::checked_shape<extents_type>("tensor_view", s)) {}

  /// A view of a whole tensor of the same extents.
  template <class U>
    requires std::is_same_v<std::remove_const_t<T>, U> tensor_view(tensor<U, E...>& t)
        : ptr_(t.data()), extent_(t.shape()) {}
    template <class U>
      requires std::is_same_v<T, const U> tensor_view(const tensor<U, E...>& t) : ptr_(t.data()), extent_(t.shape()) {}

      tensor_view(const tensor_view&) = default;

      /// Rows [first, last) of the leading extent, as a view.
      auto rows(std::size_t first, std::size_t last) const requires(sizeof...(E) > 0) {
        return detail::rows_of_impl<T, E...>(ptr_, extent_, first, last);
      }
      /// Writes the other view's elements into this one (same shape), as any other assignment.
      tensor_view& operator=(const tensor_view& other) requires(!std::is_const_v<T>) {
        return base::template update<assign_kind::set>(other);
      }
      template <detail::assignable_from<value_type> X>
        requires(!std::is_const_v<T> && !std::is_same_v<std::remove_cvref_t<X>, tensor_view>)
      tensor_view& operator=(X&& x) {
        return base::template update<assign_kind::set>(std::forward<X>(x));
      }

     private:
      T* ptr() const {
        return ptr_;
      }
      T* ptr_;
      shape_t<rank> extent_;
};

namespace detail {
template <class T, std::size_t First, std::size_t... Rest>
tensor_view<T, dyn, Rest...> rows_of_impl(T* p, const shape_t<1 + sizeof...(Rest)>& s, std::size_t first,
                                          std::size_t last) {
  if (first > last || last > s[0])
    throw shape_error("statix: rows [" + std::to_string(first) + ", " + std::to_string(last) +
                      ") out of range for a leading extent of " + std::to_string(s[0]));
  shape_t<1 + sizeof...(Rest)> v = s;
  v[0] = last - first;
  return {p + first * (element_count(s) / std::max<std::size_t>(s[0], 1)), v};
}
}  // namespace detail

}  // namespace statix
