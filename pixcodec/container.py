"""The .pxc container, version 3 (written) and version 2 (read), specified in docs/FORMAT.md.

Version 3: a compact header (varint sizes, one byte for colour type, depth and interlacing, one
for which sections follow, a 4-byte image checksum), the sections with varint lengths, and a
CRC-32 of the whole file. Its COLR section names a shipped model by registry number and holds
one range-coder stream per tile, with each tile's length and the CRC-32 of its symbols.
Version 2: a fixed header and PNG-like sections, each with a type, a length and a CRC; its COLR
section holds one stream for all tiles.

Everything a header or section claims is checked against the bytes that are really there and
against the pixel limit before any memory is allocated for pixels or anything is decoded; every
problem raises FormatError naming it.
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
from .orientation import ORIENTATIONS
from .planes import (ADAPT, ALPHA, CHUNKS, COLOUR, INDICES, LOW_BYTES,  # noqa: F401
                     SECTION_ORDER, allowed_sections, required_sections)

MAGIC = b"\x89PXC"
VERSION = 3            # what this pixcodec writes
VERSIONS = (2, VERSION)  # what it reads

_HEADER = struct.Struct("<4sBIIBBBB8s")  # version 2
_CRC = struct.Struct("<I")
_SECTION_HEAD = struct.Struct("<4sI")
_MODEL_FIXED = struct.Struct("<32sBH")   # after the model name: weights sha256, coder, tile
_CHUNK_HEAD = struct.Struct("<B4sI")     # place, type, length
HEADER_SIZE = _HEADER.size + _CRC.size  # version 2
CHECKSUM_SIZE = {2: 8, 3: 4}  # bytes of the image checksum, by version
DEPTHS = (1, 2, 4, 8, 16)     # version 3 stores log2 of the bit depth
_SHORT_HASH = 2               # version 3: bytes of a shipped model's weight hash kept
_NAMED_MODEL = 0              # version 3: the model is named in full, not by registry number
# Version 3's coder byte: the coder id in the low 4 bits, the orientation above it (0 in files
# written before 2026-12-03), bit 7 zero.
_CODER_BITS = 0x0F
_ORIENTATION_SHIFT = 4

# Places of stored PNG chunks.
BEFORE_IDAT, AFTER_IDAT = 0, 1

# zlib cannot expand data more than 1032 times (deflate's longest match per bit pair), so a
# claimed size beyond that is corrupted, whatever the stream says; checked before inflating.
_ZLIB_MAX_RATIO = 1032


def image_checksum(image: PngImage, version: int = VERSION) -> bytes:
    """First 8 (version 2) or 4 (version 3) bytes of sha256 of everything decompression restores: size, colour type, bit
    depth, interlacing, the samples (row-major H x W x C; 16-bit ones big-endian) and the
    stored chunks (as the CHNK section holds them before compression)."""
    samples = image.samples.astype(image.samples.dtype.newbyteorder(">"), copy=False)
    digest = hashlib.sha256(struct.pack("<IIBBB", image.width, image.height, image.colour_type,
                                        image.bit_depth, int(image.interlaced)))
    digest.update(np.ascontiguousarray(samples).tobytes())
    digest.update(_chunk_entries(image.before_idat, image.after_idat))
    return digest.digest()[:CHECKSUM_SIZE[version]]


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



@dataclass(frozen=True)
class ModelPlane:
    """A COLR section: which model coded the samples, and the range coder's streams."""
    model: str | None       # its name; None when a version 3 file gives its registry number
    weights_sha256: bytes   # sha256 of the model's weight file (version 3, by number: 2 bytes)
    coder: int
    tile: int
    streams: tuple[bytes, ...]   # one per tile (version 2: one for all tiles)
    checksums: tuple[int, ...] | None = None  # CRC-32 of each tile's symbols (None: version 2,
    #                                           or one tile: the image checksum covers it)
    model_id: int = _NAMED_MODEL  # a shipped model's registry number (version 3)
    version: int = VERSION
    orientation: int = 0    # how the plane was turned before coding (pixcodec/orientation.py)

    @property
    def payload(self) -> bytes:
        """Every stream, as the file holds them one after another."""
        return b"".join(self.streams)


# ---------------------------------------------------------------------------- the container

def _varint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, low first, the high bit set on all but the last."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int, what: str, limit: int = 2**32) -> tuple[int, int]:
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
    """A version 3 file."""
    present = [kind for kind in SECTION_ORDER if kind in sections]
    image = (header.colour_type | DEPTHS.index(header.bit_depth) << 3
             | int(header.interlaced) << 6)
    flags = sum(1 << SECTION_ORDER.index(kind) for kind in present)
    parts = [MAGIC, bytes([VERSION]), _varint(header.width), _varint(header.height),
             bytes([image, flags]), header.checksum]
    for kind in present:
        if kind != present[-1]:  # the last runs to the file's CRC
            parts.append(_varint(len(sections[kind])))
        parts.append(sections[kind])
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


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
    if width * height > max_pixels:
        raise FormatError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels} "
                          "pixels (raise it with --max-pixels if you trust this file)")
    return Header(width, height, colour_type, depth, bool(interlace), checksum, version)


_V3_MIN_SIZE = 5 + 1 + 1 + 2 + CHECKSUM_SIZE[3] + _CRC.size


def _unpack_v3(data: bytes, max_pixels: int) -> tuple[Header, dict[bytes, bytes]]:
    if len(data) < _V3_MIN_SIZE:
        raise FormatError("truncated file: header incomplete")
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    body = data[:-_CRC.size]
    if zlib.crc32(body) != crc:
        raise FormatError("corrupted file (CRC mismatch)")
    width, pos = _read_varint(body, 5, "width")
    height, pos = _read_varint(body, pos, "height")
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
                             checksum, 3, max_pixels)
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
            length, pos = _read_varint(body, pos, f"length of section {name}")
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
    (crc,) = _CRC.unpack_from(data, _HEADER.size)
    if zlib.crc32(data[:_HEADER.size]) != crc:
        raise FormatError("corrupted header (CRC mismatch)")
    header = _checked_header(width, height, colour_type, depth, interlace, checksum, 2,
                             max_pixels)
    return header, _read_sections(data, HEADER_SIZE, count)


def pack_v2(header: Header, sections: dict[bytes, bytes]) -> bytes:
    """A version 2 file (the tests' way to make old files)."""
    head = _HEADER.pack(MAGIC, 2, header.width, header.height, header.colour_type,
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
    """A version 3 COLR section (version 2's: pack_model_plane_v2)."""
    if plane.model_id != _NAMED_MODEL:
        model = _varint(plane.model_id) + plane.weights_sha256[:_SHORT_HASH]
    else:
        if not valid_model_name(plane.model):  # a file its decoder would refuse
            raise ValueError(f"model name {plane.model!r} cannot be recorded")
        name = plane.model.encode("ascii")
        model = _varint(_NAMED_MODEL) + bytes([len(name)]) + name + plane.weights_sha256
    if plane.coder & ~_CODER_BITS or plane.orientation not in ORIENTATIONS:
        raise ValueError(f"coder {plane.coder} or orientation {plane.orientation} out of range")
    parts = [model, bytes([plane.coder | plane.orientation << _ORIENTATION_SHIFT]),
             _varint(plane.tile)]
    if len(plane.streams) > 1:
        parts += [_varint(len(stream)) for stream in plane.streams[:-1]]
        parts += [_CRC.pack(c) for c in plane.checksums]
    return b"".join(parts + list(plane.streams))


def pack_model_plane_v2(plane: ModelPlane) -> bytes:
    if plane.orientation:
        raise ValueError("version 2 has no orientation")
    name = plane.model.encode("ascii")
    return (bytes([len(name)]) + name
            + _MODEL_FIXED.pack(plane.weights_sha256, plane.coder, plane.tile) + plane.payload)


def unpack_model_plane(data: bytes, header: Header) -> ModelPlane:
    """The COLR section of a file with this header. The tile table is checked against the
    bytes there before any of it is read: a file that states more tiles than it could hold is
    refused at once."""
    if header.version == 2:
        return _unpack_model_plane_v2(data)
    if not data:
        raise FormatError("empty COLR section")
    model_id, pos = _read_varint(data, 0, "model number in the COLR section")
    if model_id == _NAMED_MODEL:
        name, pos = _model_name(data, pos)
        sha = data[pos:pos + 32]
        pos += 32
    else:
        name, sha = None, data[pos:pos + _SHORT_HASH]
        pos += _SHORT_HASH
    if pos + 1 > len(data):
        raise FormatError("truncated COLR section")
    coder, orientation = data[pos] & _CODER_BITS, data[pos] >> _ORIENTATION_SHIFT
    if orientation not in ORIENTATIONS:
        raise FormatError(f"invalid coder byte {data[pos]:#04x} in the COLR section")
    tile, pos = _read_varint(data, pos + 1, "tile size in the COLR section", MAX_TILE + 1)
    if not 1 <= tile <= MAX_TILE:
        raise FormatError(f"invalid tile size {tile} (1 to {MAX_TILE})")
    count = tile_count(header.height, header.width, tile)
    if count == 1:
        return ModelPlane(name, sha, coder, tile, (data[pos:],), None, model_id, 3, orientation)
    table = count - 1 + _CRC.size * count  # a length takes at least one byte
    if table > len(data) - pos:
        raise FormatError(f"the file states {count} tiles, whose table alone needs {table} "
                          f"bytes; its COLR section has {len(data) - pos} left")
    lengths = []
    for k in range(count - 1):
        length, pos = _read_varint(data, pos, f"length of tile {k + 1}")
        lengths.append(length)
    if len(data) - pos < _CRC.size * count:
        raise FormatError("truncated COLR section: tile checksums incomplete")
    checksums = struct.unpack_from(f"<{count}I", data, pos)
    pos += _CRC.size * count
    rest = len(data) - pos - sum(lengths)
    if rest < 0:
        raise FormatError(f"the tile lengths add up to {sum(lengths)} bytes; the COLR section "
                          f"has {len(data) - pos} left")
    streams = []
    for length in lengths + [rest]:
        streams.append(data[pos:pos + length])
        pos += length
    return ModelPlane(name, sha, coder, tile, tuple(streams), checksums, model_id, 3, orientation)


def valid_model_name(name: str) -> bool:
    """The one rule for a model's name, wherever a model is named (a .pxc file, a .pxm file,
    `pixcodec export`, the manifest): 1 to MAX_MODEL_NAME printable ASCII characters, no
    spaces."""
    return isinstance(name, str) and 1 <= len(name) <= MAX_MODEL_NAME \
        and all(32 < ord(c) < 127 for c in name)


def _model_name(data: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(data):
        raise FormatError("invalid model name in the COLR section")
    name_len = data[pos]
    name = data[pos + 1:pos + 1 + name_len].decode("latin-1")  # byte for byte
    if len(data) < pos + 1 + name_len + 32 or not valid_model_name(name):
        raise FormatError("invalid model name in the COLR section")
    return name, pos + 1 + name_len


def _unpack_model_plane_v2(data: bytes) -> ModelPlane:
    if not data:
        raise FormatError("empty COLR section")
    name_len = data[0]
    if not 1 <= name_len <= MAX_MODEL_NAME or len(data) < 1 + name_len + _MODEL_FIXED.size:
        raise FormatError("invalid model name in the COLR section")
    name, pos = _model_name(data, 0)
    sha, coder, tile = _MODEL_FIXED.unpack_from(data, pos)
    if not 1 <= tile <= MAX_TILE:
        raise FormatError(f"invalid tile size {tile} (1 to {MAX_TILE})")
    return ModelPlane(name, sha, coder, tile, (data[pos + _MODEL_FIXED.size:],), None,
                      _NAMED_MODEL, 2)


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


def model_plane_of(data: bytes) -> ModelPlane:
    """The COLR section of a whole .pxc file (after checking the file)."""
    header, sections = unpack(data)
    if COLOUR not in sections:
        raise FormatError("file has no model-coded samples (a palette image)")
    return unpack_model_plane(sections[COLOUR], header)
