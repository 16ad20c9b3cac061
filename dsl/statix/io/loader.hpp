// sx::io::loader: mini-batches of a dataset held in memory (inputs (N, E...), int32 labels (N)), in a
// shuffled order that depends only on the seed and the epoch, so a run is reproducible and a resumed
// run sees the same batches. The last batch is partial unless drop_last is set.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <statix/statix.hpp>

#include "error.hpp"

namespace statix::io {

struct loader_options {
  std::size_t batch_size = 64;
  bool shuffle = true;
  std::uint64_t seed = 0;
  bool drop_last = false;
};

template <dtype T, std::size_t... E>
class loader {
 public:
  using input_tensor = tensor<T, dyn, E...>;
  using label_tensor = tensor<std::int32_t, dyn>;
  struct batch {
    input_tensor inputs;
    label_tensor labels;
    std::size_t size() const { return labels.size(); }
  };

  /// The loader keeps references: `inputs` and `labels` must outlive it.
  loader(const input_tensor& inputs, const label_tensor& labels, loader_options options)
      : inputs_(inputs), labels_(labels), options_(options), order_(labels.size()) {
    if (inputs.extent(0) != labels.size())
      throw shape_error("statix: io::loader: " + std::to_string(inputs.extent(0)) + " inputs but " +
                        std::to_string(labels.size()) + " labels");
    if (options.batch_size == 0) throw std::invalid_argument("statix: io::loader needs a batch size of at least 1");
    set_epoch(0);
  }

  std::size_t samples() const { return labels_.size(); }
  std::size_t batch_size() const { return options_.batch_size; }
  /// Batches per epoch.
  std::size_t size() const {
    const std::size_t n = samples(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }

  /// The order of epoch `e`: a Fisher-Yates shuffle driven by key(seed).fold_in(e), or the identity.
  void set_epoch(std::size_t e) {
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (!options_.shuffle) return;
    const random::key key = random::key(options_.seed).fold_in(e);
    for (std::size_t i = order_.size(); i-- > 1;) {
      const auto r = key.bits(i);
      const std::uint64_t draw = (std::uint64_t{r[0]} << 32) | r[1];
      std::swap(order_[i], order_[draw % (i + 1)]);
    }
  }

  /// Batch i of the current epoch, gathered into `out` (its tensors are resized only when the batch
  /// size changes, so a training loop allocates nothing per batch).
  void fetch(std::size_t i, batch& out) const {
    if (i >= size())
      throw std::out_of_range("statix: io::loader: batch " + std::to_string(i) + " of " + std::to_string(size()));
    const std::size_t first = i * options_.batch_size;
    const std::size_t count = std::min(options_.batch_size, samples() - first);
    if (out.labels.size() != count) {
      out.inputs.resize(count);
      out.labels.resize(count);
    }
    const std::size_t row = inputs_.size() / std::max<std::size_t>(samples(), 1);
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t from = order_[first + k];
      std::copy_n(inputs_.data() + from * row, row, out.inputs.data() + k * row);
      out.labels.data()[k] = labels_.data()[from];
    }
  }
  batch operator[](std::size_t i) const {
    batch b;
    fetch(i, b);
    return b;
  }

 private:
  const input_tensor& inputs_;
  const label_tensor& labels_;
  loader_options options_;
  std::vector<std::size_t> order_;
};

}  // namespace statix::io
