"""What coding an image turned or mirrored saves (float NLL, unadapted), per photo:

    python scripts/measure_orientation.py --data ../shared/data --images 3 --all  # held-out
    python scripts/measure_orientation.py --data ../shared/data --folders kodak --every 1 \
        --images 24                                      # Kodak, once the choice was made

For the held-out photos (every 10th by name) of the chosen folders, up to --images each, at
most 768 × 512 of each (the top-left corner): the NLL of the whole photo as it is and in the
orientation the encoder picks on the middle window (`adapt.choose_orientation`); with --all, in
each of the eight too (and so the best of them).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from pixcodec import adapt, zoo
from pixcodec.data import FOLDER_HELDOUT_EVERY, load_folder
from pixcodec.likelihood import float_bits
from pixcodec.orientation import ORIENTATIONS, oriented

FOLDERS = ["bsd68", "photos-train", "urban100-half", "cbsd432-half", "imagenet-sample-half",
           "unsplash-quarter"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default="logistic-rgb-v5")
    parser.add_argument("--folders", nargs="+", default=FOLDERS)
    parser.add_argument("--images", type=int, default=3, help="photos per folder")
    parser.add_argument("--every", type=int, default=FOLDER_HELDOUT_EVERY,
                        help="take every n-th photo (default: the held-out ones)")
    parser.add_argument("--all", action="store_true", help="each orientation's NLL too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    net = zoo.load_model(args.model)
    totals = {"as it is": 0.0, "chosen": 0.0, "best of 8": 0.0}
    dims = 0
    for folder in args.folders:
        photos = load_folder(args.data / folder, 3)
        photos = photos[::args.every][:args.images]
        for i, pixels in enumerate(photos):
            wide = pixels.shape[1] >= pixels.shape[0]
            pixels = pixels[:512, :768] if wide else pixels[:768, :512]
            start = time.perf_counter()
            turn = adapt.choose_orientation(net, pixels, 2)
            seconds = time.perf_counter() - start
            each = {t: float_bits(net, oriented(pixels, t))
                    for t in (ORIENTATIONS if args.all else {0, turn})}
            figures = {"as it is": each[0], "chosen": each[turn], "best of 8": min(each.values())}
            for name, value in figures.items():
                totals[name] += value * pixels.size
            dims += pixels.size
            print(f"{folder} #{i} {pixels.shape[1]}x{pixels.shape[0]}: as it is {each[0]:.4f}, "
                  f"chosen {turn} {each[turn]:.4f} (choice {seconds:.1f} s)"
                  + (": " + " ".join(f"{each[t]:.4f}" for t in ORIENTATIONS) if args.all else ""),
                  flush=True)
    shown = totals if args.all else {k: v for k, v in totals.items() if k != "best of 8"}
    print(", ".join(f"{name} {value / dims:.4f}" for name, value in shown.items()),
          "bits/dim over", dims, "subpixels")


if __name__ == "__main__":
    main()
