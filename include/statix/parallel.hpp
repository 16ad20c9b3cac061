// The parallel runtime: one pool of threads for the whole engine. A kernel splits its work into chunks
// whose boundaries do not depend on the thread count, so results are the same with 1 or N threads;
// the pool only decides which thread runs which chunk. Idle workers block in the kernel (a futex
// wait), never spin: when another process takes a core, statix loses that core's share and no more.
// A parallel region inside another one (a fused loop in a convolution's epilogue, say), or started
// while another user thread holds the pool, runs on its own thread: nesting cannot multiply threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "function_ref.hpp"

#if defined(__linux__)
#include <sched.h>
#endif

namespace statix {

namespace detail {

/// The cores this process may run on (its affinity mask, as libtorch and OpenBLAS count them).
inline std::size_t available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

/// STATIX_NUM_THREADS when it is a positive number, else the available cores.
inline std::size_t default_thread_count() {
  if (const char* env = std::getenv("STATIX_NUM_THREADS")) {
    const std::string_view text(env);
    std::size_t n = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (error == std::errc{} && end == text.data() + text.size() && n > 0) return n;
  }
  return available_cores();
}

class thread_pool {
 public:
  /// Never destroyed: workers may still be waiting when static objects are destroyed at exit.
  static thread_pool& instance() {
    static thread_pool* pool = new thread_pool(default_thread_count());
    return *pool;
  }

  std::size_t threads() const { return threads_.load(std::memory_order_relaxed); }

  void set_threads(std::size_t n) {
    std::lock_guard region(region_);  // not while a region runs
    threads_.store(std::max<std::size_t>(n, 1), std::memory_order_relaxed);
  }

  /// Runs body(c) for every chunk c in [0, chunks), on up to threads() threads (the caller's among
  /// them), and returns when all have run; the first exception a chunk throws is rethrown here.
  template <class F>
  void run(std::size_t chunks, F&& body) {
    const std::size_t wanted = std::min(chunks, threads());
    std::unique_lock region(region_, std::defer_lock);
    if (wanted <= 1 || inside_region() || !region.try_lock()) {
      for (std::size_t c = 0; c < chunks; ++c) body(c);
      return;
    }
    start_workers(wanted - 1);
    regions_.fetch_add(1, std::memory_order_relaxed);
    const function_ref<void(std::size_t)> erased(body);
    job_.body = &erased;
    job_.chunks = chunks;
    job_.next.store(0, std::memory_order_relaxed);
    job_.helpers = wanted - 1;
    job_.error = nullptr;
    pending_.store(workers_, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    inside_region() = true;
    work();
    inside_region() = false;
    for (std::size_t left = pending_.load(std::memory_order_acquire); left != 0;
         left = pending_.load(std::memory_order_acquire))
      pending_.wait(left, std::memory_order_acquire);
    if (job_.error) std::rethrow_exception(job_.error);
  }

  /// How many regions ran on more than one thread (what tests use to see that a kernel was split).
  std::size_t regions() const { return regions_.load(std::memory_order_relaxed); }

  /// Is this thread running a chunk (a worker, or a caller inside run)?
  static bool& inside_region() {
    thread_local bool inside = false;
    return inside;
  }

 private:
  explicit thread_pool(std::size_t n) : threads_(std::max<std::size_t>(n, 1)) {}

  struct job {
    const function_ref<void(std::size_t)>* body = nullptr;
    std::size_t chunks = 0;
    std::atomic<std::size_t> next{0};
    std::size_t helpers = 0;  // workers 0 .. helpers - 1 take chunks; the others only acknowledge
    std::exception_ptr error;
    std::mutex error_mutex;
  };

  /// Takes chunks until none is left.
  void work() {
    for (std::size_t c = job_.next.fetch_add(1, std::memory_order_relaxed); c < job_.chunks;
         c = job_.next.fetch_add(1, std::memory_order_relaxed)) {
      try {
        (*job_.body)(c);
      } catch (...) {
        std::lock_guard lock(job_.error_mutex);
        if (!job_.error) job_.error = std::current_exception();
      }
    }
  }

  void start_workers(std::size_t n) {
    for (; workers_ < n; ++workers_) {
      const std::uint64_t seen = generation_.load(std::memory_order_acquire);
      std::thread([this, index = workers_, seen] { worker(index, seen); }).detach();
    }
  }

  void worker(std::size_t index, std::uint64_t seen) {
    inside_region() = true;
    for (;;) {
      generation_.wait(seen, std::memory_order_acquire);
      seen = generation_.load(std::memory_order_acquire);
      if (index < job_.helpers) work();
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
  }

  std::atomic<std::size_t> threads_;
  std::mutex region_;                         // held by the thread whose region the workers run
  std::size_t workers_ = 0;                   // started, and never stopped: they wait for the next region
  std::atomic<std::uint64_t> generation_{0};  // one step per region: what wakes the workers
  std::atomic<std::size_t> pending_{0};       // workers that have not yet finished this region
  std::atomic<std::size_t> regions_{0};
  job job_;
};

/// Calls body(first, last) on consecutive ranges of [0, n), in chunks of whole `unit`s (rows, or
/// SIMD-friendly blocks) of at least `grain` elements, on the pool when there is more than one
/// chunk. The ranges depend on n, unit and grain only.
template <class F>
void parallel_ranges(std::size_t n, std::size_t unit, std::size_t grain, F&& body) {
  unit = std::max<std::size_t>(unit, 1);
  const std::size_t units = (n + unit - 1) / unit;
  const std::size_t units_per_chunk = std::max<std::size_t>(1, (grain + unit - 1) / unit);
  const std::size_t chunks = (units + units_per_chunk - 1) / units_per_chunk;
  if (chunks <= 1) {
    if (n > 0) body(std::size_t{0}, n);
    return;
  }
  thread_pool::instance().run(chunks, [&](std::size_t c) {
    const std::size_t first = c * units_per_chunk * unit;
    body(first, std::min(n, first + units_per_chunk * unit));
  });
}

}  // namespace detail

/// The number of threads statix kernels use: STATIX_NUM_THREADS if set, else the cores this process
/// may run on. set_num_threads(1) runs everything on the calling thread.
inline std::size_t num_threads() {
  return detail::thread_pool::instance().threads();
}
inline void set_num_threads(std::size_t n) {
  detail::thread_pool::instance().set_threads(n);
}

}  // namespace statix
