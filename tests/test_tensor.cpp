// Tensors and views (construction, access, value semantics), generators, and the dtype rules.
#include <numeric>
#include <type_traits>

#include "support.hpp"

using namespace statix_test;

BOOST_AUTO_TEST_SUITE(tensor)

BOOST_AUTO_TEST_CASE(construction_and_access) {
  sx::tensor<float, 2, 3> a{{1, 2, 3}, {4, 5, 6}};
  static_assert(decltype(a)::rank == 2);
  BOOST_TEST(a.shape() == (sx::shape_t<2>{2, 3}));
  BOOST_TEST(a.extent(1) == 3u);
  BOOST_TEST(a.size() == 6u);
  BOOST_TEST(a(1, 2) == 6.f);
  a(0, 1) = 9;
  BOOST_TEST(a.data()[1] == 9.f);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(a.data()) % 64 == 0u);
  BOOST_TEST(std::accumulate(a.begin(), a.end(), 0.f) == 1 + 9 + 3 + 4 + 5 + 6.f);

  sx::tensor<double, 4> zeros;
  for (double v : zeros) BOOST_TEST(v == 0.0);

  sx::tensor<float, sx::dyn, 784> x(3);
  BOOST_TEST(x.shape() == (sx::shape_t<2>{3, 784}));
  sx::tensor<float, sx::dyn, 784> empty;
  BOOST_TEST(empty.size() == 0u);

  sx::tensor<float, sx::dyn, sx::dyn> d{{1, 2}, {3, 4}, {5, 6}};
  BOOST_TEST(d.shape() == (sx::shape_t<2>{3, 2}));
  BOOST_TEST(d(2, 1) == 6.f);

  sx::tensor<float> s(2.5f);
  BOOST_TEST(s.item() == 2.5f);
  sx::tensor<std::int32_t, 3> labels{7, 8, 9};
  BOOST_TEST(labels(2) == 9);
  sx::tensor<bool, 2> mask{true, false};
  BOOST_TEST(mask(0));
}

BOOST_AUTO_TEST_CASE(wrong_initializer_counts_throw) {
  using m23 = sx::tensor<float, 2, 3>;
  BOOST_CHECK_THROW((m23{{1, 2, 3}, {4, 5}}), sx::shape_error);
  BOOST_CHECK_THROW((m23{{1, 2, 3}}), sx::shape_error);
  BOOST_CHECK_THROW((m23{{1, 2, 3, 4}, {4, 5, 6, 7}}), sx::shape_error);
  BOOST_CHECK_THROW((sx::tensor<float, 3>{1, 2}), sx::shape_error);
  BOOST_CHECK_THROW((sx::tensor<float, sx::dyn, sx::dyn>{{1, 2}, {3}}), sx::shape_error);
}

BOOST_AUTO_TEST_CASE(value_semantics) {
  sx::tensor<float, sx::dyn> a{1, 2, 3};
  sx::tensor<float, sx::dyn> b = a;
  b(0) = 10;
  BOOST_TEST(a(0) == 1.f);
  sx::tensor<float, sx::dyn> c{5, 6};
  c = a;  // copy assignment takes the other's shape
  BOOST_TEST(c.size() == 3u);
  BOOST_TEST(c(2) == 3.f);
  sx::tensor<float, sx::dyn> d = std::move(c);
  BOOST_TEST(d.size() == 3u);
  BOOST_TEST(c.size() == 0u);
  d.resize(5);
  BOOST_TEST(d.size() == 5u);
  BOOST_TEST(d(4) == 0.f);
  d.fill(2);
  BOOST_TEST(d(3) == 2.f);
}

BOOST_AUTO_TEST_CASE(views) {
  std::vector<float> buffer(12);
  std::iota(buffer.begin(), buffer.end(), 0.f);
  sx::tensor_view<float, sx::dyn, 3> v(buffer.data(), 4);
  BOOST_TEST(v(2, 1) == 7.f);
  sx::tensor<float, sx::dyn, 3> doubled = v * 2;
  BOOST_TEST(doubled(3, 2) == 22.f);
  v = v + 1;  // a view is an assignment target
  BOOST_TEST(buffer[11] == 12.f);

  sx::tensor_view<const float, 12> cv(buffer.data());
  sx::tensor<float, 12> copy = cv;
  BOOST_TEST(copy(0) == 1.f);

  sx::tensor<float, 4, 3> t;
  sx::tensor_view<float, 4, 3> tv = t;
  tv = sx::full<float, 4, 3>(7.f);
  BOOST_TEST(t(3, 2) == 7.f);
}

BOOST_AUTO_TEST_CASE(row_slices_are_views) {
  sx::tensor<float, sx::dyn, 5> data(10);
  std::iota(data.begin(), data.end(), 0.f);
  auto batch = data.rows(2, 5);
  static_assert(std::is_same_v<decltype(batch), sx::tensor_view<float, sx::dyn, 5>>);
  BOOST_TEST(batch.extent(0) == 3u);
  BOOST_TEST(batch(0, 0) == 10.f);
  BOOST_TEST(batch.data() == data.data() + 10);
  batch = batch * 2 + 1;
  BOOST_TEST(data(1, 4) == 9.f);  // before the view
  BOOST_TEST(data(2, 0) == 21.f);
  BOOST_TEST(data(4, 4) == 49.f);
  BOOST_TEST(data(5, 0) == 25.f);  // after it
  BOOST_CHECK_THROW(data.rows(8, 11), sx::shape_error);
  const auto& cdata = data;
  auto last = cdata.rows(9, 10);
  static_assert(std::is_same_v<decltype(last), sx::tensor_view<const float, sx::dyn, 5>>);
  BOOST_TEST(last(0, 4) == 49.f);
}

BOOST_AUTO_TEST_CASE(temporaries_are_owned_by_expressions) {
  auto make = [] { return sx::tensor<float, 64>(sx::arange<float, 64>()); };
  auto e = sx::sqrt(make() + 1.f) + sx::eval(sx::ones<float, 64>());  // both temporaries die here
  sx::tensor<float, 64> r = e;
  for (std::size_t i = 0; i < 64; ++i) BOOST_TEST(r(i) == std::sqrt(float(i) + 1.f) + 1.f);
}

BOOST_AUTO_TEST_CASE(large_blocks_are_reused) {
  // A freed block of 64 KiB or more serves the next allocation of the same size (no page faults on
  // every training step); small blocks and other sizes are the allocator's. Off under ASan.
  const float* first = nullptr;
  {
    sx::tensor<float, sx::dyn> big((1 << 16) + 123);  // a size no other test uses
    big.fill(3);
    first = big.data();
  }
  const float* cached = nullptr;
  {
    sx::tensor<float, sx::dyn> again((1 << 16) + 123);
    BOOST_TEST(again(12345) == 0.f);  // a reused block is zero-filled like a fresh one
    if (sx::detail::block_cache::enabled) BOOST_TEST(again.data() == first);
    cached = again.data();
  }
  if (sx::detail::block_cache::enabled) {
    // The cache holds the freed block, so the allocator cannot hand it out: a block of another size
    // at that address would be the cache serving the wrong size.
    sx::tensor<float, sx::dyn> other(1 << 17);
    BOOST_TEST(other.data() != cached);
    sx::tensor<float, sx::dyn> same((1 << 16) + 123);
    BOOST_TEST(same.data() == cached);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(generators)

BOOST_AUTO_TEST_CASE(constants_and_arange) {
  sx::tensor<float, 2, 3> z = sx::zeros<float, 2, 3>();
  sx::tensor<double, sx::dyn, 3> o = sx::ones<double, sx::dyn, 3>(4);
  sx::tensor<std::int32_t, 5> f = sx::full<std::int32_t, 5>(7);
  BOOST_TEST(z(1, 2) == 0.f);
  BOOST_TEST(o.extent(0) == 4u);
  BOOST_TEST(o(3, 2) == 1.0);
  BOOST_TEST(f(4) == 7);
  for (std::size_t n : tail_lengths()) {
    sx::tensor<double, sx::dyn> r = sx::arange<double, sx::dyn>(n) * 0.5 + 1;
    for (std::size_t i = 0; i < n; ++i) BOOST_TEST_REQUIRE(r(i) == 1 + 0.5 * static_cast<double>(i));
  }
  // arange broadcast over rows: each row reads indices 0..N-1.
  sx::tensor<float, 3, 37> rows = sx::arange<float, 37>() + sx::zeros<float, 3, 1>();
  BOOST_TEST(rows(2, 36) == 36.f);
}

BOOST_AUTO_TEST_CASE(random_values_depend_only_on_key_and_index) {
  const sx::random::key key(42);
  // Element i is the same whatever the length (tails fall elsewhere) and the evaluation path.
  sx::tensor<float, sx::dyn> long_run = sx::uniform<float, sx::dyn>(key, 1000);
  for (std::size_t n : {1u, 7u, 16u, 17u, 67u}) {
    sx::tensor<float, sx::dyn> short_run = sx::uniform<float, sx::dyn>(key, n);
    for (std::size_t i = 0; i < n; ++i) BOOST_TEST_REQUIRE(short_run(i) == long_run(i));
  }
  sx::tensor<float, 4, 250> as_matrix = sx::uniform<float, 4, 250>(key);
  BOOST_TEST(std::equal(as_matrix.begin(), as_matrix.end(), long_run.begin()));
  // Row mode (broadcast against a column) reads the same indices.
  sx::tensor<float, 4, 250> broadcast = sx::uniform<float, 250>(key) + sx::zeros<float, 4, 1>();
  for (std::size_t j = 0; j < 250; ++j) BOOST_TEST_REQUIRE(broadcast(3, j) == long_run(j));
  // Different keys, different streams.
  sx::tensor<float, 8> other = sx::uniform<float, 8>(key.fold_in(1));
  BOOST_TEST(!std::equal(other.begin(), other.end(), long_run.begin()));
}

BOOST_AUTO_TEST_CASE(random_distributions) {
  constexpr std::size_t n = 200000;
  sx::tensor<double, sx::dyn> u = sx::uniform<double, sx::dyn>(sx::random::key(7), n);
  sx::tensor<double, sx::dyn> g = sx::randn<double, sx::dyn>(sx::random::key(7), n);
  double su = 0, sg = 0, sg2 = 0, lo = 1, hi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    su += u(i);
    lo = std::min(lo, u(i));
    hi = std::max(hi, u(i));
    sg += g(i);
    sg2 += g(i) * g(i);
  }
  BOOST_TEST(lo >= 0.0);
  BOOST_TEST(hi < 1.0);
  BOOST_TEST(std::abs(su / n - 0.5) < 0.005);
  BOOST_TEST(std::abs(sg / n) < 0.01);
  BOOST_TEST(std::abs(sg2 / n - 1) < 0.02);
  // float randn equals double randn rounded: one value per index, whatever the dtype's lane count.
  sx::tensor<float, 100> gf = sx::randn<float, 100>(sx::random::key(7));
  for (std::size_t i = 0; i < 100; ++i) BOOST_TEST_REQUIRE(gf(i) == static_cast<float>(g(i)));
}

BOOST_AUTO_TEST_CASE(philox_known_answer) {
  // Random123's known-answer test for philox4x32-10 with counter and key all ones bits.
  const auto r = sx::random::philox({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu);
  BOOST_TEST(r[0] == 0x408f276du);
  BOOST_TEST(r[1] == 0x41c83b0eu);
  BOOST_TEST(r[2] == 0xa20bc7c6u);
  BOOST_TEST(r[3] == 0x6d5451fdu);
  const auto z = sx::random::philox({0, 0, 0, 0}, 0, 0);
  BOOST_TEST(z[0] == 0x6627e8d5u);
  BOOST_TEST(z[1] == 0xe169c58du);
  BOOST_TEST(z[2] == 0xbc57ac4cu);
  BOOST_TEST(z[3] == 0x9b00dbd8u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dtypes)

BOOST_AUTO_TEST_CASE(int32_arithmetic_and_comparisons) {
  for (std::size_t n : tail_lengths()) {
    sx::tensor<std::int32_t, sx::dyn> a(n), b(n);
    for (std::size_t i = 0; i < n; ++i) {
      a(i) = static_cast<std::int32_t>(i * 7 % 23) - 11;
      b(i) = static_cast<std::int32_t>(i % 5) + 1;
    }
    sx::tensor<std::int32_t, sx::dyn> c = (a + b) * 3 - a / b + sx::abs(a) + sx::maximum(a, b) - sx::relu(-a);
    sx::tensor<bool, sx::dyn> m = a < b;
    for (std::size_t i = 0; i < n; ++i) {
      const std::int32_t x = a(i), y = b(i);
      BOOST_TEST_REQUIRE(c(i) == (x + y) * 3 - x / y + std::abs(x) + std::max(x, y) - std::max(-x, 0));
      BOOST_TEST_REQUIRE(m(i) == (x < y));
    }
  }
}

BOOST_AUTO_TEST_CASE(masks_where_and_logic) {
  for (std::size_t n : tail_lengths()) {
    sx::tensor<double, sx::dyn> x(n);
    fill_uniform(x, -1, 1, static_cast<unsigned>(n));
    sx::tensor<bool, sx::dyn> pos = x > 0;                  // mask computed on double lanes, stored as bool
    sx::tensor<float, sx::dyn> xf = sx::cast<float>(x);     // double -> float (different lane counts)
    sx::tensor<float, sx::dyn> r = sx::where(pos, xf, -1);  // bool tensor as a float mask
    sx::tensor<bool, sx::dyn> band = ((x > -0.5) && !(x > 0.5)) || (x == 1.0);
    sx::tensor<float, sx::dyn> from_mask = sx::cast<float>(pos);
    sx::tensor<std::int32_t, sx::dyn> truncated = sx::cast<std::int32_t>(xf * 10);
    sx::tensor<double, sx::dyn> back = sx::cast<double>(xf);  // float -> double
    sx::tensor<bool, sx::dyn> nonzero = sx::cast<bool>(truncated);
    sx::tensor<bool, sx::dyn> mixed = sx::where(xf > 0.25f, pos, !pos);  // masks as where's values
    for (std::size_t i = 0; i < n; ++i) {
      const double v = x(i);
      const float vf = static_cast<float>(v);
      BOOST_TEST_REQUIRE(pos(i) == (v > 0));
      BOOST_TEST_REQUIRE(xf(i) == vf);
      BOOST_TEST_REQUIRE(r(i) == (v > 0 ? vf : -1.f));
      BOOST_TEST_REQUIRE(band(i) == ((v > -0.5 && !(v > 0.5)) || v == 1.0));
      BOOST_TEST_REQUIRE(from_mask(i) == (v > 0 ? 1.f : 0.f));
      BOOST_TEST_REQUIRE(truncated(i) == static_cast<std::int32_t>(vf * 10));
      BOOST_TEST_REQUIRE(back(i) == static_cast<double>(vf));
      BOOST_TEST_REQUIRE(nonzero(i) == (truncated(i) != 0));
      BOOST_TEST_REQUIRE(mixed(i) == (vf > 0.25f ? v > 0 : !(v > 0)));
    }
  }
}

BOOST_AUTO_TEST_CASE(scalars_take_the_expression_dtype) {
  sx::tensor<float, 3> a{1, 2, 3};
  using E = decltype(a * 0.5 + 1);  // a double literal and an int literal with a float tensor
  static_assert(std::is_same_v<E::value_type, float>);
  using I = decltype(sx::tensor<std::int32_t, 2>{} * 2);
  static_assert(std::is_same_v<I::value_type, std::int32_t>);
  using M = decltype(a > 1);
  static_assert(std::is_same_v<M::value_type, bool>);
  sx::tensor<float, 3> b = 2 * a + 0.5;
  BOOST_TEST(b(2) == 6.5f);
}

BOOST_AUTO_TEST_SUITE_END()
