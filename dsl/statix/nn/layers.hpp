// Layers: each holds its parameters as tensors with static shapes, builds its forward pass as an
// expression, and states its shape rule — the input extents it accepts (`dyn` accepts any extent)
// and the output extents it makes — so that sequential checks a whole model at compile time.
// Parameters are initialized as PyTorch's defaults: Kaiming-uniform with a = sqrt(5) for weights
// and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases, which is the same bound for both.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <tuple>

#include <statix/ops/normalize.hpp>
#include <statix/statix.hpp>

namespace statix::nn {

/// True when extents `Got` fit the extents a layer accepts (same rank; `dyn` on either side fits).
template <class Got, class Accepted>
constexpr bool fits() {
  return statix::same_static_extents<Got, Accepted>();
}

/// A layer without parameters: nothing to initialize, name or update.
struct stateless {
  static constexpr std::array<std::string_view, 0> parameter_names{};
  std::tuple<> parameters() { return {}; }
  std::tuple<> parameters() const { return {}; }
  void reset_parameters(random::key) {}
};

namespace detail {
/// U(-bound, bound) into a tensor whose shape is static.
template <class T, std::size_t... E>
void uniform_fill(tensor<T, E...>& t, random::key k, double bound) {
  t = (statix::uniform<T, E...>(k) * T(2) - T(1)) * T(bound);
}
}  // namespace detail

/// A layer with a weight and a bias, both drawn from U(-1/sqrt(FanIn), 1/sqrt(FanIn)) (PyTorch's
/// Kaiming-uniform default with a = sqrt(5), and its bias rule).
template <class Weight, class Bias, std::size_t FanIn>
struct weight_and_bias {
  static constexpr std::array<std::string_view, 2> parameter_names{"weight", "bias"};

  Weight weight;
  Bias bias;

  explicit weight_and_bias(random::key k) { reset_parameters(k); }
  void reset_parameters(random::key k) {
    const double bound = 1 / std::sqrt(double(FanIn));
    detail::uniform_fill(weight, k.fold_in(0), bound);
    detail::uniform_fill(bias, k.fold_in(1), bound);
  }
  auto parameters() { return std::tie(weight, bias); }
  auto parameters() const { return std::tie(weight, bias); }
};

/// y = x W^T + b for x (batch, In): W is (Out, In) as in PyTorch, so saved files load there as is.
template <std::size_t In, std::size_t Out, floating_dtype T = float>
struct linear : weight_and_bias<tensor<T, Out, In>, tensor<T, Out>, In> {
  using value_type = T;
  using accepted_extents = extents<dyn, In>;
  template <class E>
  using output_extents = extents<E::values[0], Out>;

  explicit linear(random::key k = random::key{0}) : linear::weight_and_bias(k) {}

  /// A run-time mismatch names the layer and its weight as declared, not the transposed product.
  template <operand X>
  auto operator()(X&& x) const {
    if (x.shape()[extents_t<X>::rank - 1] != In)
      throw shape_error("statix: shape mismatch in linear: input " + to_string(x.shape()) + " for a weight " +
                        to_string(this->weight.shape()) + " (" + std::to_string(In) + " input features)");
    return statix::matmul(std::forward<X>(x), statix::transpose(this->weight)) + this->bias;
  }
};

/// y = conv2d(x, W) + b for x (batch, Cin, H, W): W is (Cout, Cin, K, K), b (Cout), as in PyTorch.
template <std::size_t Cin, std::size_t Cout, std::size_t K, std::size_t Stride = 1, std::size_t Pad = K / 2,
          floating_dtype T = float>
struct conv2d : weight_and_bias<tensor<T, Cout, Cin, K, K>, tensor<T, Cout>, Cin * K * K> {
  static_assert(K == 1 || K == 3 || K == 5 || K == 7, "statix: nn::conv2d supports kernel sizes 1, 3, 5 and 7");
  static_assert(Stride >= 1, "statix: nn::conv2d needs a stride of at least 1");
  using value_type = T;
  using accepted_extents = extents<dyn, Cin, dyn, dyn>;
  static constexpr std::size_t out_extent(std::size_t n) {
    return n == dyn ? dyn : (n + 2 * Pad < K ? 0 : (n + 2 * Pad - K) / Stride + 1);
  }
  template <class E>
  using output_extents = extents<E::values[0], Cout, out_extent(E::values[2]), out_extent(E::values[3])>;

  explicit conv2d(random::key k = random::key{0}) : conv2d::weight_and_bias(k) {}

  template <operand X>
  auto operator()(X&& x) const {
    return statix::conv2d<Stride, Pad>(std::forward<X>(x), this->weight) + statix::reshape<Cout, 1, 1>(this->bias);
  }
};

/// Elementwise activations: any shape in, the same shape out.
template <class Apply>
struct activation : stateless {
  template <class E>
  using output_extents = E;
  template <operand X>
  auto operator()(X&& x) const {
    return Apply{}(std::forward<X>(x));
  }
};
namespace detail {
struct apply_relu {
  template <class X>
  auto operator()(X&& x) const {
    return statix::relu(std::forward<X>(x));
  }
};
struct apply_sigmoid {
  template <class X>
  auto operator()(X&& x) const {
    return statix::sigmoid(std::forward<X>(x));
  }
};
struct apply_tanh {
  template <class X>
  auto operator()(X&& x) const {
    return statix::tanh(std::forward<X>(x));
  }
};
}  // namespace detail
using relu = activation<detail::apply_relu>;
using sigmoid = activation<detail::apply_sigmoid>;
using tanh = activation<detail::apply_tanh>;

/// (batch, d1, d2, ...) -> (batch, d1 * d2 * ...).
struct flatten : stateless {
  template <class E>
  static constexpr std::size_t rest() {
    std::size_t n = 1;
    for (std::size_t k = 1; k < E::rank; ++k) n = (n == dyn || E::values[k] == dyn) ? dyn : n * E::values[k];
    return n;
  }
  template <class E>
  using output_extents = extents<E::values[0], rest<E>()>;

  template <operand X>
  auto operator()(X&& x) const {
    using E = extents_t<X>;
    static_assert(E::rank >= 1, "statix: nn::flatten needs an operand with a batch axis");
    if constexpr (rest<E>() != dyn)
      return statix::reshape<E::values[0], rest<E>()>(std::forward<X>(x));
    else {
      static_assert(E::values[0] != dyn,
                    "statix: nn::flatten of an operand whose batch and other extents are all dyn: make the image "
                    "extents static");
      return statix::reshape<E::values[0], dyn>(std::forward<X>(x));
    }
  }
};

/// Max pooling over K x K windows with stride K (as torch.nn.MaxPool2d(K)).
template <std::size_t K>
struct max_pool2d : stateless {
  using accepted_extents = extents<dyn, dyn, dyn, dyn>;
  static constexpr std::size_t out_extent(std::size_t n) { return n == dyn ? dyn : (n < K ? 0 : (n - K) / K + 1); }
  template <class E>
  using output_extents = extents<E::values[0], E::values[1], out_extent(E::values[2]), out_extent(E::values[3])>;
  template <operand X>
  auto operator()(X&& x) const {
    return statix::max_pool2d<K>(std::forward<X>(x));
  }
};

/// Batch normalization over the channel axis 1 of (batch, C) (Rank 2) or (batch, C, H, W) (Rank 4),
/// as torch.nn.BatchNorm1d/2d: in training mode y = (x - mean) / sqrt(var + eps) * weight + bias with
/// the batch's statistics (biased variance; the gradient flows through them), and the running
/// statistics move by `momentum` towards the batch's (unbiased variance); in evaluation mode the
/// running statistics normalize. The running statistics and num_batches_tracked are state (saved and
/// loaded) but not parameters (not optimized).
///
/// The running statistics move when the training-mode output is first computed (by whichever plan
/// evaluates it first, once per call of the layer), from the batch statistics that computation makes
/// anyway: the layers before a batch norm run their forward pass once per step.
template <std::size_t C, std::size_t Rank, floating_dtype T = float>
struct batch_norm {
  static_assert(Rank == 2 || Rank == 4, "statix: batch norm normalizes (batch, C) or (batch, C, H, W)");
  static constexpr std::array<std::string_view, 2> parameter_names{"weight", "bias"};
  static constexpr std::array<std::string_view, 5> state_names{"weight", "bias", "running_mean", "running_var",
                                                               "num_batches_tracked"};
  using value_type = T;
  using accepted_extents = std::conditional_t<Rank == 2, extents<dyn, C>, extents<dyn, C, dyn, dyn>>;
  template <class E>
  using output_extents = E;

  tensor<T, C> weight, bias;
  tensor<T, C> running_mean, running_var;
  tensor<std::int32_t> num_batches_tracked;
  double momentum = 0.1;
  double eps = 1e-5;

  explicit batch_norm(random::key k = random::key{0}) { reset_parameters(k); }
  /// weight 1, bias 0, running mean 0, running variance 1 (PyTorch's reset; the key is not used).
  void reset_parameters(random::key) {
    weight.fill(1);
    bias.fill(0);
    running_mean.fill(0);
    running_var.fill(1);
    num_batches_tracked.fill(0);
  }
  auto parameters() { return std::tie(weight, bias); }
  auto parameters() const { return std::tie(weight, bias); }
  auto state() { return std::tie(weight, bias, running_mean, running_var, num_batches_tracked); }
  auto state() const { return std::tie(weight, bias, running_mean, running_var, num_batches_tracked); }
  void set_training(bool on) { training_ = on; }
  bool is_training() const { return training_; }

  /// Not const: in training mode the output updates the running statistics, as a PyTorch forward does.
  template <operand X>
  auto operator()(X&& x) {
    static_assert(extents_t<X>::rank == Rank, "statix: batch norm's input has the wrong rank");
    auto per_channel = [](auto&& v) {  // (C) lined up with axis 1 of x; a tensor by reference
      if constexpr (Rank == 2)
        return as_node(std::forward<decltype(v)>(v));
      else
        return statix::reshape<C, 1, 1>(std::forward<decltype(v)>(v));
    };
    const T epsilon(eps);
    // Shared: both modes read x (training mode also in its derivative, for x's statistics), and a copy
    // would hold every layer before.
    auto node = statix::share(std::forward<X>(x));
    std::shared_ptr<running_statistics<T>> running;
    if (training_) {
      check_values_per_channel(node.shape());
      running = std::make_shared<running_statistics<T>>(
          running_statistics<T>{running_mean.data(), running_var.data(), num_batches_tracked.data(), momentum});
    }
    // Training mode standardizes with one primitive (two sweeps per channel, a closed-form
    // derivative); evaluation mode is elementwise. One expression type for both: only the chosen one
    // is evaluated and differentiated.
    auto eval = (node - per_channel(running_mean)) * per_channel(statix::rsqrt(running_var + epsilon));
    auto train = statix::standardize_channels(std::move(node), eps, std::move(running));
    return statix::choose(training_, std::move(train), std::move(eval)) * per_channel(weight) + per_channel(bias);
  }

 private:
  static void check_values_per_channel(const shape_t<Rank>& shape) {
    std::size_t n = 1;
    for (std::size_t d = 0; d < Rank; ++d)
      if (d != 1) n *= shape[d];
    if (n < 2) throw std::invalid_argument("statix: batch norm in training mode needs more than one value per channel");
  }
  bool training_ = true;
};
template <std::size_t C, floating_dtype T = float>
using batch_norm1d = batch_norm<C, 2, T>;
template <std::size_t C, floating_dtype T = float>
using batch_norm2d = batch_norm<C, 4, T>;

/// Dropout with probability p, as torch.nn.Dropout: in training mode each element is zeroed with
/// probability p and the rest are scaled by 1 / (1 - p); in evaluation mode the identity. The mask is
/// counter-based (Philox of the element index under a key that changes every forward call), so it is
/// generated inside the fused loop and never stored.
struct dropout : stateless {
  template <class E>
  using output_extents = E;

  double p = 0.5;

  explicit dropout(double probability = 0.5) : p(probability) {
    if (!(p >= 0 && p < 1)) throw std::invalid_argument("statix: dropout needs a probability in [0, 1)");
  }
  void reset_parameters(random::key k) {
    key_ = k;
    calls_ = 0;
  }
  void set_training(bool on) { training_ = on; }
  bool is_training() const { return training_; }

  template <operand X>
  auto operator()(X&& x) {
    using T = std::remove_const_t<value_type_t<X>>;
    auto node = as_node(std::forward<X>(x));
    auto keep = statix::uniform_like(key_.fold_in(calls_), node) >= T(p);
    if (training_) ++calls_;
    auto masked = statix::where(std::move(keep), node * T(1 / (1 - p)), T(0));
    return statix::choose(training_ && p > 0, std::move(masked), std::move(node));
  }

 private:
  random::key key_{0};
  std::uint64_t calls_ = 0;
  bool training_ = true;
};

}  // namespace statix::nn
