"""The .pxc container, version 2 (specified in docs/FORMAT.md).

A fixed header (size, colour type, bit depth, sample checksum) and a list of sections, each
with a type, a length and a CRC, like PNG chunks. Everything a header or section claims is
checked against the bytes that are really there and against the pixel limit before any memory is
allocated for pixels or anything is decoded; every problem raises FormatError naming it.
"""
from __future__ import annotations

import hashlib
import lzma
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import FormatError
from .limits import (DEFAULT_MAX_METADATA, DEFAULT_MAX_PIXELS, MAX_MODEL_NAME,  # noqa: F401
                     MAX_SIDE, MAX_TILE)
from .imageio import COLOUR_TYPES, Chunk, PngImage
from .planes import (ADAPT, ALPHA, CHUNKS, COLOUR, INDICES, LOW_BYTES,  # noqa: F401
                     SECTION_ORDER, allowed_sections, required_sections)

MAGIC = b"\x89PXC"
VERSION = 2

_HEADER = struct.Struct("<4sBIIBBBB8s")
_CRC = struct.Struct("<I")
_SECTION_HEAD = struct.Struct("<4sI")
_MODEL_FIXED = struct.Struct("<32sBH")   # after the model name: weights sha256, coder, tile
_CHUNK_HEAD = struct.Struct("<B4sI")     # place, type, length
HEADER_SIZE = _HEADER.size + _CRC.size

# Places of stored PNG chunks.
BEFORE_IDAT, AFTER_IDAT = 0, 1

# zlib cannot expand data more than 1032 times (deflate's longest match per bit pair), so a
# claimed size beyond that is corrupted, whatever the stream says; checked before inflating.
_ZLIB_MAX_RATIO = 1032


def image_checksum(image: PngImage) -> bytes:
    """First 8 bytes of sha256 of everything decompression restores: size, colour type, bit
    depth, interlacing, the samples (row-major H x W x C; 16-bit ones big-endian) and the
    stored chunks (as the CHNK section holds them before compression)."""
    samples = image.samples.astype(image.samples.dtype.newbyteorder(">"), copy=False)
    digest = hashlib.sha256(struct.pack("<IIBBB", image.width, image.height, image.colour_type,
                                        image.bit_depth, int(image.interlaced)))
    digest.update(np.ascontiguousarray(samples).tobytes())
    digest.update(_chunk_entries(image.before_idat, image.after_idat))
    return digest.digest()[:8]


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    colour_type: int    # PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    bit_depth: int      # 1, 2, 4, 8 or 16, as PNG allows for the colour type
    interlaced: bool    # the PNG to write back is Adam7-interlaced
    checksum: bytes     # image_checksum of the image

    @property
    def channels(self) -> int:
        return COLOUR_TYPES[self.colour_type][1]

    def describe(self) -> str:
        return f"{COLOUR_TYPES[self.colour_type][0]} {self.bit_depth}-bit"



@dataclass(frozen=True)
class ModelPlane:
    """A COLR section: which model coded the samples, and the range coder's payload."""
    model: str
    weights_sha256: bytes   # 32 bytes: sha256 of the model's weight file
    coder: int
    tile: int
    payload: bytes


# ---------------------------------------------------------------------------- the container

def pack(header: Header, sections: dict[bytes, bytes]) -> bytes:
    head = _HEADER.pack(MAGIC, VERSION, header.width, header.height, header.colour_type,
                        header.bit_depth, int(header.interlaced), len(sections), header.checksum)
    parts = [head, _CRC.pack(zlib.crc32(head))]
    for kind in SECTION_ORDER:
        if kind in sections:
            data = sections[kind]
            if len(data) > 0xFFFFFFFF:
                raise FormatError(f"section {kind.decode()} is too large for the format")
            parts += [_SECTION_HEAD.pack(kind, len(data)), data,
                      _CRC.pack(zlib.crc32(kind + data))]
    return b"".join(parts)


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, dict[bytes, bytes]]:
    """Parse and validate a .pxc file: its header and its sections' data by type."""
    if len(data) < 5 or data[:4] != MAGIC:
        raise FormatError("not a pixcodec file (bad magic bytes)")
    if data[4] != VERSION:
        raise FormatError(f"unsupported format version {data[4]} (this pixcodec reads {VERSION})")
    if len(data) < HEADER_SIZE:
        raise FormatError("truncated file: header incomplete")
    (_, _, width, height, colour_type, depth, interlace, count,
     checksum) = _HEADER.unpack_from(data)
    (crc,) = _CRC.unpack_from(data, _HEADER.size)
    if zlib.crc32(data[:_HEADER.size]) != crc:
        raise FormatError("corrupted header (CRC mismatch)")
    if colour_type not in COLOUR_TYPES:
        raise FormatError(f"unknown colour type {colour_type}")
    if depth not in COLOUR_TYPES[colour_type][2]:
        raise FormatError(f"bit depth {depth} is invalid for colour type {colour_type}")
    if interlace not in (0, 1):
        raise FormatError(f"unknown interlace method {interlace}")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FormatError(f"invalid image size {width}x{height} (sides are 1 to {MAX_SIDE})")
    if width * height > max_pixels:
        raise FormatError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels} "
                          "pixels (raise it with --max-pixels if you trust this file)")
    header = Header(width, height, colour_type, depth, bool(interlace), checksum)
    sections = _read_sections(data, HEADER_SIZE, count)
    missing = sorted(required_sections(colour_type, depth) - sections.keys())
    if missing:
        raise FormatError(f"file lacks the {missing[0].decode()} section that a "
                          f"{header.describe()} image needs")
    extra = sorted(k for k in sections if k not in allowed_sections(colour_type, depth))
    if extra:
        raise FormatError(f"unexpected {extra[0].decode()} section for a {header.describe()} "
                          "image")
    return header, sections


def _read_sections(data: bytes, pos: int, count: int) -> dict[bytes, bytes]:
    sections: dict[bytes, bytes] = {}
    last = -1
    for index in range(count):
        if len(data) - pos < _SECTION_HEAD.size + _CRC.size:
            raise FormatError(f"truncated file: section {index + 1} of {count} is missing")
        kind, length = _SECTION_HEAD.unpack_from(data, pos)
        if not (kind.isascii() and kind.isalpha()):
            raise FormatError(f"invalid section type {kind!r}")
        name = kind.decode()
        available = len(data) - pos - _SECTION_HEAD.size - _CRC.size
        if length > available:
            raise FormatError(f"truncated file: section {name} claims {length} bytes, "
                              f"{available} remain")
        start = pos + _SECTION_HEAD.size
        body = data[start:start + length]
        (crc,) = _CRC.unpack_from(data, start + length)
        if zlib.crc32(kind + body) != crc:
            raise FormatError(f"corrupted section {name} (CRC mismatch)")
        pos = start + length + _CRC.size
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


# ---------------------------------------------------------------------------- section bodies

def pack_model_plane(plane: ModelPlane) -> bytes:
    name = plane.model.encode("ascii")
    return (bytes([len(name)]) + name
            + _MODEL_FIXED.pack(plane.weights_sha256, plane.coder, plane.tile) + plane.payload)


def unpack_model_plane(data: bytes) -> ModelPlane:
    if not data:
        raise FormatError("empty COLR section")
    name_len = data[0]
    if not 1 <= name_len <= MAX_MODEL_NAME or len(data) < 1 + name_len + _MODEL_FIXED.size:
        raise FormatError("invalid model name in the COLR section")
    raw_name = data[1:1 + name_len]
    if not (raw_name.isascii() and all(32 < b < 127 for b in raw_name)):
        raise FormatError("invalid model name in the COLR section")
    sha, coder, tile = _MODEL_FIXED.unpack_from(data, 1 + name_len)
    if not 1 <= tile <= MAX_TILE:
        raise FormatError(f"invalid tile size {tile} (1 to {MAX_TILE})")
    return ModelPlane(raw_name.decode("ascii"), sha, coder, tile,
                      data[1 + name_len + _MODEL_FIXED.size:])


def _lzma_filters(size: int) -> list[dict]:
    # The dictionary never needs to exceed the data; encoder and decoder derive it from the size
    # the header implies, so it is not stored and a decoder never allocates more.
    return [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME,
             "dict_size": min(max(size, 4096), 1 << 26)}]


def pack_lzma(raw: bytes) -> bytes:
    return lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_lzma_filters(len(raw)))


def unpack_lzma(data: bytes, size: int, name: str) -> bytes:
    """Exactly `size` bytes from an LZMA2 stream (the size comes from the validated header)."""
    decoder = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_lzma_filters(size))
    try:
        raw = decoder.decompress(data, max_length=size)
    except lzma.LZMAError as exc:
        raise FormatError(f"corrupted {name} section ({exc})") from None
    if len(raw) != size or not decoder.eof or decoder.unused_data:
        raise FormatError(f"corrupted {name} section (holds {'less' if len(raw) < size else 'more'}"
                          f" than the {size} bytes the image needs)")
    return raw


def _chunk_entries(before: tuple[Chunk, ...], after: tuple[Chunk, ...]) -> bytes:
    return b"".join(_CHUNK_HEAD.pack(place, c.type, len(c.data)) + c.data
                    for place, chunks in ((BEFORE_IDAT, before), (AFTER_IDAT, after))
                    for c in chunks)


def pack_chunks(before: tuple[Chunk, ...], after: tuple[Chunk, ...]) -> bytes:
    entries = _chunk_entries(before, after)
    return _CRC.pack(len(entries)) + zlib.compress(entries, 9)


def unpack_chunks(data: bytes, max_size: int = DEFAULT_MAX_METADATA
                  ) -> tuple[tuple[Chunk, ...], tuple[Chunk, ...]]:
    if len(data) < _CRC.size:
        raise FormatError("truncated CHNK section")
    (size,) = _CRC.unpack_from(data)
    stream = data[_CRC.size:]
    if size > _ZLIB_MAX_RATIO * len(stream) + 64:
        raise FormatError("corrupted CHNK section (impossible size)")
    if size > max_size:
        raise FormatError(f"the image's metadata (PNG chunks) takes {size} bytes, over the limit "
                          f"of {max_size} (raise it with --max-metadata if you trust this file)")
    inflater = zlib.decompressobj()
    try:
        entries = inflater.decompress(stream, size)
    except zlib.error as exc:
        raise FormatError(f"corrupted CHNK section ({exc})") from None
    if len(entries) != size or not inflater.eof or inflater.unused_data:
        raise FormatError("corrupted CHNK section (wrong size)")
    placed: tuple[list[Chunk], list[Chunk]] = ([], [])
    pos = 0
    while pos < size:
        if size - pos < _CHUNK_HEAD.size:
            raise FormatError("corrupted CHNK section (truncated entry)")
        place, kind, length = _CHUNK_HEAD.unpack_from(entries, pos)
        pos += _CHUNK_HEAD.size
        if place not in (BEFORE_IDAT, AFTER_IDAT) or length > size - pos:
            raise FormatError("corrupted CHNK section (invalid entry)")
        if not (kind.isascii() and kind.isalpha()):
            raise FormatError(f"corrupted CHNK section (chunk type {kind!r})")
        placed[place].append(Chunk(kind, entries[pos:pos + length]))
        pos += length
    return tuple(placed[BEFORE_IDAT]), tuple(placed[AFTER_IDAT])
