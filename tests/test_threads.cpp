// The thread pool (include/statix/parallel.hpp) and the kernels that use it: results bitwise the same
// with 1 and 2 threads, loops that read what they write stay correct, nesting and exceptions.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include <statix/optim.hpp>

#include "dsl_support.hpp"

using statix_test::expect_error;
using statix_test::fill_uniform;

namespace {

/// Sets the thread count for one scope.
struct threads_for_scope {
  std::size_t before = sx::num_threads();
  explicit threads_for_scope(std::size_t n) { sx::set_num_threads(n); }
  ~threads_for_scope() { sx::set_num_threads(before); }
};

template <class T>
bool bitwise_equal(const T* a, const T* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(T)) == 0;
}

std::size_t regions() {
  return sx::detail::thread_pool::instance().regions();
}

/// f() evaluated with 1 and with 2 threads: the two results. With 2 threads, f must have split its
/// work (a parallel region ran) when `splits`; with 1, it must not have.
template <class F>
auto with_one_and_two_threads(F f, bool splits = true) {
  threads_for_scope one(1);
  const std::size_t before = regions();
  auto serial = f();
  BOOST_TEST(regions() == before, "one thread ran a parallel region");
  sx::set_num_threads(2);
  auto parallel = f();
  BOOST_TEST((regions() > before) == splits, (splits ? "two threads ran no parallel region" : "a region ran"));
  return std::pair{std::move(serial), std::move(parallel)};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(threads)

BOOST_AUTO_TEST_CASE(thread_count_from_the_environment_or_the_affinity_mask) {
  const std::size_t cores = sx::detail::available_cores();
  BOOST_TEST(cores >= 1u);
  const char* saved = std::getenv("STATIX_NUM_THREADS");
  const std::string kept = saved ? saved : "";
  ::setenv("STATIX_NUM_THREADS", "3", 1);
  BOOST_TEST(sx::detail::default_thread_count() == 3u);
  for (const char* bad : {"0", "-2", "two", "4x", ""}) {
    ::setenv("STATIX_NUM_THREADS", bad, 1);
    BOOST_TEST(sx::detail::default_thread_count() == cores, "STATIX_NUM_THREADS=" << bad);
  }
  ::unsetenv("STATIX_NUM_THREADS");
  BOOST_TEST(sx::detail::default_thread_count() == cores);
  if (saved) ::setenv("STATIX_NUM_THREADS", kept.c_str(), 1);

  threads_for_scope scope(5);
  BOOST_TEST(sx::num_threads() == 5u);
  sx::set_num_threads(0);
  BOOST_TEST(sx::num_threads() == 1u);
}

BOOST_AUTO_TEST_CASE(ranges_cover_everything_once_on_several_threads) {
  threads_for_scope two(2);
  for (std::size_t n : {0u, 1u, 63u, 64u, 65u, 1000u, 4097u}) {
    std::vector<int> seen(n, 0);
    std::mutex m;
    std::set<std::thread::id> ids;
    std::atomic<bool> aligned = true;  // (Boost.Test's checks are not for other threads)
    sx::detail::parallel_ranges(n, 64, 128, [&](std::size_t first, std::size_t last) {
      if (first % 64 != 0 || first >= last || last > n) aligned = false;
      for (std::size_t i = first; i < last; ++i) ++seen[i];
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // so that the other thread takes some
      std::lock_guard lock(m);
      ids.insert(std::this_thread::get_id());
    });
    BOOST_TEST(aligned.load());
    for (std::size_t i = 0; i < n; ++i) BOOST_TEST_REQUIRE(seen[i] == 1);
    if (n >= 4 * 128) BOOST_TEST(ids.size() == 2u, "n = " << n << ": ran on " << ids.size() << " thread(s)");
  }
}

BOOST_AUTO_TEST_CASE(nested_regions_run_inline_and_exceptions_reach_the_caller) {
  threads_for_scope two(2);
  std::vector<int> seen(64 * 64, 0);
  sx::detail::parallel_ranges(64, 1, 1, [&](std::size_t first, std::size_t last) {
    for (std::size_t row = first; row < last; ++row)  // a region inside a region: on this thread
      sx::detail::parallel_ranges(64, 1, 1, [&](std::size_t a, std::size_t b) {
        for (std::size_t j = a; j < b; ++j) ++seen[row * 64 + j];
      });
  });
  for (int s : seen) BOOST_TEST_REQUIRE(s == 1);
  expect_error<std::runtime_error>(
      [] {
        sx::detail::parallel_ranges(1000, 1, 10, [](std::size_t first, std::size_t) {
          if (first == 500) throw std::runtime_error("chunk 50 failed");
        });
      },
      {"chunk 50 failed"});
  std::atomic<std::size_t> sum = 0;  // the pool still works after a failed region
  sx::detail::parallel_ranges(1000, 1, 10, [&](std::size_t first, std::size_t last) { sum += last - first; });
  BOOST_TEST(sum.load() == 1000u);
}

BOOST_AUTO_TEST_CASE(fused_loops_are_bitwise_the_same_on_two_threads) {
  // Above the grain: flat loops (static and dyn), a broadcasting row loop, and a fused Adam step.
  constexpr std::size_t rows = 300, cols = 1031;  // 309,300 elements: several chunks and a tail
  sx::tensor<float, rows, cols> a, b;
  sx::tensor<float, cols> bias;
  fill_uniform(a, -2, 2, 1);
  fill_uniform(b, -2, 2, 2);
  fill_uniform(bias, -1, 1, 3);
  sx::tensor<double, sx::dyn> x(rows * cols + 17), y(rows * cols + 17);
  fill_uniform(x, -2, 2, 4);
  fill_uniform(y, 0.1, 3, 5);

  const auto [s1, s2] = with_one_and_two_threads([&] { return sx::eval(sx::tanh(a) * b + sx::exp(-a * a)); });
  BOOST_TEST(bitwise_equal(s1.data(), s2.data(), s1.size()));
  for (std::size_t i = 0; i < s1.size(); i += 997) {
    const double av = a.data()[i], bv = b.data()[i];
    BOOST_TEST_REQUIRE(std::abs(s2.data()[i] - (std::tanh(av) * bv + std::exp(-av * av))) <= 1e-5);
  }
  const auto [r1, r2] = with_one_and_two_threads([&] { return sx::eval(sx::relu(a + bias) * 0.5f); });
  BOOST_TEST(bitwise_equal(r1.data(), r2.data(), r1.size()));
  for (std::size_t i = 0; i < rows; i += 37)
    for (std::size_t j = 0; j < cols; j += 13) BOOST_TEST_REQUIRE(r2(i, j) == std::max(0.f, a(i, j) + bias(j)) * 0.5f);
  const auto [d1, d2] = with_one_and_two_threads([&] { return sx::eval(sx::log(y) * x - sx::sqrt(y)); });
  BOOST_TEST(bitwise_equal(d1.data(), d2.data(), d1.size()));
  BOOST_TEST(d2(x.size() - 1) == std::log(y(x.size() - 1)) * x(x.size() - 1) - std::sqrt(y(x.size() - 1)),
             boost::test_tools::tolerance(1e-14));

  auto adam = [&] {
    sx::tensor<float, rows, cols> p = a, m = b * 0.1f, v = b * b;
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    sx::fuse(sx::out(m) = b1 * m + (1 - b1) * b, sx::out(v) = b2 * v + (1 - b2) * b * b,
             sx::out(p) -= lr * (m / (1 - b1)) / (sx::sqrt(v / (1 - b2)) + eps));
    return std::tuple{std::move(p), std::move(m), std::move(v)};
  };
  const auto [adam1, adam2] = with_one_and_two_threads(adam);
  BOOST_TEST(bitwise_equal(std::get<0>(adam1).data(), std::get<0>(adam2).data(), rows * cols));
  BOOST_TEST(bitwise_equal(std::get<1>(adam1).data(), std::get<1>(adam2).data(), rows * cols));
  BOOST_TEST(bitwise_equal(std::get<2>(adam1).data(), std::get<2>(adam2).data(), rows * cols));
}

BOOST_AUTO_TEST_CASE(a_loop_reading_what_it_writes_elsewhere_stays_correct) {
  // Row 0 of m is read by every row (broadcast) while the loop overwrites it: such a loop reads a
  // copy, so it must not be split between threads.
  threads_for_scope two(2);
  constexpr std::size_t rows = 256, cols = 1024;
  sx::tensor<float, rows, cols> m;
  fill_uniform(m, -1, 1, 6);
  const sx::tensor<float, rows, cols> m0 = m;
  sx::tensor_view<float, 1, cols> first_row(m.data());
  m += first_row;
  for (std::size_t i = 0; i < rows; i += 5)
    for (std::size_t j = 0; j < cols; j += 7) BOOST_TEST_REQUIRE(m(i, j) == m0(i, j) + m0(0, j));
  // A shifted overlap of a long buffer: every read sees the value before the assignment.
  const std::size_t n = 200003;
  std::vector<float> buffer(n);
  for (std::size_t i = 0; i < n; ++i) buffer[i] = float(i % 1000);
  const std::vector<float> old = buffer;
  sx::tensor_view<float, sx::dyn> head(buffer.data(), n - 1), tail(buffer.data() + 1, n - 1);
  tail = head * 2;
  for (std::size_t i = 1; i < n; ++i) BOOST_TEST_REQUIRE(buffer[i] == old[i - 1] * 2);
}

BOOST_AUTO_TEST_CASE(products_are_bitwise_the_same_on_two_threads) {
  // Split by rows (many rows), by columns (few rows, many columns), below the threshold, transposed.
  struct case_shape {
    std::size_t m, k, n;
  };
  for (const case_shape shape : {case_shape{300, 70, 257}, case_shape{12, 300, 1000}, case_shape{7, 100, 5000},
                                 case_shape{1024, 129, 64}, case_shape{20, 20, 20}, case_shape{129, 784, 256}}) {
    const std::size_t m = shape.m, k = shape.k, n = shape.n;  // (clang 14 captures no structured bindings)
    const bool splits = 2.0 * double(m * k * n) >= 4e6;       // gemm::product::parallel_flops
    sx::tensor<float, sx::dyn, sx::dyn> a(m, k), b(k, n), bt(n, k);
    fill_uniform(a, -1, 1, unsigned(m + k));
    fill_uniform(b, -1, 1, unsigned(k + n));
    fill_uniform(bt, -1, 1, unsigned(n));
    const auto c = with_one_and_two_threads([&] { return sx::eval(sx::matmul(a, b)); }, splits);
    const auto &c1 = c.first, &c2 = c.second;
    BOOST_TEST(bitwise_equal(c1.data(), c2.data(), c1.size()), m << " x " << k << " x " << n);
    const auto t = with_one_and_two_threads([&] { return sx::eval(sx::matmul(a, sx::transpose(bt))); }, splits);
    const auto &t1 = t.first, &t2 = t.second;
    BOOST_TEST(bitwise_equal(t1.data(), t2.data(), t1.size()), m << " x " << k << " x " << n << ", B transposed");
    auto check = [&](std::size_t i, std::size_t j) {
      double ref = 0, ref_t = 0;
      for (std::size_t q = 0; q < k; ++q) {
        ref += double(a(i, q)) * b(q, j);
        ref_t += double(a(i, q)) * bt(j, q);
      }
      BOOST_TEST_REQUIRE(std::abs(c2(i, j) - ref) <= 1e-5 * double(k));
      BOOST_TEST_REQUIRE(std::abs(t2(i, j) - ref_t) <= 1e-5 * double(k));
    };
    for (std::size_t i = 0; i < m; i += 1 + m / 5)
      for (std::size_t j = 0; j < n; j += 1 + n / 7) check(i, j);
    check(m - 1, n - 1);  // the last row and column: the ends of the last part of a split
  }
}

BOOST_AUTO_TEST_CASE(training_steps_are_bitwise_the_same_on_two_threads) {
  // The main job's MLP and batch: its products and its Adam steps split between threads.
  namespace nn = sx::nn;
  using mlp = nn::sequential<nn::linear<784, 128>, nn::relu, nn::linear<128, 10>>;
  sx::tensor<float, 128, 784> x;
  fill_uniform(x, 0, 1, 7);
  sx::tensor<std::int32_t, 128> labels;
  for (std::size_t i = 0; i < 128; ++i) labels(i) = std::int32_t(i * 7 % 10);
  auto train = [&] {
    mlp model(sx::random::key{42});
    sx::optim::adam optimizer(model.parameters(), {.lr = 1e-3});
    for (int step = 0; step < 5; ++step) {
      auto [loss, grads] = nn::value_and_gradients(nn::cross_entropy(model(x), labels), model);
      optimizer.step(grads);
    }
    return std::tuple{sx::eval(model.layer<0>().weight), sx::eval(model.layer<0>().bias),
                      sx::eval(model.layer<2>().weight), sx::eval(model.layer<2>().bias)};
  };
  const auto trained = with_one_and_two_threads(train);
  const auto &one = trained.first, &two = trained.second;
  BOOST_TEST(bitwise_equal(std::get<0>(one).data(), std::get<0>(two).data(), 128 * 784));
  BOOST_TEST(bitwise_equal(std::get<1>(one).data(), std::get<1>(two).data(), 128));
  BOOST_TEST(bitwise_equal(std::get<2>(one).data(), std::get<2>(two).data(), 10 * 128));
  BOOST_TEST(bitwise_equal(std::get<3>(one).data(), std::get<3>(two).data(), 10));
  BOOST_TEST(!bitwise_equal(std::get<0>(one).data(), mlp(sx::random::key{42}).layer<0>().weight.data(), 128 * 784));
}

BOOST_AUTO_TEST_SUITE_END()
