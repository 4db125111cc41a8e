"""A training checkpoint's figures for the ablation table (docs/TRAINING.md): float NLL on every
image of a folder (Kodak: measured, never trained on), and optionally the exact codec's encode and
decode time of one of them (no adaptation, one thread, the shipped tile):

    python scripts/measure_checkpoint.py runs/ablation/wide.pt --images ../shared/data/kodak \
        --time kodim01.png
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from pixcodec.codec import decode_pixels
from pixcodec.data import IMAGE_SUFFIXES, load_folder
from pixcodec.encoder import encode_pixels
from pixcodec.likelihood import float_nll_bits
from pixcodec.limits import DEFAULT_TILE
from pixcodec.nets.presets import make_network, parameter_count
from pixcodec.train import load_checkpoint, model_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--images", type=Path, required=True, help="a folder of photos")
    parser.add_argument("--time", metavar="NAME", help="time coding this image of the folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    state = load_checkpoint(args.checkpoint)
    net = make_network(state["architecture"], state["config"])
    net.load_state_dict(model_weights(state))
    net.eval()
    colours = state["config"].get("colours", 3)
    names = sorted(p.name for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    photos = load_folder(args.images, colours)
    bits = dims = 0.0
    for pixels in photos:
        bits += float_nll_bits(net, pixels)
        dims += pixels.size
    print(f"{args.checkpoint}: {state['model']}, step {state['step']}, "
          f"{parameter_count(net):,} parameters")
    print(f"float NLL on {len(photos)} images of {args.images}: {bits / dims:.4f} bits/dim")
    if args.time:
        pixels = photos[names.index(args.time)]
        start = time.perf_counter()
        coded = encode_pixels(net, pixels, DEFAULT_TILE)
        coded_bits = coded.nll_bits
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        decoded = decode_pixels(net, coded.streams, *pixels.shape[:2], DEFAULT_TILE)
        decode_s = time.perf_counter() - start
        assert np.array_equal(decoded, pixels)
        print(f"{args.time}: {coded_bits / pixels.size:.4f} bits/dim coded, "
              f"encode {encode_s:.1f} s, decode {decode_s:.1f} s (exact round trip)")


if __name__ == "__main__":
    main()
