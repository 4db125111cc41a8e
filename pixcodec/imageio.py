"""Reading images into (H, W, C) uint8 arrays with their mode, and writing them back as PNG."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import UnsupportedImageError

Image.MAX_IMAGE_PIXELS = None  # our own limit applies (container.DEFAULT_MAX_PIXELS)
SUPPORTED_MODES = ("L", "RGB", "1")


def _png_bit_depth(head: bytes) -> int | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 25:
        return head[24]
    return None


def read_image(source: str | Path | bytes) -> tuple[np.ndarray, str]:
    """A file path or encoded bytes -> ((H, W, C) uint8 pixels, mode in SUPPORTED_MODES)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if _png_bit_depth(data[:33]) == 16:
        raise UnsupportedImageError("16-bit PNG images are not supported yet")
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as exc:
        raise UnsupportedImageError(f"cannot read image: {exc}") from None
    if getattr(im, "n_frames", 1) > 1:
        raise UnsupportedImageError("animated / multi-frame images are not supported")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode in ("P", "L", "RGB")
                                            and "transparency" in im.info):
        raise UnsupportedImageError(f"images with transparency ({im.mode}) are not supported yet")
    if im.mode == "P":
        raise UnsupportedImageError("palette images are not supported yet")
    if im.mode not in SUPPORTED_MODES:
        raise UnsupportedImageError(f"image mode {im.mode} is not supported "
                                    "(8-bit grayscale, RGB and 1-bit images are)")
    return pixels_of(im), im.mode


def pixels_of(im: Image.Image) -> np.ndarray:
    if im.mode == "1":
        im = im.convert("L")
    arr = np.asarray(im, dtype=np.uint8)
    return arr.reshape(im.height, im.width, -1)


def check_array(pixels: np.ndarray) -> tuple[np.ndarray, str]:
    """A user's array -> ((H, W, C) uint8, mode); (H, W) is grayscale."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise UnsupportedImageError(f"pixel arrays must be uint8, not {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3) or 0 in arr.shape:
        raise UnsupportedImageError(f"pixel arrays must be (H, W), (H, W, 1) or (H, W, 3), "
                                    f"not {arr.shape}")
    return np.ascontiguousarray(arr), "RGB" if arr.shape[2] == 3 else "L"


def encode_png(pixels: np.ndarray, mode: str, optimize: bool = False) -> bytes:
    """(H, W, C) pixels in `mode` (1-bit as 0/255) -> PNG bytes. `optimize` is Pillow's option
    (zlib level 9 and extra work for the smallest file): slower, for benchmarks."""
    im = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels,
                         "L" if pixels.shape[2] == 1 else "RGB")
    if mode == "1":
        im = im.convert("1", dither=Image.Dither.NONE)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=optimize)
    return buf.getvalue()
