"""Tiles coded without the model (format version 4, docs/FORMAT.md "Tile modes"): what the
decoder needs to read them, and the encoding of each mode. Which mode a tile gets is the
encoder's choice, made apart (pixcodec/tilechoice.py).

* `MODEL`: the model's stream (pixcodec/codec.py), as in version 3;
* `WEBP`: a lossless WebP file of the tile (Pillow's libwebp, already a dependency): palettes,
  LZ77 matches and colour transforms win on screenshots, text, charts and pixel art, where the
  photo model cannot predict flat colours or exact copies; a one-channel tile is coded as RGB
  with equal channels and read back from the first;
* `STORED`: the tile's symbols as they are, row-major h x w x C: no image codes to more than
  its samples plus the container's few bytes.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, features

from .errors import FormatError

MODEL, WEBP, STORED = 0, 1, 2
MODES = (MODEL, WEBP, STORED)
CLASSIC_MODES = (WEBP, STORED)
MODE_NAMES = {MODEL: "model", WEBP: "WebP lossless", STORED: "stored"}


def encode_tile(mode: int, symbols: np.ndarray, method: int = 6, quality: int = 100) -> bytes:
    """A (h, w, C) uint8 tile -> its stream in a classic mode; WebP at libwebp's `method` (0-6)
    and `quality` (0-100: how hard its lossless coder searches; 6 and 100 its strongest)."""
    if mode == STORED:
        return np.ascontiguousarray(symbols, dtype=np.uint8).tobytes()
    if mode != WEBP:
        raise ValueError(f"{mode} is not a classic tile mode")
    rgb = np.repeat(symbols, 3, axis=2) if symbols.shape[2] == 1 else symbols
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buf, format="WEBP", lossless=True,
                                                           quality=quality, method=method,
                                                           exact=True)
    return buf.getvalue()


def decode_tile(mode: int, stream: bytes, height: int, width: int, colours: int,
                number: int) -> np.ndarray:
    """Tile `number` (from 0) of `mode` -> its (height, width, colours) uint8 symbols; a stream
    that does not hold exactly such a tile is refused naming the tile."""
    where = f"tile {number + 1} ({MODE_NAMES.get(mode, mode)})"
    if mode == STORED:
        if len(stream) != height * width * colours:
            raise FormatError(f"{where} holds {len(stream)} bytes, not the "
                              f"{height * width * colours} of a {width}x{height} tile")
        return np.frombuffer(stream, dtype=np.uint8).reshape(height, width, colours).copy()
    if mode != WEBP:
        raise FormatError(f"tile {number + 1} has unknown coding mode {mode}")
    if not features.check("webp"):
        raise FormatError(f"{where} needs WebP, which this Pillow was built without")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(stream), formats=["WEBP"])
            if image.size != (width, height):  # read from its header, before any decoding
                raise FormatError(f"{where} decodes to {image.size[0]}x{image.size[1]} "
                                  f"pixels, not {width}x{height}")
            image.load()
    except FormatError:
        raise
    except Exception as exc:  # Pillow's errors for a damaged stream are of many kinds
        raise FormatError(f"corrupted {where}: {' '.join(str(exc).split())}") from None
    if image.mode != "RGB":
        raise FormatError(f"{where} decodes to mode {image.mode}, not RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[:, :, :colours])
