#!/usr/bin/python3
"""Plots bench/gemm and bench/conv: GFLOP/s per shape, one bar per implementation, the FMA peak as a line.

    build/release/bench/gemm --benchmark_out=build/gemm.json --benchmark_out_format=json
    build/release/bench/conv --benchmark_out=build/conv.json --benchmark_out_format=json
    scripts/plot_gemm.py build/gemm.json build/conv.json [docs/img]

Reads Google Benchmark JSON; names are "<group>/<implementation>/<shape or batch>", the median aggregate
is used (or the single run). Writes <out>/bench_gemm.png and <out>/bench_conv.png.
"""
import argparse
import json
import os
import sys
from collections import defaultdict

try:
    import matplotlib
except ImportError:
    sys.exit("plot_gemm.py needs matplotlib (Debian: apt-get install python3-matplotlib)")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"statix": "tab:red", "openblas": "tab:gray", "eigen": "tab:blue", "torch": "tab:green",
          "naive": "tab:olive"}


def load(path):
    """{(group, case): {implementation: GFLOP/s}} and the FMA peak (or None)."""
    with open(path) as f:
        data = json.load(f)
    values, peak = defaultdict(dict), None
    runs = data.get("benchmarks", [])
    has_median = any(r.get("aggregate_name") == "median" for r in runs)
    for r in runs:
        if has_median and r.get("aggregate_name") != "median":
            continue
        name = r.get("run_name", r["name"])
        gflops = r.get("GFLOP/s")
        if gflops is None:
            continue
        parts = name.split("/")
        if parts[0] == "peak":
            peak = gflops
        elif len(parts) == 3:
            group, impl, case = parts
            values[(group, case)][impl] = gflops
    return values, peak


def plot(values, peak, groups, impls, title, out):
    cases = [k for k in values if k[0] in groups]
    if not cases:
        return
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(impls)
    for i, impl in enumerate(impls):
        xs = [c + i * width for c in range(len(cases)) if impl in values[cases[c]]]
        ys = [values[k][impl] for k in cases if impl in values[k]]
        if ys:
            ax.bar(xs, ys, width, label=impl, color=COLORS.get(impl))
    if peak:
        ax.axhline(peak, color="black", linestyle=":", label=f"FMA peak {peak:.0f}")
    ax.set_xticks([c + 0.4 - width / 2 for c in range(len(cases))])
    ax.set_xticklabels([f"{g}\n{c}" for g, c in cases], fontsize=8)
    ax.set_ylabel("GFLOP/s (median, one thread)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gemm_json")
    parser.add_argument("conv_json")
    parser.add_argument("out_dir", nargs="?", default="docs/img")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    values, peak = load(args.gemm_json)
    plot(values, peak, {"gemm"}, ["statix", "openblas", "eigen"], "float32 matmul (MxKxN)",
         os.path.join(args.out_dir, "bench_gemm.png"))
    values, _ = load(args.conv_json)
    plot(values, peak, {"conv3x3", "conv1x1", "depthwise3x3"}, ["statix", "torch", "naive"],
         "conv2d, 64 channels, 32x32, by batch", os.path.join(args.out_dir, "bench_conv.png"))


if __name__ == "__main__":
    main()
