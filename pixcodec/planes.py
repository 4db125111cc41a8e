"""Which planes of an image go to which section of a .pxc file, and how samples become the
values those sections hold: the one table the container's checks, the API's encode and decode,
and bench share (docs/FORMAT.md, "Sections").

* gray and RGB samples -> a model (COLR): 8-bit values (the high byte at 16 bits, v * 255 /
  (2^d - 1) at 1, 2 and 4 bits), or the 0/1 samples themselves for a binary model;
* alpha (its high bytes at 16 bits) -> ALPH; palette indices -> INDX; the low bytes of 16-bit
  samples, minus their high byte -> LOWB; all LZMA;
* PNG chunks other than the pixel data -> CHNK (required for palette images: PLTE is there);
* ADPT, the model's per-image change, only beside a COLR section.
"""
from __future__ import annotations

import numpy as np

from .errors import FormatError
from .imageio import GRAY, GRAY_ALPHA, PALETTE, RGB, RGBA

# Section types in the order they appear in a file. Decoding follows this order, so the cheap
# sections are checked before the model runs.
CHUNKS = b"CHNK"     # PNG chunks other than IHDR/IDAT/IEND, zlib-compressed
INDICES = b"INDX"    # palette indices, LZMA
ALPHA = b"ALPH"      # alpha samples (high bytes at 16 bits), LZMA
LOW_BYTES = b"LOWB"  # 16-bit images: low byte minus high byte (mod 256) of every sample, LZMA
ADAPT = b"ADPT"      # per-image change to the model's last layers (pixcodec.adapt)
COLOUR = b"COLR"     # gray or RGB samples, coded with a model
SECTION_ORDER = (CHUNKS, INDICES, ALPHA, LOW_BYTES, ADAPT, COLOUR)

# colour type -> channels coded by a model (the alpha channel, if any, comes after them)
MODEL_CHANNELS = {GRAY: 1, RGB: 3, PALETTE: 0, GRAY_ALPHA: 1, RGBA: 3}
# What a model codes (model_mode) -> its channels
MODE_COLOURS = {"RGB": 3, "L": 1, "1": 1}


def required_sections(colour_type: int, depth: int) -> frozenset[bytes]:
    needed = {CHUNKS, INDICES} if colour_type == PALETTE else {COLOUR}
    if colour_type in (GRAY_ALPHA, RGBA):
        needed.add(ALPHA)
    if depth == 16:
        needed.add(LOW_BYTES)
    return frozenset(needed)


def allowed_sections(colour_type: int, depth: int) -> frozenset[bytes]:
    needed = required_sections(colour_type, depth)
    return needed | {CHUNKS} | ({ADAPT} if COLOUR in needed else set())


def model_mode(colour_type: int, depth: int) -> str:
    """What a model codes: "RGB", "L" (8-bit values) or "1" (1-bit gray)."""
    if MODEL_CHANNELS[colour_type] == 3:
        return "RGB"
    return "1" if depth == 1 else "L"


def to_eight_bits(samples: np.ndarray, depth: int) -> np.ndarray:
    """What the 8-bit models and the ALPH section see: the high byte at 16 bits, the full range
    at 1, 2 and 4 bits."""
    if depth == 16:
        return (samples >> 8).astype(np.uint8)
    if depth < 8:
        return samples * np.uint8(255 // (2 ** depth - 1))
    return samples


def from_eight_bits(values: np.ndarray, depth: int) -> np.ndarray:
    """Inverse of to_eight_bits for depths up to 8; refuses values it cannot have made."""
    if depth < 8:
        scale = np.uint8(255 // (2 ** depth - 1))
        if (values % scale).any():
            raise FormatError(f"decoded values are not {depth}-bit samples: the file is "
                              "corrupted")
        return values // scale
    return values


def low_byte_deltas(samples: np.ndarray) -> np.ndarray:
    """What LOWB holds of 16-bit samples: each low byte minus its high byte (to_eight_bits),
    mod 256."""
    return (samples & 0xFF).astype(np.uint8) - to_eight_bits(samples, 16)  # wraps mod 256


def sixteen_bit_samples(high: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Inverse of low_byte_deltas: uint16 samples from their high bytes and LOWB's values."""
    return (high.astype(np.uint16) << 8) | (deltas + high)  # wraps mod 256


def model_symbols(samples: np.ndarray, depth: int, levels: int) -> np.ndarray:
    """(H, W, C) uint8 symbols a model of `levels` codes for gray or RGB samples: a binary
    model codes 1-bit samples as they are, an 8-bit one their 8-bit values."""
    if levels == 2:
        return np.ascontiguousarray(samples, dtype=np.uint8)
    return np.ascontiguousarray(to_eight_bits(samples, depth))


def samples_of_symbols(symbols: np.ndarray, depth: int, levels: int) -> np.ndarray:
    """Inverse of model_symbols at depths up to 8 (16-bit samples also need LOWB)."""
    return symbols if levels == 2 else from_eight_bits(symbols, depth)
