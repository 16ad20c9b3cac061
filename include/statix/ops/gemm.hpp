// The matrix-product kernel: C = A B for row-major A (M x K), B (K x N), C (M x N), in the layout of
// Goto and van de Geijn (BLIS): B is packed once into panels NR columns wide; for each block of MC rows
// of A and KC of its columns, A is packed into micro-panels MR rows tall; a register-blocked
// micro-kernel computes an MR x NR tile of C with MR x NV accumulators (NV registers per row), one
// broadcast of A and NV loads of B per k. Packing is skipped where it measured slower (few rows of A
// per panel of B, or few panels of B per micro-panel of A): the kernel then reads in place. Row
// blocks are independent, so a consumer (an epilogue) can run on the rows of C just finished, while
// they are in cache.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <type_traits>

#include "../memory.hpp"
#include "../parallel.hpp"
#include "../simd.hpp"

namespace statix::detail::gemm {

template <class T, std::size_t MR_, std::size_t NV_>
struct shape_of_tile {
  using B = simd::wide_batch<T>;
  static constexpr std::size_t L = B::size;
  static constexpr std::size_t MR = MR_;
  static constexpr std::size_t NV = NV_;
  static constexpr std::size_t NR = NV * L;
  static constexpr std::size_t KC = 256;              // B micro-panel (KC x NR) stays in L1
  static constexpr std::size_t MC = (120 / MR) * MR;  // A block (MC x KC) stays in L2
};

/// C tile (MR x NR at c, row stride ldc) = (accumulate ? C : 0) + A panel x B panel over kc. The A
/// panel is packed (k-major, MR values per k) or read in place (row r at a + r * lda).
template <class Tile, bool PackedA, class T>
[[gnu::always_inline]] inline void micro_kernel(std::size_t kc, const T* __restrict a, std::size_t lda,
                                                const T* __restrict b, std::size_t ldb, T* __restrict c,
                                                std::size_t ldc, bool accumulate, std::size_t nr) {
  using B = typename Tile::B;
  constexpr std::size_t MR = Tile::MR, NV = Tile::NV, NR = Tile::NR, L = Tile::L;
  B acc[MR][NV];
#pragma GCC unroll 32
  for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) acc[r][v] = B(T(0));
  for (std::size_t k = 0; k < kc; ++k) {
    B bv[NV];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) bv[v] = B::load_unaligned(b + k * ldb + v * L);
#pragma GCC unroll 32
    for (std::size_t r = 0; r < MR; ++r) {
      const B av(PackedA ? a[k * MR + r] : a[r * lda + k]);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(av, bv[v], acc[r][v]);
    }
  }
  if (nr == NR) {
#pragma GCC unroll 32
    for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v) {
        T* p = c + r * ldc + v * L;
        (accumulate ? acc[r][v] + B::load_unaligned(p) : acc[r][v]).store_unaligned(p);
      }
  } else {  // the last panel of B: only its first nr columns exist
    for (std::size_t r = 0; r < MR; ++r)
      for (std::size_t v = 0; v < NV && v * L < nr; ++v) {
        T* p = c + r * ldc + v * L;
        const std::size_t count = std::min(L, nr - v * L);
        simd::store_first(p, accumulate ? acc[r][v] + simd::load_first<B>(p, count) : acc[r][v], count);
      }
  }
}

/// out[k * Width + r] = r < rows ? src[r * ld + k] : 0 for k < kc, r < Width: a block of rows read
/// along k and written k-major (a packed micro-panel of A, or of a transposed B). Float with AVX2 goes
/// through 8 x 8 register transposes; element by element, these gathers were a sixth of an MLP step.
template <std::size_t Width, class T>
void pack_transposed(T* out, const T* src, std::size_t ld, std::size_t rows, std::size_t kc) {
  std::size_t k0 = 0;
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    for (; k0 + 8 <= kc; k0 += 8)
      for (std::size_t r0 = 0; r0 < Width; r0 += 8) {
        const std::size_t width = std::min<std::size_t>(8, Width - r0);
        __m256 v[8];
        for (std::size_t i = 0; i < 8; ++i)
          v[i] = r0 + i < rows ? _mm256_loadu_ps(src + (r0 + i) * ld + k0) : _mm256_setzero_ps();
        const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
        const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
        const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
        const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
        const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
        const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        const __m256 column[8] = {_mm256_permute2f128_ps(s0, s4, 0x20), _mm256_permute2f128_ps(s1, s5, 0x20),
                                  _mm256_permute2f128_ps(s2, s6, 0x20), _mm256_permute2f128_ps(s3, s7, 0x20),
                                  _mm256_permute2f128_ps(s0, s4, 0x31), _mm256_permute2f128_ps(s1, s5, 0x31),
                                  _mm256_permute2f128_ps(s2, s6, 0x31), _mm256_permute2f128_ps(s3, s7, 0x31)};
        // A panel narrower than a register (Width 6) is stored whole too: lanes past Width hold zeros
        // (rows that were not loaded) and land at the start of the next k's slot, which that k's store
        // then overwrites. Only the very last store of the panel is masked (masked stores are
        // microcoded on Zen 2: storing every row that way was a twentieth of an MLP step).
        for (std::size_t k = 0; k < 8; ++k) {
          T* to = out + (k0 + k) * Width + r0;
          if (width == 8 || (Width < 8 && k0 + k + 1 < kc))
            _mm256_storeu_ps(to, column[k]);
          else
            simd::store_first(to, simd::batch<float>(column[k]), width);
        }
      }
  }
#endif
  for (std::size_t k = k0; k < kc; ++k)
    for (std::size_t r = 0; r < Width; ++r) out[k * Width + r] = r < rows ? src[r * ld + k] : T(0);
}

/// A matrix operand in memory: element (i, j) at data[i * row_stride + j * col_stride]. A transposed
/// row-major matrix is read with row_stride 1, so a product with A^T or B^T needs no transposed copy.
template <class T>
struct strided {
  const T* data;
  std::size_t row_stride, col_stride = 1;
  const T& operator()(std::size_t i, std::size_t j) const { return data[i * row_stride + j * col_stride]; }
};

/// One product C = A B. `rows(first, last)` computes rows of C; rows are independent, so an epilogue
/// may run between calls.
template <class T, class Tile>
class product {
 public:
  static constexpr std::size_t row_block = Tile::MC;
  /// Packing A pays off when each of its micro-panels meets several panels of B (measured).
  static constexpr std::size_t pack_a_above = 4;
  /// Packing B pays off when its panels serve many rows of A; below, B is read in place
  /// (docs/benchmarks.md, "Design choices these numbers decided").
  static constexpr std::size_t pack_b_above = 128;

  /// B is packed into packed_b_buffer() on the first call of rows(): an epilogue's producer is
  /// created while its statement is still being planned (other products may run then), and called
  /// only once planning is done, between passes of a loop that runs no product. The micro-kernel
  /// reads only row-major operands in place: a transposed operand is always packed.
  product(std::size_t m, std::size_t n, std::size_t k, strided<T> a, strided<T> b, T* c, std::size_t ldc)
      : m_(m),
        n_(n),
        k_(k),
        a_(a),
        b_(b),
        c_(c),
        ldc_(ldc),
        pack_a_(n > pack_a_above * Tile::NR || a.col_stride != 1),
        pack_b_(m > pack_b_above || b.col_stride != 1) {}

  /// Rows [first, last) of C. A large product is split between threads: by panels of B's columns
  /// when there are many, else by rows (whole micro-panels) when there are enough of them. Each
  /// element of C is computed by one thread, in the same order whatever the split, so the result does
  /// not depend on it.
  void rows(std::size_t first, std::size_t last) {
    if (packed_b_ == nullptr) pack_b();
    if (k_ == 0) {
      for (std::size_t i = first; i < last; ++i) std::fill_n(c_ + i * ldc_, n_, T(0));
      return;
    }
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    const std::size_t m = last - first, panels = (n_ + NR - 1) / NR;
    const std::size_t threads = 2.0 * double(m) * double(n_) * double(k_) < parallel_flops ? 1 : num_threads();
    // By columns when B has 8 panels or more per thread: each thread then packs all of A but reads only
    // its share of B (256 x 128 x 784 on 2 threads: 1.15x by rows, 1.69x by columns).
    const bool by_columns = panels >= 8 * threads;
    if (const std::size_t parts = std::min(threads, m / (2 * MR)); parts > 1 && !by_columns) {
      const std::size_t per_part = ((m + MR - 1) / MR + parts - 1) / parts * MR;  // whole micro-panels
      thread_pool::instance().run(parts, [&](std::size_t t) {
        const std::size_t begin = first + t * per_part;
        if (begin < last) compute(begin, std::min(last, begin + per_part), 0, n_);
      });
    } else if (const std::size_t column_parts = std::min(threads, panels / 2); column_parts > 1) {
      const std::size_t per_part = (panels + column_parts - 1) / column_parts * NR;
      thread_pool::instance().run(column_parts, [&](std::size_t t) {
        const std::size_t begin = t * per_part;
        if (begin < n_) compute(first, last, begin, std::min(n_, begin + per_part));
      });
    } else {
      compute(first, last, 0, n_);
    }
  }
  /// Products of fewer floating-point operations run on one thread: waking another costs more.
  static constexpr double parallel_flops = 4e6;

 private:
  /// Rows [first, last) and columns [col_first, col_last) of C (col_first a multiple of NR).
  void compute(std::size_t first, std::size_t last, std::size_t col_first, std::size_t col_last) const {
    constexpr std::size_t KC = Tile::KC, MC = Tile::MC;
    workspace ws;
    T* packed_a = ws.take<T>(MC * KC);
    for (std::size_t ic = first; ic < last; ic += MC) {
      const std::size_t mc = std::min(MC, last - ic);
      for (std::size_t pc = 0; pc < k_; pc += KC) {
        const std::size_t kc = std::min(KC, k_ - pc);
        if (pack_a_) {
          pack_a(packed_a, ic, mc, pc, kc);
          macro_kernel<true>(packed_a, 0, ic, mc, pc, kc, col_first, col_last);
        } else {
          macro_kernel<false>(&a_(ic, pc), a_.row_stride, ic, mc, pc, kc, col_first, col_last);
        }
      }
    }
  }

  /// Rows [ic, ic + mc) of C, columns [col_first, col_last), of the sum over k from pc, from A's
  /// block at `a` (packed or not).
  template <bool PackedA>
  void macro_kernel(const T* a, std::size_t lda, std::size_t ic, std::size_t mc, std::size_t pc, std::size_t kc,
                    std::size_t col_first, std::size_t col_last) const {
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    alignas(64) T tile[MR * NR];
    alignas(64) T edge_a[MR * Tile::KC];
    const bool accumulate = pc > 0;
    for (std::size_t jc = col_first; jc < col_last; jc += NR) {
      const std::size_t nr = std::min(NR, col_last - jc);
      // B's panel: packed, or read in place (rows ldb apart) when B is used by few rows of A.
      const bool in_place = !pack_b_ && nr == NR;
      const T* bp = in_place ? &b_(pc, jc) : packed_b_ + panel_index(jc) * k_ * NR + pc * NR;
      const std::size_t ldb = in_place ? b_.row_stride : NR;
      for (std::size_t ir = 0; ir < mc; ir += MR) {
        const std::size_t mr = std::min(MR, mc - ir);
        T* c = c_ + (ic + ir) * ldc_ + jc;
        if (mr == MR) {
          if constexpr (PackedA)
            micro_kernel<Tile, true>(kc, a + ir * kc, 0, bp, ldb, c, ldc_, accumulate, nr);
          else
            micro_kernel<Tile, false>(kc, a + ir * lda, lda, bp, ldb, c, ldc_, accumulate, nr);
          continue;
        }
        // The last rows: computed whole into `tile` from zero-padded rows, stored in part.
        const T* ap = a + ir * kc;
        if constexpr (!PackedA) {
          pack_panel(edge_a, {a + ir * lda, lda}, mr, kc);
          ap = edge_a;
        }
        micro_kernel<Tile, true>(kc, ap, 0, bp, ldb, tile, NR, false, NR);
        for (std::size_t r = 0; r < mr; ++r)
          for (std::size_t j = 0; j < nr; ++j)
            c[r * ldc_ + j] = accumulate ? c[r * ldc_ + j] + tile[r * NR + j] : tile[r * NR + j];
      }
    }
  }

  /// B's packed panels live from the first rows() call to the last, with an epilogue's loop (which
  /// runs no product) in between: one buffer per thread outside any workspace, grown when needed.
  static T* packed_b_buffer(std::size_t n) {
    thread_local std::unique_ptr<T[], aligned_free> buffer;
    thread_local std::size_t capacity = 0;
    if (n > capacity) {
      auto [p, deleter] = allocate_bytes(n * sizeof(T));
      buffer = std::unique_ptr<T[], aligned_free>(static_cast<T*>(p), deleter);
      capacity = n;
    }
    return buffer.get();
  }

  /// Panels of NR columns: panel j holds B[k][j*NR .. j*NR+NR) for every k, zero-padded past N. When
  /// B is read in place, only the last, partial panel is packed (index 0).
  void pack_b() {
    constexpr std::size_t NR = Tile::NR;
    const std::size_t first = pack_b_ ? 0 : n_ - n_ % NR;
    packed_b_ = packed_b_buffer(std::max<std::size_t>(1, (n_ - first + NR - 1) / NR * k_ * NR));
    for (std::size_t jc = first; jc < n_; jc += NR) {
      const std::size_t nr = std::min(NR, n_ - jc);
      T* out = packed_b_ + panel_index(jc) * k_ * NR;
      if (b_.col_stride == 1) {
        for (std::size_t k = 0; k < k_; ++k, out += NR) {
          if (nr == NR) {  // registers, not a call to memmove per row of the panel
            for (std::size_t v = 0; v < Tile::NV; ++v)
              Tile::B::load_unaligned(&b_(k, jc) + v * Tile::L).store_unaligned(out + v * Tile::L);
          } else {
            std::copy_n(&b_(k, jc), nr, out);
            std::fill(out + nr, out + NR, T(0));
          }
        }
      } else if (b_.row_stride == 1) {  // B^T: each column of the panel is a row in memory
        pack_transposed<NR>(out, &b_(0, jc), b_.col_stride, nr, k_);
      } else {
        for (std::size_t k = 0; k < k_; ++k)
          for (std::size_t j = 0; j < NR; ++j) out[k * NR + j] = j < nr ? b_(k, jc + j) : T(0);
      }
    }
  }
  std::size_t panel_index(std::size_t jc) const { return pack_b_ ? jc / Tile::NR : 0; }

  /// One micro-panel: for each k, the `mr` values a(0, k) .. a(mr - 1, k), zero-padded to MR.
  static void pack_panel(T* out, strided<T> a, std::size_t mr, std::size_t kc) {
    constexpr std::size_t MR = Tile::MR;
    if (a.col_stride == 1) {  // rows of A in memory
      pack_transposed<MR>(out, a.data, a.row_stride, mr, kc);
      return;
    }
    if constexpr (MR <= Tile::L) {
      if (a.row_stride == 1) {  // A^T: the panel's column k lies in memory; one register per k
        using B = typename Tile::B;
        for (std::size_t k = 0; k < kc; ++k) {
          const T* src = a.data + k * a.col_stride;
          const B v = mr == Tile::L ? B::load_unaligned(src) : simd::load_first<B>(src, mr);
          if (MR == Tile::L || k + 1 < kc)
            v.store_unaligned(out + k * MR);  // lanes past MR are zeros and the next k overwrites them
          else
            simd::store_first(out + k * MR, v, MR);
        }
        return;
      }
    }
    for (std::size_t k = 0; k < kc; ++k, out += MR) {
      for (std::size_t r = 0; r < mr; ++r) out[r] = a(r, k);
      for (std::size_t r = mr; r < MR; ++r) out[r] = T(0);
    }
  }
  /// Micro-panels of MR rows of A[ic.., pc..].
  void pack_a(T* out, std::size_t ic, std::size_t mc, std::size_t pc, std::size_t kc) const {
    constexpr std::size_t MR = Tile::MR;
    for (std::size_t ir = 0; ir < mc; ir += MR, out += MR * kc)
      pack_panel(out, {&a_(ic + ir, pc), a_.row_stride, a_.col_stride}, std::min(MR, mc - ir), kc);
  }

  std::size_t m_, n_, k_;
  strided<T> a_, b_;
  T* c_;
  std::size_t ldc_;
  bool pack_a_, pack_b_;
  T* packed_b_ = nullptr;
};

/// Tiles: two registers per row in general; one register (and twice the rows) when N fits in one,
/// so a narrow product (N = 10) does not compute columns that do not exist. 8 rows: enough
/// accumulators to cover the FMA latency, and a divisor of the usual batch sizes (measured best).
/// The wide tile's rows follow the register file: 12 x 2 accumulators with AVX-512's 32 registers;
/// with AVX2's 16, 6 x 2 (12 accumulators, 2 of B, 1 of A), as in BLIS's Haswell kernel: 12 x 2
/// spilled there (docs/benchmarks.md, "Design choices these numbers decided").
#if defined(__AVX512F__)
inline constexpr std::size_t wide_tile_rows = 12;
#else
inline constexpr std::size_t wide_tile_rows = 6;
#endif
template <class T>
using wide_tile = shape_of_tile<T, wide_tile_rows, 2>;
template <class T>
using narrow_tile = shape_of_tile<T, 8, 1>;

template <class T>
bool use_narrow(std::size_t n) {
  return n <= simd::wide_batch<T>::size;
}

/// C (M x N, row-major) = A B, whole.
template <class T>
void multiply(std::size_t m, std::size_t n, std::size_t k, strided<T> a, strided<T> b, T* c) {
  if (m == 0 || n == 0) return;
  if (use_narrow<T>(n))
    product<T, narrow_tile<T>>(m, n, k, a, b, c, n).rows(0, m);
  else
    product<T, wide_tile<T>>(m, n, k, a, b, c, n).rows(0, m);
}
/// C = A B for row-major A (M x K) and B (K x N).
template <class T>
void multiply(std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b, T* c) {
  multiply<T>(m, n, k, strided<T>{a, k}, strided<T>{b, n}, c);
}

}  // namespace statix::detail::gemm
