"""Per-image figures of the default models on a folder of images (Kodak for the README):
model NLL, real file bits/dim, overhead, encode/decode seconds, exact round trip, PNG size,
and the cost of tiling (extra NLL of independent tiles over the whole image in one piece).

    python scripts/bench_codec.py ../shared/data/kodak --out docs/kodak.json
"""
from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import pixcodec
from pixcodec import container, zoo
from pixcodec.codec import tile_grid
from pixcodec.imageio import read_image


@torch.no_grad()
def float_nll_bits(net, pixels: np.ndarray) -> float:
    """NLL in bits from the float32 network (fast; used only to price the tile edges)."""
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None]
    logits = net(x)
    return float(F.cross_entropy(logits.transpose(1, 2), x.long(), reduction="sum")) / math.log(2)


def tile_cost_pct(net, pixels: np.ndarray, tile: int) -> float:
    """Extra NLL of coding tiles independently, relative to the whole image, in percent."""
    whole = float_nll_bits(net, pixels)
    tiled = sum(float_nll_bits(net, pixels[y:y + h, x:x + w])
                for y, x, h, w in tile_grid(*pixels.shape[:2], tile))
    return 100 * (tiled / whole - 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = sorted(args.folder.glob("*.png"))[:args.limit]
    rows = []
    print("| image | size | model NLL | file | overhead | tile cost | PNG | encode s | decode s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        start = time.perf_counter()
        result = pixcodec.encode(path)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        back = pixcodec.decode(result.data)
        decode_s = time.perf_counter() - start
        original = read_image(path, container.DEFAULT_MAX_PIXELS).samples
        exact = np.array_equal(original, back.pixels)
        dims = result.dims
        plane = container.unpack_model_plane(container.unpack(result.data)[1][container.COLOUR])
        header_bits = 8 * (len(result.data) - len(plane.payload))
        buf = io.BytesIO()
        Image.open(path).save(buf, format="PNG", optimize=True)
        row = {
            "image": path.name, "width": result.header.width, "height": result.header.height,
            "nll_bpd": result.nll_bits / dims, "file_bpd": 8 * len(result.data) / dims,
            "overhead_pct": 100 * (8 * len(result.data) / (result.nll_bits + header_bits) - 1),
            "tile_cost_pct": tile_cost_pct(zoo.load_model(plane.model), original, plane.tile),
            "png_bpd": 8 * len(buf.getvalue()) / dims,
            "encode_s": encode_s, "decode_s": decode_s, "exact": exact,
        }
        rows.append(row)
        print(f"| {path.name} | {row['width']}x{row['height']} | {row['nll_bpd']:.3f} | "
              f"{row['file_bpd']:.3f} | {row['overhead_pct']:.2f}% | {row['tile_cost_pct']:.2f}% | "
              f"{row['png_bpd']:.3f} | {encode_s:.1f} | {decode_s:.1f} |"
              + ("" if exact else " MISMATCH"), flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if isinstance(rows[0][k], float)}
    print(f"| **mean** | | {mean['nll_bpd']:.3f} | {mean['file_bpd']:.3f} | "
          f"{mean['overhead_pct']:.2f}% | {mean['tile_cost_pct']:.2f}% | {mean['png_bpd']:.3f} | "
          f"{mean['encode_s']:.1f} | {mean['decode_s']:.1f} |")
    print(f"all exact: {all(r['exact'] for r in rows)}; threads {torch.get_num_threads()}")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "mean": mean,
                                        "threads": torch.get_num_threads()}, indent=1))


if __name__ == "__main__":
    main()
