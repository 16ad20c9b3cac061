// Which algorithm each convolution pass runs: the forward pass and both gradients choose here, and
// only here; the kernels (forward.hpp, backward.hpp) switch on the choice. The thresholds were
// measured (docs/benchmarks.md, "Convolutions" and "Design choices these numbers decided").
#pragma once

#include <algorithm>
#include <cstddef>

namespace statix::detail {

enum class conv_algorithm {
  pointwise,  // 1x1, stride 1, no padding: the input plane is already the product's matrix
  depthwise,  // one input channel per group: direct loops (a product would be one row tall)
  winograd,   // 3x3, stride 1: Winograd F(2x2, 3x3), the images of a call side by side
  unfold,     // im2col (the gradients: its adjoint, fold), one product per image or group of images
};

/// Below this many channels per group (in or out), Winograd's transforms cost more than its 2.25x
/// fewer multiplications save; the gradients break even at the same count.
inline constexpr std::size_t winograd_min_channels = 8;
/// The Winograd weight gradient's products run per image (tiles deep): it also needs this many
/// tiles per image.
inline constexpr std::size_t winograd_weight_grad_min_tiles = 16;
/// The input gradient's products take whole images along their columns until there are this many.
inline constexpr std::size_t input_grad_min_columns = 512;
/// The weight gradient's products take whole images along their inner extent until it is this long.
inline constexpr std::size_t weight_grad_min_inner = 512;

/// The choices for a kernel of KH x KW, stride S, padding P, given the channels per group (cg in,
/// og out) and, for the weight gradient, the output plane.
template <std::size_t KH, std::size_t KW, std::size_t S, std::size_t P>
struct conv_algorithms {
  static constexpr bool pointwise_shape = KH == 1 && KW == 1 && S == 1 && P == 0;
  /// Shapes Winograd serves: the kernels compile it only for these. The gradients' transposed
  /// convolution pads by 2 - P.
  static constexpr bool winograd_forward_shape = KH == 3 && KW == 3 && S == 1;
  static constexpr bool winograd_gradient_shape = winograd_forward_shape && P <= 2;

  static constexpr conv_algorithm forward(std::size_t cg, std::size_t og) {
    if (winograd_forward_shape && std::min(cg, og) >= winograd_min_channels) return conv_algorithm::winograd;
    return common(cg);
  }
  static constexpr conv_algorithm input_grad(std::size_t cg, std::size_t og) {
    if (winograd_gradient_shape && std::min(cg, og) >= winograd_min_channels) return conv_algorithm::winograd;
    return common(cg);
  }
  static constexpr conv_algorithm weight_grad(std::size_t cg, std::size_t og, std::size_t oh, std::size_t ow) {
    const std::size_t tiles = (oh + 1) / 2 * ((ow + 1) / 2);
    if (winograd_gradient_shape && std::min(cg, og) >= winograd_min_channels && tiles >= winograd_weight_grad_min_tiles)
      return conv_algorithm::winograd;
    return common(cg);
  }

 private:
  static constexpr conv_algorithm common(std::size_t cg) {
    if (pointwise_shape) return conv_algorithm::pointwise;
    return cg == 1 ? conv_algorithm::depthwise : conv_algorithm::unfold;
  }
};

}  // namespace statix::detail
