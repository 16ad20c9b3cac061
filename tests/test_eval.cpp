// Evaluation: assignment and compound assignment, sx::fuse (one pass equals the statements in order),
// aliasing, dynamic shape errors (thrown before anything is written) and the no-allocation promise.
#include "support.hpp"

using namespace statix_test;

namespace {

struct adam_state {
  sx::tensor<float, sx::dyn> p, g, m, v;
  explicit adam_state(std::size_t n) : p(n), g(n), m(n), v(n) {
    fill_uniform(p, -1, 1, 1);
    fill_uniform(g, -1, 1, 2);
    fill_uniform(m, -0.1, 0.1, 3);
    fill_uniform(v, 0, 0.01, 4);
  }
};

constexpr float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, bc1 = 0.1f, bc2 = 0.001f;

void adam_fused(adam_state& s) {
  auto& [p, g, m, v] = s;
  sx::fuse(sx::out(m) = b1 * m + (1 - b1) * g, sx::out(v) = b2 * v + (1 - b2) * g * g,
           sx::out(p) -= lr * (m / bc1) / (sx::sqrt(v / bc2) + eps));
}

void adam_sequential(adam_state& s) {
  auto& [p, g, m, v] = s;
  m = b1 * m + (1 - b1) * g;
  v = b2 * v + (1 - b2) * g * g;
  p -= lr * (m / bc1) / (sx::sqrt(v / bc2) + eps);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(evaluation)

BOOST_AUTO_TEST_CASE(compound_assignment) {
  for (std::size_t n : tail_lengths()) {
    sx::tensor<double, sx::dyn> a(n), b(n);
    fill_uniform(a, 1, 2, 1);
    fill_uniform(b, 1, 2, 2);
    std::vector<double> ref(a.begin(), a.end());
    a += b;
    a *= b * 2;
    a -= 1;
    a /= b;
    for (std::size_t i = 0; i < n; ++i) ref[i] = ((ref[i] + b(i)) * (b(i) * 2) - 1) / b(i);
    check_close(a.data(), ref, tolerance<double>(4), "compound assignment");
  }
}

BOOST_AUTO_TEST_CASE(eval_returns_tensors) {
  sx::tensor<float, 3> a{1, 2, 3};
  auto t = sx::eval(a * 2);
  static_assert(std::is_same_v<decltype(t), sx::tensor<float, 3>>);
  auto [x, y] = sx::eval(a + 1, a > 1.5f);
  static_assert(std::is_same_v<decltype(y), sx::tensor<bool, 3>>);
  BOOST_TEST(t(2) == 6.f);
  BOOST_TEST(x(0) == 2.f);
  BOOST_TEST((!y(0) && y(1)));
}

namespace {
// An expression over a tensor that dies with this function: the expression must own it.
auto scaled_exp_of_temporary(const sx::tensor<double, sx::dyn, 3>& x) {
  return sx::exp(sx::eval(x * 2)) + 1;
}
}  // namespace

BOOST_AUTO_TEST_CASE(expressions_own_temporary_tensors) {
  // Nodes over memory they do not own are plain values: nothing for the compiler to construct or
  // destroy (the reason owning leaves are a node type of their own).
  sx::tensor<float, 3> a{1, 2, 3};
  static_assert(std::is_trivially_copyable_v<decltype(sx::exp(a * 2 + a) / sx::sum(a))>);
  static_assert(!std::is_trivially_copyable_v<decltype(sx::eval(a) + a)>);

  sx::tensor<double, sx::dyn, 3> x = random_tensor<double, sx::dyn, 3>(1, -1, 1, 5);
  const std::vector<double> before(x.begin(), x.end());
  auto e = scaled_exp_of_temporary(x);
  x = x * 3 + 5;  // the expression read its own copy, taken when it was built
  sx::tensor<double, sx::dyn, 3> y = e;
  std::vector<double> ref(before.size());
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = std::exp(before[i] * 2) + 1;
  check_close(y.data(), ref, tolerance<double>(), "expression over a temporary");

  // The same through a reshape (a view of the owned memory) and a product reading it.
  auto r = sx::reshape<15>(sx::eval(e));
  auto m = sx::matmul(sx::eval(e), sx::eval(sx::ones<double, 3, 1>()));
  sx::tensor<double, 15> flat = r;
  sx::tensor<double, sx::dyn, 1> rows = m;
  check_close(flat.data(), ref, tolerance<double>(), "reshape of a temporary");
  for (std::size_t i = 0; i < 5; ++i)
    BOOST_TEST(rows(i, 0) == ref[3 * i] + ref[3 * i + 1] + ref[3 * i + 2], boost::test_tools::tolerance(1e-12));

  // A temporary is a constant to autodiff: d/dw sum(w * 2x) = 2x.
  sx::tensor<double, 3> w{0.5, -1, 2}, c{1, 2, 3};
  sx::tensor<double, 3> g = sx::grad(sx::sum(w * sx::eval(c * 2) + w), w);
  for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(g(i) == 2 * c(i) + 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fuse)

BOOST_AUTO_TEST_CASE(equals_statements_in_order) {
  for (std::size_t n : tail_lengths()) {
    adam_state fused(n), sequential(n);
    for (int step = 0; step < 3; ++step) {
      adam_fused(fused);
      adam_sequential(sequential);
    }
    // The same operations on the same values: bitwise equal, including the outputs read by later
    // statements (m and v are read by the update of p).
    BOOST_TEST_REQUIRE(std::equal(fused.p.begin(), fused.p.end(), sequential.p.begin()));
    BOOST_TEST_REQUIRE(std::equal(fused.m.begin(), fused.m.end(), sequential.m.begin()));
    BOOST_TEST_REQUIRE(std::equal(fused.v.begin(), fused.v.end(), sequential.v.begin()));
  }
}

BOOST_AUTO_TEST_CASE(adam_against_double_reference) {
  const std::size_t n = 1031;
  adam_state s(n);
  std::vector<double> p(s.p.begin(), s.p.end()), g(s.g.begin(), s.g.end()), m(s.m.begin(), s.m.end()),
      v(s.v.begin(), s.v.end());
  adam_fused(s);
  for (std::size_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1 - double(b1)) * g[i];
    v[i] = b2 * v[i] + (1 - double(b2)) * g[i] * g[i];
    p[i] -= lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + eps);
  }
  check_close(s.m.data(), m, tolerance<float>(4), "m");
  check_close(s.v.data(), v, tolerance<float>(4), "v");
  check_close(s.p.data(), p, tolerance<float>(4), "p");
}

BOOST_AUTO_TEST_CASE(static_extents_and_broadcast_operands) {
  sx::tensor<float, 5, 33> x, y;
  fill_uniform(x, -1, 1, 5);
  sx::tensor<float, 33> bias;
  fill_uniform(bias, -1, 1, 6);
  sx::tensor<float, 5, 33> x0 = x;
  sx::fuse(sx::out(x) = x + bias, sx::out(y) = x * 2);
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t j = 0; j < 33; ++j) {
      BOOST_TEST_REQUIRE(x(i, j) == x0(i, j) + bias(j));
      BOOST_TEST_REQUIRE(y(i, j) == x(i, j) * 2);  // reads the new x
    }
}

BOOST_AUTO_TEST_CASE(mixed_dtypes_in_one_pass) {
  for (std::size_t n : {1u, 9u, 17u, 67u}) {
    sx::tensor<double, sx::dyn> a(n), b(n);
    sx::tensor<float, sx::dyn> f(n);
    sx::tensor<bool, sx::dyn> mask(n);
    fill_uniform(a, -1, 1, 7);
    sx::fuse(sx::out(b) = a * 3, sx::out(f) = sx::cast<float>(b) + 1, sx::out(mask) = b > 0);
    for (std::size_t i = 0; i < n; ++i) {
      BOOST_TEST_REQUIRE(b(i) == a(i) * 3);
      BOOST_TEST_REQUIRE(f(i) == static_cast<float>(b(i)) + 1);
      BOOST_TEST_REQUIRE(mask(i) == (b(i) > 0));
    }
  }
}

BOOST_AUTO_TEST_CASE(reading_an_output_at_other_positions_is_still_sequential) {
  // The second statement reads a[0] (through a one-element view broadcast over the loop): fused
  // naively it would see the old a[0] at some positions. It must see the new value everywhere.
  for (std::size_t n : {2u, 17u, 100u}) {
    sx::tensor<float, sx::dyn> a(n), b(n);
    fill_uniform(a, 1, 2, 8);
    fill_uniform(b, 1, 2, 9);
    const sx::tensor<float, sx::dyn> a0 = a, b0 = b;
    sx::tensor_view<float, 1> first(a.data());
    sx::fuse(sx::out(a) = a * 10, sx::out(b) = b + first);
    for (std::size_t i = 0; i < n; ++i) {
      BOOST_TEST_REQUIRE(a(i) == a0(i) * 10);
      BOOST_TEST_REQUIRE(b(i) == b0(i) + a(0));  // a(0) is the new a0 * 10, rounded as statix stores it
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(aliasing)

BOOST_AUTO_TEST_CASE(destination_read_at_same_positions) {
  for (std::size_t n : tail_lengths()) {
    sx::tensor<double, sx::dyn> a(n);
    fill_uniform(a, -2, 2, 10);
    std::vector<double> ref(a.begin(), a.end());
    a = a * a + a;
    for (double& r : ref) r = r * r + r;
    check_close(a.data(), ref, tolerance<double>(2), "a = a * a + a");  // 2 ulp: FMA contraction may differ
  }
}

BOOST_AUTO_TEST_CASE(overlapping_views_read_old_values) {
  for (std::size_t n : {2u, 16u, 17u, 67u, 1031u}) {
    std::vector<float> buffer(n);
    std::iota(buffer.begin(), buffer.end(), 1.f);
    const std::vector<float> old = buffer;
    sx::tensor_view<float, sx::dyn> head(buffer.data(), n - 1), tail(buffer.data() + 1, n - 1);
    tail = head * 2;  // shifted overlap: every read must see the value before the assignment
    BOOST_TEST_REQUIRE(buffer[0] == old[0]);
    for (std::size_t i = 1; i < n; ++i) BOOST_TEST_REQUIRE(buffer[i] == old[i - 1] * 2);
    head = tail + 0;  // the other direction
    for (std::size_t i = 0; i + 1 < n; ++i) BOOST_TEST_REQUIRE(buffer[i] == old[i] * 2);
  }
}

BOOST_AUTO_TEST_CASE(broadcast_read_of_the_destination) {
  // Each row of m gets its first row added: row 0 must be read before it is overwritten.
  sx::tensor<float, 4, 19> m;
  fill_uniform(m, -1, 1, 11);
  const sx::tensor<float, 4, 19> m0 = m;
  sx::tensor_view<float, 1, 19> first_row(m.data());
  m += first_row;
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 19; ++j) BOOST_TEST_REQUIRE(m(i, j) == m0(i, j) + m0(0, j));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(shape_errors)

BOOST_AUTO_TEST_CASE(dynamic_mismatch_names_op_and_shapes) {
  sx::tensor<float, sx::dyn, 4> a(3), b(5);
  expect_error<sx::shape_error>([&] { (void)(a + b); }, {"add", "(3, 4)", "(5, 4)"});
  static_assert(std::is_base_of_v<std::invalid_argument, sx::shape_error>);
  BOOST_CHECK_THROW(sx::exp(a) * sx::sqrt(b), sx::shape_error);
  BOOST_CHECK_THROW(sx::where(a > 0, a, b), sx::shape_error);
}

BOOST_AUTO_TEST_CASE(assignment_mismatch_writes_nothing) {
  sx::tensor<float, sx::dyn, 4> dst(3), src(5);
  dst.fill(7);
  fill_uniform(src, -1, 1, 12);
  BOOST_CHECK_THROW(dst = src * 2, sx::shape_error);
  BOOST_CHECK_THROW(dst += src, sx::shape_error);
  for (float v : dst) BOOST_TEST_REQUIRE(v == 7.f);
  sx::tensor_view<float, sx::dyn, 4> view(dst.data(), 3);
  BOOST_CHECK_THROW(view = src, sx::shape_error);
  for (float v : dst) BOOST_TEST_REQUIRE(v == 7.f);
}

BOOST_AUTO_TEST_CASE(fuse_mismatch_writes_nothing) {
  sx::tensor<float, sx::dyn> a(8), b(8), c(9);
  a.fill(1);
  b.fill(2);
  c.fill(3);
  // The first statement is valid; the second's output has another shape; nothing may be written.
  BOOST_CHECK_THROW(sx::fuse(sx::out(a) = b * 5, sx::out(c) = c + 1), sx::shape_error);
  // A statement whose value does not fit its output throws while the statements are built.
  BOOST_CHECK_THROW(sx::fuse(sx::out(a) = b * 5, sx::out(b) = c * 2), sx::shape_error);
  for (float v : a) BOOST_TEST_REQUIRE(v == 1.f);
  for (float v : b) BOOST_TEST_REQUIRE(v == 2.f);
  for (float v : c) BOOST_TEST_REQUIRE(v == 3.f);
  expect_error<sx::shape_error>([&] { sx::fuse(sx::out(a) = b * 5, sx::out(c) = c + 1); }, {"fuse", "(8)", "(9)"});
}

BOOST_AUTO_TEST_CASE(construction_from_mismatched_expression) {
  sx::tensor<float, sx::dyn, 4> a(3);
  using fixed = sx::tensor<float, 5, 4>;
  BOOST_CHECK_THROW((void)fixed(a), sx::shape_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(allocation)

BOOST_AUTO_TEST_CASE(evaluation_does_not_allocate) {
  adam_state s(1031);
  sx::tensor<float, 7, 33> x, y;
  sx::tensor<float, 33> bias;
  sx::tensor<double, sx::dyn> d(100);
  sx::tensor<bool, sx::dyn> mask(100);
  const long before = allocation_count();
  adam_fused(s);
  adam_sequential(s);
  y = sx::tanh(x + bias) * 2;  // broadcast: row loop
  y += sx::where(x > 0, x, bias);
  d = sx::cast<double>(sx::cast<float>(d) * 2);  // lane re-packing
  mask = d > 1;
  s.p = sx::randn<float, sx::dyn>(sx::random::key(3), 1031);
  BOOST_TEST(allocation_count() - before == 0);
  // The counter does see statix's allocations: a new tensor is one.
  const auto fresh = sx::eval(s.p * 2);
  BOOST_TEST(allocation_count() - before == 1);
  BOOST_TEST(fresh.size() == 1031u);
}

BOOST_AUTO_TEST_SUITE_END()
