// The main job: train an MLP (784-256-10) or a CNN (conv3x3 32 -> pool -> conv3x3 64 -> pool ->
// linear) on Fashion-MNIST, written with sx::nn, sx::optim and sx::io. Prints a progress bar per
// epoch and the test accuracy after each; writes the curves as CSV and, after each epoch, a
// checkpoint: the model as safetensors (PyTorch loads it with load_state_dict) and the optimizer's
// state beside it, from which --resume carries on exactly where the run stopped.
//
//   train_fashion_mnist --model mlp --epochs 5 --csv curves.csv --checkpoint mlp.safetensors
//   train_fashion_mnist --model mlp --epochs 8 --csv curves.csv --checkpoint mlp.safetensors --resume
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>

#include <CLI/CLI.hpp>
#include <statix/io.hpp>
#include <statix/nn.hpp>
#include <statix/optim.hpp>

namespace sx = statix;
namespace nn = statix::nn;

namespace {

using images = sx::tensor<float, sx::dyn, 1, 28, 28>;
using labels = sx::tensor<std::int32_t, sx::dyn>;

using mlp = nn::sequential<nn::flatten, nn::linear<784, 256>, nn::relu, nn::linear<256, 10>>;
using cnn = nn::sequential<nn::conv2d<1, 32, 3>, nn::relu, nn::max_pool2d<2>,   //
                           nn::conv2d<32, 64, 3>, nn::relu, nn::max_pool2d<2>,  //
                           nn::flatten, nn::linear<64 * 7 * 7, 10>>;

struct settings {
  std::string model = "mlp";
  std::string optimizer = "adam";
  std::size_t epochs = 5;
  std::size_t batch_size = 128;
  double lr = 1e-3;
  std::uint64_t seed = 0;
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string csv;
  std::string schedule = "cosine";  // or "constant"
  std::string checkpoint;           // written after every epoch when set
  bool resume = false;              // start from the checkpoint
  std::size_t stop_after = 0;       // stop after this epoch (0: run all), as an interruption would
  std::size_t limit = 0;            // use only the first `limit` training images (0: all)
  std::size_t threads = 0;          // 0: statix's default (STATIX_NUM_THREADS, else every core)
};

/// The optimizer's state goes beside the model's file: "run.safetensors" -> "run.optimizer.safetensors".
std::filesystem::path optimizer_path(const std::filesystem::path& model_path) {
  std::filesystem::path p = model_path;
  return p.replace_extension(".optimizer" + model_path.extension().string());
}

/// Images scaled to [0, 1] and standardized with the training set's mean and deviation.
images load_images(const std::string& path, std::size_t limit) {
  images x = sx::io::read_idx(path).to_tensor<float, sx::dyn, 1, 28, 28>();
  if (limit != 0 && limit < x.extent(0)) {
    images head(limit);
    std::copy_n(x.data(), head.size(), head.data());
    x = std::move(head);
  }
  x = (x / 255.f - 0.2860f) / 0.3530f;
  return x;
}
labels load_labels(const std::string& path, std::size_t limit) {
  labels y = sx::io::read_idx(path).to_tensor<std::int32_t, sx::dyn>();
  if (limit != 0 && limit < y.size()) {
    labels head(limit);
    std::copy_n(y.data(), limit, head.data());
    y = std::move(head);
  }
  return y;
}

std::string clock(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char out[32];
  std::snprintf(out, sizeof out, "%02ld:%02ld", s / 60, s % 60);
  return out;
}

/// One line, rewritten in place on a terminal: batches done, running loss, samples/s, ETA.
class progress_bar {
 public:
  progress_bar(std::size_t epoch, std::size_t epochs, std::size_t batches)
      : epoch_(epoch), epochs_(epochs), batches_(batches), tty_(isatty(fileno(stdout)) != 0) {}
  void update(std::size_t done, double loss, std::size_t samples, double seconds, bool last) {
    const bool due = seconds - shown_ >= 0.1;
    if (!last && !(tty_ && due)) return;
    shown_ = seconds;
    constexpr std::size_t width = 30;
    const std::size_t filled = batches_ == 0 ? width : done * width / batches_;
    std::string bar(filled, '=');
    if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
    const double rate = seconds > 0 ? samples / seconds : 0;
    const double eta = done == 0 ? 0 : seconds * double(batches_ - done) / double(done);
    std::printf("%sepoch %zu/%zu [%s] %zu/%zu loss %.4f %.0f samples/s %s %s%s", tty_ ? "\r" : "", epoch_, epochs_,
                bar.c_str(), done, batches_, loss, rate, last ? "took" : "ETA", clock(last ? seconds : eta).c_str(),
                last ? "\n" : "");
    std::fflush(stdout);
  }

 private:
  std::size_t epoch_, epochs_, batches_;
  bool tty_;
  double shown_ = -1;
};

template <class Model>
double test_accuracy(Model& model, const images& x, const labels& y) {
  model.eval();
  sx::io::loader<float, 1, 28, 28> batches(x, y, {.batch_size = 1000, .shuffle = false});
  typename decltype(batches)::batch b;
  double correct = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    batches.fetch(i, b);
    correct += sx::eval(sx::sum(sx::cast<float>(sx::argmax<1>(model(b.inputs)) == b.labels)))();
  }
  model.train();
  return correct / double(y.size());
}

template <class Model, class Optimizer>
int train(Model& model, Optimizer& optimizer, const settings& s) {
  const images train_x = load_images(s.data + "/train-images-idx3-ubyte.gz", s.limit);
  const labels train_y = load_labels(s.data + "/train-labels-idx1-ubyte.gz", s.limit);
  const images test_x = load_images(s.data + "/t10k-images-idx3-ubyte.gz", 0);
  const labels test_y = load_labels(s.data + "/t10k-labels-idx1-ubyte.gz", 0);
  std::printf(
      "model %s (%zu parameter tensors), optimizer %s, lr %g, batch %zu, seed %llu, %zu threads; %zu training "
      "and %zu test images\n",
      s.model.c_str(), std::tuple_size_v<decltype(model.parameters())>, s.optimizer.c_str(), s.lr, s.batch_size,
      static_cast<unsigned long long>(s.seed), sx::num_threads(), train_y.size(), test_y.size());

  std::size_t done_epochs = 0;
  if (s.resume) {
    // Each file is checked in full before it changes anything; any problem ends the run with its error.
    const auto meta = sx::io::load(s.checkpoint, model);
    const auto optimizer_meta = sx::io::load(optimizer_path(s.checkpoint), optimizer);
    if (!meta.contains("epoch") || !meta.contains("model") || meta.at("model") != s.model)
      throw sx::io_error(s.checkpoint + ": not a checkpoint of the " + s.model + " model");
    if (!optimizer_meta.contains("epoch") || optimizer_meta.at("epoch") != meta.at("epoch"))
      throw sx::io_error(s.checkpoint + ": the model and optimizer files are from different epochs");
    done_epochs = std::stoul(meta.at("epoch"));
    std::printf("resumed from %s after epoch %zu (%zu optimizer steps)\n", s.checkpoint.c_str(), done_epochs,
                optimizer.steps());
  }

  std::ofstream csv;
  if (!s.csv.empty()) {
    const bool append = s.resume && std::filesystem::exists(s.csv);
    csv.open(s.csv, append ? std::ios::app : std::ios::trunc);
    if (!append) csv << "epoch,train_loss,test_accuracy,seconds,samples_per_second\n";
  }
  sx::io::loader<float, 1, 28, 28> batches(train_x, train_y, {.batch_size = s.batch_size, .seed = s.seed});
  typename decltype(batches)::batch b;
  double accuracy = done_epochs >= s.epochs ? test_accuracy(model, test_x, test_y) : 0;
  const std::size_t last_epoch = s.stop_after == 0 ? s.epochs : std::min(s.epochs, s.stop_after);
  for (std::size_t epoch = done_epochs + 1; epoch <= last_epoch; ++epoch) {
    batches.set_epoch(epoch - 1);
    progress_bar bar(epoch, s.epochs, batches.size());
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::size_t seen = 0;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      if (s.schedule == "cosine") {
        // Cosine annealing from lr to 0 over the run (torch.optim.lr_scheduler.CosineAnnealingLR with
        // T_max the run's steps), set per step; a resumed run continues the same curve.
        const double progress = double(optimizer.steps()) / double(s.epochs * batches.size());
        optimizer.set_lr(s.lr * 0.5 * (1 + std::cos(std::numbers::pi * progress)));
      }
      batches.fetch(i, b);
      auto [loss, grads] = nn::value_and_gradients(nn::cross_entropy(model(b.inputs), b.labels), model);
      optimizer.step(grads);
      loss_sum += double(loss) * double(b.size());
      seen += b.size();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      bar.update(i + 1, loss_sum / double(seen), seen, seconds, i + 1 == batches.size());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    accuracy = test_accuracy(model, test_x, test_y);
    std::printf("epoch %zu: train loss %.4f, test accuracy %.2f%%, %.0f samples/s\n", epoch, loss_sum / double(seen),
                100 * accuracy, double(seen) / seconds);
    if (csv.is_open())
      csv << epoch << ',' << loss_sum / double(seen) << ',' << accuracy << ',' << seconds << ','
          << double(seen) / seconds << std::endl;
    if (!s.checkpoint.empty()) {
      // Each file is replaced atomically; both carry the epoch, so a resume can tell a pair apart.
      sx::io::save(optimizer_path(s.checkpoint), optimizer, {{"epoch", std::to_string(epoch)}});
      sx::io::save(s.checkpoint, model, {{"model", s.model}, {"epoch", std::to_string(epoch)}});
    }
  }
  std::printf("final test accuracy: %.2f%%\n", 100 * accuracy);
  return 0;
}

template <class Model>
int run(const settings& s) {
  Model model(sx::random::key(s.seed));
  if (s.optimizer == "sgd") {
    sx::optim::sgd optimizer(model.parameters(), {.lr = s.lr, .momentum = 0.9});
    return train(model, optimizer, s);
  }
  if (s.optimizer == "adamw") {
    sx::optim::adamw optimizer(model.parameters(), {.lr = s.lr, .weight_decay = 0.01});
    return train(model, optimizer, s);
  }
  sx::optim::adam optimizer(model.parameters(), {.lr = s.lr});
  return train(model, optimizer, s);
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  CLI::App app{"Train an MLP or a CNN on Fashion-MNIST with statix"};
  app.add_option("--model", s.model, "mlp or cnn")->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--epochs", s.epochs, "passes over the training set");
  app.add_option("--batch-size", s.batch_size, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", s.lr, "learning rate (the peak of the cosine schedule)")->check(CLI::PositiveNumber);
  app.add_option("--schedule", s.schedule, "cosine (lr annealed to 0 over the run) or constant")
      ->check(CLI::IsMember({"cosine", "constant"}));
  app.add_option("--optimizer", s.optimizer, "adam, adamw or sgd (momentum 0.9)")
      ->check(CLI::IsMember({"adam", "adamw", "sgd"}));
  app.add_option("--seed", s.seed, "initialization and shuffling seed");
  app.add_option("--data", s.data, "directory with the four Fashion-MNIST IDX files");
  app.add_option("--csv", s.csv, "write epoch, loss, accuracy, time and samples/s here");
  app.add_option("--limit", s.limit, "train on the first N images only (0: all)");
  app.add_option("--checkpoint", s.checkpoint,
                 "after each epoch, save the model here (safetensors) and the optimizer beside it");
  app.add_flag("--resume", s.resume, "continue from --checkpoint up to --epochs")->needs("--checkpoint");
  app.add_option("--stop-after", s.stop_after,
                 "stop after this epoch, as an interruption would (resume with the same --epochs)");
  app.add_option("--threads", s.threads, "threads statix uses (default: STATIX_NUM_THREADS, else every core)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (s.threads > 0) sx::set_num_threads(s.threads);
  try {
    return s.model == "cnn" ? run<cnn>(s) : run<mlp>(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
