// The one place that speaks to the SIMD library (xsimd). Everything else sees `batch_of<T, C>`: the
// register a node of dtype T yields when the loop carries the lane count of dtype C.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

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

/// Lanes of one register of dtype T (bool masks borrow the lane count of their carrier).
template <class T>
inline constexpr std::size_t lanes = batch<T>::size;

template <class T, class C>
using batch_of = std::conditional_t<std::is_same_v<T, bool>, mask<C>, batch<T>>;

/// Where a load reads: a whole register at `at`, or a tail of `count` < lanes elements. A tail is
/// padded with copies of its last element, so every element of a tensor is computed by the same SIMD
/// code (results never depend on where a tail falls) and no new values (say a zero divisor) appear.
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

template <class T, class C, class S>
batch_of<T, C> load(const T* p, S s) {
  using B = batch_of<T, C>;
  if constexpr (std::same_as<S, full_span>) {
    return B::load_unaligned(p + s.at);
  } else {
    alignas(64) T buf[B::size];
    const std::size_t n = valid_count(s, B::size);
    std::copy_n(p + s.at, n, buf);
    std::fill(buf + n, buf + B::size, p[s.at + n - 1]);
    return B::load_aligned(buf);
  }
}

template <class T, class C, class S>
void store(T* p, S s, const batch_of<T, C>& v) {
  using B = batch_of<T, C>;
  if constexpr (std::same_as<S, full_span>) {
    v.store_unaligned(p + s.at);
  } else {
    alignas(64) T buf[B::size];
    v.store_aligned(buf);
    std::copy_n(buf, valid_count(s, B::size), p + s.at);
  }
}

/// The first `n` (< lanes) values at p, the rest zero; and the matching partial store.
template <class B>
B load_first(const typename B::value_type* p, std::size_t n) {
  alignas(64) typename B::value_type buf[B::size] = {};
  std::copy_n(p, n, buf);
  return B::load_aligned(buf);
}
template <class B>
void store_first(typename B::value_type* p, const B& v, std::size_t n) {
  alignas(64) typename B::value_type buf[B::size];
  v.store_aligned(buf);
  std::copy_n(buf, n, p);
}

/// Re-packs values computed at the lane count of `From` into a register of `To` lanes (casts between
/// float and double, masks carried by another dtype). `load_chunk(span)` yields one register of the
/// source; it is called only for chunks that hold valid elements.
template <class ToT, class ToC, class FromT, class FromC, class S, class LoadChunk>
batch_of<ToT, ToC> repack(S s, LoadChunk&& load_chunk) {
  constexpr std::size_t out_lanes = batch_of<ToT, ToC>::size;
  constexpr std::size_t in_lanes = batch_of<FromT, FromC>::size;
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

}  // namespace statix::simd
