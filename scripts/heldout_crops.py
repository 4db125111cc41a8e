"""Files of the 384 held-out 64 x 64 crops of the photo training sets, each coded as its own
file by `pixcodec.encode`, for each model named: their total size in bits/dim (headers
included). One of the held-out figures the photo models are chosen on (docs/TRAINING.md); the
crops are the ones `pixcodec train --eval-images 0` reports, so a run's log and its exported
model's files can be compared.

    python scripts/heldout_crops.py --data ../shared/data logistic-rgb-int8-v5 runs/candidate.pxm
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import pixcodec
from pixcodec import data

PHOTO_SETS = ("photos-train", "urban100-half", "bsd68", "cbsd432-half", "imagenet-sample-half",
              "unsplash-quarter")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="shipped model names or .pxm files")
    ap.add_argument("--data", type=Path, required=True, help="the folder holding the photo sets")
    args = ap.parse_args()
    specs = [str(args.data / name) for name in PHOTO_SETS]
    crops = data.open_training_sets(specs, None, 3, 256, crop=64).heldout  # (N, C, H, W)
    for model in args.models:
        bits = sum(8 * len(pixcodec.encode(np.ascontiguousarray(crop.transpose(1, 2, 0),
                                                                dtype=np.uint8), model).data)
                   for crop in crops)
        print(f"{model}: {len(crops)} crops, {bits / crops.size:.4f} bits/dim")


if __name__ == "__main__":
    main()
