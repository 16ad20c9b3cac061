// The identity of a value in a plan: what makes two nodes "the same value" (computed once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <typeinfo>
#include <vector>

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

}  // namespace statix
