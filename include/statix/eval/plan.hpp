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
#include <span>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "../function_ref.hpp"
#include "../memory.hpp"
#include "signature.hpp"

namespace statix {

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
    return find(typeid(Node), signature_of(node));
  }
  /// The same, for a node of type `type` whose signature the caller has computed (and will pass to
  /// remember). Not a template: one copy for every node type.
  std::shared_ptr<const void> find(const std::type_info& type, const signature& sig) const {
    for (const plan* p = this; p != nullptr; p = p->parent_)
      for (const entry& e : p->entries_)
        if (e.sig == sig && *e.type == type && (p == this || e.seen != seen_by::this_plan)) return e.value;
    return nullptr;
  }
  /// Who sees a remembered value: the whole tree of plans (a buffer the root plan owns, or memory that
  /// outlives it); this plan and the plans nested in it (memory that dies with this plan); this plan
  /// only (an epilogue's destination: filled block by block while this plan's loop runs, so an operand
  /// evaluated before the loop, in a nested plan, must not read it).
  enum class seen_by { all, this_tree, this_plan };
  /// Keeps the value of a node of type `type` whose signature is `sig` (from signature_of).
  void remember(const std::type_info& type, signature sig, std::shared_ptr<const void> value,
                seen_by seen = seen_by::all) {
    plan* home = this;
    while (seen == seen_by::all && home->parent_ != nullptr) home = home->parent_;
    home->entries_.push_back({&type, std::move(sig), std::move(value), seen});
  }

  /// The value of a node computed once per plan tree (type, signature): the one computed earlier, else
  /// `compute(buffer, *this)`'s into a new buffer of `bytes`, kept by the root plan. The part every
  /// materializing node shares, compiled once rather than once per node type.
  std::shared_ptr<const void> value_once(const std::type_info& type, signature sig, std::size_t bytes,
                                         detail::function_ref<void(void*, plan&)> compute) {
    if (auto known = find(type, sig)) return known;
    auto [memory, deleter] = detail::allocate_bytes(bytes);
    std::shared_ptr<void> buffer(memory, deleter);
    compute(memory, *this);
    remember(type, std::move(sig), buffer);
    return buffer;
  }
  /// Writes that value into `dst` of `bytes`: a copy of the one computed earlier, else computed straight
  /// into dst (and remembered there for as long as dst is valid to this plan's readers).
  void write_once(const std::type_info& type, signature sig, void* dst, std::size_t bytes,
                  detail::function_ref<void(void*, plan&)> compute) {
    if (auto known = find(type, sig)) {
      std::memcpy(dst, known.get(), bytes);
      return;
    }
    compute(dst, *this);
    remember(type, std::move(sig), std::shared_ptr<const void>(std::shared_ptr<void>(), dst),
             temporary_destination() ? seen_by::this_tree : seen_by::all);
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
