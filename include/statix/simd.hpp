// The one place that speaks to the SIMD library (xsimd). Everything else sees `batch_of<T, C>`: the
// register a node of dtype T yields when the loop carries the lane count of dtype C.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics (_mm512_undefined_ps is
// self-initialized by design) once they are inlined into our loops; the warning is about the compiler's
// header, not about statix or its users.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "dtype.hpp"

namespace statix::simd {

/// The instruction set of elementwise loops: 256-bit AVX2 (+FMA) wherever it exists, even on AVX-512
/// machines. Measured on Sapphire Rapids (docs/benchmarks.md): Adam's divide/sqrt chain runs 5-10%
/// faster on 256-bit registers, bandwidth-bound loops are equal; g++ makes the same choice for its
/// own vectorized loops (-mprefer-vector-width=256).
#if XSIMD_WITH_FMA3_AVX2
using arch = xsimd::fma3<xsimd::avx2>;
#elif XSIMD_WITH_AVX2
using arch = xsimd::avx2;
#else
using arch = xsimd::default_arch;
#endif

/// The instruction set of compute-bound kernels (matrix products): the widest registers there are.
/// Unlike the divide/sqrt chains of elementwise loops, FMA throughput doubles with 512-bit registers.
#if XSIMD_WITH_AVX512F
using wide_arch = xsimd::avx512f;
#else
using wide_arch = arch;
#endif

template <class T>
using batch = xsimd::batch<T, arch>;
template <class T>
using wide_batch = xsimd::batch<T, wide_arch>;
template <class C>
using mask = xsimd::batch_bool<C, arch>;
/// Unsigned integers as wide as B's lanes, in B's instruction set: the lane indices of swizzles.
template <class B>
using index_batch = xsimd::batch<std::conditional_t<sizeof(typename B::value_type) == 8, std::uint64_t, std::uint32_t>,
                                 typename B::arch_type>;

/// Lanes of one register of dtype T (bool masks borrow the lane count of their carrier).
template <class T>
inline constexpr std::size_t lanes = batch<T>::size;

template <class T, class C>
using batch_of = std::conditional_t<std::is_same_v<T, bool>, mask<C>, batch<T>>;

/// Where a load reads: a whole register at `at`, or a tail of `count` < lanes elements. A tail is
/// padded with copies of its last element, so the lanes past the end compute on values the tensor
/// has (no zero divisor, no new overflow). The tail is a second instantiation of the expression's
/// code: under g++'s default -ffp-contract=fast the two may fuse a multiply-add differently, so an
/// element can round differently (1 ulp) in a tail than in a full register.
struct full_span {
  std::size_t at;
};
struct tail_span {
  std::size_t at;
  std::size_t count;
};
template <class S>
concept span = std::same_as<S, full_span> || std::same_as<S, tail_span>;

constexpr full_span advance(full_span s, std::size_t by) {
  return {s.at + by};
}
/// Part of a tail starting `by` elements further; callers check `by < s.count`.
constexpr tail_span advance(tail_span s, std::size_t by) {
  return {s.at + by, s.count - by};
}
constexpr std::size_t valid_count(full_span, std::size_t lanes) {
  return lanes;
}
constexpr std::size_t valid_count(tail_span s, std::size_t lanes) {
  return std::min(s.count, lanes);
}

namespace detail {
/// Tails as masked loads and stores (no byte outside the tail is touched) where the register is a
/// 256-bit AVX2 or 512-bit AVX-512 one of float, double or int32; a bounce buffer elsewhere. Rows of
/// 28 or 14 floats (images) end in a tail every fourth or second register, and the bounce buffer's
/// copy loop was a quarter of a CNN training step.
template <class B, std::size_t Bytes>
inline constexpr bool register_of = sizeof(typename B::register_type) == Bytes &&
                                    (std::is_same_v<typename B::value_type, float> ||
                                     std::is_same_v<typename B::value_type, double> ||
                                     std::is_same_v<typename B::value_type, std::int32_t>);
#if defined(__AVX2__)
inline constexpr bool has_avx2 = true;
#else
inline constexpr bool has_avx2 = false;
#endif
#if defined(__AVX512F__)
inline constexpr bool has_avx512 = true;
#else
inline constexpr bool has_avx512 = false;
#endif
template <class B>
inline constexpr bool masked_tail = (has_avx2 && register_of<B, 32>) || (has_avx512 && register_of<B, 64>);

#if defined(__AVX2__)
/// Lanes [0, n) set.
template <class T>
inline __m256i first_lanes(std::size_t n) {
  if constexpr (sizeof(T) == 4)
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  else
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(n)), _mm256_setr_epi64x(0, 1, 2, 3));
}

#endif

/// The first n values at p in lanes [0, n), `fill` in the others.
template <class B, class T = typename B::value_type>
inline B masked_load(const T* p, std::size_t n, T fill) {
#if defined(__AVX512F__)
  if constexpr (sizeof(typename B::register_type) == 64) {
    const auto m = static_cast<std::uint16_t>((1u << n) - 1);
    if constexpr (std::is_same_v<T, float>)
      return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), m, p);
    else if constexpr (std::is_same_v<T, double>)
      return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), static_cast<std::uint8_t>(m), p);
    else
      return _mm512_mask_loadu_epi32(_mm512_set1_epi32(fill), m, p);
  } else
#endif
  {
#if defined(__AVX512VL__)
    // AVX-512's mask registers on a 256-bit register: one plain masked move (AMD's vmaskmovps is
    // microcoded, a store taking tens of cycles: a quarter of a Winograd input transform).
    const auto m = static_cast<std::uint8_t>((1u << n) - 1);
    if constexpr (std::is_same_v<T, float>)
      return _mm256_mask_loadu_ps(_mm256_set1_ps(fill), m, p);
    else if constexpr (std::is_same_v<T, double>)
      return _mm256_mask_loadu_pd(_mm256_set1_pd(fill), m, p);
    else
      return _mm256_mask_loadu_epi32(_mm256_set1_epi32(fill), m, p);
#elif defined(__AVX2__)
    const __m256i m = first_lanes<T>(n);
    if constexpr (std::is_same_v<T, float>)
      return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
    else if constexpr (std::is_same_v<T, double>)
      return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
    else
      return _mm256_blendv_epi8(_mm256_set1_epi32(fill), _mm256_maskload_epi32(p, m), m);
#endif
  }
}

template <class B, class T = typename B::value_type>
inline void masked_store(T* p, std::size_t n, const B& v) {
#if defined(__AVX512F__)
  if constexpr (sizeof(typename B::register_type) == 64) {
    const auto m = static_cast<std::uint16_t>((1u << n) - 1);
    if constexpr (std::is_same_v<T, float>)
      _mm512_mask_storeu_ps(p, m, v);
    else if constexpr (std::is_same_v<T, double>)
      _mm512_mask_storeu_pd(p, static_cast<std::uint8_t>(m), v);
    else
      _mm512_mask_storeu_epi32(p, m, v);
    return;
  }
#endif
#if defined(__AVX512VL__)
  if constexpr (sizeof(typename B::register_type) == 32) {
    const auto m = static_cast<std::uint8_t>((1u << n) - 1);
    if constexpr (std::is_same_v<T, float>)
      _mm256_mask_storeu_ps(p, m, v);
    else if constexpr (std::is_same_v<T, double>)
      _mm256_mask_storeu_pd(p, m, v);
    else
      _mm256_mask_storeu_epi32(p, m, v);
  }
#elif defined(__AVX2__)
  if constexpr (sizeof(typename B::register_type) == 32) {
    const __m256i m = first_lanes<T>(n);
    if constexpr (std::is_same_v<T, float>)
      _mm256_maskstore_ps(p, m, v);
    else if constexpr (std::is_same_v<T, double>)
      _mm256_maskstore_pd(p, m, v);
    else
      _mm256_maskstore_epi32(reinterpret_cast<int*>(p), m, v);
  }
#endif
}
}  // namespace detail

template <class T, class C, class S>
inline batch_of<T, C> load(const T* p, S s) {
  using B = batch_of<T, C>;
  if constexpr (std::same_as<S, full_span>) {
    return B::load_unaligned(p + s.at);
  } else {
    const std::size_t n = valid_count(s, B::size);
    if constexpr (detail::masked_tail<B>) {
      return detail::masked_load<B>(p + s.at, n, p[s.at + n - 1]);
    } else {
      alignas(64) T buf[B::size];
      std::copy_n(p + s.at, n, buf);
      std::fill(buf + n, buf + B::size, p[s.at + n - 1]);
      return B::load_aligned(buf);
    }
  }
}

template <class T, class C, class S>
inline void store(T* p, S s, const batch_of<T, C>& v) {
  using B = batch_of<T, C>;
  if constexpr (std::same_as<S, full_span>) {
    v.store_unaligned(p + s.at);
  } else if constexpr (detail::masked_tail<B>) {
    detail::masked_store(p + s.at, valid_count(s, B::size), v);
  } else {
    alignas(64) T buf[B::size];
    v.store_aligned(buf);
    std::copy_n(buf, valid_count(s, B::size), p + s.at);
  }
}

/// max and min that return NaN when either operand is NaN, as IEEE 754-2019's maximum/minimum and
/// PyTorch do. x86's max/min instructions return their second operand instead, which made relu(NaN) 0
/// and let a NaN vanish in a pooling window or a reduction; a diverging run must show its NaN.
namespace detail {
/// The larger (Max) or smaller of a and b, NaN when either is NaN (a + b carries it).
template <bool Max, class B>
B extremum(const B& a, const B& b) {
  if constexpr (std::is_arithmetic_v<B>) {
    if constexpr (std::is_floating_point_v<B>)
      if (a != a || b != b) return a + b;
    return Max ? (a < b ? b : a) : (b < a ? b : a);
  } else {
    const B plain = Max ? xsimd::max(a, b) : xsimd::min(a, b);
    if constexpr (std::is_floating_point_v<typename B::value_type>)
      return xsimd::select(xsimd::isnan(a) || xsimd::isnan(b), a + b, plain);
    else
      return plain;
  }
}
}  // namespace detail
template <class B>
B maximum(const B& a, const B& b) {
  return detail::extremum<true>(a, b);
}
template <class B>
B minimum(const B& a, const B& b) {
  return detail::extremum<false>(a, b);
}

/// max(x, 0) with a NaN staying NaN (relu). x86's max instructions return their second operand when
/// either is NaN, so with x second this is one instruction (xsimd's max passes its operands in
/// order); elsewhere, maximum above.
template <class B>
B max_with_zero(const B& x) {
  if constexpr (!std::is_arithmetic_v<B> && (detail::has_avx2 || detail::has_avx512) &&
                std::is_floating_point_v<typename B::value_type>)
    return xsimd::max(B(0), x);
  else
    return maximum(x, B(0));
}

/// exp, defined for every input: xsimd's double exp converts its argument to int64, which AVX2 cannot
/// do in registers, and the scalar fallback's conversion of +-inf is undefined behaviour. Below -746
/// every double exp is 0 and above 710 it is inf, so clamping there changes no result (NaN stays NaN:
/// the comparisons fail).
template <class B>
B exp(const B& v) {
  if constexpr (std::is_same_v<typename B::value_type, double>) {
    const B low(-746.0), high(710.0);
    return xsimd::exp(xsimd::select(v < low, low, xsimd::select(v > high, high, v)));
  } else {
    return xsimd::exp(v);
  }
}

/// exp for the softmax family's rows, where it is the whole cost: Cephes' expf polynomial (within 2
/// ulp on float) in Horner form, with 2^n built by the round-to-nearest magic number, and without
/// xsimd's overflow handling, which inputs <= 0 (x - max) never need. Inputs below -87.3 (including
/// -inf) give 0. Double goes to exp() above.
template <class B>
B exp_nonpositive(const B& x) {
  using T = typename B::value_type;
  if constexpr (std::is_same_v<T, float>) {
    using I = xsimd::batch<std::int32_t, typename B::arch_type>;
    const B magic(12582912.0f + 127.0f);  // 1.5 * 2^23: adding it rounds to an integer in the low bits
    const B t = xsimd::fma(x, B(1.44269504088896341f), magic);
    const B n = t - magic;  // round(x / ln 2) - 127 + 127
    B r = xsimd::fnma(n, B(0.693359375f), x);
    r = xsimd::fnma(n, B(-2.12194440e-4f), r);
    B p(1.9875691500e-4f);
    p = xsimd::fma(p, r, B(1.3981999507e-3f));
    p = xsimd::fma(p, r, B(8.3334519073e-3f));
    p = xsimd::fma(p, r, B(4.1665795894e-2f));
    p = xsimd::fma(p, r, B(1.6666665459e-1f));
    p = xsimd::fma(p, r, B(5.0000001201e-1f));
    p = xsimd::fma(p, r, B(1.0f));
    p = xsimd::fma(p, r, B(1.0f));
    const B scale = xsimd::bitwise_cast<B>(xsimd::bitwise_cast<I>(t) << 23);  // 2^n: n + 127 in the exponent
    return xsimd::select(x < B(-87.3f), B(0.0f), p * scale);
  } else {
    return simd::exp(x);  // qualified: ADL would pick xsimd::exp
  }
}

/// The first `n` (< lanes) values at p, the rest zero; and the matching partial store.
template <class B>
inline B load_first(const typename B::value_type* p, std::size_t n) {
  if constexpr (detail::masked_tail<B>) {
    return detail::masked_load<B>(p, n, typename B::value_type{});
  } else {
    alignas(64) typename B::value_type buf[B::size] = {};
    std::copy_n(p, n, buf);
    return B::load_aligned(buf);
  }
}
template <class B>
inline void store_first(typename B::value_type* p, const B& v, std::size_t n) {
  if constexpr (detail::masked_tail<B>) {
    detail::masked_store(p, n, v);
  } else {
    alignas(64) typename B::value_type buf[B::size];
    v.store_aligned(buf);
    std::copy_n(buf, n, p);
  }
}

/// The first `n` (<= lanes) values at p: a whole register when n is the lane count (the body of a row),
/// masked otherwise (its tail); and the matching store.
template <class B>
inline B load_up_to(const typename B::value_type* p, std::size_t n) {
  return n == B::size ? B::load_unaligned(p) : load_first<B>(p, n);
}
template <class B>
inline void store_up_to(typename B::value_type* p, const B& v, std::size_t n) {
  if (n == B::size)
    v.store_unaligned(p);
  else
    store_first(p, v, n);
}

/// even[k] = src[2k], odd[k] = src[2k + 1] for the n values at src: 16 floats per step on AVX2 (two
/// loads, two shuffles, two stores), one at a time elsewhere and for the last few.
template <class T>
inline void deinterleave(const T* src, std::size_t n, T* even, T* odd) {
  std::size_t j = 0;
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    for (; j + 16 <= n; j += 16) {
      const __m256 a = _mm256_loadu_ps(src + j), b = _mm256_loadu_ps(src + j + 8);
      // Per 128-bit half: {a0 a2 b0 b2 | a4 a6 b4 b6}; then the 64-bit quarters in order 0, 2, 1, 3.
      const __m256 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xDD);
      _mm256_storeu_ps(even + j / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
      _mm256_storeu_ps(odd + j / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8)));
    }
  }
#endif
  for (; j + 1 < n; j += 2) {
    even[j / 2] = src[j];
    odd[j / 2] = src[j + 1];
  }
  if (j < n) even[j / 2] = src[j];
}

namespace detail {
template <std::size_t Half>
struct spread_half {  // lane i <- lane Half * n/2 + i/2: each value of one half of a register, twice
  static constexpr std::size_t get(std::size_t i, std::size_t n) { return Half * n / 2 + i / 2; }
};
struct odd_lane {
  static constexpr bool get(std::size_t i, std::size_t) { return i % 2 == 1; }
};
}  // namespace detail

/// {a0, b0, a1, b1, ...}: the lanes of a and b alternated, as two registers. (xsimd 8's zip_lo and
/// zip_hi alternate within each 128-bit half on AVX, not across the register.)
template <class B>
inline std::pair<B, B> interleave(const B& a, const B& b) {
  using U = index_batch<B>;
  constexpr auto first = xsimd::make_batch_constant<U, detail::spread_half<0>>();
  constexpr auto second = xsimd::make_batch_constant<U, detail::spread_half<1>>();
  constexpr auto odd = xsimd::make_batch_bool_constant<B, detail::odd_lane>();
  return {xsimd::select(odd, xsimd::swizzle(b, first), xsimd::swizzle(a, first)),
          xsimd::select(odd, xsimd::swizzle(b, second), xsimd::swizzle(a, second))};
}

namespace detail {
template <std::size_t Odd>
struct every_other {  // lane i <- lane (2i + Odd) mod n: the first half from one register, the rest from another
  static constexpr std::size_t get(std::size_t i, std::size_t n) { return (2 * i + Odd) % n; }
};
struct high_half {
  static constexpr bool get(std::size_t i, std::size_t n) { return i >= n / 2; }
};
}  // namespace detail

/// The inverse of interleave: {a0, a2, ..., b0, b2, ...} and {a1, a3, ..., b1, b3, ...}.
template <class B>
inline std::pair<B, B> deinterleave(const B& a, const B& b) {
  using U = index_batch<B>;
  constexpr auto even = xsimd::make_batch_constant<U, detail::every_other<0>>();
  constexpr auto odd = xsimd::make_batch_constant<U, detail::every_other<1>>();
  constexpr auto from_b = xsimd::make_batch_bool_constant<B, detail::high_half>();
  return {xsimd::select(from_b, xsimd::swizzle(b, even), xsimd::swizzle(a, even)),
          xsimd::select(from_b, xsimd::swizzle(b, odd), xsimd::swizzle(a, odd))};
}

/// Re-packs values computed at the lane count of `From` into a register of `To` lanes (casts between
/// float and double, masks carried by another dtype). `load_chunk(span)` yields one register of the
/// source; it is called only for chunks that hold valid elements.
template <class ToT, class ToC, class FromT, class FromC, class S, class LoadChunk>
batch_of<ToT, ToC> repack(S s, LoadChunk&& load_chunk) {
  constexpr std::size_t out_lanes = batch_of<ToT, ToC>::size;
  constexpr std::size_t in_lanes = batch_of<FromT, FromC>::size;
  using to_register = typename batch_of<ToT, ToC>::register_type;
  using from_register = typename batch_of<FromT, FromC>::register_type;
  if constexpr (std::is_same_v<ToT, bool> && std::is_same_v<FromT, bool> && in_lanes == out_lanes &&
                sizeof(to_register) == sizeof(from_register)) {
    // A mask of int32 lanes read as one of float lanes (a label compared with an index, selecting
    // floats): the same bits in the same register, not a trip through memory.
    return batch_of<ToT, ToC>(std::bit_cast<to_register>(load_chunk(s).data));
  } else {
    using stored = std::conditional_t<std::is_same_v<FromT, bool>, bool, FromT>;
    constexpr std::size_t buf_size = std::max(out_lanes, in_lanes);
    alignas(64) stored in[buf_size];
    const std::size_t valid = valid_count(s, out_lanes);
    for (std::size_t k = 0; k < out_lanes; k += in_lanes) {
      if (k > 0 && k >= valid) {  // the first chunk always holds a valid element
        std::fill(in + k, in + buf_size, in[k - 1]);
        break;
      }
      if constexpr (std::same_as<S, full_span> && in_lanes <= out_lanes) {
        load_chunk(advance(s, k)).store_aligned(in + k);
      } else {
        load_chunk(tail_span{s.at + k, valid - k}).store_aligned(in + k);
      }
    }
    alignas(64) std::conditional_t<std::is_same_v<ToT, bool>, bool, ToT> out[out_lanes];
    std::copy_n(in, out_lanes, out);
    return batch_of<ToT, ToC>::load_aligned(out);
  }
}

}  // namespace statix::simd
