// The planner's state for one evaluation: which materialized values (matmul, conv, reductions, ...)
// already exist, so identical subexpressions are computed once, and the row producer of an epilogue
// (a matmul whose consumer runs on its output rows while they are still in cache).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace statix {

/// What makes two nodes "the same value": the node type plus the words each node adds here (the memory
/// and shape of the tensors it reads, the bits of its scalars).
class signature {
 public:
  signature() { words_.reserve(32); }  // one allocation for most nodes, not one per doubling
  void add(std::uintptr_t word) { words_.push_back(word); }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void add_bits(const T& value) {
    std::uintptr_t word = 0;
    const auto* bytes = reinterpret_cast<const unsigned char*>(&value);
    for (std::size_t k = 0; k < sizeof(T); ++k) {
      word = (word << 8) | bytes[k];
      if (k % sizeof(word) == sizeof(word) - 1 || k + 1 == sizeof(T)) {
        words_.push_back(word);
        word = 0;
      }
    }
  }
  friend bool operator==(const signature&, const signature&) = default;

 private:
  std::vector<std::uintptr_t> words_;
};

namespace detail {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;
inline constexpr std::size_t huge_page_threshold = std::size_t{4} << 20;

/// From this size on, storage is aligned to 2 MiB and offered to the kernel for transparent huge
/// pages (Linux, where THP is usually "madvise" only). With 4 KiB pages, a row of 1024 floats is a
/// page: every row started with a TLB miss and a cold hardware prefetcher (measured on softmax rows of
/// (4096 x 1024): 75% -> 85% of the triad bandwidth; PyTorch's CPU allocator does the same).
constexpr std::size_t alignment_for(std::size_t bytes) {
  return bytes >= huge_page_threshold ? huge_page_bytes : 64;
}

/// Freed blocks of 64 KiB or more, kept by exact size for the next allocation of that size: a
/// training step allocates the same buffers every time, and fresh memory from the system costs a
/// page fault and the kernel's zeroing per page (21% of an MLP training step, measured). At most
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

/// A per-thread work buffer that only grows: packing panels must not pay the allocator (and the page
/// faults of fresh memory) on every call. `Slot` tells apart buffers that are live at the same time.
template <class T, int Slot>
T* scratch(std::size_t n) {
  thread_local std::unique_ptr<T[], aligned_free> buffer;
  thread_local std::size_t capacity = 0;
  if (n > capacity) {
    auto [p, deleter] = allocate_bytes(n * sizeof(T));
    buffer = std::unique_ptr<T[], aligned_free>(static_cast<T*>(p), deleter);
    capacity = n;
  }
  return buffer.get();
}

}  // namespace detail

/// How many times each materializing primitive has run on this thread: what tests use to prove that a
/// value is computed once. Counting costs one increment per materialization, never per element.
template <class Primitive>
struct evaluation_count {
  static inline thread_local std::size_t value = 0;
};
/// The counter of elementwise passes: one per fused loop over memory (however many statements it
/// writes), so that `evaluations<elementwise_pass>()` tells a fused update from an op-by-op one.
struct elementwise_pass {};
template <class Primitive>
std::size_t evaluations() {
  return evaluation_count<Primitive>::value;
}
template <class Primitive>
void reset_evaluations() {
  evaluation_count<Primitive>::value = 0;
}

class plan {
 public:
  plan() = default;
  plan(const plan&) = delete;
  plan& operator=(const plan&) = delete;

  /// A plan for evaluating an operand inside this one (into a buffer): it sees and adds to the same
  /// values, but has its own epilogue state.
  plan nested() {
    plan child;
    child.parent_ = this;
    child.epilogue_allowed_ = epilogue_allowed_;
    child.temporary_destination_ = temporary_destination_;
    return child;
  }
  /// A nested plan whose statements write a buffer that dies before this plan does: values computed
  /// straight into it are remembered by that plan only.
  plan nested_for_buffer() {
    plan child = nested();
    child.temporary_destination_ = true;
    return child;
  }
  /// A nested plan whose statements write a buffer this plan keeps (a shared node's value).
  plan nested_for_kept_buffer() {
    plan child = nested();
    child.temporary_destination_ = false;
    return child;
  }
  bool temporary_destination() const { return temporary_destination_; }
  plan(plan&&) = default;

  /// The value of a node identical to `node` computed earlier in this plan (or an enclosing one), or null.
  template <class Node>
  std::shared_ptr<const void> find(const Node& node) const {
    return find<Node>(signature_of(node));
  }
  /// The same, for a node whose signature the caller has computed (and will pass to remember).
  template <class Node>
  std::shared_ptr<const void> find(const signature& sig) const {
    for (const plan* p = this; p != nullptr; p = p->parent_)
      for (const entry& e : p->entries_)
        if (e.sig == sig && *e.type == typeid(Node) && (p == this || e.seen != seen_by::this_plan)) return e.value;
    return nullptr;
  }
  /// Who sees a remembered value: the whole tree of plans (a buffer the root plan owns, or memory that
  /// outlives it); this plan and the plans nested in it (memory that dies with this plan); this plan
  /// only (an epilogue's destination: filled block by block while this plan's loop runs, so an operand
  /// evaluated before the loop, in a nested plan, must not read it).
  enum class seen_by { all, this_tree, this_plan };
  /// Keeps the value of a node of type Node whose signature is `sig` (from signature_of).
  template <class Node>
  void remember(signature sig, std::shared_ptr<const void> value, seen_by seen = seen_by::all) {
    plan* home = this;
    while (seen == seen_by::all && home->parent_ != nullptr) home = home->parent_;
    home->entries_.push_back({&typeid(Node), std::move(sig), std::move(value), seen});
  }

  template <class Node>
  static signature signature_of(const Node& node) {
    signature sig;
    node.identify(sig);
    return sig;
  }

  /// Epilogue fusion. The loop sets a target (its destination, when the statement's expression reads no
  /// memory it writes); one row-blocked primitive of exactly that shape may then claim it: it computes
  /// straight into the destination, a block of rows at a time, and the loop runs its elementwise rest
  /// on each block right after.
  struct row_producer {
    std::function<void(std::size_t, std::size_t)> compute_rows;  // rows [first, last) of the output
    std::size_t rows = 0;                                        // rows = elements / last extent
    std::size_t block = 0;                                       // rows per call
  };
  void offer_target(void* dst, std::span<const std::size_t> shape) {
    if (shape.size() > target_shape_.size()) return;
    target_ = dst;
    target_rank_ = shape.size();
    std::copy(shape.begin(), shape.end(), target_shape_.begin());
  }
  /// The destination, if a node of this shape may compute into it (at most one node claims it).
  void* claim_target(std::span<const std::size_t> shape) {
    if (target_ == nullptr || producer_.compute_rows ||
        !std::equal(shape.begin(), shape.end(), target_shape_.begin(), target_shape_.begin() + target_rank_))
      return nullptr;
    return target_;
  }
  void set_producer(row_producer p) { producer_ = std::move(p); }
  const row_producer& producer() const { return producer_; }
  /// Evaluating several expressions, every materialized value is kept for reuse, so none may be
  /// consumed by an epilogue.
  void forbid_epilogue() { epilogue_allowed_ = false; }
  bool allows_epilogue() const { return epilogue_allowed_; }

 private:
  struct entry {
    const std::type_info* type;
    signature sig;
    std::shared_ptr<const void> value;
    seen_by seen;
  };
  plan* parent_ = nullptr;
  std::vector<entry> entries_;
  void* target_ = nullptr;
  std::array<std::size_t, 8> target_shape_{};  // no allocation: plain loops must not touch the heap
  std::size_t target_rank_ = 0;
  row_producer producer_;
  bool epilogue_allowed_ = true;
  bool temporary_destination_ = false;
};

}  // namespace statix
