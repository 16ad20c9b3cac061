// Losses, written as expressions: their gradients come from the primitives' own rules.
#pragma once

#include <cstdint>

#include <statix/statix.hpp>

namespace statix::nn {

/// Mean over the batch of -log softmax(logits)[label]: logits (batch, classes), labels int32 (batch).
/// log_softmax shifts each row by its maximum, so any magnitude of the logits is stable; its gradient
/// is (softmax(logits) - onehot(labels)) / batch, a single elementwise pass over the logits.
template <operand Logits, operand Labels>
auto cross_entropy(Logits&& logits, Labels&& labels) {
  using E = extents_t<Logits>;
  using T = value_type_t<Logits>;
  static_assert(E::rank == 2, "statix: nn::cross_entropy needs logits of shape (batch, classes)");
  static_assert(std::is_same_v<value_type_t<Labels>, std::int32_t> && extents_t<Labels>::rank == 1,
                "statix: nn::cross_entropy needs int32 labels of shape (batch)");
  static_assert(E::values[1] != dyn, "statix: nn::cross_entropy needs a static number of classes");
  constexpr std::size_t classes = E::values[1];
  auto is_label = statix::reshape<dyn, 1>(std::forward<Labels>(labels)) == arange<std::int32_t, classes>();
  auto log_p = statix::log_softmax<1>(std::forward<Logits>(logits));
  return -statix::mean(statix::sum<1>(where(std::move(is_label), std::move(log_p), T(0))));
}

/// Mean of the squared differences.
template <operand Prediction, operand Target>
auto mse(Prediction&& prediction, Target&& target) {
  return statix::mean(statix::square(std::forward<Prediction>(prediction) - std::forward<Target>(target)));
}

}  // namespace statix::nn
