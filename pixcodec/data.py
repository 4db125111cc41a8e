"""Training and evaluation data: folders of images and the CIFAR-10 npz, as uint8 arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff"}


def load_folder(folder: str | Path, colours: int) -> list[np.ndarray]:
    """Every image in `folder` (sorted by name) as (H, W, C) uint8."""
    mode = "RGB" if colours == 3 else "L"
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images in {folder}")
    images = []
    for path in paths:
        with Image.open(path) as im:
            images.append(np.asarray(im.convert(mode)).reshape(im.height, im.width, colours))
    return images


def load_cifar10_npz(path: str | Path, colours: int) -> np.ndarray:
    """The partial CIFAR-10 of ../shared/data: (N, 32, 32, C) uint8."""
    x = np.load(path)["x"]
    if colours == 1:
        x = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in x])[..., None]
    return x


class RandomCrops:
    """Random crops with horizontal flips, images drawn in proportion to their area."""

    def __init__(self, images: list[np.ndarray], size: int, seed: int = 0):
        self.images = [im for im in images if im.shape[0] >= size and im.shape[1] >= size]
        if not self.images:
            raise ValueError(f"no image is at least {size}x{size}")
        area = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        self.weights = area / area.sum()
        self.size = size
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> np.ndarray:
        """(n, C, size, size) uint8."""
        out = []
        for i in self.rng.choice(len(self.images), size=n, p=self.weights):
            im = self.images[i]
            y = self.rng.integers(0, im.shape[0] - self.size + 1)
            x = self.rng.integers(0, im.shape[1] - self.size + 1)
            crop = im[y:y + self.size, x:x + self.size]
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            out.append(crop.transpose(2, 0, 1))
        return np.ascontiguousarray(np.stack(out))
