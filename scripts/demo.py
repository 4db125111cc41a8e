"""The main job end to end on one image, through the `pixcodec` command of this Python:
compress, decompress, verify the pixels, and compare the size with PNG's.

    python scripts/demo.py tests/assets/kodim23-crop.png
"""
from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


PIXCODEC = [sys.executable, "-m", "pixcodec"]


def main() -> None:
    source = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        pxc, png = Path(tmp) / "image.pxc", Path(tmp) / "restored.png"
        start = time.perf_counter()
        subprocess.run([*PIXCODEC, "compress", str(source), "-o", str(pxc)], check=True)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([*PIXCODEC, "decompress", str(pxc), "-o", str(png)], check=True)
        decode_s = time.perf_counter() - start
        original = Image.open(source)
        restored = Image.open(png)
        exact = original.mode == restored.mode and np.array_equal(np.asarray(original),
                                                                   np.asarray(restored))
        dims = original.width * original.height * len(original.getbands())
        buf = io.BytesIO()
        original.save(buf, format="PNG", optimize=True)
        print(f"image        {source} ({original.width}x{original.height} {original.mode})")
        print(f"round trip   {'exact' if exact else 'MISMATCH'}")
        print(f"pixcodec     {pxc.stat().st_size:8d} bytes  "
              f"{8 * pxc.stat().st_size / dims:.3f} bits/dim  "
              f"(encode {encode_s:.1f} s, decode {decode_s:.1f} s)")
        print(f"PNG optimize {len(buf.getvalue()):8d} bytes  {8 * len(buf.getvalue()) / dims:.3f} "
              "bits/dim")
        sys.exit(0 if exact else 1)


if __name__ == "__main__":
    main()
