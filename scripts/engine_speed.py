"""The integer engine in-process: encode and decode of tiles of a Kodak photo with a shipped
integer model, best of three runs (docs/BENCHMARKS.md, "The integer engine").

    python scripts/engine_speed.py --data ../shared/data -m logistic-rgb-int8-v5 --tiles 3
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixcodec import zoo
from pixcodec.engine import coding


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="the folder holding kodak/")
    ap.add_argument("-m", "--model", default="logistic-rgb-int8-v5")
    ap.add_argument("--image", default="kodim01.png")
    ap.add_argument("--tiles", type=int, default=3, help="256 x 256 tiles side by side (1-6)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--coder", type=int, choices=(3, 4),
                    help="coder 3, or 4 (the online stage); default: the one the model writes")
    args = ap.parse_args()
    net = zoo.load_model(args.model)
    coder = args.coder or net.coders[0]
    image = np.asarray(Image.open(args.data / "kodak" / args.image).convert("RGB"))
    tiles = [image[r:r + 256, c:c + 256] for r in (0, 256) for c in (0, 256, 512)][:args.tiles]
    coding.decode_round(net, [coding.encode_tile(net, tiles[0][:8, :8], coder)[0]], [(8, 8)],
                        coder=coder)  # load
    pixels = sum(t.shape[0] * t.shape[1] for t in tiles)
    encode, decode = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        coded = coding.encode_tiles(net, tiles, coder=coder)
        encode.append(time.perf_counter() - start)
        start = time.perf_counter()
        decoded, finished = coding.decode_round(net, [s for s, _ in coded],
                                                [t.shape[:2] for t in tiles], coder=coder)
        decode.append(time.perf_counter() - start)
        assert finished.all() and all(np.array_equal(a, b) for a, b in zip(decoded, tiles))
    for what, seconds in (("encode", min(encode)), ("decode", min(decode))):
        print(f"{what}: {seconds:.2f} s, {pixels / seconds / 1e3:.0f} kpx/s "
              f"({len(tiles)} tiles of 256 x 256, coder {coder}, best of {args.runs})")


if __name__ == "__main__":
    main()
