#!/usr/bin/env bash
# Installs statix into a scratch prefix and builds a separate project against it with
# find_package(statix CONFIG REQUIRED): proves the exported package works.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake -S . -B "$scratch/build" -DSTATIX_BUILD_TESTS=OFF -DSTATIX_BUILD_BENCH=OFF -DSTATIX_BUILD_EXAMPLES=OFF \
  -DCMAKE_INSTALL_PREFIX="$scratch/prefix" >/dev/null
cmake --install "$scratch/build" >/dev/null
cmake -S tests/consumer -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/consumer" -j"$(nproc)"
"$scratch/consumer/consumer"
