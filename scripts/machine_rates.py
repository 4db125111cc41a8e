"""The machine's matrix-product rates on one thread: the arithmetic of the float64 exact path
(dgemm), of the integer engine (sgemm on integer values, at a decoding step's size too, and
its 8-bit products on the dot-product unit where the CPU has one) and what an int8 kernel could
reach (torch's oneDNN int8 product): docs/BENCHMARKS.md.

    python scripts/machine_rates.py
"""
from __future__ import annotations

import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from pixcodec.engine import vnni


def rate(product, macs: int, repeats: int = 5) -> float:
    """GMAC/s of the fastest of `repeats` calls of `product`, after one unmeasured call."""
    product()
    best = min(_seconds(product) for _ in range(repeats))
    return macs / best / 1e9


def _seconds(product) -> float:
    start = time.perf_counter()
    product()
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(1)
    n = 1024
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        a, b = rng.random((n, n)), rng.random((n, n))
        print(f"float64 {n}^3 (dgemm): {rate(lambda: a @ b, n**3):.1f} GMAC/s")
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        print(f"float32 {n}^3 (sgemm): {rate(lambda: a32 @ b32, n**3):.1f} GMAC/s")
        x = rng.integers(0, 256, (154, 240)).astype(np.float32)
        w = rng.integers(-127, 128, (240, 48)).astype(np.float32)
        step = rate(lambda: [x @ w for _ in range(100)], 100 * 154 * 240 * 48)
        print(f"float32 154 x 240 x 48 (a decoding step's spatial layer): {step:.1f} GMAC/s")
    if vnni.AVAILABLE:
        x8 = x.astype(np.uint8)
        packed = vnni.pack(w.astype(np.int8))
        out = np.empty((154, 48), np.int32)
        unit = rate(lambda: [vnni.product(x8, packed, 48, out) for _ in range(100)],
                    100 * 154 * 240 * 48)
        print(f"uint8 x int8 154 x 240 x 48 (the engine's AVX-512 VNNI kernel): {unit:.1f} GMAC/s")
    i8 = torch.randint(-128, 128, (n, n), dtype=torch.int8)
    j8 = torch.randint(-128, 128, (n, n), dtype=torch.int8)
    print(f"int8 {n}^3 (torch._int_mm): {rate(lambda: torch._int_mm(i8, j8), n**3):.1f} GMAC/s")


if __name__ == "__main__":
    main()
