// dsl/: optimizers against double-precision references of PyTorch's formulas over 100 steps (one
// pass per parameter, counted), IDX files (valid and corrupt), the batch loader.
#include "dsl_support.hpp"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <statix/io.hpp>
#include <statix/nn.hpp>
#include <statix/optim.hpp>

using namespace statix_test;
namespace nn = statix::nn;

namespace {

/// PyTorch's documented update formulas, in double, for one parameter vector.
struct reference_optimizer {
  std::string kind;  // sgd, adam, adamw
  sx::optim::sgd_options sgd;
  sx::optim::adam_options adam;
  std::vector<double> buf, m, v, v_max;
  std::size_t t = 0;

  static reference_optimizer sgd_with(const sx::optim::sgd_options& o) {
    reference_optimizer r;
    r.kind = "sgd";
    r.sgd = o;
    return r;
  }
  static reference_optimizer adam_with(const std::string& kind, const sx::optim::adam_options& o) {
    reference_optimizer r;
    r.kind = kind;
    r.adam = o;
    return r;
  }

  void step(std::vector<double>& p, const std::vector<double>& grad) {
    const std::size_t n = p.size();
    if (buf.empty()) buf = m = v = v_max = std::vector<double>(n, 0.0);
    ++t;
    for (std::size_t i = 0; i < n; ++i) {
      double g = grad[i];
      if (kind == "sgd") {
        g += sgd.weight_decay * p[i];
        if (sgd.momentum != 0) {
          buf[i] = t == 1 ? g : sgd.momentum * buf[i] + (1 - sgd.dampening) * g;
          g = sgd.nesterov ? g + sgd.momentum * buf[i] : buf[i];
        }
        p[i] -= sgd.lr * g;
        continue;
      }
      if (kind == "adamw")
        p[i] *= 1 - adam.lr * adam.weight_decay;
      else
        g += adam.weight_decay * p[i];
      m[i] = adam.beta1 * m[i] + (1 - adam.beta1) * g;
      v[i] = adam.beta2 * v[i] + (1 - adam.beta2) * g * g;
      const double mhat = m[i] / (1 - std::pow(adam.beta1, double(t)));
      v_max[i] = std::max(v_max[i], v[i]);
      const double vhat = (adam.amsgrad ? v_max[i] : v[i]) / (1 - std::pow(adam.beta2, double(t)));
      p[i] -= adam.lr * mhat / (std::sqrt(vhat) + adam.eps);
    }
  }
};

/// 100 steps of `opt` on two float parameters (a matrix and a vector with a dyn extent) with random
/// gradients, against the double reference; agreement to 1e-5 relative.
template <class MakeOptimizer>
void check_optimizer(const std::string& what, reference_optimizer ref, MakeOptimizer make) {
  sx::tensor<float, 7, 19> w;
  sx::tensor<float, sx::dyn> b(35);
  fill_uniform(w, -1, 1, 21);
  fill_uniform(b, -1, 1, 22);
  std::vector<double> rw(w.begin(), w.end()), rb(b.begin(), b.end());
  const std::vector<double> initial = rw;
  reference_optimizer ref_b = ref;
  auto opt = make(std::tie(w, b));
  sx::tensor<float, 7, 19> gw;
  sx::tensor<float, sx::dyn> gb(35);
  for (unsigned step = 0; step < 100; ++step) {
    fill_uniform(gw, -1, 1, 100 + step);
    fill_uniform(gb, -1, 1, 300 + step);
    opt.step(std::tie(gw, gb));
    ref.step(rw, std::vector<double>(gw.begin(), gw.end()));
    ref_b.step(rb, std::vector<double>(gb.begin(), gb.end()));
  }
  BOOST_TEST(opt.steps() == 100u);
  double worst = 0;
  for (std::size_t i = 0; i < rw.size(); ++i)
    worst = std::max(worst, std::abs(w.data()[i] - rw[i]) / std::max(1.0, std::abs(rw[i])));
  for (std::size_t i = 0; i < rb.size(); ++i)
    worst = std::max(worst, std::abs(b.data()[i] - rb[i]) / std::max(1.0, std::abs(rb[i])));
  BOOST_TEST(worst <= 1e-5, what << ": worst relative difference " << worst);
  // The parameters moved far beyond the tolerance: an optimizer that does nothing fails.
  double moved = 0;
  for (std::size_t i = 0; i < rw.size(); ++i) moved = std::max(moved, std::abs(double(w.data()[i]) - initial[i]));
  BOOST_TEST(moved > 1e-3, what << ": moved " << moved);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optimizers)

BOOST_AUTO_TEST_CASE(sgd_matches_pytorch_formulas) {
  const std::vector<sx::optim::sgd_options> cases{
      {.lr = 0.1},
      {.lr = 0.05, .momentum = 0.9},
      {.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01},
      {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.02, .nesterov = true},
  };
  for (const auto& o : cases) {
    check_optimizer("sgd momentum " + std::to_string(o.momentum) + (o.nesterov ? " nesterov" : ""),
                    reference_optimizer::sgd_with(o), [&](auto params) { return sx::optim::sgd(params, o); });
  }
  sx::tensor<float, 3> p;
  BOOST_CHECK_THROW(sx::optim::sgd(std::tie(p), {.lr = 0.1, .nesterov = true}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(adam_and_adamw_match_pytorch_formulas) {
  const std::vector<sx::optim::adam_options> cases{
      {},
      {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6},
      {.lr = 0.01, .weight_decay = 0.05},
      {.lr = 0.01, .weight_decay = 0.05, .amsgrad = true},
  };
  for (const auto& o : cases) {
    const std::string name =
        "lr " + std::to_string(o.lr) + " wd " + std::to_string(o.weight_decay) + (o.amsgrad ? " amsgrad" : "");
    check_optimizer("adam " + name, reference_optimizer::adam_with("adam", o),
                    [&](auto params) { return sx::optim::adam(params, o); });
    const sx::optim::adamw_options w{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad};
    check_optimizer("adamw " + name, reference_optimizer::adam_with("adamw", o),
                    [&](auto params) { return sx::optim::adamw(params, w); });
  }
  // PyTorch's default weight decay, kept when other options are given.
  sx::tensor<float, 3> p;
  BOOST_TEST(sx::optim::adamw(std::tie(p)).options().weight_decay == 0.01);
  BOOST_TEST(sx::optim::adamw(std::tie(p), {.lr = 0.01}).options().weight_decay == 0.01);
  BOOST_TEST(sx::optim::adamw(std::tie(p), {.weight_decay = 0}).options().weight_decay == 0.0);
  BOOST_TEST(sx::optim::adam(std::tie(p), {.lr = 0.01}).options().weight_decay == 0.0);
}

BOOST_AUTO_TEST_CASE(a_step_is_one_pass_per_parameter) {
  sx::tensor<float, 64, 33> w;
  sx::tensor<float, 33> b;
  sx::tensor<float, 64, 33> gw;
  sx::tensor<float, 33> gb;
  fill_uniform(gw, -1, 1, 1);
  sx::optim::adam opt(std::tie(w, b), {.weight_decay = 0.1, .amsgrad = true});
  sx::optim::sgd momentum(std::tie(w, b), {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  const long before = allocation_count();
  sx::reset_evaluations<sx::elementwise_pass>();
  opt.step(std::tie(gw, gb));
  // One loop per parameter writes p, m, v and v_max: an op-by-op update would take four or more.
  BOOST_TEST(sx::evaluations<sx::elementwise_pass>() == 2u);
  sx::reset_evaluations<sx::elementwise_pass>();
  momentum.step(std::tie(gw, gb));
  BOOST_TEST(sx::evaluations<sx::elementwise_pass>() == 2u);
  BOOST_TEST(allocation_count() == before);  // in place: no temporaries
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

std::filesystem::path temporary_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("statix_test_" + std::to_string(::getpid()) + "_" + name);
}

std::vector<unsigned char> idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& extents,
                                     const std::vector<unsigned char>& payload) {
  std::vector<unsigned char> out{0, 0, type, static_cast<unsigned char>(extents.size())};
  for (std::uint32_t e : extents)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<unsigned char>(e >> shift));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void write_file(const std::filesystem::path& path, const std::vector<unsigned char>& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
}

void expect_idx_error(const std::vector<unsigned char>& bytes, const std::string& words) {
  const auto path = temporary_file("bad.idx");
  write_file(path, bytes, false);
  try {
    (void)sx::io::read_idx(path.string());
    BOOST_ERROR("no io_error for a file that should give: " << words);
  } catch (const sx::io_error& e) {
    BOOST_TEST(std::string(e.what()).find(words) != std::string::npos, e.what() << " should say " << words);
  }
  std::filesystem::remove(path);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(idx_files)

BOOST_AUTO_TEST_CASE(reads_plain_and_gzip) {
  std::vector<unsigned char> pixels(2 * 3 * 4);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i * 11);
  for (bool gzip : {false, true}) {
    const auto path = temporary_file(gzip ? "images.idx.gz" : "images.idx");
    write_file(path, idx_bytes(0x08, {2, 3, 4}, pixels), gzip);
    const sx::io::idx_array a = sx::io::read_idx(path.string());
    BOOST_TEST((a.shape == std::vector<std::size_t>{2, 3, 4}));
    BOOST_TEST((a.type == sx::io::idx_type::u8));
    const auto t = a.to_tensor<float, sx::dyn, 12>();
    BOOST_TEST(t.extent(0) == 2u);
    for (std::size_t i = 0; i < pixels.size(); ++i) BOOST_TEST_REQUIRE(t.data()[i] == float(pixels[i]));
    const auto unit_axis = a.to_tensor<float, sx::dyn, 1, 3, 4>();  // an added channel axis
    BOOST_TEST(unit_axis.extent(0) == 2u);
    const auto inner_dyn = a.to_tensor<float, 2, sx::dyn, 4>();
    BOOST_TEST(inner_dyn.extent(1) == 3u);
    BOOST_CHECK_THROW((a.to_tensor<float, sx::dyn, 5>()), sx::io_error);
    BOOST_CHECK_THROW((a.to_tensor<float, 5, 5>()), sx::io_error);
    BOOST_CHECK_THROW((a.to_tensor<float, 3, sx::dyn>()), sx::io_error);  // 2 items, not 3
    // Images read as labels: a shape error naming both, not 24 labels.
    expect_error<sx::io_error>([&] { (void)a.to_tensor<std::int32_t, sx::dyn>(); }, {"(2, 3, 4)", "(dyn)"});
    // No items at all still has a shape for each item.
    const sx::io::idx_array none{sx::io::idx_type::u8, {0, 3, 4}, {}};
    BOOST_TEST((none.to_tensor<float, sx::dyn, 12>().extent(0) == 0u));
    BOOST_CHECK_THROW((none.to_tensor<float, sx::dyn, 5>()), sx::io_error);
    std::filesystem::remove(path);
  }
  // Big-endian multi-byte elements: int32 -2 and 258, float 1.5.
  const auto path = temporary_file("ints.idx");
  write_file(path, idx_bytes(0x0C, {2}, {0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 1, 2}), false);
  const auto ints = sx::io::read_idx(path.string()).to_tensor<std::int32_t, sx::dyn>();
  BOOST_TEST(ints(0) == -2);
  BOOST_TEST(ints(1) == 258);
  write_file(path, idx_bytes(0x0D, {1}, {0x3F, 0xC0, 0, 0}), true);
  BOOST_TEST(sx::io::read_idx(path.string()).at<double>(0) == 1.5);
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(rejects_corrupt_files) {
  expect_idx_error({0, 0}, "truncated header");
  expect_idx_error({1, 0, 8, 1, 0, 0, 0, 1, 7}, "bad magic");
  expect_idx_error({0, 0, 0x42, 1, 0, 0, 0, 1, 7}, "unknown element type");
  expect_idx_error({0, 0, 8, 0}, "rank 0");
  expect_idx_error({0, 0, 8, 2, 0, 0, 0, 1}, "truncated header");
  expect_idx_error(idx_bytes(0x08, {3}, {1, 2}), "truncated data");
  expect_idx_error(idx_bytes(0x08, {2}, {1, 2, 3}), "trailing data");
  expect_idx_error(idx_bytes(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF}, {}), "too large");
  BOOST_CHECK_THROW(sx::io::read_idx(temporary_file("missing").string()), sx::io_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(loader)

BOOST_AUTO_TEST_CASE(batches_cover_every_sample_once_in_a_seeded_order) {
  const std::size_t n = 103;
  sx::tensor<float, sx::dyn, 3> x(n);
  sx::tensor<std::int32_t, sx::dyn> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    y(i) = std::int32_t(i);
    for (std::size_t k = 0; k < 3; ++k) x(i, k) = float(i * 10 + k);
  }
  sx::io::loader<float, 3> batches(x, y, {.batch_size = 16, .seed = 5});
  BOOST_TEST(batches.size() == 7u);  // 6 full batches and one of 7
  auto order_of = [&](std::size_t epoch) {
    batches.set_epoch(epoch);
    std::vector<std::int32_t> order;
    decltype(batches)::batch b;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      batches.fetch(i, b);
      BOOST_TEST_REQUIRE(b.size() == (i + 1 < batches.size() ? 16u : 7u));
      for (std::size_t k = 0; k < b.size(); ++k) {
        order.push_back(b.labels(k));
        BOOST_TEST_REQUIRE(b.inputs(k, 2) == float(b.labels(k) * 10 + 2));  // inputs stay with their labels
      }
    }
    return order;
  };
  const auto first = order_of(0), second = order_of(1), again = order_of(0);
  BOOST_TEST(std::set<std::int32_t>(first.begin(), first.end()).size() == n);
  BOOST_TEST(first == again);
  BOOST_TEST(first != second);
  std::vector<std::int32_t> identity(n);
  std::iota(identity.begin(), identity.end(), 0);
  BOOST_TEST(first != identity);

  sx::io::loader<float, 3> in_order(x, y, {.batch_size = 50, .shuffle = false, .drop_last = true});
  BOOST_TEST(in_order.size() == 2u);
  BOOST_TEST(in_order[1].labels(0) == 50);
  BOOST_CHECK_THROW(in_order[2], std::out_of_range);
  sx::tensor<std::int32_t, sx::dyn> short_labels(5);
  BOOST_CHECK_THROW((sx::io::loader<float, 3>(x, short_labels, {})), sx::shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
