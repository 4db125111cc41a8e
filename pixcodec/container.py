"""The .pxc container, versions 3 and 4 (written) and version 2 (read), specified in
docs/FORMAT.md.

Version 3: a compact header (varint sizes, one byte for colour type, depth and interlacing, one
for which sections follow, a 4-byte image checksum), the sections with varint lengths, and a
CRC-32 of the whole file. Its COLR section names a shipped model by registry number and holds
one range-coder stream per tile, with each tile's length and the CRC-32 of its symbols.
Version 2: a fixed header and PNG-like sections, each with a type, a length and a CRC; its COLR
section holds one stream for all tiles. Version 4 is version 3 with a coding mode for each
tile in COLR (the model, or a classic coding: pixcodec/classic.py); pixcodec writes it only for
files that have a tile the model does not code, so every other file stays version 3.

Everything a header or section claims is checked against the bytes that are really there and
against the pixel limit before any memory is allocated for pixels or anything is decoded; every
problem raises FormatError naming it. The sections' bodies, each with its own checks:
pixcodec/sections.py.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import FormatError
from .imageio import COLOUR_TYPES, Chunk, PngImage
from .limits import DEFAULT_MAX_PIXELS, MAX_MODEL_NAME, MAX_SIDE
from .planes import (ADAPT, ALPHA, CHUNKS, COLOUR, INDICES, LOW_BYTES,  # noqa: F401
                     SECTION_ORDER, allowed_sections, required_sections)

MAGIC = b"\x89PXC"
VERSION = 3            # what this pixcodec writes, unless a tile is not the model's
TILE_MODES_VERSION = 4  # what it writes when one is (COLR holds each tile's mode)
VERSIONS = (2, VERSION, TILE_MODES_VERSION)  # what it reads

_HEADER = struct.Struct("<4sBIIBBBB8s")  # version 2
CRC = struct.Struct("<I")
_SECTION_HEAD = struct.Struct("<4sI")
CHUNK_HEAD = struct.Struct("<B4sI")     # place, type, length
HEADER_SIZE = _HEADER.size + CRC.size  # version 2
CHECKSUM_SIZE = {2: 8, 3: 4, 4: 4}  # bytes of the image checksum, by version
DEPTHS = (1, 2, 4, 8, 16)     # version 3 stores log2 of the bit depth

# Places of stored PNG chunks.
BEFORE_IDAT, AFTER_IDAT = 0, 1


def image_checksum(image: PngImage, version: int = VERSION) -> bytes:
    """First 8 (version 2) or 4 (version 3) bytes of sha256 of everything decompression
    restores: size, colour type, bit depth, interlacing, the samples (row-major H x W x C;
    16-bit ones big-endian) and the stored chunks (as the CHNK section holds them before
    compression)."""
    samples = image.samples.astype(image.samples.dtype.newbyteorder(">"), copy=False)
    digest = hashlib.sha256(struct.pack("<IIBBB", image.width, image.height, image.colour_type,
                                        image.bit_depth, int(image.interlaced)))
    digest.update(np.ascontiguousarray(samples).tobytes())
    digest.update(chunk_entries(image.before_idat, image.after_idat))
    return digest.digest()[:CHECKSUM_SIZE[version]]


def chunk_entries(before: tuple[Chunk, ...], after: tuple[Chunk, ...]) -> bytes:
    """The stored PNG chunks as the image checksum covers them and CHNK holds them (before
    compression): place, type, length and data of each."""
    return b"".join(CHUNK_HEAD.pack(place, c.type, len(c.data)) + c.data
                    for place, chunks in ((BEFORE_IDAT, before), (AFTER_IDAT, after))
                    for c in chunks)


def valid_model_name(name: str) -> bool:
    """The one rule for a model's name, wherever a model is named (a .pxc file, a .pxm file,
    `pixcodec export`, the manifest): 1 to MAX_MODEL_NAME printable ASCII characters, no
    spaces."""
    return isinstance(name, str) and 1 <= len(name) <= MAX_MODEL_NAME \
        and all(32 < ord(c) < 127 for c in name)


def tile_grid(height: int, width: int, tile: int):
    """(y, x, h, w) of each tile, in raster order of tiles; made as they are needed (a file's
    header may state 2^32 tiles of one pixel)."""
    return ((y, x, min(tile, height - y), min(tile, width - x))
            for y in range(0, height, tile) for x in range(0, width, tile))


def tile_count(height: int, width: int, tile: int) -> int:
    return -(-height // tile) * -(-width // tile)


def tile_checksum(symbols: np.ndarray) -> int:
    """CRC-32 of a tile's (h, w, C) uint8 symbols in row-major order (version 3)."""
    return zlib.crc32(np.ascontiguousarray(symbols, dtype=np.uint8).tobytes())


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    colour_type: int    # PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    bit_depth: int      # 1, 2, 4, 8 or 16, as PNG allows for the colour type
    interlaced: bool    # the PNG to write back is Adam7-interlaced
    checksum: bytes     # image_checksum of the image
    version: int = VERSION

    @property
    def channels(self) -> int:
        return COLOUR_TYPES[self.colour_type][1]

    def describe(self) -> str:
        return f"{COLOUR_TYPES[self.colour_type][0]} {self.bit_depth}-bit"



# ---------------------------------------------------------------------------- the container

def varint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, low first, the high bit set on all but the last."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def read_varint(data: bytes, pos: int, what: str, limit: int = 2**32) -> tuple[int, int]:
    """(value, position after it); refuses a truncated, over-long or over-large number."""
    value = shift = 0
    start = pos
    while True:
        if pos >= len(data):
            raise FormatError(f"truncated file: {what} is incomplete")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
        if shift >= 35:
            raise FormatError(f"invalid {what} (too long a number)")
    if pos - start > 1 and byte == 0:
        raise FormatError(f"invalid {what} (a number not in its shortest form)")
    if value >= limit:
        raise FormatError(f"invalid {what} ({value})")
    return value, pos


def pack(header: Header, sections: dict[bytes, bytes]) -> bytes:
    """A version 3 or 4 file (header.version): the same layout."""
    present = [kind for kind in SECTION_ORDER if kind in sections]
    image = (header.colour_type | DEPTHS.index(header.bit_depth) << 3
             | int(header.interlaced) << 6)
    flags = sum(1 << SECTION_ORDER.index(kind) for kind in present)
    if header.version not in (VERSION, TILE_MODES_VERSION):
        raise ValueError(f"pack writes versions 3 and 4, not {header.version}")
    parts = [MAGIC, bytes([header.version]), varint(header.width), varint(header.height),
             bytes([image, flags]), header.checksum]
    for kind in present:
        if kind != present[-1]:  # the last runs to the file's CRC
            parts.append(varint(len(sections[kind])))
        parts.append(sections[kind])
    body = b"".join(parts)
    return body + CRC.pack(zlib.crc32(body))


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, dict[bytes, bytes]]:
    """Parse and validate a .pxc file of any version this pixcodec reads: its header and its
    sections' data by type."""
    if len(data) < 5 or data[:4] != MAGIC:
        raise FormatError("not a pixcodec file (bad magic bytes)")
    if data[4] not in VERSIONS:
        raise FormatError(f"unsupported format version {data[4]} (this pixcodec reads "
                          f"{' and '.join(map(str, VERSIONS))})")
    header, sections = (_unpack_v2 if data[4] == 2 else _unpack_v3)(data, max_pixels)
    missing = sorted(required_sections(header.colour_type, header.bit_depth) - sections.keys())
    if missing:
        raise FormatError(f"file lacks the {missing[0].decode()} section that a "
                          f"{header.describe()} image needs")
    extra = sorted(k for k in sections
                   if k not in allowed_sections(header.colour_type, header.bit_depth))
    if extra:
        raise FormatError(f"unexpected {extra[0].decode()} section for a {header.describe()} "
                          "image")
    return header, sections


def _checked_header(width: int, height: int, colour_type: int, depth: int, interlace: int,
                    checksum: bytes, version: int, max_pixels: int) -> Header:
    if colour_type not in COLOUR_TYPES:
        raise FormatError(f"unknown colour type {colour_type}")
    if depth not in COLOUR_TYPES[colour_type][2]:
        raise FormatError(f"bit depth {depth} is invalid for colour type {colour_type}")
    if interlace not in (0, 1):
        raise FormatError(f"unknown interlace method {interlace}")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FormatError(f"invalid image size {width}x{height} (sides are 1 to {MAX_SIDE})")
    if version == 2 and depth == 1 and max_pixels == DEFAULT_MAX_PIXELS:
        max_pixels = V2_ONE_BIT_MAX_PIXELS
    if width * height > max_pixels:
        raise FormatError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels} "
                          "pixels (raise it with --max-pixels if you trust this file)")
    return Header(width, height, colour_type, depth, bool(interlace), checksum, version)


# A version 2 file holds one stream checked only after its last pixel, and a 1-bit model's
# symbols can carry 8.6e-8 bits each, so its length bounds nothing (api's check bounds the
# others): unless --max-pixels is raised, such files are held to 4 megapixels (a 2048 x 2048
# page), not the default 2**28, which a forged 90-byte file would make the decoder work
# through for hours.
V2_ONE_BIT_MAX_PIXELS = 2**22


_V3_MIN_SIZE = 5 + 1 + 1 + 2 + CHECKSUM_SIZE[3] + CRC.size


def _unpack_v3(data: bytes, max_pixels: int) -> tuple[Header, dict[bytes, bytes]]:
    if len(data) < _V3_MIN_SIZE:
        raise FormatError("truncated file: header incomplete")
    (crc,) = CRC.unpack_from(data, len(data) - CRC.size)
    body = data[:-CRC.size]
    if zlib.crc32(body) != crc:
        raise FormatError("corrupted file (CRC mismatch)")
    width, pos = read_varint(body, 5, "width")
    height, pos = read_varint(body, pos, "height")
    if len(body) < pos + 2 + CHECKSUM_SIZE[3]:
        raise FormatError("truncated file: header incomplete")
    image, flags = body[pos], body[pos + 1]
    if image >> 7:
        raise FormatError(f"invalid image byte {image:#04x}")
    depth_code = (image >> 3) & 7
    if depth_code >= len(DEPTHS):
        raise FormatError(f"invalid bit depth code {depth_code}")
    pos += 2
    checksum = body[pos:pos + CHECKSUM_SIZE[3]]
    pos += CHECKSUM_SIZE[3]
    header = _checked_header(width, height, image & 7, DEPTHS[depth_code], (image >> 6) & 1,
                             checksum, data[4], max_pixels)
    if flags >> len(SECTION_ORDER):
        raise FormatError(f"unknown critical section flags {flags:#04x} (made by a newer "
                          "pixcodec?)")
    present = [kind for i, kind in enumerate(SECTION_ORDER) if flags >> i & 1]
    sections: dict[bytes, bytes] = {}
    for kind in present:
        name = kind.decode()
        if kind == present[-1]:
            length = len(body) - pos
        else:
            length, pos = read_varint(body, pos, f"length of section {name}")
            if length > len(body) - pos:
                raise FormatError(f"truncated file: section {name} claims {length} bytes, "
                                  f"{len(body) - pos} remain")
        sections[kind] = body[pos:pos + length]
        pos += length
    if pos != len(body):
        raise FormatError(f"{len(body) - pos} unexpected bytes after the last section")
    return header, sections


def _unpack_v2(data: bytes, max_pixels: int) -> tuple[Header, dict[bytes, bytes]]:
    if len(data) < HEADER_SIZE:
        raise FormatError("truncated file: header incomplete")
    (_, _, width, height, colour_type, depth, interlace, count,
     checksum) = _HEADER.unpack_from(data)
    (crc,) = CRC.unpack_from(data, _HEADER.size)
    if zlib.crc32(data[:_HEADER.size]) != crc:
        raise FormatError("corrupted header (CRC mismatch)")
    header = _checked_header(width, height, colour_type, depth, interlace, checksum, 2,
                             max_pixels)
    return header, _read_sections(data, HEADER_SIZE, count)


def pack_v2(header: Header, sections: dict[bytes, bytes]) -> bytes:
    """A version 2 file (the tests' way to make old files)."""
    head = _HEADER.pack(MAGIC, 2, header.width, header.height, header.colour_type,
                        header.bit_depth, int(header.interlaced), len(sections), header.checksum)
    parts = [head, CRC.pack(zlib.crc32(head))]
    for kind in SECTION_ORDER:
        if kind in sections:
            data = sections[kind]
            if len(data) > 0xFFFFFFFF:
                raise FormatError(f"section {kind.decode()} is too large for the format")
            parts += [_SECTION_HEAD.pack(kind, len(data)), data,
                      CRC.pack(zlib.crc32(kind + data))]
    return b"".join(parts)


def _read_sections(data: bytes, pos: int, count: int) -> dict[bytes, bytes]:
    sections: dict[bytes, bytes] = {}
    last = -1
    for index in range(count):
        if len(data) - pos < _SECTION_HEAD.size + CRC.size:
            raise FormatError(f"truncated file: section {index + 1} of {count} is missing")
        kind, length = _SECTION_HEAD.unpack_from(data, pos)
        if not (kind.isascii() and kind.isalpha()):
            raise FormatError(f"invalid section type {kind!r}")
        name = kind.decode()
        available = len(data) - pos - _SECTION_HEAD.size - CRC.size
        if length > available:
            raise FormatError(f"truncated file: section {name} claims {length} bytes, "
                              f"{available} remain")
        start = pos + _SECTION_HEAD.size
        body = data[start:start + length]
        (crc,) = CRC.unpack_from(data, start + length)
        if zlib.crc32(kind + body) != crc:
            raise FormatError(f"corrupted section {name} (CRC mismatch)")
        pos = start + length + CRC.size
        if kind not in SECTION_ORDER:
            if kind[:1].isupper():
                raise FormatError(f"unknown critical section {name} (made by a newer pixcodec?)")
            continue  # an ancillary section this version does not use
        if SECTION_ORDER.index(kind) <= last:
            raise FormatError(f"section {name} is repeated or out of order")
        last = SECTION_ORDER.index(kind)
        sections[kind] = body
    if pos != len(data):
        raise FormatError(f"{len(data) - pos} unexpected bytes after the last section")
    return sections

