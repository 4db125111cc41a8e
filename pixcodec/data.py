"""Training and evaluation data: image folders, the CIFAR-10 npz, and the named evaluation sets
of `pixcodec bench` (images with their colour mode)."""
from __future__ import annotations

import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .errors import PixcodecError, UnsupportedImageError
from .imageio import GRAY, RGB, read_image
from .limits import DEFAULT_MAX_PIXELS

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


# --- Evaluation sets for `pixcodec bench` ------------------------------------------------------
# Built-in names resolve under a data root laid out like this (only what a set needs must exist):
#   kodak/*.png                      Kodak's 24 photos
#   bsd68/*.png                      BSD68; every 10th (by name) is held out from training
#   cifar10-train-first4000.npz      key x (4000, 32, 32, 3); the last 1,000 are held out
#   binarized-mnist.npz              key test (10000, 28, 28), values 0/1
#   mnist.npz                        key x_test (10000, 28, 28)
DATA_ROOT_ENV = "PIXCODEC_DATA"
CIFAR10_NPZ = "cifar10-train-first4000.npz"
CIFAR10_HELDOUT_START = 3000  # images before this index are for training, never for evaluation
FOLDER_HELDOUT_EVERY = 10  # of a training folder's images (sorted by name), every 10th is held out
#   synthetic-v1                     made here from fixed seeds (pixcodec/synthetic.py): no root
BUILTIN_SETS = ("kodak", "cifar10-heldout", "bsd68-heldout", "imagenet32-heldout200",
                "imagenet64-heldout200", "binarized-mnist-test", "mnist-test", "synthetic-v1")


@dataclass(frozen=True)
class NamedImage:
    name: str
    pixels: np.ndarray  # (H, W, C) uint8 samples; 1-bit images hold 0 and 1, as PNG does
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
    from . import synthetic
    if name == synthetic.NAME:
        names = list(synthetic.IMAGES)
        return ImageSet(name, len(names),
                        lambda i: NamedImage(names[i], *synthetic.make(names[i])))
    if root is None:
        raise PixcodecError(f"data set {name} needs a data root: give --data-root DIR or set "
                            f"{DATA_ROOT_ENV}")
    if name == "kodak":
        return _png_folder(name, _required(root / "kodak", name))
    if name == "cifar10-heldout":
        images = _npz_array(root / CIFAR10_NPZ, "x", name)[CIFAR10_HELDOUT_START:]
        return _array_set(name, images, "RGB", first_index=CIFAR10_HELDOUT_START)
    if name == "bsd68-heldout":
        return _png_folder(name, _required(root / "bsd68", name), every=FOLDER_HELDOUT_EVERY)
    if name in ("imagenet32-heldout200", "imagenet64-heldout200"):
        # Rough stand-ins for downsampled ImageNet's test sets (200 photographs, box-resized
        # whole): never to be reported as the paper's sets.
        return _array_set(name, _npz_array(root / f"{name}.npz", "x", name), "RGB")
    if name == "binarized-mnist-test":
        images = _npz_array(root / "binarized-mnist.npz", "test", name)
        if images.max() > 1:
            raise PixcodecError(f"{root / 'binarized-mnist.npz'}: key test is not 0/1 valued")
        return _array_set(name, images, "1")
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


def _png_folder(name: str, folder: Path, every: int = 1) -> ImageSet:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")[::every]
    if not paths:
        raise PixcodecError(f"no PNG images in {folder}")

    def read(i: int) -> NamedImage:
        try:
            image = read_image(paths[i], DEFAULT_MAX_PIXELS)
        except UnsupportedImageError as exc:
            raise UnsupportedImageError(f"{paths[i]}: {exc}") from None
        kind = (image.colour_type, image.bit_depth)
        if kind == (GRAY, 1):
            return NamedImage(paths[i].name, image.samples, "1")
        if kind in ((GRAY, 8), (RGB, 8)):
            return NamedImage(paths[i].name, image.samples, "L" if kind[0] == GRAY else "RGB")
        raise UnsupportedImageError(f"{paths[i]}: the bench takes 8-bit gray or RGB and 1-bit "
                                    "PNGs only")

    return ImageSet(name, len(paths), read)


# --- Training sets for `pixcodec train` -------------------------------------------------------

class ArraySampler:
    """Whole images of one size, drawn uniformly: (N, C, H, W) uint8."""

    def __init__(self, images: np.ndarray):
        self.images = images
        self.area = images.shape[0] * images.shape[2] * images.shape[3]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.images[rng.integers(0, len(self.images), size=n)]


class CropSampler:
    """Random crops with horizontal flips of images of any size, drawn in proportion to area."""

    def __init__(self, images: list[np.ndarray], size: int):
        self.images = [im for im in images if im.shape[0] >= size and im.shape[1] >= size]
        if not self.images:
            raise ValueError(f"no image is at least {size}x{size}")
        area = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        self.weights = area / area.sum()
        self.area = area.sum()
        self.size = size

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, C, size, size) uint8."""
        out = []
        for i in rng.choice(len(self.images), size=n, p=self.weights):
            im = self.images[i]
            y = rng.integers(0, im.shape[0] - self.size + 1)
            x = rng.integers(0, im.shape[1] - self.size + 1)
            crop = im[y:y + self.size, x:x + self.size]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            out.append(crop.transpose(2, 0, 1))
        return np.ascontiguousarray(np.stack(out))


class MixedSampler:
    """Several training sets as one: each image of a batch comes from a set chosen in proportion
    to the set's pixel count, so a mix draws like one set holding all their images."""

    def __init__(self, samplers: list):
        self.samplers = samplers
        area = np.array([s.area for s in samplers], dtype=np.float64)
        self.weights = area / area.sum()
        self.area = area.sum()

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        counts = np.bincount(rng.choice(len(self.samplers), size=n, p=self.weights),
                             minlength=len(self.samplers))
        return np.concatenate([s.sample(int(k), rng)
                               for s, k in zip(self.samplers, counts) if k])


@dataclass(frozen=True)
class TrainingSet:
    name: str
    train: "ArraySampler | CropSampler"
    heldout: np.ndarray     # (N, C, H, W) uint8: the fixed evaluation images
    colours: int
    levels: int


# --heldout valid-tail: the last validation images held out, the rest trained on
BINARIZED_MNIST_TAIL = 2000
TRAINING_SETS = ("binarized-mnist", "mnist", "cifar10", "imagenet32", "imagenet64")
_FILES = {"binarized-mnist": "binarized-mnist.npz", "mnist": "mnist.npz",
          "cifar10": CIFAR10_NPZ, "imagenet32": "imagenet32",
          "imagenet64": "imagenet64"}


def open_training_sets(specs: list[str], root: str | Path | None, colours: int, levels: int,
                       crop: int = 32, heldout: str = "default") -> TrainingSet:
    """One training set (open_training_set) or several mixed: batches drawn across all of them
    (MixedSampler), the held-out images of all of them, in the order given. Their images must be
    of one size (CIFAR-10's 32x32 mixes with image folders at --crop 32)."""
    sets = [open_training_set(spec, root, colours, levels, crop, heldout) for spec in specs]
    if len(sets) == 1:
        return sets[0]
    shapes = {s.heldout.shape[1:] for s in sets}
    if len(shapes) > 1:
        sizes = ", ".join(f"{s.name} {s.heldout.shape[2]}x{s.heldout.shape[3]}" for s in sets)
        raise PixcodecError(f"cannot mix training images of different sizes ({sizes}); "
                            "image folders give --crop sized crops")
    return TrainingSet("+".join(s.name for s in sets), MixedSampler([s.train for s in sets]),
                       np.concatenate([s.heldout for s in sets]), colours, levels)


def open_training_set(spec: str, root: str | Path | None, colours: int, levels: int,
                      crop: int = 32, heldout: str = "default") -> TrainingSet:
    """A named set (TRAINING_SETS, found under `root`) or a path: an image folder (random
    crops), a CIFAR-10 ``cifar-10-python.tar.gz``, or an npz of one of the named layouts.

    `heldout` picks binarized MNIST's evaluation split: "valid" (default), "test", or
    "valid-tail": train on the training images and the validation images but the last
    BINARIZED_MNIST_TAIL, which are held out (the usual final fit on train + valid, with a
    small held-out part left for the curve)."""
    path = Path(spec)
    if spec in TRAINING_SETS:
        base = data_root(root)
        if base is None:
            raise PixcodecError(f"data set {spec} needs a data root: give --data-root DIR or "
                                f"set {DATA_ROOT_ENV}")
        path = base / _FILES[spec]
        if not path.exists():
            raise PixcodecError(f"data set {spec}: {path} not found")
        kind = spec
    elif path.is_dir():
        kind = "imagenet" if any(path.glob("*data*.npz")) else "folder"
    elif path.name.endswith(".tar.gz"):
        kind = "cifar10-python"
    elif path.suffix == ".npz" and path.exists():
        kind = _npz_kind(path)
    else:
        raise PixcodecError(f"{spec} is neither a data set ({', '.join(TRAINING_SETS)}) nor a "
                            "folder, .npz or cifar-10-python.tar.gz")
    if kind == "binarized-mnist":
        if levels != 2:
            raise PixcodecError("binarized MNIST needs a binary model (levels 2)")
        with np.load(path) as d:
            if heldout == "valid-tail":
                valid = d["valid"][:, None]
                train = np.concatenate([d["train"][:, None], valid[:-BINARIZED_MNIST_TAIL]])
                held = valid[-BINARIZED_MNIST_TAIL:]
            else:
                split = "valid" if heldout == "default" else heldout
                train, held = d["train"][:, None], d[split][:, None]
        return TrainingSet("binarized-mnist", ArraySampler(train), held, 1, 2)
    if levels != 256:
        raise PixcodecError(f"{spec} has 8-bit images: it needs a model with 256 levels")
    if kind == "mnist":
        with np.load(path) as d:
            train, held = d["x_train"][:, None], d["x_test"][:, None]
        return TrainingSet("mnist", ArraySampler(_channels(train, colours)),
                           _channels(held, colours), colours, 256)
    if kind in ("cifar10", "cifar10-partial"):
        with np.load(path) as d:
            x = d["x"]
        train, held = x[:CIFAR10_HELDOUT_START], x[CIFAR10_HELDOUT_START:]
        return TrainingSet("cifar10", ArraySampler(_nchw(train, colours)),
                           _nchw(held, colours), colours, 256)
    if kind == "cifar10-python":
        train, held = _read_cifar10_python(path)
        return TrainingSet("cifar10", ArraySampler(_nchw(train, colours)),
                           _nchw(held, colours), colours, 256)
    if kind in ("imagenet32", "imagenet64", "imagenet"):
        train, held = _read_imagenet_npz(path)
        return TrainingSet(path.name, ArraySampler(_nchw(train, colours)),
                           _nchw(held, colours), colours, 256)
    images = load_folder(path, colours)
    train = [im for i, im in enumerate(images) if i % FOLDER_HELDOUT_EVERY]
    held = CropSampler(images[::FOLDER_HELDOUT_EVERY], crop).sample(64, np.random.default_rng(1234))
    return TrainingSet(path.name, CropSampler(train, crop), held, colours, 256)


def _npz_kind(path: Path) -> str:
    with np.load(path) as d:
        keys = set(d.files)
    if {"train", "valid", "test"} <= keys:
        return "binarized-mnist"
    if "x_train" in keys:
        return "mnist"
    if "x" in keys:
        return "cifar10-partial"
    raise PixcodecError(f"{path}: not a known npz layout (keys {sorted(keys)})")


def _channels(x: np.ndarray, colours: int) -> np.ndarray:
    """(N, 1, H, W) grayscale -> (N, colours, H, W)."""
    return np.ascontiguousarray(np.repeat(x, colours, axis=1))


def _nchw(x: np.ndarray, colours: int) -> np.ndarray:
    """(N, H, W, 3) RGB -> (N, colours, H, W), grayscale by Pillow's L conversion."""
    if colours == 1:
        x = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in x])[..., None]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10's python batches are pickles: allow the numpy array machinery, nothing else,
    so that a doctored file cannot run code."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "bytes")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise PixcodecError(f"refusing to load {module}.{name} from a CIFAR-10 batch")
        return super().find_class(module, name)


def _read_cifar10_python(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The original cifar-10-python.tar.gz -> (50000, 32, 32, 3) train, (10000, ...) test."""
    batches: dict[str, np.ndarray] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if name.startswith("data_batch_") or name == "test_batch":
                f = tar.extractfile(member)
                d = _NumpyOnlyUnpickler(f, encoding="bytes").load()
                data = np.asarray(d[b"data"], dtype=np.uint8)
                batches[name] = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if "test_batch" not in batches or len(batches) < 2:
        raise PixcodecError(f"{path}: not a cifar-10-python archive")
    train = np.concatenate([batches[k] for k in sorted(batches) if k != "test_batch"])
    return train, batches["test_batch"]


def _read_imagenet_npz(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Downsampled ImageNet as published: train_data_batch_*.npz and val_data.npz, key
    ``data`` (N, 3 * s * s) with the R, G and B planes one after another."""
    def read(path: Path) -> np.ndarray:
        with np.load(path) as d:
            data = d["data"]
        side = int(round((data.shape[1] // 3) ** 0.5))
        return data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)

    train_files = sorted(folder.glob("train_data_batch_*.npz"))
    val = folder / "val_data.npz"
    if not train_files or not val.exists():
        raise PixcodecError(f"{folder}: expected train_data_batch_*.npz and val_data.npz")
    return np.concatenate([read(p) for p in train_files]), read(val)
