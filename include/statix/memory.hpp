// Memory: aligned storage for tensors and planner buffers (large blocks on huge pages, freed large
// blocks kept for the next allocation of their size), and the scratch workspace of kernel calls.
// The engine's one allocator; nothing here knows about expressions or plans.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace statix {

namespace detail {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;
inline constexpr std::size_t huge_page_threshold = std::size_t{4} << 20;

/// From this size on, storage is aligned to 2 MiB and offered to the kernel for transparent huge
/// pages (Linux, where THP is usually "madvise" only). With 4 KiB pages, a row of 1024 floats is a
/// page: every row started with a TLB miss and a cold hardware prefetcher (PyTorch's CPU allocator
/// does the same; docs/benchmarks.md, "Design choices these numbers decided").
constexpr std::size_t alignment_for(std::size_t bytes) {
  return bytes >= huge_page_threshold ? huge_page_bytes : 64;
}

/// Freed blocks of 64 KiB or more, kept by exact size for the next allocation of that size: a
/// training step allocates the same buffers every time, and fresh memory from the system costs a
/// page fault and the kernel's zeroing per page (a fifth of an MLP training step). At most
/// 256 MiB is kept; thread-safe (a buffer may be freed on another thread). Never destroyed, so a
/// tensor with static storage duration can still give its block back at exit.
class block_cache {
 public:
  static constexpr std::size_t min_bytes = std::size_t{64} << 10;
  static constexpr std::size_t max_kept_bytes = std::size_t{256} << 20;

  /// Under AddressSanitizer nothing is kept: a block in the cache would hide a use after free.
#if defined(__SANITIZE_ADDRESS__)
  static constexpr bool enabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  static constexpr bool enabled = false;
#else
  static constexpr bool enabled = true;
#endif
#else
  static constexpr bool enabled = true;
#endif

  static block_cache& instance() {
    static block_cache* cache = new block_cache;
    return *cache;
  }
  void* take(std::size_t bytes) {
    if (!enabled || bytes < min_bytes) return nullptr;
    std::lock_guard lock(mutex_);
    auto it = blocks_.find(bytes);
    if (it == blocks_.end()) return nullptr;
    void* p = it->second;
    blocks_.erase(it);
    kept_ -= bytes;
    return p;
  }
  /// False when the block is not kept (too small, or the cache is full): the caller frees it.
  bool give(void* p, std::size_t bytes) {
    if (!enabled || bytes < min_bytes || bytes > max_kept_bytes) return false;
    std::lock_guard lock(mutex_);
    while (kept_ + bytes > max_kept_bytes && !blocks_.empty()) {  // make room: smallest blocks first
      auto oldest = blocks_.begin();
      ::operator delete (oldest->second, std::align_val_t{alignment_for(oldest->first)});
      kept_ -= oldest->first;
      blocks_.erase(oldest);
    }
    blocks_.emplace(bytes, p);
    kept_ += bytes;
    return true;
  }

 private:
  std::mutex mutex_;
  std::multimap<std::size_t, void*> blocks_;
  std::size_t kept_ = 0;
};

struct aligned_free {
  std::size_t bytes = 0;
  void operator()(void* p) const {
    if (!block_cache::instance().give(p, bytes)) ::operator delete (p, std::align_val_t{alignment_for(bytes)});
  }
};

/// Uninitialized storage of `bytes`, and the deleter that frees it.
inline std::pair<void*, aligned_free> allocate_bytes(std::size_t bytes) {
  bytes = std::max<std::size_t>(bytes, 1);
  if (void* reused = block_cache::instance().take(bytes)) return {reused, aligned_free{bytes}};
  const std::size_t alignment = alignment_for(bytes);
  void* p = ::operator new (bytes, std::align_val_t{alignment});
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (alignment == huge_page_bytes) ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure changes nothing
#endif
  return {p, aligned_free{bytes}};
}

/// Uninitialized, aligned storage for `n` values of T that shares ownership.
template <class T>
std::shared_ptr<T[]> shared_buffer(std::size_t n) {
  static_assert(std::is_trivially_default_constructible_v<T>);
  auto [p, deleter] = allocate_bytes(n * sizeof(T));
  return std::shared_ptr<T[]>(static_cast<T*>(p), deleter);
}

/// The scratch memory of one kernel call: `take<T>(n)` hands out a buffer of n values of T that stays
/// valid until the workspace ends and is shared with no other live workspace of this thread (the
/// workspaces of a kernel and of the kernels it calls nest like the calls). Buffers only grow and are
/// kept for the next call on this thread: packing panels and transforms must not pay the allocator
/// (and the page faults of fresh memory) on every call. A workspace takes its buffers before it calls
/// a kernel that opens one of its own.
class workspace {
 public:
  workspace() : first_(top()), outer_(innermost()) { innermost() = this; }
  workspace(const workspace&) = delete;
  workspace& operator=(const workspace&) = delete;
  ~workspace() {
    top() = first_;
    innermost() = outer_;
  }

  template <class T>
  T* take(std::size_t n) {
    static_assert(std::is_trivially_default_constructible_v<T>);
    assert(innermost() == this && "statix: a workspace takes its buffers before opening a nested one");
    std::vector<buffer>& buffers = thread_buffers();
    const std::size_t slot = top()++;
    if (slot == buffers.size()) buffers.emplace_back();
    return static_cast<T*>(buffers[slot].reserve(std::max<std::size_t>(n, 1) * sizeof(T)));
  }

 private:
  struct buffer {
    std::unique_ptr<void, aligned_free> memory{nullptr, aligned_free{}};
    std::size_t bytes = 0;
    void* reserve(std::size_t n) {
      if (n > bytes) {
        auto [p, deleter] = allocate_bytes(n);
        memory = std::unique_ptr<void, aligned_free>(p, deleter);
        bytes = n;
      }
      return memory.get();
    }
  };
  static std::vector<buffer>& thread_buffers() {
    thread_local std::vector<buffer> buffers;  // moving a buffer moves its pointer, not its memory
    return buffers;
  }
  static std::size_t& top() {
    thread_local std::size_t used = 0;
    return used;
  }
  static workspace*& innermost() {
    thread_local workspace* open = nullptr;
    return open;
  }

  std::size_t first_;
  workspace* outer_;
};

}  // namespace detail
}  // namespace statix
