#!/usr/bin/env bash
# The main job: installs what is needed (apt, only what is missing), builds, and trains an MLP
# (784-256-10, Adam) on Fashion-MNIST for 5 epochs, printing a progress bar per epoch, the test
# accuracy after each, and writing the curves to build/release/fashion_mnist.csv (plot them with
# scripts/plot_training.py) and a checkpoint to build/release/fashion_mnist_mlp.safetensors.
# Arguments replace the default run's, e.g. `scripts/main.sh --model cnn --epochs 3`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target train_fashion_mnist
pin=()
if command -v taskset >/dev/null && (($(nproc) > 1)); then pin=(taskset -c 1); fi  # less noise
args=(--model mlp --epochs 5 --checkpoint build/release/fashion_mnist_mlp.safetensors)
if (($# > 0)); then args=("$@"); fi
"${pin[@]}" build/release/examples/train_fashion_mnist "${args[@]}" --csv build/release/fashion_mnist.csv
