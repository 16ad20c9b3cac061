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
template <class InputShape, class BodyOutputShape, bool Ok>
struct residual_keeps_shape {
  static_assert(Ok,
                "statix: shape mismatch in residual: x + body(x) needs the body to give back the shape it gets; "
                "the input's shape is named first above, the body's output second");
};
template <class InputShape, class AcceptedShape, bool Ok>
struct model_input {
  static_assert(Ok,
                "statix: shape mismatch in sequential: the input's shape (named first above) does not fit what "
                "layer 0 accepts (named second; -1 is any extent)");
};
template <class ModelDtype, class InputDtype, bool Ok>
struct model_input_dtype {
  static_assert(Ok,
                "statix: dtype mismatch in sequential: the input's dtype (named second above) is not the model's "
                "(named first); use sx::cast<U>(x)");
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

/// The extents layers L... make, in order, from extents E.
template <class E, class... L>
struct output_flow {
  using type = E;
};
template <class E, class First, class... Rest>
struct output_flow<E, First, Rest...> {
  using type = typename output_flow<typename First::template output_extents<E>, Rest...>::type;
};

/// The dtype of a model's parameters: the value_type of its first layer that has one (void if none).
template <class... L>
struct parameter_dtype {
  using type = void;
};
template <class First, class... Rest>
struct parameter_dtype<First, Rest...> : parameter_dtype<Rest...> {};
template <class First, class... Rest>
  requires requires {
    typename First::value_type;
  }
struct parameter_dtype<First, Rest...> {
  using type = typename First::value_type;
};

/// A layer's accepted_extents, for layers made of layers (they accept what their first layer does).
template <class Layer>
struct accepted_extents_of {};
template <class Layer>
  requires requires {
    typename Layer::accepted_extents;
  }
struct accepted_extents_of<Layer> {
  using accepted_extents = typename Layer::accepted_extents;
};

template <class Layer>
concept has_training_mode = requires(Layer& l) {
  l.set_training(true);
};

/// A layer's names: a static array, or a static function for layers that hold layers.
template <class Layer>
std::vector<std::string> parameter_names_of() {
  if constexpr (requires { Layer::parameter_names(); })
    return Layer::parameter_names();
  else
    return {Layer::parameter_names.begin(), Layer::parameter_names.end()};
}
/// The names of a layer's state (what is saved): its parameters, then its buffers.
template <class Layer>
std::vector<std::string> state_names_of() {
  if constexpr (requires { Layer::state_names(); })
    return Layer::state_names();
  else if constexpr (requires { Layer::state_names.size(); })
    return {Layer::state_names.begin(), Layer::state_names.end()};
  else
    return parameter_names_of<Layer>();
}
template <class Layer>
auto state_of(Layer& l) {
  if constexpr (requires { l.state(); })
    return l.state();
  else
    return l.parameters();
}

}  // namespace detail

template <class... L>
class sequential : public detail::accepted_extents_of<std::tuple_element_t<0, std::tuple<L..., void>>> {
  static_assert(sizeof...(L) > 0, "statix: a sequential model needs at least one layer");
  using layers_type = std::tuple<L...>;
  template <std::size_t I>
  using layer_type = std::tuple_element_t<I, layers_type>;

 public:
  static constexpr std::size_t size = sizeof...(L);
  /// As a layer (a sequential inside a model): it accepts what its first layer does, and makes what its
  /// last layer makes.
  template <class E>
  using output_extents = typename detail::output_flow<E, L...>::type;

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

  /// The model applied to x: an expression of x and of every parameter. Not const: in training mode
  /// a layer may update its state (batch norm's running statistics, dropout's key).
  template <operand X>
  auto operator()(X&& x) {
    return forward(layers_, std::forward<X>(x));
  }
  /// For models whose layers keep no state that a forward pass changes.
  template <operand X>
  auto operator()(X&& x) const {
    return forward(layers_, std::forward<X>(x));
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
    return names_by([]<class Layer>(std::type_identity<Layer>) { return detail::parameter_names_of<Layer>(); });
  }
  /// Everything a saved model holds, as PyTorch's state_dict: each layer's parameters, then its buffers
  /// (batch norm's running statistics).
  auto state() {
    return std::apply([](auto&... l) { return std::tuple_cat(detail::state_of(l)...); }, layers_);
  }
  auto state() const {
    return std::apply([](const auto&... l) { return std::tuple_cat(detail::state_of(l)...); }, layers_);
  }
  static std::vector<std::string> state_names() {
    return names_by([]<class Layer>(std::type_identity<Layer>) { return detail::state_names_of<Layer>(); });
  }

  void train(bool on = true) {
    training_ = on;
    std::apply([on](auto&... l) { (set_mode(l, on), ...); }, layers_);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void set_training(bool on) { train(on); }

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

  template <std::size_t I, class Layers, class X>
  static auto apply(Layers& layers, X&& x) {
    if constexpr (I == size)
      return std::forward<X>(x);
    else
      return apply<I + 1>(layers, std::get<I>(layers)(std::forward<X>(x)));
  }

  template <class Layers, class X>
  static auto forward(Layers& layers, X&& x) {
    using T = typename detail::parameter_dtype<L...>::type;
    using U = value_type_t<X>;
    constexpr bool dtype_ok = std::is_void_v<T> || std::is_same_v<T, U>;
    static_assert(check::require<check::model_input_dtype<T, U, dtype_ok>>);
    if constexpr (!check_from<0, extents_t<X>>())
      return statix::rule_failed<value_type_t<X>>();
    else if constexpr (!dtype_ok)  // the error above is the only one: the layers see the model's dtype
      return apply<0>(layers, statix::cast<T>(std::forward<X>(x)));
    else
      return apply<0>(layers, std::forward<X>(x));
  }

  /// "<i>.<name>" for every name that names_of(std::type_identity<layer i>) gives.
  template <class NamesOf>
  static std::vector<std::string> names_by(NamesOf names_of) {
    std::vector<std::string> names;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (add_names(names, I, names_of(std::type_identity<layer_type<I>>{})), ...);
    }
    (std::index_sequence_for<L...>{});
    return names;
  }
  static void add_names(std::vector<std::string>& names, std::size_t index, const std::vector<std::string>& own) {
    for (const std::string& name : own) names.push_back(std::to_string(index) + "." + name);
  }
  template <class Layer>
  static void set_mode(Layer& l, bool on) {
    if constexpr (detail::has_training_mode<Layer>) l.set_training(on);
  }

  layers_type layers_;
  bool training_ = true;
};

namespace detail {
inline std::vector<std::string> prefixed(std::string_view prefix, std::vector<std::string> names) {
  for (std::string& name : names) name.insert(0, prefix);
  return names;
}
}  // namespace detail

/// x + body(x), body being the layers L... in order; the body must give back the shape it gets. Names
/// follow a PyTorch module that holds `self.body = nn.Sequential(...)`: "<i>.body.<j>.weight".
template <class... L>
struct residual : detail::accepted_extents_of<std::tuple_element_t<0, std::tuple<L...>>> {
  using body_type = sequential<L...>;
  template <class E>
  using output_extents = E;

  body_type body;

  explicit residual(random::key k = random::key{0}) : body(k) {}
  void reset_parameters(random::key k) { body.reset_parameters(k); }
  static std::vector<std::string> parameter_names() { return detail::prefixed("body.", body_type::parameter_names()); }
  static std::vector<std::string> state_names() { return detail::prefixed("body.", body_type::state_names()); }
  auto parameters() { return body.parameters(); }
  auto parameters() const { return body.parameters(); }
  auto state() { return body.state(); }
  auto state() const { return body.state(); }
  void set_training(bool on) { body.train(on); }

  template <operand X>
  auto operator()(X&& x) {
    using E = extents_t<X>;
    using Out = typename body_type::template output_extents<E>;
    constexpr bool ok = statix::same_static_extents<Out, E>();
    static_assert(
        check::require<check::residual_keeps_shape<diagnostic::shape_of_t<E>, diagnostic::shape_of_t<Out>, ok>>);
    if constexpr (ok) {
      auto node = statix::share(std::forward<X>(x));  // read twice: computed and differentiated once
      return node + body(node);
    } else {
      return statix::rule_failed<value_type_t<X>>();
    }
  }
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
