// Extents, run-time shapes, broadcasting and the shape errors, static and dynamic.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace statix {

/// An extent known only at run time: `sx::tensor<float, sx::dyn, 784> x(batch);`
inline constexpr std::size_t dyn = std::numeric_limits<std::size_t>::max();

/// The static extents of a tensor or expression; `dyn` marks a run-time extent.
template <std::size_t... E>
struct extents {
  static constexpr std::size_t rank = sizeof...(E);
  static constexpr std::array<std::size_t, rank> values{E...};
  static constexpr std::size_t dynamic_count = ((E == dyn ? 1 : 0) + ... + 0);
  static constexpr bool all_static = dynamic_count == 0;
  static constexpr std::size_t static_size = all_static ? (std::size_t{1} * ... * E) : dyn;
};

template <std::size_t R>
using shape_t = std::array<std::size_t, R>;

template <std::size_t R>
constexpr std::size_t element_count(const shape_t<R>& s) {
  std::size_t n = 1;
  for (std::size_t e : s) n *= e;
  return n;
}

/// A dynamic shape or dtype mismatch, thrown before anything is written.
class shape_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

template <std::size_t R>
std::string to_string(const shape_t<R>& s) {
  std::string out = "(";
  for (std::size_t k = 0; k < R; ++k) {
    if (k) out += ", ";
    out += std::to_string(s[k]);
  }
  return out + ")";
}

template <std::size_t RA, std::size_t RB>
[[noreturn]] void throw_shape_mismatch(std::string_view op, const shape_t<RA>& a, const shape_t<RB>& b) {
  throw shape_error("statix: shape mismatch in " + std::string(op) + ": " + to_string(a) + " vs " + to_string(b));
}

namespace detail {

/// Broadcast of two static extent lists (NumPy rules, trailing extents aligned). `dyn` against a
/// static extent n > 1 yields n (checked at run time); `dyn` against 1 or `dyn` yields `dyn`.
template <std::size_t RA, std::size_t RB>
struct static_broadcast {
  static constexpr std::size_t rank = RA > RB ? RA : RB;
  bool ok = true;
  std::array<std::size_t, rank> values{};
};

template <std::size_t RA, std::size_t RB>
constexpr static_broadcast<RA, RB> broadcast_static(const std::array<std::size_t, RA>& a,
                                                    const std::array<std::size_t, RB>& b) {
  static_broadcast<RA, RB> r;
  constexpr std::size_t R = static_broadcast<RA, RB>::rank;
  for (std::size_t k = 0; k < R; ++k) {
    const std::size_t ea = k < R - RA ? 1 : a[k - (R - RA)];
    const std::size_t eb = k < R - RB ? 1 : b[k - (R - RB)];
    if (ea == eb) {
      r.values[k] = ea;
    } else if (ea == 1) {
      r.values[k] = eb;
    } else if (eb == 1) {
      r.values[k] = ea;
    } else if (ea == dyn) {
      r.values[k] = eb;
    } else if (eb == dyn) {
      r.values[k] = ea;
    } else {
      r.ok = false;
      r.values[k] = ea;
    }
  }
  return r;
}

template <auto Values, class Seq = std::make_index_sequence<Values.size()>>
struct extents_from;
template <auto Values, std::size_t... I>
struct extents_from<Values, std::index_sequence<I...>> {
  using type = extents<Values[I]...>;
};

template <std::size_t>
inline constexpr std::size_t dyn_for = dyn;
template <class Seq>
struct all_dyn;
template <std::size_t... I>
struct all_dyn<std::index_sequence<I...>> {
  using type = extents<dyn_for<I>...>;
};

template <class A, class B>
struct broadcast_extents {
  static constexpr auto result = broadcast_static(A::values, B::values);
  static constexpr bool ok = result.ok;
  using type = typename extents_from<result.values>::type;
};

template <class... Ext>
struct broadcast_all;
template <class A>
struct broadcast_all<A> {
  static constexpr bool ok = true;
  using type = A;
};
template <class A, class B, class... Rest>
struct broadcast_all<A, B, Rest...> {
  using head = broadcast_extents<A, B>;
  using tail = broadcast_all<typename head::type, Rest...>;
  static constexpr bool ok = head::ok && tail::ok;
  using type = typename tail::type;
};

/// Run-time broadcast of two shapes; throws shape_error naming `op` when they do not broadcast.
template <std::size_t RA, std::size_t RB>
constexpr auto broadcast_shapes(std::string_view op, const shape_t<RA>& a, const shape_t<RB>& b) {
  constexpr std::size_t R = RA > RB ? RA : RB;
  shape_t<R> r{};
  for (std::size_t k = 0; k < R; ++k) {
    const std::size_t ea = k < R - RA ? 1 : a[k - (R - RA)];
    const std::size_t eb = k < R - RB ? 1 : b[k - (R - RB)];
    if (ea != eb && ea != 1 && eb != 1) throw_shape_mismatch(op, a, b);
    r[k] = ea == 1 ? eb : ea;
  }
  return r;
}

}  // namespace detail

/// Broadcast extents of several operands (NumPy rules); `ok` is false when they cannot broadcast.
template <class... Ext>
using broadcast_t = typename detail::broadcast_all<Ext...>::type;

/// Rank R with every extent dynamic: what evaluation kernels are instantiated on (see eval/kernel.hpp).
template <std::size_t R>
using dyn_extents = typename detail::all_dyn<std::make_index_sequence<R>>::type;

/// Diagnostic-only spelling of a static shape: the compiler prints `shape<3, 4>`; -1 marks `dyn`.
namespace diagnostic {
template <long long... E>
struct shape {};

template <class Ext>
struct shape_of;
template <std::size_t... E>
struct shape_of<extents<E...>> {
  using type = shape<(E == dyn ? -1LL : static_cast<long long>(E))...>;
};
template <class Ext>
using shape_of_t = typename shape_of<Ext>::type;
}  // namespace diagnostic

}  // namespace statix
