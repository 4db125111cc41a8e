"""Held-out curves of `pixcodec train` runs, from their CSV logs, in one figure.

    python scripts/plot_curves.py docs/curves/cifar_small_*.csv \
        --out docs/curves/cifar-ordering.png --title "cifar10-heldout, 4 layers, h = 16"

Each log is labelled by its file name (the model configuration); a run that kept a running
average of its weights (`--average`) has that average's held-out curve too, dotted. The y axis
is bits/dim, or with --nats nats per image, as Table 4 of the paper reports binarized MNIST.
Needs matplotlib (pip install 'pixcodec[bench]').
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read_log(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [row for row in csv.DictReader(f) if row.get("heldout_bpd")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="+", type=Path, help="CSV logs written by pixcodec train")
    ap.add_argument("--out", type=Path, required=True, help="the PNG to write")
    ap.add_argument("--title", default="held-out loss during training")
    ap.add_argument("--nats", action="store_true", help="nats per image instead of bits/dim")
    ap.add_argument("--train", action="store_true",
                    help="the training loss too (dashed: the run's running average of its "
                         "batches' losses)")
    ap.add_argument("--mark", action="append", default=[], metavar="VALUE=LABEL",
                    help="a horizontal reference line, e.g. 80.54='Table 4' (repeatable)")
    ap.add_argument("--top", type=float,
                    help="the y axis's upper end (the early loss of an average squashes the rest)")
    args = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    column = "heldout_nats_per_image" if args.nats else "heldout_bpd"
    for path in args.logs:
        rows = read_log(path)
        steps = [int(r["step"]) for r in rows]
        line, = ax.plot(steps, [float(r[column]) for r in rows], marker="o", markersize=3,
                        label=f"{path.stem} held-out (last {float(rows[-1][column]):.3f})")
        # nats per image = bits/dim x (the held-out row's own nats per bits/dim)
        scale = [float(r["heldout_nats_per_image"]) / float(r["heldout_bpd"])
                 if args.nats else 1.0 for r in rows]
        averaged = [(step, float(r["averaged_heldout_bpd"]) * k)
                    for step, r, k in zip(steps, rows, scale) if r.get("averaged_heldout_bpd")]
        if averaged:  # a run with --average: its running average's figures too
            ax.plot(*zip(*averaged), marker="s", markersize=3, linestyle=":",
                    color=line.get_color(),
                    label=f"{path.stem} averaged weights (last {averaged[-1][1]:.3f})")
        if args.train:
            ax.plot(steps, [float(r["train_bpd"]) * k for r, k in zip(rows, scale)], "--",
                    color=line.get_color(), label=f"{path.stem} train")
    for mark in args.mark:
        value, _, label = mark.partition("=")
        ax.axhline(float(value), color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (0, float(value)), xycoords=("axes fraction", "data"),
                    textcoords="offset points", xytext=(4, 2), fontsize=8, color="grey")
    ax.set_xlabel("optimizer step")
    unit = "nats per image" if args.nats else "bits/dim"
    ax.set_ylabel(unit if args.train else f"held-out {unit}")
    ax.set_title(args.title)
    if args.top is not None:
        ax.set_ylim(top=args.top)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
