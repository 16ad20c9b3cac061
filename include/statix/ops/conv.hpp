// Convolution and pooling, forward and backward: one folder (ops/conv/), included whole.
//   algorithm.hpp  which algorithm each pass runs (the one place the choice is made)
//   unfold.hpp     im2col and its adjoint, transposes, the depthwise loop
//   winograd.hpp   Winograd F(2x2, 3x3): the forward's kernel and the weight gradient's transforms
//   forward.hpp    the conv2d primitive and sx::conv2d
//   backward.hpp   the kernels of the input and weight gradients
//   pooling.hpp    max / average pooling and its gradient's kernel
//   gradients.hpp  the derivative rules, and the backward primitives they build
#pragma once

#include "conv/forward.hpp"
#include "conv/gradients.hpp"
#include "conv/pooling.hpp"
