#!/usr/bin/env bash
# The main job: installs what is needed, builds, and runs the Adam fusion example, the forward-pass
# example and a short benchmark summary. (Training on Fashion-MNIST takes this place once the dsl/
# issue lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
cmake --preset release -DSTATIX_BUILD_BENCH=ON -DSTATIX_BUILD_EXAMPLES=ON >/dev/null
cmake --build --preset release -j"$jobs" --target adam_fusion_example forward adam_fusion
echo
echo "== examples/adam_fusion: one fused pass vs op by op =="
build/release/examples/adam_fusion $((1 << 22)) 100
echo
echo "== examples/forward: an MLP and a small CNN, forward, on a batch of 128 =="
build/release/examples/forward 128
echo
echo "== bench/adam_fusion: Adam and SGD steps, statix vs hand-written vs peers (short run) =="
pin=()
if command -v taskset >/dev/null && ((jobs > 1)); then pin=(taskset -c 1); fi  # less noise
"${pin[@]}" build/release/bench/adam_fusion --benchmark_min_time=0.05 --benchmark_repetitions=3
