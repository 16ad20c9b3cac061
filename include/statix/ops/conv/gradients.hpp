// The derivative rules of conv2d and pooling (declared in their primitives, forward.hpp and
// pooling.hpp), and the backward primitives they build, whose kernels are in backward.hpp and
// pooling.hpp. Each backward primitive is linear in the adjoint it carries, so it has rules of its
// own: second derivatives through a convolution or a pooling layer are convolutions and poolings
// again.
#pragma once

#include "../../autodiff/symbolic.hpp"
#include "backward.hpp"
#include "forward.hpp"
#include "pooling.hpp"

namespace statix {
namespace op {

/// dx of y = conv2d<S, P, G>(x, w): from g (N, O, OH, OW) and w; x's shape from a carrier node (the
/// forward floor division loses it).
template <std::size_t Stride, std::size_t Pad, std::size_t Groups>
struct conv2d_input_grad {
  static constexpr std::string_view name = "conv2d_input_grad";
  template <class G, class W, class C>
  using value_type = G;
  template <class EG, class EW, class EC>
  using extents_type = EC;

  static shape_t<4> shape(const shape_t<4>& g, const shape_t<4>& w, const shape_t<4>& x) {
    if (conv2d<Stride, Pad, Groups>::shape(x, w) != g) throw_shape_mismatch(name, g, x);
    return x;
  }
  template <class T, class NG, class NW, class C>
  static void compute(T* out, const shape_t<4>& x, plan& p, const NG& g_node, const NW& w_node, const C&) {
    constexpr std::size_t KH = NW::extents_type::values[2], KW = NW::extents_type::values[3];
    const auto g = dense(g_node, p);
    const auto w = dense(w_node, p);
    detail::conv2d_input_grad<KH, KW, Stride, Pad, Groups>(g.data, w.data, out, x[0], x[1], x[2], x[3], g.shape[1],
                                                           g.shape[2], g.shape[3]);
  }
  template <std::size_t I, class H, class Out, class G, class W, class C>
  static auto partial(const H& h, const Out&, const G& g, const W& w, const C&);
  template <std::size_t I, class Tangent, class Out, class G, class W, class C>
  static auto push(const Tangent& t, const Out&, const G& g, const W& w, const C& c);
};

/// dw of y = conv2d<S, P, G>(x, w): from x and g; w's shape from a carrier node.
template <std::size_t Stride, std::size_t Pad, std::size_t Groups>
struct conv2d_weight_grad {
  static constexpr std::string_view name = "conv2d_weight_grad";
  template <class X, class G, class C>
  using value_type = X;
  template <class EX, class EG, class EC>
  using extents_type = EC;

  static shape_t<4> shape(const shape_t<4>& x, const shape_t<4>& g, const shape_t<4>& w) {
    if (conv2d<Stride, Pad, Groups>::shape(x, w) != g) throw_shape_mismatch(name, g, w);
    return w;
  }
  template <class T, class NX, class NG, class C>
  static void compute(T* out, const shape_t<4>&, plan& p, const NX& x_node, const NG& g_node, const C&) {
    constexpr std::size_t KH = C::extents_type::values[2], KW = C::extents_type::values[3];
    const auto x = dense(x_node, p);
    const auto g = dense(g_node, p);
    detail::conv2d_weight_grad<KH, KW, Stride, Pad, Groups>(x.data, g.data, out, x.shape[0], x.shape[1], x.shape[2],
                                                            x.shape[3], g.shape[1], g.shape[2], g.shape[3]);
  }
  template <std::size_t I, class H, class Out, class X, class G, class C>
  static auto partial(const H& h, const Out&, const X& x, const G& g, const C&);
  template <std::size_t I, class Tangent, class Out, class X, class G, class C>
  static auto push(const Tangent& t, const Out&, const X& x, const G& g, const C& c);
};

/// dx of y = max_pool2d / avg_pool2d<K, S>(x), from x and g.
template <std::size_t K, std::size_t S, bool Max>
struct pool2d_grad {
  static constexpr std::string_view name = Max ? "max_pool2d_grad" : "avg_pool2d_grad";
  template <class X, class G>
  using value_type = X;
  template <class EX, class EG>
  using extents_type = EX;

  static shape_t<4> shape(const shape_t<4>& x, const shape_t<4>& g) {
    if (pool2d<K, S, Max>::shape(x) != g) throw_shape_mismatch(name, x, g);
    return x;
  }
  template <class T, class NX, class NG>
  static void compute(T* out, const shape_t<4>& xs, plan& p, const NX& x_node, const NG& g_node) {
    const auto x = dense(x_node, p);
    const auto g = dense(g_node, p);
    detail::pool2d_grad<K, S, Max>(x.data, g.data, out, xs[0] * xs[1], xs[2], xs[3], g.shape[2], g.shape[3]);
  }
  template <std::size_t I, class H, class Out, class X, class G>
  static auto partial(const H& h, const Out&, const X& x, const G& g);
  template <std::size_t I, class Tangent, class Out, class X, class G>
  static auto push(const Tangent& t, const Out& out, const X& x, const G&);
};

/// The values of t at the maximum of each K x K window of x (stride S): the tangent of max_pool2d,
/// and the adjoint of its gradient.
template <std::size_t K, std::size_t S>
struct pool2d_pick {
  static constexpr std::string_view name = "max_pool2d_pick";
  template <class X, class Tn>
  using value_type = X;
  template <class EX, class ET>
  using extents_type = typename pool2d<K, S, true>::template extents_type<EX>;

  static shape_t<4> shape(const shape_t<4>& x, const shape_t<4>& t) {
    if (x != t) throw_shape_mismatch(name, x, t);
    return pool2d<K, S, true>::shape(x);
  }
  template <class T, class NX, class NT>
  static void compute(T* out, const shape_t<4>& os, plan& p, const NX& x_node, const NT& t_node) {
    const auto x = dense(x_node, p);
    const auto t = dense(t_node, p);
    const std::size_t h = x.shape[2], w = x.shape[3];
    for (std::size_t c = 0; c < x.shape[0] * x.shape[1]; ++c)
      for (std::size_t oh = 0; oh < os[2]; ++oh)
        for (std::size_t ow = 0; ow < os[3]; ++ow) {
          const T* xp = x.data + c * h * w;
          std::size_t best = (oh * S) * w + ow * S;
          for (std::size_t kh = 0; kh < K; ++kh)
            for (std::size_t kw = 0; kw < K; ++kw) {
              const std::size_t at = (oh * S + kh) * w + ow * S + kw;
              if (xp[at] > xp[best]) best = at;
            }
          out[(c * os[2] + oh) * os[3] + ow] = t.data[c * h * w + best];
        }
  }
  template <std::size_t I, class H, class Out, class X, class Tn>
  static auto partial(const H& h, const Out&, const X& x, const Tn&) {
    if constexpr (I == 0)
      return sym::zeros<typename X::value_type, typename X::extents_type>(x.shape());
    else
      return primitive_expr<pool2d_grad<K, S, true>, X, H>(x, h);
  }
  template <std::size_t I, class Tangent, class Out, class X, class Tn>
  static auto push(const Tangent& t, const Out& out, const X& x, const Tn&) {
    if constexpr (I == 0)
      return sym::zeros<typename Out::value_type, typename Out::extents_type>(out.shape());
    else
      return primitive_expr<pool2d_pick, X, Tangent>(x, t);
  }
};

template <std::size_t S, std::size_t P, std::size_t G>
template <std::size_t I, class Gr, class Out, class X, class W>
auto conv2d<S, P, G>::partial(const Gr& g, const Out&, const X& x, const W& w) {
  using T = typename X::value_type;
  if constexpr (I == 0) {
    using C = constant_expr<T, typename X::extents_type>;
    return primitive_expr<conv2d_input_grad<S, P, G>, Gr, W, C>(g, w,
                                                                sym::zeros<T, typename X::extents_type>(x.shape()));
  } else {
    using C = constant_expr<T, typename W::extents_type>;
    return primitive_expr<conv2d_weight_grad<S, P, G>, X, Gr, C>(x, g,
                                                                 sym::zeros<T, typename W::extents_type>(w.shape()));
  }
}
template <std::size_t S, std::size_t P, std::size_t G>
template <std::size_t I, class Tangent, class Out, class X, class W>
auto conv2d<S, P, G>::push(const Tangent& t, const Out&, const X& x, const W& w) {
  if constexpr (I == 0)
    return primitive_expr<conv2d, Tangent, W>(t, w);
  else
    return primitive_expr<conv2d, X, Tangent>(x, t);
}

// <h, input_grad(g, w)> = <conv2d(h, w), g>: linear in g and in w.
template <std::size_t S, std::size_t P, std::size_t Gr>
template <std::size_t I, class H, class Out, class G, class W, class C>
auto conv2d_input_grad<S, P, Gr>::partial(const H& h, const Out&, const G& g, const W& w, const C&) {
  if constexpr (I == 0) {
    return primitive_expr<conv2d<S, P, Gr>, H, W>(h, w);
  } else {
    using T = typename W::value_type;
    using CW = constant_expr<T, typename W::extents_type>;
    return primitive_expr<conv2d_weight_grad<S, P, Gr>, H, G, CW>(h, g,
                                                                  sym::zeros<T, typename W::extents_type>(w.shape()));
  }
}
template <std::size_t S, std::size_t P, std::size_t Gr>
template <std::size_t I, class Tangent, class Out, class G, class W, class C>
auto conv2d_input_grad<S, P, Gr>::push(const Tangent& t, const Out&, const G& g, const W& w, const C& c) {
  if constexpr (I == 0)
    return primitive_expr<conv2d_input_grad, Tangent, W, C>(t, w, c);
  else
    return primitive_expr<conv2d_input_grad, G, Tangent, C>(g, t, c);
}

// <h, weight_grad(x, g)> = <conv2d(x, h), g>: linear in x and in g.
template <std::size_t S, std::size_t P, std::size_t Gr>
template <std::size_t I, class H, class Out, class X, class G, class C>
auto conv2d_weight_grad<S, P, Gr>::partial(const H& h, const Out&, const X& x, const G& g, const C&) {
  if constexpr (I == 0) {
    using T = typename X::value_type;
    using CX = constant_expr<T, typename X::extents_type>;
    return primitive_expr<conv2d_input_grad<S, P, Gr>, G, H, CX>(g, h,
                                                                 sym::zeros<T, typename X::extents_type>(x.shape()));
  } else {
    return primitive_expr<conv2d<S, P, Gr>, X, H>(x, h);
  }
}
template <std::size_t S, std::size_t P, std::size_t Gr>
template <std::size_t I, class Tangent, class Out, class X, class G, class C>
auto conv2d_weight_grad<S, P, Gr>::push(const Tangent& t, const Out&, const X& x, const G& g, const C& c) {
  if constexpr (I == 0)
    return primitive_expr<conv2d_weight_grad, Tangent, G, C>(t, g, c);
  else
    return primitive_expr<conv2d_weight_grad, X, Tangent, C>(x, t, c);
}

template <std::size_t K, std::size_t S, bool Max>
template <std::size_t I, class G, class Out, class X>
auto pool2d<K, S, Max>::partial(const G& g, const Out&, const X& x) {
  return primitive_expr<pool2d_grad<K, S, Max>, X, G>(x, g);
}
template <std::size_t K, std::size_t S, bool Max>
template <std::size_t I, class Tangent, class Out, class X>
auto pool2d<K, S, Max>::push(const Tangent& t, const Out&, const X& x) {
  if constexpr (Max)
    return primitive_expr<pool2d_pick<K, S>, X, Tangent>(x, t);
  else
    return primitive_expr<pool2d, Tangent>(t);
}

// Linear in g; with respect to x, max pooling's routing is piecewise constant (zero derivative) and
// the average's does not read x.
template <std::size_t K, std::size_t S, bool Max>
template <std::size_t I, class H, class Out, class X, class G>
auto pool2d_grad<K, S, Max>::partial(const H& h, const Out&, const X& x, const G&) {
  if constexpr (I == 0) {
    return sym::zeros<typename X::value_type, typename X::extents_type>(x.shape());
  } else if constexpr (Max) {
    return primitive_expr<pool2d_pick<K, S>, X, H>(x, h);
  } else {
    return primitive_expr<pool2d<K, S, false>, H>(h);
  }
}
template <std::size_t K, std::size_t S, bool Max>
template <std::size_t I, class Tangent, class Out, class X, class G>
auto pool2d_grad<K, S, Max>::push(const Tangent& t, const Out& out, const X& x, const G&) {
  if constexpr (I == 0)
    return sym::zeros<typename Out::value_type, typename Out::extents_type>(out.shape());
  else
    return primitive_expr<pool2d_grad, X, Tangent>(x, t);
}

}  // namespace op

}  // namespace statix
