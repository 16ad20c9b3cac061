// The test runner every test program links, plus a global allocation counter: evaluation must not
// touch the heap.
#define BOOST_TEST_MODULE statix
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#include "support.hpp"

namespace {
std::atomic<long> allocations{0};
}

long statix_test::allocation_count() {
  return allocations.load();
}

// ThreadSanitizer's runtime defines operator new itself; its build (the thread tests only) counts
// nothing.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STATIX_TEST_NO_ALLOCATION_COUNTER
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define STATIX_TEST_NO_ALLOCATION_COUNTER
#endif

#ifndef STATIX_TEST_NO_ALLOCATION_COUNTER
void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t align) {
  ++allocations;
  const std::size_t a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void* operator new[](std::size_t n, std::align_val_t align) {
  return operator new(n, align);
}
// The nothrow forms too (std::stable_sort's buffer uses them): a form left to the runtime would
// allocate with its operator new and free with this file's delete.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept {
  return operator new(n, tag);
}
void* operator new(std::size_t n, std::align_val_t align, const std::nothrow_t&) noexcept {
  ++allocations;
  const std::size_t a = static_cast<std::size_t>(align);
  return std::aligned_alloc(a, (n + a - 1) / a * a);
}
void* operator new[](std::size_t n, std::align_val_t align, const std::nothrow_t& tag) noexcept {
  return operator new(n, align, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
#endif
