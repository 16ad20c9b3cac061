// sequential<L...>: layers applied in order. model(x) is one expression (nothing runs until it is
// assigned or evaluated); the shapes flow through the layers at compile time, and the first layer
// that does not accept what the one before it makes is a compile error naming both layers and both
// shapes. Parameters are named as PyTorch's state_dict names them: "<layer index>.<name>".
#pragma once

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "layers.hpp"

namespace statix {

namespace diagnostic {
/// Diagnostic-only spelling of a layer's index in a sequential model.
template <std::size_t I>
struct layer {};
}  // namespace diagnostic

namespace check {
template <class Layer, class OutputShape, class NextLayer, class AcceptedShape, bool Ok>
struct layers_compose {
  static_assert(Ok,
                "statix: shape mismatch in sequential: the output of the first layer named above (its shape "
                "follows it) does not fit the input the next layer accepts (its shape follows it; -1 is any "
                "extent)");
};
template <class InputShape, class AcceptedShape, bool Ok>
struct model_input {
  static_assert(Ok,
                "statix: shape mismatch in sequential: the input's shape (named first above) does not fit what "
                "layer 0 accepts (named second; -1 is any extent)");
};
}  // namespace check

namespace nn {

namespace detail {
template <class Layer, class E>
constexpr bool accepts() {
  if constexpr (requires { typename Layer::accepted_extents; })
    return fits<E, typename Layer::accepted_extents>();
  else
    return true;
}
template <class Layer, class E>
struct accepted {
  using type = E;
};
template <class Layer, class E>
  requires requires {
    typename Layer::accepted_extents;
  }
struct accepted<Layer, E> {
  using type = typename Layer::accepted_extents;
};

template <class Layer>
concept has_training_mode = requires(Layer& l) {
  l.set_training(true);
};

}  // namespace detail

template <class... L>
class sequential {
  static_assert(sizeof...(L) > 0, "statix: a sequential model needs at least one layer");
  using layers_type = std::tuple<L...>;
  template <std::size_t I>
  using layer_type = std::tuple_element_t<I, layers_type>;

 public:
  static constexpr std::size_t size = sizeof...(L);

  /// Layer i is initialized from key.fold_in(i): the same key gives the same model.
  explicit sequential(random::key key = random::key{0}) {
    // Checked as soon as the model is declared, from what its first layer accepts.
    if constexpr (requires { typename layer_type<0>::accepted_extents; }) {
      [[maybe_unused]] constexpr bool composes = check_from<0, typename layer_type<0>::accepted_extents>();
    }
    reset_parameters(key);
  }

  void reset_parameters(random::key key) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(layers_).reset_parameters(key.fold_in(I)), ...);
    }
    (std::index_sequence_for<L...>{});
  }

  /// The model applied to x: an expression of x and of every parameter.
  template <operand X>
  auto operator()(X&& x) const {
    if constexpr (check_from<0, extents_t<X>>())
      return apply<0>(std::forward<X>(x));
    else
      return statix::detail::rule_failed<value_type_t<X>>();
  }

  template <std::size_t I>
  auto& layer() {
    return std::get<I>(layers_);
  }
  template <std::size_t I>
  const auto& layer() const {
    return std::get<I>(layers_);
  }

  /// References to every parameter tensor, layer by layer, in the order of parameter_names().
  auto parameters() {
    return std::apply([](auto&... l) { return std::tuple_cat(l.parameters()...); }, layers_);
  }
  auto parameters() const {
    return std::apply([](const auto&... l) { return std::tuple_cat(l.parameters()...); }, layers_);
  }
  static std::vector<std::string> parameter_names() {
    std::vector<std::string> names;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (add_names(names, I, layer_type<I>::parameter_names), ...);
    }
    (std::index_sequence_for<L...>{});
    return names;
  }

  void train(bool on = true) {
    training_ = on;
    std::apply([on](auto&... l) { (set_mode(l, on), ...); }, layers_);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

 private:
  /// Walks the shapes from layer I on, given the extents E that reach it; false at the first layer
  /// that does not accept them, after the rule that names both layers has failed.
  template <std::size_t I, class E>
  static constexpr bool check_from() {
    if constexpr (I == size) {
      return true;
    } else {
      using Layer = layer_type<I>;
      constexpr bool ok = detail::accepts<Layer, E>();
      using accepted_shape = diagnostic::shape_of_t<typename detail::accepted<Layer, E>::type>;
      if constexpr (I == 0)
        static_assert(check::require<check::model_input<diagnostic::shape_of_t<E>, accepted_shape, ok>>);
      else
        static_assert(check::require<check::layers_compose<diagnostic::layer<I - 1>, diagnostic::shape_of_t<E>,
                                                           diagnostic::layer<I>, accepted_shape, ok>>);
      if constexpr (ok)
        return check_from<I + 1, typename Layer::template output_extents<E>>();
      else
        return false;
    }
  }

  template <std::size_t I, class X>
  auto apply(X&& x) const {
    if constexpr (I == size)
      return std::forward<X>(x);
    else
      return apply<I + 1>(std::get<I>(layers_)(std::forward<X>(x)));
  }

  template <std::size_t N>
  static void add_names(std::vector<std::string>& names, std::size_t index,
                        const std::array<std::string_view, N>& own) {
    for (std::string_view name : own) names.push_back(std::to_string(index) + "." + std::string(name));
  }
  template <class Layer>
  static void set_mode(Layer& l, bool on) {
    if constexpr (detail::has_training_mode<Layer>) l.set_training(on);
  }

  layers_type layers_;
  bool training_ = true;
};

/// The loss's value and the gradient of every parameter of `model` (in the order of parameters()),
/// evaluated in one plan by sx::value_and_grad: forward values the backward pass needs are reused.
template <operand Loss, class Model>
auto value_and_gradients(Loss&& loss, Model& model) {
  auto all = std::apply([&loss](auto&... p) { return statix::value_and_grad(std::forward<Loss>(loss), p...); },
                        model.parameters());
  return std::apply([](auto value, auto&... g) { return std::pair{value, std::tuple{std::move(g)...}}; }, all);
}

}  // namespace nn
}  // namespace statix
