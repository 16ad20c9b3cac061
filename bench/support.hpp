// What the benchmark programs share: default flags (5 repetitions, medians only), and a console
// reporter that keeps every median so that a program can print its ratios after the runs.
#pragma once

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <cstdlib>

#include <statix/parallel.hpp>

namespace statix_bench {

/// Prints one line per benchmark (its median CPU time and counters) and keeps the medians by name.
class median_reporter : public benchmark::ConsoleReporter {
 public:
  median_reporter() : ConsoleReporter(OO_None) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) {
        GetOutputStream() << r.benchmark_name() << "  ERROR: " << r.error_message << '\n';
        continue;
      }
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (!median && r.run_type == Run::RT_Aggregate) continue;
      const std::string name = r.run_name.str();
      const double us = r.GetAdjustedCPUTime() * 1e6 / benchmark::GetTimeUnitMultiplier(r.time_unit);
      medians_[name] = us;
      char line[256];
      std::snprintf(line, sizeof line, "%-44s %12.2f us", name.c_str(), us);
      std::string text = line;
      for (const auto& [counter, value] : r.counters) {
        std::snprintf(line, sizeof line, "  %s=%.1f", counter.c_str(), value.value);
        text += line;
      }
      GetOutputStream() << text << std::endl;
    }
  }

  /// Median CPU time in microseconds of the benchmark named `name` (as registered, with its args).
  std::optional<double> us(const std::string& name) const {
    const auto it = medians_.find(name);
    if (it == medians_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, double> medians_;
};

/// statix on one thread, as the peers these programs compare with are pinned to one (the comparisons
/// are per core); STATIX_NUM_THREADS overrides.
inline void one_thread_unless_asked() {
  if (std::getenv("STATIX_NUM_THREADS") == nullptr) statix::set_num_threads(1);
  std::printf("statix threads: %zu\n", statix::num_threads());
}

/// benchmark::Initialize with defaults the command line can override (later flags win).
inline bool initialize(int argc, char** argv) {
  one_thread_unless_asked();
  static std::vector<std::string> storage{argv[0], "--benchmark_repetitions=5", "--benchmark_min_time=0.1",
                                          "--benchmark_report_aggregates_only=true"};
  for (int i = 1; i < argc; ++i) storage.emplace_back(argv[i]);
  static std::vector<char*> args;
  for (std::string& s : storage) args.push_back(s.data());
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  return !benchmark::ReportUnrecognizedArguments(count, args.data());
}

}  // namespace statix_bench
