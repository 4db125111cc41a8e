"""Training and evaluation data: image folders, the CIFAR-10 npz, and the named evaluation sets
of `pixcodec bench` (images with their colour mode)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .errors import PixcodecError, UnsupportedImageError
from .imageio import read_image

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


# --- Evaluation sets for `pixcodec bench` ------------------------------------------------------
# Built-in names resolve under a data root laid out like this (only what a set needs must exist):
#   kodak/*.png                      Kodak's 24 photos
#   cifar10-train-first4000.npz      key x (4000, 32, 32, 3); the last 1,000 are held out
#   binarized-mnist.npz              key test (10000, 28, 28), values 0/1
#   mnist.npz                        key x_test (10000, 28, 28)
DATA_ROOT_ENV = "PIXCODEC_DATA"
CIFAR10_NPZ = "cifar10-train-first4000.npz"
CIFAR10_HELDOUT_START = 3000  # images before this index are for training, never for evaluation
BUILTIN_SETS = ("kodak", "cifar10-heldout", "binarized-mnist-test", "mnist-test")


@dataclass(frozen=True)
class NamedImage:
    name: str
    pixels: np.ndarray  # (H, W, C) uint8; 1-bit images hold 0 and 255, as pixcodec reads them
    mode: str           # "RGB", "L" or "1"


@dataclass(frozen=True)
class ImageSet:
    """A data set's images, read one at a time so that a sample reads only what it uses."""
    name: str
    size: int
    read: Callable[[int], NamedImage]


def data_root(given: str | Path | None) -> Path | None:
    """The folder that holds the built-in sets: the one given, else $PIXCODEC_DATA, else none."""
    if given is not None:
        return Path(given)
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env) if env else None


def open_image_set(spec: str, root: str | Path | None = None) -> ImageSet:
    """A built-in set name (BUILTIN_SETS, found under `root`) or a folder of PNG images."""
    if spec in BUILTIN_SETS:
        return _open_builtin(spec, data_root(root))
    folder = Path(spec)
    if not folder.is_dir():
        raise PixcodecError(f"{spec} is neither a folder nor a data set "
                            f"({', '.join(BUILTIN_SETS)})")
    return _png_folder(spec, folder)


def _open_builtin(name: str, root: Path | None) -> ImageSet:
    if root is None:
        raise PixcodecError(f"data set {name} needs a data root: give --data-root DIR or set "
                            f"{DATA_ROOT_ENV}")
    if name == "kodak":
        return _png_folder(name, _required(root / "kodak", name))
    if name == "cifar10-heldout":
        images = _npz_array(root / CIFAR10_NPZ, "x", name)[CIFAR10_HELDOUT_START:]
        return _array_set(name, images, "RGB", first_index=CIFAR10_HELDOUT_START)
    if name == "binarized-mnist-test":
        images = _npz_array(root / "binarized-mnist.npz", "test", name)
        if images.max() > 1:
            raise PixcodecError(f"{root / 'binarized-mnist.npz'}: key test is not 0/1 valued")
        return _array_set(name, images * np.uint8(255), "1")
    return _array_set(name, _npz_array(root / "mnist.npz", "x_test", name), "L")


def _required(path: Path, name: str) -> Path:
    if not path.exists():
        raise PixcodecError(f"data set {name} needs {path}, which does not exist")
    return path


def _npz_array(path: Path, key: str, name: str) -> np.ndarray:
    with np.load(_required(path, name)) as npz:
        if key not in npz:
            raise PixcodecError(f"{path} has no key {key!r} (data set {name})")
        return npz[key]


def _array_set(name: str, images: np.ndarray, mode: str, first_index: int = 0) -> ImageSet:
    """Images (N, H, W[, C]) of a .npz; each is named by its index in the file."""
    images = images.reshape(*images.shape[:3], -1)

    def read(i: int) -> NamedImage:
        return NamedImage(f"#{first_index + i}", np.ascontiguousarray(images[i]), mode)

    return ImageSet(name, len(images), read)


def _png_folder(name: str, folder: Path) -> ImageSet:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not paths:
        raise PixcodecError(f"no PNG images in {folder}")

    def read(i: int) -> NamedImage:
        try:
            pixels, mode = read_image(paths[i])
        except UnsupportedImageError as exc:
            raise UnsupportedImageError(f"{paths[i]}: {exc}") from None
        return NamedImage(paths[i].name, pixels, mode)

    return ImageSet(name, len(paths), read)
