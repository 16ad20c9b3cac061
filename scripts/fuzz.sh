#!/usr/bin/env bash
# Fuzzes the readers of untrusted files (safetensors, IDX) with libFuzzer, clang and ASan + UBSan,
# SECONDS_PER_TARGET seconds each (default 60). Starts from fuzz/corpus/<target>; a crash leaves its
# input in build/fuzz/crashes/ and fails the script: fix the reader, then add the input to
# fuzz/corpus/<target>/ so CTest replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_TARGET:-60}
build=build/fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTATIX_FUZZ=ON \
  -DSTATIX_BUILD_TESTS=OFF -DSTATIX_BUILD_BENCH=OFF -DSTATIX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"
mkdir -p "$build/crashes"
status=0
for target in safetensors idx; do
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  echo "== fuzz_$target for ${seconds}s =="
  "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/crashes/$target-" "$corpus" "fuzz/corpus/$target" 2>&1 | tail -n 25 || status=1
done
exit $status
