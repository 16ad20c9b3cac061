// Shared subexpressions (sx::share, nn::residual, batch norm's input): one node in the object, one
// value per plan, one backward pass with the adjoints of all readers summed. Checked against a
// double-precision backpropagation written out by hand, against the same expression written as a
// tree, by gradcheck, and by counting the products and convolutions that run.
#include "dsl_support.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

using namespace statix_test;
namespace nn = statix::nn;

namespace {

constexpr std::size_t rows = 5, width = 7;

/// One residual block of the chain: s + relu(s W^T + b), with s = share(x) (or x itself, a tree).
template <bool Shared, class X, class W, class B>
auto block(X x, const W& w, const B& b) {
  if constexpr (Shared) {
    auto s = sx::share(std::move(x));
    return s + sx::relu(sx::matmul(s, sx::transpose(w)) + b);
  } else {
    return x + sx::relu(sx::matmul(x, sx::transpose(w)) + b);
  }
}
template <bool Shared, std::size_t D, class X, class Ws, class Bs>
auto chain(X x, const Ws& w, const Bs& b) {
  if constexpr (D == 0)
    return x;
  else
    return block<Shared>(chain<Shared, D - 1>(std::move(x), w, b), w[D - 1], b[D - 1]);
}

using matrix = sx::tensor<double, rows, width>;
using weight = sx::tensor<double, width, width>;
using bias = sx::tensor<double, width>;

/// The chain's loss sum(tanh(s_D)) and its gradients for every W_k and b_k, by backpropagation in
/// double with plain loops.
struct chain_reference {
  double loss = 0;
  std::vector<std::vector<double>> dw, db;
};
chain_reference backpropagate(const matrix& x, const std::vector<weight>& w, const std::vector<bias>& b) {
  const std::size_t depth = w.size();
  std::vector<std::vector<double>> s(depth + 1, std::vector<double>(rows * width)), z = s;
  for (std::size_t i = 0; i < rows * width; ++i) s[0][i] = x.data()[i];
  for (std::size_t k = 0; k < depth; ++k)
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < width; ++j) {
        double acc = b[k](j);
        for (std::size_t l = 0; l < width; ++l) acc += s[k][i * width + l] * w[k](j, l);
        z[k + 1][i * width + j] = acc;
        s[k + 1][i * width + j] = s[k][i * width + j] + std::max(acc, 0.0);
      }
  chain_reference r;
  r.dw.assign(depth, std::vector<double>(width * width));
  r.db.assign(depth, std::vector<double>(width));
  std::vector<double> g(rows * width);
  for (std::size_t i = 0; i < rows * width; ++i) {
    r.loss += std::tanh(s[depth][i]);
    g[i] = 1 - std::tanh(s[depth][i]) * std::tanh(s[depth][i]);
  }
  for (std::size_t k = depth; k-- > 0;) {
    std::vector<double> gz(rows * width), below = g;
    for (std::size_t i = 0; i < rows * width; ++i) gz[i] = z[k + 1][i] > 0 ? g[i] : 0;
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < width; ++j) {
        r.db[k][j] += gz[i * width + j];
        for (std::size_t l = 0; l < width; ++l) {
          r.dw[k][j * width + l] += gz[i * width + j] * s[k][i * width + l];
          below[i * width + l] += gz[i * width + j] * w[k](j, l);
        }
      }
    g = below;
  }
  return r;
}

/// A chain of D shared blocks: the gradients of the first block's weight and bias and of the last
/// block's weight match the reference, every product runs once (D forward, 2 weight gradients, D - 1
/// input gradients down to the first block: x is not a variable), and the expression's size does not
/// grow with D. The same variables at every depth: from D = 2 on, the loss and its gradients have one
/// type, so the depths cost no compile time of their own.
template <std::size_t D>
std::size_t check_chain() {
  const matrix x = random_tensor<double, rows, width>(1, -1, 1);
  std::array<weight, D> w;
  std::array<bias, D> b;
  for (std::size_t k = 0; k < D; ++k) {
    fill_uniform(w[k], -0.6, 0.6, unsigned(10 + k));
    fill_uniform(b[k], -0.2, 0.4, unsigned(20 + k));
  }
  auto loss = sx::sum(sx::tanh(chain<true, D>(sx::as_node(x), w, b)));
  const auto ref = backpropagate(x, std::vector<weight>(w.begin(), w.end()), std::vector<bias>(b.begin(), b.end()));
  sx::reset_evaluations<sx::op::matmul>();
  if constexpr (D == 1) {
    const auto [value, dw, db] = sx::value_and_grad(loss, w[0], b[0]);
    BOOST_TEST(sx::evaluations<sx::op::matmul>() == 2u);
    BOOST_TEST(value == ref.loss, boost::test_tools::tolerance(1e-12));
    check_close(dw.data(), ref.dw[0], 1e-12, "dW0");
    check_close(db.data(), ref.db[0], 1e-12, "db0");
  } else {
    const auto [value, dw_first, db_first, dw_last] = sx::value_and_grad(loss, w[0], b[0], w[D - 1]);
    BOOST_TEST(sx::evaluations<sx::op::matmul>() == 2 * D + 1, "depth " << D);
    BOOST_TEST(value == ref.loss, boost::test_tools::tolerance(1e-12));
    check_close(dw_first.data(), ref.dw[0], 1e-12, "dW0 at depth " + std::to_string(D));
    check_close(db_first.data(), ref.db[0], 1e-12, "db0 at depth " + std::to_string(D));
    check_close(dw_last.data(), ref.dw[D - 1], 1e-12, "dW" + std::to_string(D - 1));
  }
  return sizeof(loss);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(shared_nodes)

BOOST_AUTO_TEST_CASE(residual_chains_run_each_product_once) {
  check_chain<1>();  // its block reads the tensor x itself: nothing to share
  const std::size_t two = check_chain<2>();
  const std::array<std::size_t, 6> deeper = [&]<std::size_t... D>(std::index_sequence<D...>) {
    return std::array<std::size_t, 6>{check_chain<D + 3>()...};
  }
  (std::make_index_sequence<6>{});  // depths 3 to 8
  for (const std::size_t size : deeper) BOOST_TEST(size == two);
  // The same chain as a tree: x is copied into both readers at every block.
  const matrix x = random_tensor<double, rows, width>(1, -1, 1);
  std::array<weight, 3> w;
  std::array<bias, 3> b;
  BOOST_TEST(sizeof(sx::sum(chain<false, 3>(sx::as_node(x), w, b))) > 4 * two);
}

BOOST_AUTO_TEST_CASE(three_readers_run_the_producer_backward_once) {
  const auto a = random_tensor<double, 6, 5>(3, -1, 1);
  auto w0 = random_tensor<double, 5, 4>(4, -1, 1);
  auto w1 = random_tensor<double, 4, 3>(5, -1, 1);
  auto c = random_tensor<double, 6, 4>(6, -1, 1);
  auto f = [&](auto& p, auto& q) {
    auto x = sx::share(sx::matmul(a, p));  // read by three branches
    return sx::sum(sx::tanh(x) * c + x * x) + sx::sum(sx::relu(sx::matmul(x, q)));
  };
  sx::reset_evaluations<sx::op::matmul>();
  const auto [value, g0, g1] = sx::value_and_grad(f(w0, w1), w0, w1);
  // Forward a p and x q; backward: the gradient of q, x's adjoint through q, and p's gradient, once.
  BOOST_TEST(sx::evaluations<sx::op::matmul>() == 5);
  expect_gradcheck("three readers", f, w0, w1);

  // x's adjoint, by hand: tanh'(x) c + 2 x + relu'(x q) q^T summed; dW0 = a^T adj.
  const auto x = sx::eval(sx::matmul(a, w0));
  const auto xq = sx::eval(sx::matmul(x, w1));
  std::vector<double> adjoint(6 * 4), expected(5 * 4);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 4; ++j) {
      const double t = std::tanh(x(i, j));
      double v = (1 - t * t) * c(i, j) + 2 * x(i, j);
      for (std::size_t k = 0; k < 3; ++k) v += xq(i, k) > 0 ? w1(j, k) : 0;
      adjoint[i * 4 + j] = v;
    }
  for (std::size_t l = 0; l < 5; ++l)
    for (std::size_t j = 0; j < 4; ++j)
      for (std::size_t i = 0; i < 6; ++i) expected[l * 4 + j] += a(i, l) * adjoint[i * 4 + j];
  check_close(g0.data(), expected, 1e-12, "dW0");
  static_cast<void>(value), static_cast<void>(g1);
}

BOOST_AUTO_TEST_CASE(distinct_shared_nodes_of_one_type) {
  // q and k have one type; each is its own node (attention's q, k of one x). p1 and p2 read the same
  // shared r along the same kind of path: r's adjoint sums two arrivals of one type.
  const auto x = random_tensor<double, 4, 3>(7, -1, 1);
  auto wq = random_tensor<double, 3, 5>(8, -1, 1);
  auto wk = random_tensor<double, 3, 5>(9, -1, 1);
  auto f = [&](auto& p, auto& q) {
    auto sq = sx::share(sx::matmul(x, p));
    auto sk = sx::share(sx::matmul(x, q));
    auto r = sx::share(sq * sk);
    auto p1 = sx::share(sx::tanh(r) * sq);
    auto p2 = sx::share(sx::tanh(r) * sk);
    return sx::sum(p1 * p2 + sq);
  };
  expect_gradcheck("distinct nodes of one type", f, wq, wk);
  // Against the same expression written as a tree.
  auto tree = [&](auto& p, auto& q) {
    auto sq = sx::matmul(x, p);
    auto sk = sx::matmul(x, q);
    auto r = sq * sk;
    return sx::sum((sx::tanh(r) * sq) * (sx::tanh(r) * sk) + sq);
  };
  const auto [v1, gq1, gk1] = sx::value_and_grad(f(wq, wk), wq, wk);
  const auto [v2, gq2, gk2] = sx::value_and_grad(tree(wq, wk), wq, wk);
  BOOST_TEST(v1 == v2, boost::test_tools::tolerance(1e-13));
  check_close(gq1.data(), std::vector<double>(gq2.begin(), gq2.end()), 1e-13, "dWq");
  check_close(gk1.data(), std::vector<double>(gk2.begin(), gk2.end()), 1e-13, "dWk");
}

BOOST_AUTO_TEST_CASE(a_shared_value_is_computed_once_per_plan_and_aliasing_is_safe) {
  auto a = random_tensor<float, 8, 8>(16, -1, 1);
  const auto b = random_tensor<float, 8, 8>(17, -1, 1);
  auto s = sx::share(sx::exp(a) + 1.f);  // elementwise: materialized once, read twice
  sx::reset_evaluations<sx::op::matmul>();
  const sx::tensor<float, 8, 8> y = sx::matmul(s, b) + sx::matmul(s, b) + s;
  BOOST_TEST(sx::evaluations<sx::op::matmul>() == 1);
  const auto reference = sx::eval(2.f * sx::matmul(sx::exp(a) + 1.f, b) + sx::exp(a) + 1.f);
  check_close(y.data(), std::vector<double>(reference.begin(), reference.end()), 1e-6, "shared value");
  // Writing what a shared node reads, in a fuse: the statements run in order, as written.
  sx::tensor<float, 8, 8> c = a, expected_a = a * 2.f;
  const sx::tensor<float, 8, 8> expected_c = sx::exp(expected_a) + 1.f;
  sx::fuse(sx::out(a) = a * 2.f, sx::out(c) = sx::share(sx::exp(a) + 1.f));
  check_close(c.data(), std::vector<double>(expected_c.begin(), expected_c.end()), 1e-6, "fused with a share");
  check_close(a.data(), std::vector<double>(expected_a.begin(), expected_a.end()), 0, "fused output");
}

BOOST_AUTO_TEST_SUITE_END()
