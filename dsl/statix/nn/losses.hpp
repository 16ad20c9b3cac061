// Losses, written as expressions: their gradients come from the primitives' own rules.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <statix/statix.hpp>

namespace statix::nn {

/// Mean over the batch of -log softmax(logits)[label]: logits (batch, classes), labels int32 (batch).
/// log_softmax shifts each row by its maximum, so any magnitude of the logits is stable; its gradient
/// is (softmax(logits) - onehot(labels)) / batch, a single elementwise pass over the logits.
/// The labels are checked when the loss is built, as PyTorch checks them: one per row of the logits,
/// each in [0, classes), else shape_error / std::out_of_range naming cross_entropy. (Labels given as
/// an expression are evaluated then, once.)
template <operand Logits, operand Labels>
auto cross_entropy(Logits&& logits, Labels&& labels) {
  using E = extents_t<Logits>;
  using EL = extents_t<Labels>;
  using T = value_type_t<Logits>;
  static_assert(E::rank == 2, "statix: nn::cross_entropy needs logits of shape (batch, classes)");
  static_assert(std::is_same_v<value_type_t<Labels>, std::int32_t> && EL::rank == 1,
                "statix: nn::cross_entropy needs int32 labels of shape (batch)");
  static_assert(E::values[1] != dyn, "statix: nn::cross_entropy needs a static number of classes");
  static_assert(check::require<
                check::labels_per_row<diagnostic::shape_of_t<E>, diagnostic::shape_of_t<EL>,
                                      E::values[0] == EL::values[0] || E::values[0] == dyn || EL::values[0] == dyn>>);
  constexpr std::size_t classes = E::values[1];
  auto label_node = as_node(std::forward<Labels>(labels));
  const auto& logits_shape = logits.shape();
  if (label_node.shape()[0] != logits_shape[0])
    throw shape_error("statix: shape mismatch in cross_entropy: logits " + to_string(logits_shape) +
                      " need one label per row, got labels " + to_string(label_node.shape()));
  auto label_values = [&] {
    if constexpr (
        requires { label_node.data; } || requires { label_node.leaf.data; })
      return label_node;
    else
      return as_node(statix::eval(std::move(label_node)));  // an expression: evaluated once, owned by the loss
  }();
  const std::int32_t* label_data = [&] {
    if constexpr (requires { label_values.data; })
      return label_values.data;
    else
      return label_values.leaf.data;
  }();
  for (std::size_t i = 0; i < label_values.shape()[0]; ++i) {
    const std::int32_t label = label_data[i];
    if (label < 0 || std::size_t(label) >= classes)
      throw std::out_of_range("statix: cross_entropy: label " + std::to_string(label) + " at row " + std::to_string(i) +
                              " is out of range for " + std::to_string(classes) + " classes");
  }
  auto is_label = statix::reshape<dyn, 1>(std::move(label_values)) == arange<std::int32_t, classes>();
  auto log_p = statix::log_softmax<1>(std::forward<Logits>(logits));
  return -statix::mean(statix::sum<1>(where(std::move(is_label), std::move(log_p), T(0))));
}

/// Mean of the squared differences.
template <operand Prediction, operand Target>
auto mse(Prediction&& prediction, Target&& target) {
  return statix::mean(statix::square(std::forward<Prediction>(prediction) - std::forward<Target>(target)));
}

}  // namespace statix::nn
