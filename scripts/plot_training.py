#!/usr/bin/python3
"""Plots the curves train_fashion_mnist writes (--csv): training loss and test accuracy per epoch.

    scripts/plot_training.py build/release/fashion_mnist_mlp.csv [out.png]
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else path.rsplit(".", 1)[0] + ".png"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no epochs recorded")
    epochs = [int(r["epoch"]) for r in rows]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    loss_ax.plot(epochs, [float(r["train_loss"]) for r in rows], marker="o")
    loss_ax.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="Training loss")
    acc_ax.plot(epochs, [100 * float(r["test_accuracy"]) for r in rows], marker="o", color="tab:green")
    acc_ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
