"""What per-image adaptation saves at each storage step, on held-out photos (never Kodak):

    python scripts/measure_adaptation.py --data ../shared/data --model logistic-rgb-v3

For every 10th photo (the ones training holds out) of the chosen folders, up to --images each:
the model's float NLL, then per level and step the section's bytes and the bits saved net of
them, and the step the encoder picks (pixcodec/adapt.py).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from pixcodec import adapt, zoo
from pixcodec.data import FOLDER_HELDOUT_EVERY, load_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default="logistic-rgb-v3")
    parser.add_argument("--folders", nargs="+", default=["bsd68", "unsplash-quarter"])
    parser.add_argument("--images", type=int, default=2, help="held-out photos per folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    net = zoo.load_model(args.model)
    print("| photo | subpixels | level | " + " | ".join(f"step 2^-{s}" for s in adapt.STEP_CHOICES)
          + " | fit s |")
    print("|---|---|---|" + "---|" * len(adapt.STEP_CHOICES) + "---|")
    for folder in args.folders:
        photos = load_folder(args.data / folder, 3)[::FOLDER_HELDOUT_EVERY][:args.images]
        for i, pixels in enumerate(photos):
            problem = adapt._HeadProblem(net, pixels)
            problem.shuffle(torch.Generator().manual_seed(0))
            for level in (1, 2):
                start = time.perf_counter()
                fitted = adapt.fit_deltas(problem, net, level)
                seconds = time.perf_counter() - start
                before = float(problem.nll_bits(
                    [torch.zeros(s) for s in adapt.parameter_shapes(net, level)], level))
                cells = []
                for step in adapt.STEP_CHOICES:
                    adaptation, gain = adapt.net_gain(
                        problem, adapt.Adaptation.quantize(level, step, fitted), before)
                    cells.append(f"{len(adaptation.pack())} B, {gain / pixels.size:+.4f}")
                print(f"| {folder} #{i * FOLDER_HELDOUT_EVERY} | {pixels.size} | {level} | "
                      + " | ".join(cells) + f" | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
