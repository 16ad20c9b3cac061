#!/usr/bin/python3
"""Plots the fusion benchmark (bench/adam_fusion.cpp): ns/element against N, log-log, one line per
implementation, one PNG per optimizer.

    scripts/plot_bench.py build/adam.json [docs/img]

Reads Google Benchmark JSON (--benchmark_out_format=json). Benchmark names are
"<optimizer>/<implementation>/<N>"; the median aggregate is used when the run had repetitions, otherwise
the single run. Writes <out>/bench_<optimizer>.png (bench_adam.png, bench_sgd.png).
"""
import argparse
import json
import os
import sys
from collections import defaultdict

try:
    import matplotlib
except ImportError:
    sys.exit("plot_bench.py needs matplotlib (Debian: apt-get install python3-matplotlib, then run it with "
             "/usr/bin/python3 if another python3 comes first on PATH)")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TITLES = {
    "adam": "Adam step (28 bytes/element)",
    "sgd": "SGD with momentum step (20 bytes/element)",
}
# Drawing order and style; implementations not listed here are drawn after these, in a default style.
STYLES = {
    "statix_fuse": dict(color="tab:red", marker="o", linewidth=2.5, label="statix fuse"),
    "hand_fused": dict(color="black", marker="s", linestyle="--", label="hand-fused loop"),
    "pattern": dict(color="gray", marker="", linestyle=":", linewidth=2, label="access-pattern bound"),
    "statix_op_by_op": dict(color="tab:orange", marker="v", label="statix op by op"),
    "eigen": dict(color="tab:blue", marker="^", label="Eigen (ArrayXf)"),
    "torch": dict(color="tab:green", marker="D", label="libtorch optim"),
}


def size_label(n):
    for shift, suffix in ((20, "Mi"), (10, "Ki")):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{suffix}"
    return str(n)


def load(path):
    """{optimizer: {implementation: {N: ns_per_elem}}} from the medians (or the single runs)."""
    with open(path) as f:
        data = json.load(f)
    medians = defaultdict(lambda: defaultdict(dict))
    singles = defaultdict(lambda: defaultdict(dict))
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        parts = b.get("run_name", b["name"]).split("/")
        if len(parts) != 3 or not parts[2].isdigit():
            continue
        opt, impl, n = parts[0], parts[1], int(parts[2])
        if "ns_per_elem" in b:
            value = b["ns_per_elem"]
        else:  # older runs without the counter: time per iteration over N
            scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
            value = b["cpu_time"] * scale / n
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[opt][impl][n] = value
        else:
            singles[opt][impl].setdefault(n, []).append(value)
    for opt, impls in singles.items():  # without repetitions: the median of whatever runs there are
        for impl, by_n in impls.items():
            for n, values in by_n.items():
                if n not in medians[opt][impl]:
                    values = sorted(values)
                    medians[opt][impl][n] = values[len(values) // 2]
    return medians, data.get("context", {})


def plot(opt, impls, out_dir, context):
    fig, ax = plt.subplots(figsize=(7.5, 5))
    order = [i for i in STYLES if i in impls] + sorted(i for i in impls if i not in STYLES)
    sizes = sorted({n for by_n in impls.values() for n in by_n})
    for impl in order:
        by_n = impls[impl]
        ns = sorted(by_n)
        style = dict(STYLES.get(impl, dict(marker="x", label=impl)))
        ax.plot(ns, [by_n[n] for n in ns], **style)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([size_label(n) for n in sizes])
    ax.set_xlabel("N (float32 parameters)")
    ax.set_ylabel("ns per element (median, lower is better)")
    ax.set_title(TITLES.get(opt, opt) + ", one thread")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    date = context.get("date", "")[:10]
    if date:
        fig.text(0.99, 0.01, f"measured {date}", ha="right", va="bottom", fontsize=7, color="gray")
    fig.tight_layout()
    path = os.path.join(out_dir, f"bench_{opt}.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="Google Benchmark JSON output of bench/adam_fusion")
    parser.add_argument("out_dir", nargs="?", default=os.path.join(here, "..", "docs", "img"),
                        help="where the PNGs go (default: docs/img)")
    args = parser.parse_args()

    medians, context = load(args.json)
    if not medians:
        sys.exit(f"{args.json}: no '<optimizer>/<implementation>/<N>' benchmarks found")
    os.makedirs(args.out_dir, exist_ok=True)
    for opt in sorted(medians):
        if opt not in TITLES:  # stream/triad and anything else that is not an optimizer
            continue
        print(plot(opt, medians[opt], args.out_dir, context))


if __name__ == "__main__":
    main()
