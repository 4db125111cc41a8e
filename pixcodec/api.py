"""The Python API: images or arrays in, .pxc bytes out, and back."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import container, zoo
from .coder import CODER_ID
from .codec import DEFAULT_TILE, Progress, decode_pixels, encode_pixels
from .errors import FormatError, ModelError, UnsupportedImageError
from .imageio import check_array, read_image

MAX_SIDE = 2**16  # the tile grid and the header hold any size; this bounds memory sanely


@dataclass(frozen=True)
class Compressed:
    data: bytes
    header: container.Header
    nll_bits: float          # the model's ideal code length of the pixels

    @property
    def dims(self) -> int:
        return self.header.width * self.header.height * self.header.colours


@dataclass(frozen=True)
class Decompressed:
    pixels: np.ndarray       # (H, W, C) uint8
    header: container.Header


def encode(source: str | Path | bytes | np.ndarray, model: str | None = None, *,
           tile: int = DEFAULT_TILE, progress: Progress | None = None) -> Compressed:
    if isinstance(source, np.ndarray):
        pixels, mode = check_array(source)
    else:
        pixels, mode = read_image(source)
    height, width, colours = pixels.shape
    if max(height, width) > MAX_SIDE:
        raise UnsupportedImageError(f"images up to {MAX_SIDE} pixels a side are supported")
    if not 1 <= tile <= 2**16 - 1:
        raise ValueError("tile must be between 1 and 65535")
    name = model or zoo.default_model("RGB" if colours == 3 else "L")
    info = zoo.model_info(name)
    if info.colours != colours:
        raise ModelError(f"model {name!r} codes {info.colours}-channel images, "
                         f"this image has {colours}")
    payload, nll_bits = encode_pixels(zoo.load_model(name), pixels, tile, progress)
    header = container.Header(
        model=name, weights_sha256=zoo.weights_sha256(name), width=width, height=height,
        mode=mode, bit_depth=8, coder=CODER_ID, tile=tile,
        checksum=container.pixel_checksum(pixels.tobytes()), payload_length=len(payload))
    return Compressed(container.pack(header, payload), header, nll_bits)


def decode(data: bytes, *, max_pixels: int = container.DEFAULT_MAX_PIXELS,
           progress: Progress | None = None) -> Decompressed:
    header, payload = container.unpack(data, max_pixels)
    if header.coder != CODER_ID:
        raise FormatError(f"unknown entropy coder id {header.coder}")
    try:
        info = zoo.model_info(header.model)
    except ModelError:
        raise FormatError(f"file needs model {header.model!r}, which this pixcodec does not "
                          "have (newer version?)") from None
    if bytes.fromhex(info.sha256) != header.weights_sha256:
        raise FormatError(f"file was made with different weights for model {header.model!r}")
    if info.colours != header.colours:
        raise FormatError(f"model {header.model!r} does not match colour mode {header.mode}")
    pixels = decode_pixels(zoo.load_model(header.model), payload, header.height, header.width,
                           header.tile, progress)
    if container.pixel_checksum(pixels.tobytes()) != header.checksum:
        raise FormatError("decoded pixels fail the checksum: the file is corrupted")
    return Decompressed(pixels, header)


def compress(source: str | Path | bytes | np.ndarray, model: str | None = None) -> bytes:
    """An image file (path or bytes) or a uint8 array (H, W[, C]) -> .pxc bytes."""
    return encode(source, model).data


def decompress(data: bytes) -> np.ndarray:
    """.pxc bytes -> uint8 array: (H, W) for grayscale and 1-bit, (H, W, 3) for RGB."""
    pixels = decode(data).pixels
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
