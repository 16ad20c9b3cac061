// Lazy generators: zeros, ones, full, arange, and counter-based random numbers. A generated value
// depends only on its element index (and the key), never on SIMD width, tails or threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

#include "expr.hpp"
#include "tensor.hpp"

namespace statix {

namespace random {

/// Philox4x32-10 (Salmon et al., SC'11): a bijection of a 128-bit counter under a 64-bit key.
constexpr std::array<std::uint32_t, 4> philox(std::array<std::uint32_t, 4> c, std::uint32_t k0, std::uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c[0];
    const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * c[2];
    c = {static_cast<std::uint32_t>(p1 >> 32) ^ c[1] ^ k0, static_cast<std::uint32_t>(p1),
         static_cast<std::uint32_t>(p0 >> 32) ^ c[3] ^ k1, static_cast<std::uint32_t>(p0)};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

/// A random key: generators with the same key produce the same numbers. Derive independent keys with
/// `fold_in` (e.g. one per layer or per step) instead of reusing one.
class key {
 public:
  constexpr explicit key(std::uint64_t seed) : value_(seed) {}
  constexpr std::uint64_t value() const { return value_; }
  /// An independent key for `data` (a layer index, a step number, ...).
  constexpr key fold_in(std::uint64_t data) const {
    const auto r = bits(data, 0xF01DF01Du);
    return key((std::uint64_t{r[0]} << 32) | r[1]);
  }
  /// 128 random bits for element `index` of a stream.
  constexpr std::array<std::uint32_t, 4> bits(std::uint64_t index, std::uint32_t stream = 0) const {
    return philox({static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), stream, 0},
                  static_cast<std::uint32_t>(value_), static_cast<std::uint32_t>(value_ >> 32));
  }

 private:
  std::uint64_t value_;
};

/// Uniform in [0, 1) from 24 (float) or 53 (double) random bits.
template <floating_dtype T>
constexpr T to_unit(std::uint32_t hi, std::uint32_t lo) {
  if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(hi >> 8) * 0x1p-24f;
  } else {
    return static_cast<double>(((std::uint64_t{hi} << 32) | lo) >> 11) * 0x1p-53;
  }
}

}  // namespace random

/// A node whose values are a function of the element index (within its own shape): arange, random.
template <dtype T, class Ext, class Gen>
struct index_expr {
  static constexpr bool is_statix_expression = true;
  using value_type = T;
  using extents_type = Ext;
  static constexpr std::size_t rank = Ext::rank;

  shape_t<rank> extent;
  Gen gen;

  const shape_t<rank>& shape() const { return extent; }
  bool flat_ok(std::size_t n) const { return element_count(extent) == n; }
  static constexpr bool always_flat(std::size_t n) { return Ext::static_size == n; }
  void identify(signature& s) const {
    for (std::size_t e : extent) s.add(e);
    if constexpr (!std::is_empty_v<Gen>) s.add_bits(gen);
  }
  template <bool Flat>
  auto lower(plan&) const {
    if constexpr (Flat)
      return index_expr<T, extents<dyn>, Gen>{{element_count(extent)}, gen};
    else
      return index_expr<T, dyn_extents<rank>, Gen>{extent, gen};
  }
  void for_each_memory(memory_visitor) const {}

  template <bool Flat, std::size_t R>
  struct cursor {
    Gen gen;
    shape_t<R> stride;
    std::size_t row = 0;
    std::size_t inner_stride = 1;

    void set_row(const shape_t<R>& index) {
      if constexpr (!Flat) row = detail::row_offset(stride, index);
    }
    template <class C, simd::span S>
    simd::batch_of<T, C> load(S s) const {
      using B = simd::batch_of<T, C>;
      alignas(64) T values[B::size];
      const std::size_t n = simd::valid_count(s, B::size);
      for (std::size_t k = 0; k < B::size; ++k) values[k] = gen(row + (s.at + std::min(k, n - 1)) * inner_stride);
      return B::load_aligned(values);
    }
  };

  template <bool Flat, std::size_t R>
  cursor<Flat, R> make_cursor(const loop_info<R>& loop) const {
    cursor<Flat, R> c{gen, {}, 0, 1};
    if constexpr (!Flat) {
      c.stride = loop.strides_of(extent);
      c.inner_stride = R == 0 ? 1 : c.stride[R - 1];
    }
    return c;
  }
};

namespace detail {
template <class T>
struct iota_gen {
  T operator()(std::size_t i) const { return static_cast<T>(i); }
};
template <class T>
struct uniform_gen {
  random::key k;
  T operator()(std::size_t i) const {
    const auto r = k.bits(i, 1);
    return random::to_unit<T>(r[0], r[1]);
  }
};
/// Box-Muller in double, rounded once to T: the same value on every path.
template <class T>
struct normal_gen {
  random::key k;
  T operator()(std::size_t i) const {
    const auto r = k.bits(i, 2);
    const double u1 = 1.0 - random::to_unit<double>(r[0], r[1]);  // (0, 1]
    const double u2 = random::to_unit<double>(r[2], r[3]);
    return static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
  }
};
}  // namespace detail

/// zeros<T, E...>(dynamic extents...) and friends: lazy, so `p = sx::zeros<float, 3>()` allocates nothing.
template <dtype T, std::size_t... E, std::integral... I>
  requires(sizeof...(I) == extents<E...>::dynamic_count)
auto full(T value, I... dynamic_extents) {
  return constant_expr<T, extents<E...>>{detail::fill_dynamic<extents<E...>>(dynamic_extents...), value};
}
template <dtype T, std::size_t... E, std::integral... I>
  requires(sizeof...(I) == extents<E...>::dynamic_count)
auto zeros(I... dynamic_extents) {
  return full<T, E...>(T(0), dynamic_extents...);
}
template <dtype T, std::size_t... E, std::integral... I>
  requires(sizeof...(I) == extents<E...>::dynamic_count)
auto ones(I... dynamic_extents) {
  return full<T, E...>(T(1), dynamic_extents...);
}

/// arange<T, N>(): 0, 1, ..., N-1 (rank 1); scale and shift it lazily for other ranges.
template <dtype T, std::size_t N, std::integral... I>
  requires(sizeof...(I) == extents<N>::dynamic_count)
auto arange(I... dynamic_extent) {
  using Ext = extents<N>;
  return index_expr<T, Ext, detail::iota_gen<T>>{detail::fill_dynamic<Ext>(dynamic_extent...), {}};
}

/// uniform<T, E...>(key, dynamic extents...): independent U[0, 1) values.
template <floating_dtype T, std::size_t... E, std::integral... I>
  requires(sizeof...(I) == extents<E...>::dynamic_count)
auto uniform(random::key k, I... dynamic_extents) {
  using Ext = extents<E...>;
  return index_expr<T, Ext, detail::uniform_gen<T>>{detail::fill_dynamic<Ext>(dynamic_extents...), {k}};
}

/// uniform_like(key, x): independent U[0, 1) values of x's floating dtype and shape (x is not read).
template <operand X>
  requires floating_dtype<std::remove_const_t<typename node_t<X>::value_type>>
auto uniform_like(random::key k, const X& x) {
  using N = node_t<const X&>;
  using T = std::remove_const_t<typename N::value_type>;
  using Ext = typename N::extents_type;
  return index_expr<T, Ext, detail::uniform_gen<T>>{as_node(x).shape(), {k}};
}

/// randn<T, E...>(key, dynamic extents...): independent standard normal values.
template <floating_dtype T, std::size_t... E, std::integral... I>
  requires(sizeof...(I) == extents<E...>::dynamic_count)
auto randn(random::key k, I... dynamic_extents) {
  using Ext = extents<E...>;
  return index_expr<T, Ext, detail::normal_gen<T>>{detail::fill_dynamic<Ext>(dynamic_extents...), {k}};
}

}  // namespace statix
