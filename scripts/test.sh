#!/usr/bin/env bash
# The whole test suite: configure (release preset), build, run every CTest test.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake --preset release -DSTATIX_BUILD_TESTS=ON -DSTATIX_BUILD_EXAMPLES=ON -DSTATIX_BUILD_BENCH=OFF >/dev/null
cmake --build --preset release -j"$jobs"
ctest --preset release -j"$jobs"
