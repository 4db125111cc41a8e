"""Held-out bits/dim of two `pixcodec train` logs at the steps both reached, as a Markdown
table (for docs/TRAINING.md).

    python scripts/compare_curves.py runs/photo_logistic_med.csv runs/photo_logistic.csv \
        --names "MED from scratch" "first run" --every 1000
"""
from __future__ import annotations

import argparse
import csv


def heldout(path: str) -> dict[int, float]:
    with open(path) as f:
        return {int(row["step"]): float(row["heldout_bpd"]) for row in csv.DictReader(f)
                if row.get("heldout_bpd")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("logs", nargs=2)
    parser.add_argument("--names", nargs=2, default=None)
    parser.add_argument("--every", type=int, default=1000)
    args = parser.parse_args()
    names = args.names or args.logs
    curves = [heldout(path) for path in args.logs]
    steps = [s for s in sorted(curves[0]) if s in curves[1] and s % args.every == 0]
    print("| step | " + " | ".join(f"{s:,}" for s in steps) + " |")
    print("|---|" + "---|" * len(steps))
    for name, curve in zip(names, curves):
        print(f"| {name} | " + " | ".join(f"{curve[s]:.3f}" for s in steps) + " |")


if __name__ == "__main__":
    main()
