// standardize_channels(x, eps): (x - mean) / sqrt(var + eps) per channel (axis 1), the mean and the
// biased variance taken over every other axis (batch and spatial): the core of batch normalization.
// One primitive rather than a composite of mean, subtraction and rsqrt because the composite reads x
// three times, and the reverse pass runs once per read: every backward product of the layers before
// it would run three times. As a primitive, x is read once, the forward pass is two sweeps per
// channel, and the derivative is the closed form
//   dx = rstd (g - mean(g) - y mean(g y)),
// which reads the forward value y (computed once per plan) and x's statistics. Its Jacobian is
// symmetric, so forward mode pushes a tangent through the same formula.
#pragma once

#include <cmath>
#include <cstddef>
#include <string_view>
#include <utility>

#include "../autodiff/symbolic.hpp"
#include "../primitive.hpp"
#include "reduce.hpp"

namespace statix {

namespace op {

struct standardize_channels {
  static constexpr std::string_view name = "standardize_channels";
  template <class V, class VE>
  using value_type = V;
  template <class EX, class EE>
  using extents_type = EX;

  template <std::size_t R, std::size_t RE>
  static shape_t<R> shape(const shape_t<R>& x, const shape_t<RE>&) {
    return x;
  }

  template <class T, std::size_t R, class X, class Eps>
  static void compute(T* out, const shape_t<R>& shape, plan& p, const X& x, const Eps& eps) {
    const auto in = detail::dense(x, p);
    const double epsilon = static_cast<double>(eps.value);
    const std::size_t batch = shape[0], channels = shape[1];
    std::size_t inner = 1;
    for (std::size_t k = 2; k < R; ++k) inner *= shape[k];
    const std::size_t count = batch * inner;
    if (count == 0) return;
    for (std::size_t c = 0; c < channels; ++c) {
      // Two sweeps in double: the mean, then the centered squares (no cancellation for large means).
      double sum = 0;
      for (std::size_t n = 0; n < batch; ++n) {
        const T* row = in.data + (n * channels + c) * inner;
        for (std::size_t j = 0; j < inner; ++j) sum += row[j];
      }
      const double mean = sum / double(count);
      double squares = 0;
      for (std::size_t n = 0; n < batch; ++n) {
        const T* row = in.data + (n * channels + c) * inner;
        for (std::size_t j = 0; j < inner; ++j) squares += (row[j] - mean) * (row[j] - mean);
      }
      const T m = static_cast<T>(mean), rstd = static_cast<T>(1 / std::sqrt(squares / double(count) + epsilon));
      for (std::size_t n = 0; n < batch; ++n) {
        const T* row = in.data + (n * channels + c) * inner;
        T* o = out + (n * channels + c) * inner;
        for (std::size_t j = 0; j < inner; ++j) o[j] = (row[j] - m) * rstd;
      }
    }
  }

  template <std::size_t I, class G, class Out, class X, class Eps>
  static auto partial(const G& g, const Out& y, const X& x, const Eps& eps);
  template <std::size_t I, class Tangent, class Out, class X, class Eps>
  static auto push(const Tangent& t, const Out& y, const X& x, const Eps& eps) {
    return partial<I>(t, y, x, eps);  // the Jacobian is symmetric
  }
};

template <std::size_t I, class G, class Out, class X, class Eps>
auto standardize_channels::partial(const G& g, const Out& y, const X& x, const Eps& eps) {
  static_assert(I == 0, "statix: standardize_channels is differentiated by its input only (eps is a constant)");
  using Ext = typename X::extents_type;
  using T = typename X::value_type;
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

}  // namespace op

/// standardize_channels(x, eps): x (batch, channels, ...) standardized per channel over every other
/// axis, with the biased variance: batch normalization before its scale and shift.
template <operand X>
auto standardize_channels(X&& x, double eps) {
  using T = value_type_t<X>;
  static_assert(floating_dtype<std::remove_const_t<T>>, "statix: standardize_channels needs a floating dtype");
  static_assert(extents_t<X>::rank >= 2, "statix: standardize_channels needs (batch, channels, ...)");
  using N = node_t<X>;
  using E = scalar_expr<std::remove_const_t<T>>;
  return primitive_expr<op::standardize_channels, N, E>(as_node(std::forward<X>(x)),
                                                        E{static_cast<std::remove_const_t<T>>(eps)});
}

}  // namespace statix
