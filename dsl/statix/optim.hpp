// sx::optim: SGD, Adam and AdamW with the update formulas PyTorch documents (torch.optim.SGD, Adam,
// AdamW). An optimizer holds references to the parameters and a state tensor of the same type per
// parameter and per kind of state; step() runs one sx::fuse per parameter, so each parameter's whole
// update is one pass reading p, g and the state and writing p and the state. The update reads every
// tensor as a flat vector: one compiled loop serves all parameters of a dtype, whatever their shapes.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <statix/io/error.hpp>
#include <statix/statix.hpp>

namespace statix::optim {

namespace detail {
/// A zero tensor of the parameter's type and shape.
template <class P>
P zeros_like(const P& p) {
  P z = p;
  z.fill(0);
  return z;
}

template <class... P>
class optimizer_base {
 public:
  static constexpr std::size_t size = sizeof...(P);
  explicit optimizer_base(std::tuple<P&...> params) : params_(params) {}
  /// Steps taken so far.
  std::size_t steps() const { return steps_; }

  /// What a checkpoint keeps besides the state tensors (sx::io::save writes it into the file's metadata).
  std::map<std::string, std::string> metadata() const { return {{"step", std::to_string(steps_)}}; }
  /// The step count back from a checkpoint's metadata; throws io_error, changing nothing, without one.
  void restore_metadata(const std::map<std::string, std::string>& meta) {
    const auto it = meta.find("step");
    std::size_t steps = 0;
    if (it == meta.end() ||
        std::from_chars(it->second.data(), it->second.data() + it->second.size(), steps).ec != std::errc{})
      throw io_error("statix: the optimizer's checkpoint has no step count in its metadata");
    steps_ = steps;
  }

 protected:
  template <class Tuple>
  static auto state_like(const Tuple& params) {
    return std::apply([](const auto&... p) { return std::tuple<P...>(zeros_like(p)...); }, params);
  }
  /// f(p, g, index) for every parameter and its gradient, both as flat vectors; a gradient's shape
  /// must be its parameter's (shape_error before anything is written otherwise).
  template <class Grads, class F>
  void for_each(const Grads& grads, F&& f) {
    static_assert(std::tuple_size_v<std::remove_cvref_t<Grads>> == size,
                  "statix: an optimizer's step needs one gradient per parameter, in the order of parameters()");
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (check_shape(std::get<I>(params_), std::get<I>(grads)), ...);
      (f(flat(std::get<I>(params_)), flat(std::get<I>(grads)), std::integral_constant<std::size_t, I>{}), ...);
    }
    (std::index_sequence_for<P...>{});
  }
  /// "state.<i>.<kind>" for parameter i, as PyTorch's optimizer state_dict keys its per-parameter state.
  static std::vector<std::string> names_of(std::initializer_list<const char*> kinds) {
    std::vector<std::string> names;
    for (const char* kind : kinds)
      for (std::size_t i = 0; i < size; ++i) names.push_back("state." + std::to_string(i) + "." + kind);
    return names;
  }
  template <class Dense>
  static auto flat(Dense& t) {
    static_assert(
        requires { t.data(); }, "statix: an optimizer steps with evaluated gradients (tensors)");
    using T = std::remove_pointer_t<decltype(t.data())>;
    return tensor_view<T, dyn>(t.data(), t.size());
  }
  template <class Param, class Grad>
  static void check_shape(const Param& p, const Grad& g) {
    if (!std::ranges::equal(p.shape(), g.shape())) throw_shape_mismatch("optimizer step", p.shape(), g.shape());
  }

  std::tuple<P&...> params_;
  std::size_t steps_ = 0;
};
}  // namespace detail

struct sgd_options {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

/// torch.optim.SGD: g += wd p; b = mu b + (1 - dampening) g (b = g on the first step);
/// g = nesterov ? g + mu b : b; p -= lr g.
template <class... P>
class sgd : public detail::optimizer_base<P...> {
  using base = detail::optimizer_base<P...>;

 public:
  explicit sgd(std::tuple<P&...> params, sgd_options options = {})
      : base(params), options_(options), momentum_(base::state_like(params)) {
    if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
      throw std::invalid_argument("statix: sgd with nesterov needs a momentum > 0 and zero dampening");
  }
  const sgd_options& options() const { return options_; }
  /// The learning rate from the next step on (a schedule sets it before each step, as PyTorch's
  /// schedulers set param_groups' lr).
  void set_lr(double lr) { options_.lr = lr; }
  /// The momentum buffers (zeros until the first step with momentum), for checkpoints.
  auto state() {
    return std::apply([](auto&... b) { return std::tie(b...); }, momentum_);
  }
  static std::vector<std::string> state_names() { return base::names_of({"momentum_buffer"}); }

  template <class Grads>
  void step(const Grads& grads) {
    const bool first = this->steps_ == 0;
    this->for_each(grads, [&](auto p, const auto& g, auto index) {
      using T = typename decltype(p)::value_type;
      const T lr(options_.lr), wd(options_.weight_decay), mu(options_.momentum), keep(1 - options_.dampening);
      auto b = this->flat(std::get<decltype(index)::value>(momentum_));
      auto grad = g + wd * p;
      if (options_.momentum == 0)
        fuse(out(p) -= lr * grad);
      else if (first && options_.nesterov)
        fuse(out(b) = grad, out(p) -= lr * (grad + mu * b));
      else if (first)
        fuse(out(b) = grad, out(p) -= lr * b);
      else if (options_.nesterov)
        fuse(out(b) = mu * b + keep * grad, out(p) -= lr * (grad + mu * b));
      else
        fuse(out(b) = mu * b + keep * grad, out(p) -= lr * b);
    });
    ++this->steps_;
  }

 private:
  sgd_options options_;
  std::tuple<P...> momentum_;
};
template <class... P>
sgd(std::tuple<P&...>, sgd_options = {}) -> sgd<P...>;

struct adam_options {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
};
/// AdamW's options: Adam's, with PyTorch's default weight decay 0.01, so that `adamw(params, {.lr =
/// 0.01})` keeps it (a shared options type would reset it to Adam's 0 with any option list).
struct adamw_options {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  bool amsgrad = false;
  operator adam_options() const { return {lr, beta1, beta2, eps, weight_decay, amsgrad}; }
};

namespace detail {
/// Adam and AdamW differ only in where the weight decay goes: into the gradient (Adam) or straight
/// onto the parameter (AdamW, decoupled).
template <bool Decoupled, class... P>
class adam_family : public optimizer_base<P...> {
  using base = optimizer_base<P...>;

 public:
  adam_family(std::tuple<P&...> params, adam_options options)
      : base(params),
        options_(options),
        m_(base::state_like(params)),
        v_(base::state_like(params)),
        v_max_(base::state_like(params)) {}
  const adam_options& options() const { return options_; }
  /// The learning rate from the next step on (a schedule sets it before each step).
  void set_lr(double lr) { options_.lr = lr; }
  /// The moments (and AMSGrad's running maximum, zeros without amsgrad), for checkpoints.
  auto state() {
    auto refs = [](auto& tuple) { return std::apply([](auto&... t) { return std::tie(t...); }, tuple); };
    return std::tuple_cat(refs(m_), refs(v_), refs(v_max_));
  }
  static std::vector<std::string> state_names() { return base::names_of({"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}); }

  /// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; (AMSGrad: v_max = max(v_max, v), used for v);
  /// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), as torch.optim.Adam computes it.
  template <class Grads>
  void step(const Grads& grads) {
    const std::size_t t = ++this->steps_;
    const double bias1 = 1 - std::pow(options_.beta1, double(t)), bias2 = 1 - std::pow(options_.beta2, double(t));
    this->for_each(grads, [&](auto p, const auto& g, auto index) {
      using T = typename decltype(p)::value_type;
      constexpr std::size_t i = decltype(index)::value;
      const T b1(options_.beta1), b2(options_.beta2), eps(options_.eps), wd(options_.weight_decay);
      const T step_size(options_.lr / bias1), inv_sqrt_bias2(1 / std::sqrt(bias2));
      auto m = this->flat(std::get<i>(m_));
      auto v = this->flat(std::get<i>(v_));
      auto update = [&](const auto& grad, auto& second_moment, auto&&... extra) {
        if constexpr (Decoupled) {
          const T decay(1 - options_.lr * options_.weight_decay);
          fuse(out(m) = b1 * m + (T(1) - b1) * grad, out(v) = b2 * v + (T(1) - b2) * grad * grad, extra...,
               out(p) = decay * p - step_size * m / (sqrt(second_moment) * inv_sqrt_bias2 + eps));
        } else {
          fuse(out(m) = b1 * m + (T(1) - b1) * grad, out(v) = b2 * v + (T(1) - b2) * grad * grad, extra...,
               out(p) -= step_size * m / (sqrt(second_moment) * inv_sqrt_bias2 + eps));
        }
      };
      auto with_moment = [&](const auto& grad) {
        if (options_.amsgrad) {
          auto v_max = this->flat(std::get<i>(v_max_));
          update(grad, v_max, out(v_max) = maximum(v_max, v));
        } else {
          update(grad, v);
        }
      };
      if (!Decoupled && options_.weight_decay != 0)
        with_moment(g + wd * p);
      else
        with_moment(g);
    });
  }

 private:
  adam_options options_;
  std::tuple<P...> m_, v_, v_max_;
};
}  // namespace detail

/// torch.optim.Adam: weight decay is added to the gradient (L2 regularization).
template <class... P>
class adam : public detail::adam_family<false, P...> {
 public:
  explicit adam(std::tuple<P&...> params, adam_options options = {})
      : detail::adam_family<false, P...>(params, options) {}
};
template <class... P>
adam(std::tuple<P&...>, adam_options = {}) -> adam<P...>;

/// torch.optim.AdamW: p *= 1 - lr wd before the Adam update (decoupled weight decay); its default
/// weight decay is 0.01, as PyTorch's.
template <class... P>
class adamw : public detail::adam_family<true, P...> {
 public:
  explicit adamw(std::tuple<P&...> params, adamw_options options = {})
      : detail::adam_family<true, P...>(params, options) {}
};
template <class... P>
adamw(std::tuple<P&...>, adamw_options = {}) -> adamw<P...>;

}  // namespace statix::optim
