#!/usr/bin/env bash
# Compile time and peak compiler memory of each example (one translation unit each, no ccache), as
# docs/benchmarks.md reports them. Run it with nothing else running: on a 2-core VM a parallel build
# moves these numbers by 30%.
#
#   scripts/compile-time.sh [-O2] [runs]      CXX=clang++ scripts/compile-time.sh
set -euo pipefail
cd "$(dirname "$0")/.."
opt=${1:--O2}
runs=${2:-3}
cxx=${CXX:-g++}
flags=(-std=c++20 "$opt" -march=native -Iinclude -Idsl -DNDEBUG)
examples=(readme adam_fusion shape_errors forward mlp_gradient higher_order train_fashion_mnist)

printf '| File | %s %s time (each run) | peak memory |\n|---|---|---:|\n' "$cxx" "$opt"
for name in "${examples[@]}"; do
  times=()
  peak=0
  for ((r = 0; r < runs; ++r)); do
    out=$({ /usr/bin/time -f '%e %M' "$cxx" "${flags[@]}" -c "examples/$name.cpp" -o /dev/null; } 2>&1 | tail -1)
    read -r seconds kib <<<"$out"
    times+=("$seconds s")
    ((kib > peak)) && peak=$kib
  done
  printf '| `examples/%s.cpp` | %s | %d MiB |\n' "$name" "$(IFS=,; echo "${times[*]}" | sed 's/,/, /g')" $((peak / 1024))
done
