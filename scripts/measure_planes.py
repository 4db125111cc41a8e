"""The measurements behind the coding of the planes that the models do not code (docs/FORMAT.md):
bytes of each candidate coding, over the distinct images of the PNG test suites.

    python scripts/measure_planes.py [tests/assets/pngsuite]

* LOWB, the low bytes of 16-bit samples: LZMA of (low - high) mod 256 (used), LZMA of the low
  bytes, zlib of the low bytes, an adaptive order-0 frequency model (ideal code length);
* ALPH, alpha (high bytes at 16 bits): LZMA (used), zlib, the shipped gray model;
* INDX, palette indices: LZMA (used), zlib, the gray model on indices scaled to 0..255, the RGB
  model on the palette's colours (where the entries are distinct, so indices could be restored).
"""
from __future__ import annotations

import math
import sys
import zlib
from pathlib import Path

import numpy as np

from pixcodec import zoo
from pixcodec.encoder import encode_pixels
from pixcodec.sections import pack_lzma
from pixcodec.imageio import read_image

LIMIT = 2**28


def adaptive_order0_bytes(values: np.ndarray) -> float:
    """Ideal code length of an adaptive frequency model (counts start at 1)."""
    counts = np.ones(256)
    bits = 0.0
    for v in values.ravel():
        bits -= math.log2(counts[v] / counts.sum())
        counts[v] += 1
    return bits / 8


def model_bytes(name: str, values: np.ndarray) -> int:
    return len(b"".join(encode_pixels(zoo.load_model(name), np.ascontiguousarray(values)).streams))


def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}\n\n| image | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 1) + "|")
    for row in rows:
        print(f"| {row[0]} | " + " | ".join(f"{v:.0f}" for v in row[1:]) + " |")
    totals = [sum(row[i] for row in rows if not math.isnan(row[i]))
              for i in range(1, len(header) + 1)]
    print("| **total** | " + " | ".join(f"**{v:.0f}**" for v in totals) + " |")


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/assets/pngsuite")
    seen = set()
    low_rows, alpha_rows, index_rows = [], [], []
    for path in sorted(root.rglob("*.png")):
        if path.parent.name == "crashers":
            continue
        image = read_image(path, LIMIT)
        key = (image.colour_type, image.bit_depth, image.samples.tobytes())
        if key in seen:  # the same pixels with other chunks
            continue
        seen.add(key)
        s, label = image.samples, f"{path.name} ({image.width}x{image.height})"
        if image.bit_depth == 16:
            high, low = (s >> 8).astype(np.uint8), (s & 0xFF).astype(np.uint8)
            low_rows.append([label, len(pack_lzma((low - high).tobytes())),
                             len(pack_lzma(low.tobytes())), len(zlib.compress(low.tobytes(), 9)),
                             adaptive_order0_bytes(low)])
        if image.colour_type in (4, 6):
            alpha = s[:, :, -1] >> 8 if image.bit_depth == 16 else s[:, :, -1]
            alpha = alpha.astype(np.uint8)
            alpha_rows.append([label, len(pack_lzma(alpha.tobytes())),
                               len(zlib.compress(alpha.tobytes(), 9)),
                               model_bytes("pixelcnn-gray-v1", alpha[:, :, None])])
        if image.colour_type == 3:
            indices = s[:, :, 0]
            palette = np.frombuffer(image.palette, np.uint8).reshape(-1, 3)
            distinct = len(np.unique(palette, axis=0)) == len(palette)
            scaled = indices * np.uint8(255 // (2 ** image.bit_depth - 1))
            colours = palette[np.minimum(indices, len(palette) - 1)]
            index_rows.append([label, len(pack_lzma(indices.tobytes())),
                               len(zlib.compress(indices.tobytes(), 9)),
                               model_bytes("pixelcnn-gray-v1", scaled[:, :, None]),
                               model_bytes("pixelcnn-rgb-v1", colours) if distinct else math.nan])
    table("LOWB: low bytes of 16-bit samples, bytes", ["LZMA low-high (used)", "LZMA low",
                                                       "zlib low", "adaptive order-0"], low_rows)
    table("ALPH: alpha, bytes", ["LZMA (used)", "zlib", "gray model"], alpha_rows)
    table("INDX: palette indices, bytes (nan: palette entries not distinct)",
          ["LZMA (used)", "zlib", "gray model, scaled", "RGB model, colours"], index_rows)


if __name__ == "__main__":
    main()
