// conv2d (NCHW, groups, stride, zero padding; the kernel size is in the weight's type). A convolution
// is a matrix product per image and group: weights (O/G, C/G*KH*KW) times the unfolded input
// (C/G*KH*KW, H'*W'), written straight into the NCHW output; algorithm.hpp chooses between that,
// Winograd, a pointwise product and a depthwise loop. Its derivative rules are in gradients.hpp.
#pragma once

#include <algorithm>
#include <cstddef>

#include "../../diagnostics.hpp"
#include "../../primitive.hpp"
#include "../elementwise.hpp"
#include "../gemm.hpp"
#include "algorithm.hpp"
#include "unfold.hpp"
#include "winograd.hpp"

namespace statix {

namespace op {

template <std::size_t Stride, std::size_t Pad, std::size_t Groups>
struct conv2d {
  static constexpr std::string_view name = "conv2d";
  template <class A, class B>
  using value_type = A;
  template <class EX, class EW>
  using extents_type =
      extents<EX::values[0], EW::values[0], detail::window_out(EX::values[2], EW::values[2], Stride, Pad),
              detail::window_out(EX::values[3], EW::values[3], Stride, Pad)>;

  static shape_t<4> shape(const shape_t<4>& x, const shape_t<4>& w) {
    const bool ok = x[1] == w[1] * Groups && w[0] % Groups == 0 && x[2] + 2 * Pad >= w[2] && x[3] + 2 * Pad >= w[3];
    if (!ok) throw_shape_mismatch(name, x, w);
    return {x[0], w[0], (x[2] + 2 * Pad - w[2]) / Stride + 1, (x[3] + 2 * Pad - w[3]) / Stride + 1};
  }

  template <class T, class NX, class NW>
  static void compute(T* out, const shape_t<4>& out_shape, plan& p, const NX& x_node, const NW& w_node) {
    constexpr std::size_t KH = NW::extents_type::values[2], KW = NW::extents_type::values[3];
    const auto x = dense(x_node, p);
    const auto w = dense(w_node, p);
    const std::size_t batch = x.shape[0], channels = x.shape[1], h = x.shape[2], wd = x.shape[3];
    const std::size_t cg = channels / Groups, og = out_shape[1] / Groups;
    const std::size_t oh = out_shape[2], ow = out_shape[3], plane = oh * ow;
    const std::size_t depth = cg * KH * KW;  // the product's inner extent
    using algorithms = detail::conv_algorithms<KH, KW, Stride, Pad>;
    const detail::conv_algorithm algorithm = algorithms::forward(cg, og);
    detail::workspace ws;
    T* col = algorithm == detail::conv_algorithm::unfold ? ws.take<T>(depth * plane) : nullptr;
    if constexpr (algorithms::winograd_forward_shape) {  // compiled only for the shapes it serves
      if (algorithm == detail::conv_algorithm::winograd) {
        T* transformed = ws.take<T>(Groups * 16 * og * cg);
        for (std::size_t g = 0; g < Groups; ++g)
          detail::winograd_3x3<T>::transform_weights(w.data + g * og * depth, og, cg, transformed + g * 16 * og * cg);
        const std::size_t chunk = detail::winograd_3x3<T>::images_per_call(oh, ow, batch);
        for (std::size_t n = 0; n < batch; n += chunk)
          for (std::size_t g = 0; g < Groups; ++g)
            detail::winograd_3x3<T>::run(x.data + (n * channels + g * cg) * h * wd, channels * h * wd,
                                         transformed + g * 16 * og * cg, cg, og, h, wd, Pad, oh, ow,
                                         out + (n * out_shape[1] + g * og) * plane, out_shape[1] * plane,
                                         std::min(chunk, batch - n));
        return;
      }
    }
    for (std::size_t n = 0; n < batch; ++n)
      for (std::size_t g = 0; g < Groups; ++g) {
        const T* xg = x.data + (n * channels + g * cg) * h * wd;
        const T* wg = w.data + g * og * depth;
        T* og_out = out + (n * out_shape[1] + g * og) * plane;
        if (algorithm == detail::conv_algorithm::depthwise) {  // one input plane per group
          for (std::size_t o = 0; o < og; ++o)
            detail::depthwise_plane<KH, KW, Stride, Pad>(xg, h, wd, wg + o * depth, og_out + o * plane, oh, ow);
        } else if constexpr (algorithms::pointwise_shape) {
          detail::gemm::multiply<T>(og, plane, depth, wg, xg, og_out);
        } else {
          detail::unfold_into<KH, KW, Stride, Pad>(xg, cg, h, wd, oh, ow, col, plane);
          detail::gemm::multiply<T>(og, plane, depth, wg, col, og_out);
        }
      }
  }

  /// dx = conv2d_input_grad(g, w), dw = conv2d_weight_grad(x, g) (defined with those primitives, in
  /// gradients.hpp); a tangent is conv2d(tx, w) + conv2d(x, tw).
  template <std::size_t I, class G, class Out, class X, class W>
  static auto partial(const G& g, const Out& out, const X& x, const W& w);
  template <std::size_t I, class Tangent, class Out, class X, class W>
  static auto push(const Tangent& t, const Out& out, const X& x, const W& w);
};

}  // namespace op

/// conv2d<Stride, Pad, Groups>(x, w): x (N, C, H, W), w (O, C / Groups, KH, KW) -> (N, O, H', W'),
/// H' = (H + 2 Pad - KH) / Stride + 1. Cross-correlation, as in PyTorch.
template <std::size_t Stride = 1, std::size_t Pad = 0, std::size_t Groups = 1, operand X, operand W>
auto conv2d(X&& x, W&& w) {
  using EX = extents_t<X>;
  using EW = extents_t<W>;
  using P = op::conv2d<Stride, Pad, Groups>;
  static_assert(Stride > 0 && Groups > 0, "statix: conv2d needs Stride > 0 and Groups > 0");
  static_assert(detail::check_operand<P, detail::operand_rule::floating, value_type_t<X>>());
  static_assert(
      check::require<
          check::same_dtype<P, value_type_t<X>, value_type_t<W>, std::is_same_v<value_type_t<X>, value_type_t<W>>>>);
  constexpr bool ranks_ok = EX::rank == 4 && EW::rank == 4;
  static_assert(check::require<check::operand_rank<P, diagnostic::shape_of_t<EX>, ranks_ok>>);
  if constexpr (ranks_ok && std::is_same_v<value_type_t<X>, value_type_t<W>>) {
    constexpr auto xv = EX::values;
    constexpr auto wv = EW::values;
    constexpr bool channels_ok = wv[2] != dyn && wv[3] != dyn &&
                                 (xv[1] == dyn || wv[1] == dyn || xv[1] == wv[1] * Groups) &&
                                 (wv[0] == dyn || wv[0] % Groups == 0);
    static_assert(
        check::require<check::conv_channels<P, diagnostic::shape_of_t<EX>, diagnostic::shape_of_t<EW>, channels_ok>>);
    constexpr bool fits = (xv[2] == dyn || xv[2] + 2 * Pad >= wv[2]) && (xv[3] == dyn || xv[3] + 2 * Pad >= wv[3]);
    static_assert(check::require<check::window_fits<P, diagnostic::shape_of_t<EX>, fits>>);
    if constexpr (channels_ok && fits)
      return primitive_expr<P, node_t<X>, node_t<W>>(as_node(std::forward<X>(x)), as_node(std::forward<W>(w)));
    else
      return rule_failed<value_type_t<X>>();
  } else {
    return rule_failed<value_type_t<X>>();
  }
}

}  // namespace statix
