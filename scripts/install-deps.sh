#!/usr/bin/env bash
# Installs the Debian packages statix needs to build, test, benchmark and run its examples.
# Idempotent: asks apt only for what is missing. Optional peers (libtorch) with --with-peers.
set -euo pipefail

packages=(
  g++ clang cmake make ninja-build ccache pkg-config
  libboost-dev libboost-test-dev         # Boost.Hana headers, Boost.Test
  libxsimd-dev                           # SIMD batches
  libbenchmark-dev                       # Google Benchmark
  libeigen3-dev libopenblas-dev          # peers measured in bench/
  zlib1g-dev nlohmann-json3-dev libcli11-dev
  python3 python3-matplotlib             # benchmark plots
  dataset-fashion-mnist                  # the main job's data
)
if [[ "${1:-}" == "--with-peers" ]]; then
  packages+=(libtorch-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
