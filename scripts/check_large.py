"""Round-trip one large image (default 4096x4096 RGB) through the API and report time and memory.

    python scripts/check_large.py --size 4096
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import pixcodec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--colours", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.size
    base = np.add.outer(np.arange(n), np.arange(n)) * (200 / (2 * n))
    shape = (n, n, args.colours) if args.colours == 3 else (n, n)
    if args.colours == 3:
        base = base[:, :, None] + np.array([0, 20, 40])
    pixels = np.clip(base + rng.normal(0, 4, shape), 0, 255).astype(np.uint8)
    start = time.perf_counter()
    result = pixcodec.encode(pixels)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    back = pixcodec.decompress(result.data)
    decode_s = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{n}x{n}x{args.colours}: exact {np.array_equal(back, pixels)}, "
          f"{8 * len(result.data) / pixels.size:.3f} bits/dim, encode {encode_s:.0f} s, "
          f"decode {decode_s:.0f} s, peak memory {peak_gb:.1f} GB")


if __name__ == "__main__":
    main()
