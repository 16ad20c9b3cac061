// Compile-time rules and the words they fail with. Each rule is a class template whose name says the
// rule and whose arguments are the operation and both shapes (or dtypes), so the compiler's first
// lines read, e.g.:
//   In instantiation of 'struct statix::check::broadcastable_shapes<statix::op::add,
//       statix::diagnostic::shape<3, 4>, statix::diagnostic::shape<4, 3>, false>'
//   error: static assertion failed: statix: shape mismatch: ...
// Instantiate a rule with `check::require<rule<...>>` (one error, no cascade).
#pragma once

#include "dtype.hpp"
#include "shape.hpp"

namespace statix {

/// The operations as the compiler names them in diagnostics.
namespace op {
struct assign {
  static constexpr std::string_view name = "assignment";
};
struct fuse {
  static constexpr std::string_view name = "fuse";
};
}  // namespace op

namespace diagnostic {
/// Diagnostic-only spelling of a list of axes or a permutation.
template <std::size_t... A>
struct axes {};
}  // namespace diagnostic

namespace check {

template <class Op, class ShapeA, class ShapeB, bool Ok>
struct broadcastable_shapes {
  static_assert(Ok, "statix: shape mismatch: the operands' shapes (named above) do not broadcast");
};

template <class Op, class DtypeA, class DtypeB, bool Ok>
struct same_dtype {
  static_assert(Ok, "statix: dtype mismatch: the operands' dtypes (named above) differ; use sx::cast<U>(e)");
};

template <class Op, class Dtype, bool Ok>
struct floating_operand {
  static_assert(Ok, "statix: this operation needs a floating (float or double) operand");
};

template <class Op, class Dtype, bool Ok>
struct numeric_operand {
  static_assert(Ok, "statix: this operation needs a numeric (float, double or int32) operand, not bool");
};

template <class Op, class Dtype, bool Ok>
struct bool_operand {
  static_assert(Ok, "statix: this operation needs a bool (mask) operand");
};

template <class Op, class Scalar, class Dtype, bool Ok>
struct scalar_fits_dtype {
  static_assert(Ok, "statix: a fractional scalar cannot combine with an int32 expression; cast it first");
};

template <class Op, class DestinationShape, class ValueShape, bool Ok>
struct assignable_shape {
  static_assert(Ok, "statix: shape mismatch: the value's shape (named above) does not fit the destination's");
};

template <class Op, class FirstShape, class OtherShape, bool Ok>
struct same_output_shape {
  static_assert(Ok, "statix: shape mismatch: every output of sx::fuse must have the same shape");
};

template <class Op, class Shape, class Axes, bool Ok>
struct axes_in_range {
  static_assert(Ok, "statix: axis out of range (or repeated): the axes and the operand's shape are named above");
};

template <class Op, class ShapeA, class ShapeB, bool Ok>
struct matmul_inner_extents {
  static_assert(Ok,
                "statix: shape mismatch: matmul needs the last extent of the left operand to equal the first "
                "of the right, (M, K) x (K, N); the shapes are named above");
};

template <class Op, class Shape, bool Ok>
struct operand_rank {
  static_assert(Ok, "statix: this operation does not take an operand of this rank (shape named above)");
};

template <class Op, class InputShape, class WeightShape, bool Ok>
struct conv_channels {
  static_assert(Ok,
                "statix: shape mismatch: conv2d needs x (N, C, H, W) and w (O, C / Groups, KH, KW) with "
                "Groups dividing C and O, and a static kernel size; the shapes are named above");
};

template <class Op, class Shape, bool Ok>
struct window_fits {
  static_assert(Ok, "statix: shape mismatch: the kernel (with padding) is larger than the input; shape named above");
};

template <class Op, class FromShape, class ToShape, bool Ok>
struct reshape_size {
  static_assert(Ok,
                "statix: shape mismatch: reshape must keep the number of elements (at most one dyn extent in "
                "the new shape); both shapes are named above");
};

template <class Op, class Shape, class Permutation, bool Ok>
struct is_permutation {
  static_assert(Ok, "statix: permute needs a permutation of 0..rank-1; the permutation and the shape are named above");
};

template <class Op, class LossShape, bool Ok>
struct scalar_loss {
  static_assert(Ok,
                "statix: grad needs a scalar loss: a rank-0 expression (reduce it with sx::sum or sx::mean "
                "first); the loss shape is named above");
};
template <class Op, class Argument, bool Ok>
struct tensor_variable {
  static_assert(Ok,
                "statix: grad differentiates with respect to tensors (an sx::tensor or sx::tensor_view the "
                "expression reads), not expressions or numbers; the argument's type is named above");
};
template <class Op, class VariableShape, class DirectionShape, bool Ok>
struct tangent_shape {
  static_assert(Ok, "statix: shape mismatch: jvp needs a direction of the variable's shape; both are named above");
};
template <class Op, class Dtype, bool Ok>
struct floating_variable {
  static_assert(Ok, "statix: grad needs floating (float or double) values and variables; the dtype is named above");
};

template <class Primitive, class Argument, bool Ok>
struct derivative_rule {
  static_assert(Ok,
                "statix: the primitive named above has no derivative rule `partial<I>(g, out, args...)` for the "
                "argument named above: reverse mode cannot pass through it (add the rule next to its kernel)");
};
template <class Primitive, class Argument, bool Ok>
struct tangent_rule {
  static_assert(Ok,
                "statix: the primitive named above has no tangent rule `push<I>(t, out, args...)` for the argument "
                "named above: forward mode (jvp) cannot pass through it (add the rule next to its kernel)");
};

template <class LogitsShape, class LabelsShape, bool Ok>
struct labels_per_row {
  static_assert(Ok,
                "statix: shape mismatch in cross_entropy: logits (batch, classes) need one label per row; both "
                "shapes are named above");
};

template <class Tensor, bool Ok>
struct braces_hold_values {
  static_assert(Ok,
                "statix: braces hold a tensor's values, one nested list per axis; give dynamic extents in "
                "parentheses: sx::tensor<float, sx::dyn, 784> x(batch)");
};

template <class Rule>
inline constexpr bool require = sizeof(Rule) > 0;

}  // namespace check

namespace detail {

/// Can a value of static extents `Src` be written into `Dst` (broadcasting into it, never growing it)?
template <class Dst, class Src>
constexpr bool assignable_static() {
  if constexpr (Src::rank > Dst::rank) {
    return false;
  } else {
    for (std::size_t k = 0; k < Src::rank; ++k) {
      const std::size_t s = Src::values[k];
      const std::size_t d = Dst::values[k + Dst::rank - Src::rank];
      if (!(s == d || s == 1 || s == dyn || d == dyn)) return false;
    }
    return true;
  }
}

}  // namespace detail

/// Do static extents A and B agree (same rank, equal wherever both are known; `dyn` fits anything)?
/// The rule for layers and models that accept a shape (dsl/).
template <class A, class B>
constexpr bool same_static_extents() {
  if constexpr (A::rank != B::rank) {
    return false;
  } else {
    for (std::size_t k = 0; k < A::rank; ++k)
      if (A::values[k] != B::values[k] && A::values[k] != dyn && B::values[k] != dyn) return false;
    return true;
  }
}

}  // namespace statix
