"""Write the synthetic-v1 benchmark set (pixcodec/synthetic.py: UI mock-ups, text, charts,
pixel art, a photo pasted into a page, noise; fixed seeds) as PNG files into a folder, for
tools other than `pixcodec bench synthetic-v1` (cwebp, cjxl, ...).

    python scripts/make_synthetic_set.py OUT_FOLDER
"""
import sys
from pathlib import Path

from PIL import Image

from pixcodec import synthetic


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name in synthetic.IMAGES:
        pixels, mode = synthetic.make(name)
        Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode).save(out / f"{name}.png")
        print(f"{out / name}.png  {pixels.shape[1]}x{pixels.shape[0]} {mode}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
