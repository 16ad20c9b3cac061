// The element types a tensor may hold, and the rules for mixing them.
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace statix {

/// float and double for values, int32 for labels and indices, bool for masks.
template <class T>
concept dtype =
    std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, std::int32_t> || std::same_as<T, bool>;

template <class T>
concept floating_dtype = std::same_as<T, float> || std::same_as<T, double>;

template <class T>
concept numeric_dtype = floating_dtype<T> || std::same_as<T, std::int32_t>;

template <dtype T>
constexpr std::string_view dtype_name() {
  if constexpr (std::same_as<T, float>)
    return "float32";
  else if constexpr (std::same_as<T, double>)
    return "float64";
  else if constexpr (std::same_as<T, std::int32_t>)
    return "int32";
  else
    return "bool";
}

/// A plain C++ number written next to an expression (`2`, `0.9`, `1e-8f`).
template <class S>
concept arithmetic_scalar = std::is_arithmetic_v<std::remove_cvref_t<S>> && !std::same_as<std::remove_cvref_t<S>, bool>;

/// A scalar takes the dtype of the expression it meets: any number for floating expressions, integers
/// for int32 expressions (a fractional literal would be truncated silently, so it is refused).
template <class S, class T>
concept scalar_for = arithmetic_scalar<S> &&
    (floating_dtype<T> || (std::same_as<T, std::int32_t> && std::is_integral_v<std::remove_cvref_t<S>>));

}  // namespace statix
