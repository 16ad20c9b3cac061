#!/usr/bin/env bash
# The residual CNN with batch norm (bench/residual_cnn.cpp) at depths 1, 2, 4 and 8: what each costs
# to compile (g++ -O2, one translation unit, peak compiler memory), the size of its loss expression,
# the convolutions a step runs, and the step's time (statix and, where libtorch is installed, libtorch
# at one thread), as docs/benchmarks.md reports them. Run it with nothing else running.
#
#   scripts/residual-depth.sh [depths...]        (default: 1 2 4 8)
set -euo pipefail
cd "$(dirname "$0")/.."
depths=("$@")
((${#depths[@]} == 0)) && depths=(1 2 4 8)
cxx=${CXX:-g++}
out=build/residual-depth
mkdir -p "$out"
xsimd=$(pkg-config --cflags xsimd 2>/dev/null || true)
torch=()
if [[ -d /usr/include/torch/csrc/api/include ]]; then
  torch=(-DSTATIX_HAVE_TORCH=1 -I/usr/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1)
  torch_libs=(-ltorch -ltorch_cpu -lc10)
fi
for d in "${depths[@]}"; do
  # Compile cost without libtorch's headers (what a statix user pays), then the binary with them.
  read -r seconds kib < <({ /usr/bin/time -f '%e %M' "$cxx" -std=c++20 -O2 -march=native -DNDEBUG -Iinclude -Idsl \
    $xsimd -DSTATIX_DEPTH="$d" -c bench/residual_cnn.cpp -o "$out/residual_cnn_$d.o"; } 2>&1 | tail -1)
  printf 'depth %s: compile %s s, %d MiB\n' "$d" "$seconds" $((kib / 1024))
  "$cxx" -std=c++20 -O2 -march=native -DNDEBUG -Iinclude -Idsl $xsimd -DSTATIX_DEPTH="$d" "${torch[@]}" \
    bench/residual_cnn.cpp -o "$out/residual_cnn_$d" -lbenchmark -lpthread "${torch_libs[@]}"
  "$out/residual_cnn_$d" --benchmark_min_time=0.5 | grep -E "depth|statix|libtorch|target"
done
