// standardize_channels(x, eps): (x - mean) / sqrt(var + eps) per channel (axis 1), the mean and the
// biased variance taken over every other axis (batch and spatial): the core of batch normalization.
// One primitive rather than a composite of mean, subtraction and rsqrt (which would read a shared x
// three times, and is what PyTorch's autograd differentiates step by step): the forward pass is two
// sweeps per channel in double, and the derivative is the closed form
//   dx = rstd (g - mean(g) - y mean(g y)),
// which reads the forward value y (computed once per plan) and x's statistics. Its Jacobian is
// symmetric, so forward mode pushes a tangent through the same formula. Where that derivative will
// not be differentiated again (x is a shared node of order 1, as in nn::batch_norm), it is one
// primitive too, standardize_channels_grad: four sweeps instead of five, and g evaluated once.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "../autodiff/symbolic.hpp"
#include "../primitive.hpp"
#include "../shared.hpp"
#include "reduce.hpp"

namespace statix {

/// Running statistics that the first computation of a training-mode batch norm moves towards the
/// batch's (as a PyTorch forward does): `mean += momentum (batch mean - mean)`, the same for the
/// variance with the batch's unbiased variance, and `count += 1`. Once per expression, however many
/// plans evaluate it: the batch's statistics come from the value the forward pass computes anyway,
/// not from an evaluation of their own (which ran every layer before the batch norm again).
template <class T>
struct running_statistics {
  T* mean;
  T* var;
  std::int32_t* count;
  double momentum;
  bool done = false;
};

/// The running statistics as an operand of standardize_channels: no value, no memory, not
/// differentiable; its identity is the update it carries (null: none).
template <class T>
struct running_statistics_node {
  static constexpr bool is_statix_expression = true;
  using value_type = T;
  using extents_type = extents<>;
  static constexpr std::size_t rank = 0;

  std::shared_ptr<running_statistics<T>> update;

  constexpr shape_t<0> shape() const { return {}; }
  void identify(signature& s) const { s.add(reinterpret_cast<std::uintptr_t>(update.get())); }
  void for_each_memory(memory_visitor) const {}
};

namespace detail {

/// The sum over channel c of (batch, channels, inner) values of term(v0[i], v1[i], ...), in double
/// over `lanes` independent accumulators: one chain of dependent additions would wait for each
/// addition's latency (most of a batch norm's time), and lanes the compiler can put side by side in
/// registers keep double's precision.
template <class Term, class... Rows>
double channel_sum(std::size_t batch, std::size_t channels, std::size_t inner, std::size_t c, Term&& term,
                   const Rows*... rows) {
  constexpr std::size_t lanes = 8;
  double acc[lanes] = {};
  for (std::size_t n = 0; n < batch; ++n) {
    const std::size_t at = (n * channels + c) * inner;
    std::size_t j = 0;
    for (; j + lanes <= inner; j += lanes)
      for (std::size_t l = 0; l < lanes; ++l) acc[l] += term(double(rows[at + j + l])...);
    for (; j < inner; ++j) acc[0] += term(double(rows[at + j])...);
  }
  double total = 0;
  for (double a : acc) total += a;
  return total;
}

/// Channel c's mean and sum of centered squares, in two sweeps (no cancellation for large means).
template <class T>
std::pair<double, double> channel_moments(const T* x, std::size_t batch, std::size_t channels, std::size_t inner,
                                          std::size_t c) {
  const double count = double(batch * inner);
  const auto value = [](double v) { return v; };
  const double mean = channel_sum(batch, channels, inner, c, value, x) / count;
  const auto square = [mean](double v) { return (v - mean) * (v - mean); };
  return {mean, channel_sum(batch, channels, inner, c, square, x)};
}

}  // namespace detail

namespace op {

/// standardize_channels' derivative for its input in one primitive: per channel,
///   dx = rstd (g - mean(g) - y mean(g y)),
/// with x's statistics and both means each from one sweep, and g evaluated once (as an operand). The
/// composite form (below) reads g and x in five sweeps, re-evaluating g in each; it is kept where the
/// derivative may be differentiated again. This one is used where it cannot be (the input is a shared
/// node of order 1: what reaches it is compiled for evaluation only), so it has no derivative.
struct standardize_channels_grad {
  static constexpr std::string_view name = "standardize_channels_grad";
  template <class G, class Y, class X, class E>
  using value_type = G;
  template <class EG, class EY, class EX, class EE>
  using extents_type = EX;

  template <std::size_t R>
  static shape_t<R> shape(const shape_t<R>& g, const shape_t<R>& y, const shape_t<R>& x, const shape_t<0>&) {
    if (g != x) throw_shape_mismatch(name, g, x);
    if (y != x) throw_shape_mismatch(name, y, x);
    return x;
  }

  template <class T, std::size_t R, class G, class Y, class X, class Eps>
  static void compute(T* out, const shape_t<R>& shape, plan& p, const G& g, const Y& y, const X& x, const Eps& eps) {
    const auto gd = dense(g, p), yd = dense(y, p), xd = dense(x, p);
    const std::size_t batch = shape[0], channels = shape[1];
    std::size_t inner = 1;
    for (std::size_t k = 2; k < R; ++k) inner *= shape[k];
    const double count = double(batch * inner);
    if (batch * inner == 0) return;
    for (std::size_t c = 0; c < channels; ++c) {
      const auto [mean, squares] = detail::channel_moments(xd.data, batch, channels, inner, c);
      const double rstd = 1 / std::sqrt(squares / count + static_cast<double>(eps.value));
      const auto value = [](double v) { return v; };
      const auto product = [](double a, double b) { return a * b; };
      const double mean_g = detail::channel_sum(batch, channels, inner, c, value, gd.data) / count;
      const double mean_gy = detail::channel_sum(batch, channels, inner, c, product, gd.data, yd.data) / count;
      const T r = static_cast<T>(rstd), mg = static_cast<T>(mean_g), mgy = static_cast<T>(mean_gy);
      for (std::size_t n = 0; n < batch; ++n) {
        const std::size_t at = (n * channels + c) * inner;
        const T* gr = gd.data + at;
        const T* yr = yd.data + at;
        T* o = out + at;
        for (std::size_t j = 0; j < inner; ++j) o[j] = r * (gr[j] - mg - yr[j] * mgy);
      }
    }
  }

  template <std::size_t I, class G, class... A>
  static auto partial(const G&, const A&...) {
    static_assert(I != I,
                  "statix: standardize_channels_grad is not differentiated (it is used only where the "
                  "derivative it computes cannot be differentiated again)");
    return 0;
  }
  template <std::size_t I, class Tangent, class... A>
  static auto push(const Tangent& t, const A&... a) {
    return partial<I>(t, a...);
  }
};

struct standardize_channels {
  static constexpr std::string_view name = "standardize_channels";
  template <class V, class VE, class VS>
  using value_type = V;
  template <class EX, class EE, class ES>
  using extents_type = EX;

  template <std::size_t R>
  static shape_t<R> shape(const shape_t<R>& x, const shape_t<0>&, const shape_t<0>&) {
    return x;
  }

  template <class T, std::size_t R, class X, class Eps>
  static void compute(T* out, const shape_t<R>& shape, plan& p, const X& x, const Eps& eps,
                      const running_statistics_node<T>& stats) {
    const auto in = dense(x, p);
    const double epsilon = static_cast<double>(eps.value);
    const std::size_t batch = shape[0], channels = shape[1];
    std::size_t inner = 1;
    for (std::size_t k = 2; k < R; ++k) inner *= shape[k];
    const std::size_t count = batch * inner;
    if (count == 0) return;
    for (std::size_t c = 0; c < channels; ++c) {
      const auto [mean, squares] = detail::channel_moments(in.data, batch, channels, inner, c);
      if (running_statistics<T>* r = stats.update.get(); r != nullptr && !r->done) {
        const double unbiased = count > 1 ? squares / double(count - 1) : squares;
        r->mean[c] = static_cast<T>((1 - r->momentum) * double(r->mean[c]) + r->momentum * mean);
        r->var[c] = static_cast<T>((1 - r->momentum) * double(r->var[c]) + r->momentum * unbiased);
      }
      const T m = static_cast<T>(mean), rstd = static_cast<T>(1 / std::sqrt(squares / double(count) + epsilon));
      for (std::size_t n = 0; n < batch; ++n) {
        const T* row = in.data + (n * channels + c) * inner;
        T* o = out + (n * channels + c) * inner;
        for (std::size_t j = 0; j < inner; ++j) o[j] = (row[j] - m) * rstd;
      }
    }
    if (running_statistics<T>* r = stats.update.get(); r != nullptr && !r->done) {
      ++*r->count;
      r->done = true;
    }
  }

  template <std::size_t I, class G, class Out, class X, class Eps, class Stats>
  static auto partial(const G& g, const Out& y, const X& x, const Eps& eps, const Stats&);
  template <std::size_t I, class Tangent, class Out, class X, class Eps, class Stats>
  static auto push(const Tangent& t, const Out& y, const X& x, const Eps& eps, const Stats& stats) {
    return partial<I>(t, y, x, eps, stats);  // the Jacobian is symmetric
  }
};

template <std::size_t I, class G, class Out, class X, class Eps, class Stats>
auto standardize_channels::partial(const G& g, const Out& y, const X& x, const Eps& eps, const Stats&) {
  static_assert(I == 0, "statix: standardize_channels is differentiated by its input only (eps is a constant)");
  using Ext = typename X::extents_type;
  using T = typename X::value_type;
  constexpr bool evaluated_only = [] {
    if constexpr (is_shared<X>)
      return X::order <= 1;
    else
      return false;
  }();
  if constexpr (evaluated_only) {
    // What reaches x is evaluated, never differentiated: the one-primitive form.
    return primitive_expr<op::standardize_channels_grad, G, Out, X, Eps>(g, y, x, eps);
  } else {
    // Over the axes 0, 2, 3, ...: all but the channel axis.
    return [&]<std::size_t... A>(std::index_sequence<A...>) {
      const std::size_t channels = x.shape()[1];
      const double count = double(element_count(x.shape()) / (channels == 0 ? 1 : channels));
      auto per_channel_mean = [&](auto e) {
        return sym::mul(sym::constant<T>(1 / count), sym::sum_over<0, (A + 2)...>(std::move(e)));
      };
      auto spread = [&](auto e) { return sym::spread<Ext, 0, (A + 2)...>(std::move(e), x.shape()); };
      auto centered = sym::sub(x, spread(per_channel_mean(x)));
      auto rstd = sym::map<op::rsqrt>(sym::add(per_channel_mean(sym::map<op::square>(std::move(centered))), eps));
      auto centered_g = sym::sub(g, spread(per_channel_mean(g)));
      return sym::mul(spread(std::move(rstd)),
                      sym::sub(std::move(centered_g), sym::mul(y, spread(per_channel_mean(sym::mul(g, y))))));
    }
    (std::make_index_sequence<X::rank - 2>{});
  }
}

}  // namespace op

/// standardize_channels(x, eps): x (batch, channels, ...) standardized per channel over every other
/// axis, with the biased variance: batch normalization before its scale and shift.
///
/// With `running` set, the first computation of the value also moves those running statistics
/// towards the batch's (batch normalization in training mode).
template <operand X>
auto standardize_channels(X&& x, double eps,
                          std::shared_ptr<running_statistics<std::remove_const_t<value_type_t<X>>>> running = nullptr) {
  using T = std::remove_const_t<value_type_t<X>>;
  static_assert(floating_dtype<T>, "statix: standardize_channels needs a floating dtype");
  static_assert(extents_t<X>::rank >= 2, "statix: standardize_channels needs (batch, channels, ...)");
  using N = node_t<X>;
  using E = scalar_expr<T>;
  using S = running_statistics_node<T>;
  return primitive_expr<op::standardize_channels, N, E, S>(as_node(std::forward<X>(x)), E{static_cast<T>(eps)},
                                                           S{std::move(running)});
}

}  // namespace statix
