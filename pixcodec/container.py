"""The .pxc container, version 1 (specified in docs/FORMAT.md).

Everything is checked before any pixel memory is allocated or any decoding starts; every problem
raises FormatError with a message that names it.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from .errors import FormatError

MAGIC = b"\x89PXC"
VERSION = 1
# Colour modes: how the pixels were coded and which PNG mode decompress writes back.
MODES = {0: "L", 1: "RGB", 2: "1"}
MODE_CODES = {name: code for code, name in MODES.items()}
MODE_COLOURS = {"L": 1, "RGB": 3, "1": 1}
MAX_MODEL_NAME = 64
DEFAULT_MAX_PIXELS = 2**28

_FIXED = struct.Struct("<32sIIBBBH8sQ")  # after the model name
_CRC = struct.Struct("<I")


def pixel_checksum(pixels: bytes) -> bytes:
    return hashlib.sha256(pixels).digest()[:8]


@dataclass(frozen=True)
class Header:
    model: str
    weights_sha256: bytes   # 32 bytes
    width: int
    height: int
    mode: str               # "L", "RGB" or "1"
    bit_depth: int
    coder: int
    tile: int
    checksum: bytes         # first 8 bytes of sha256 of the raw pixels (row-major, HxWxC)
    payload_length: int

    @property
    def colours(self) -> int:
        return MODE_COLOURS[self.mode]


def pack(header: Header, payload: bytes) -> bytes:
    name = header.model.encode("ascii")
    head = (MAGIC + bytes([VERSION, len(name)]) + name + _FIXED.pack(
        header.weights_sha256, header.width, header.height, MODE_CODES[header.mode],
        header.bit_depth, header.coder, header.tile, header.checksum, len(payload)))
    return head + _CRC.pack(zlib.crc32(head)) + payload


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, bytes]:
    """Parse and validate a .pxc file; returns its header and payload."""
    if len(data) < 6 or data[:4] != MAGIC:
        raise FormatError("not a pixcodec file (bad magic bytes)")
    if data[4] != VERSION:
        raise FormatError(f"unsupported format version {data[4]} (this pixcodec reads {VERSION})")
    name_len = data[5]
    end = 6 + name_len + _FIXED.size
    if len(data) < end + _CRC.size:
        raise FormatError("truncated file: header incomplete")
    (crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(data[:end]) != crc:
        raise FormatError("corrupted header (CRC mismatch)")
    if not 1 <= name_len <= MAX_MODEL_NAME:
        raise FormatError("invalid model name length")
    try:
        model = data[6:6 + name_len].decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("invalid model name") from None
    (sha, width, height, mode, depth, coder, tile, checksum,
     payload_length) = _FIXED.unpack_from(data, 6 + name_len)
    if mode not in MODES:
        raise FormatError(f"unknown colour mode {mode}")
    if depth != 8:
        raise FormatError(f"unsupported bit depth {depth}")
    if width < 1 or height < 1:
        raise FormatError(f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise FormatError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels} "
                          "pixels (raise it with --max-pixels if you trust this file)")
    if tile < 1:
        raise FormatError("invalid tile size 0")
    payload = data[end + _CRC.size:]
    if len(payload) < payload_length:
        raise FormatError(f"truncated file: payload has {len(payload)} of {payload_length} bytes")
    if len(payload) > payload_length:
        raise FormatError(f"{len(payload) - payload_length} unexpected bytes after the payload")
    header = Header(model, sha, width, height, MODES[mode], depth, coder, tile, checksum,
                    payload_length)
    return header, payload


def header_size(model: str) -> int:
    return 6 + len(model) + _FIXED.size + _CRC.size
