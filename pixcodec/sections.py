"""The bodies of a .pxc file's sections (docs/FORMAT.md, "Sections"), each beside its reader
and its checks:

* COLR: the model's plane (`ModelPlane`): which model coded the samples, and one range-coder
  stream per tile (version 2: one for all tiles); version 4: each tile's coding mode, the model
  or a classic coding (pixcodec/classic.py);
* INDX, ALPH, LOWB: LZMA streams of bytes (`pack_lzma`);
* CHNK: the PNG's other chunks (`pack_chunks`);
* ADPT: the model's per-image change (`Adaptation`; pixcodec.adapt fits it and applies it).

Which planes of an image go to which section: pixcodec/planes.py; the file around them (the
header, the sections' lengths, the checksums): pixcodec/container.py.
"""
from __future__ import annotations

import lzma
import math
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .classic import MODES
from .container import (AFTER_IDAT, BEFORE_IDAT, CHUNK_HEAD, CRC, TILE_MODES_VERSION, VERSION,
                        Header, chunk_entries, read_varint, tile_count, unpack,
                        valid_model_name, varint)
from .errors import FormatError, UnsupportedImageError
from .imageio import Chunk
from .limits import DEFAULT_MAX_METADATA, MAX_MODEL_NAME, MAX_TILE
from .orientation import ORIENTATIONS
from .planes import COLOUR

_MODEL_FIXED = struct.Struct("<32sBH")   # version 2, after the model name: sha256, coder, tile
_SHORT_HASH = 2               # version 3: bytes of a shipped model's weight hash kept
_NAMED_MODEL = 0              # version 3: the model is named in full, not by registry number
# Version 3's coder byte: the coder id in the low 4 bits, the orientation above it (0 in files
# written before 2026-12-03), bit 7 zero.
_CODER_BITS = 0x0F
_ORIENTATION_SHIFT = 4

# zlib cannot expand data more than 1032 times (deflate's longest match per bit pair), so a
# claimed size beyond that is corrupted, whatever the stream says; checked before inflating.
_ZLIB_MAX_RATIO = 1032


# ------------------------------------------------------------------------------------ COLR

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
    modes: tuple[int, ...] | None = None  # each tile's coding mode (pixcodec/classic.py):
    #                                       version 4 only; None: every tile is the model's

    @property
    def payload(self) -> bytes:
        """Every stream, as the file holds them one after another."""
        return b"".join(self.streams)


def pack_model_plane(plane: ModelPlane) -> bytes:
    """A version 3 COLR section, or version 4's when the plane has modes (version 2's:
    pack_model_plane_v2)."""
    if plane.model_id != _NAMED_MODEL:
        model = varint(plane.model_id) + plane.weights_sha256[:_SHORT_HASH]
    else:
        if not valid_model_name(plane.model):  # a file its decoder would refuse
            raise ValueError(f"model name {plane.model!r} cannot be recorded")
        name = plane.model.encode("ascii")
        model = varint(_NAMED_MODEL) + bytes([len(name)]) + name + plane.weights_sha256
    if plane.coder & ~_CODER_BITS or plane.orientation not in ORIENTATIONS:
        raise ValueError(f"coder {plane.coder} or orientation {plane.orientation} out of range")
    parts = [model, bytes([plane.coder | plane.orientation << _ORIENTATION_SHIFT]),
             varint(plane.tile)]
    if plane.modes is not None:
        if len(plane.modes) != len(plane.streams) or not set(plane.modes) <= set(MODES):
            raise ValueError(f"tile modes {plane.modes} for {len(plane.streams)} tiles")
        parts.append(bytes(plane.modes))
    if len(plane.streams) > 1:
        parts += [varint(len(stream)) for stream in plane.streams[:-1]]
        parts += [CRC.pack(c) for c in plane.checksums]
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
    model_id, pos = read_varint(data, 0, "model number in the COLR section")
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
    tile, pos = read_varint(data, pos + 1, "tile size in the COLR section", MAX_TILE + 1)
    if not 1 <= tile <= MAX_TILE:
        raise FormatError(f"invalid tile size {tile} (1 to {MAX_TILE})")
    count = tile_count(header.height, header.width, tile)
    modes = None
    if header.version == TILE_MODES_VERSION:
        if count > len(data) - pos:
            raise FormatError(f"the file states {count} tiles, whose modes alone need {count} "
                              f"bytes; its COLR section has {len(data) - pos} left")
        modes = tuple(data[pos:pos + count])
        for k, mode in enumerate(modes):
            if mode not in MODES:
                raise FormatError(f"tile {k + 1} has unknown coding mode {mode}")
        pos += count
    if count == 1:
        return ModelPlane(name, sha, coder, tile, (data[pos:],), None, model_id, header.version,
                          orientation, modes)
    table = count - 1 + CRC.size * count  # a length takes at least one byte
    if table > len(data) - pos:
        raise FormatError(f"the file states {count} tiles, whose table alone needs {table} "
                          f"bytes; its COLR section has {len(data) - pos} left")
    lengths = []
    for k in range(count - 1):
        length, pos = read_varint(data, pos, f"length of tile {k + 1}")
        lengths.append(length)
    if len(data) - pos < CRC.size * count:
        raise FormatError("truncated COLR section: tile checksums incomplete")
    checksums = struct.unpack_from(f"<{count}I", data, pos)
    pos += CRC.size * count
    rest = len(data) - pos - sum(lengths)
    if rest < 0:
        raise FormatError(f"the tile lengths add up to {sum(lengths)} bytes; the COLR section "
                          f"has {len(data) - pos} left")
    streams = []
    for length in lengths + [rest]:
        streams.append(data[pos:pos + length])
        pos += length
    return ModelPlane(name, sha, coder, tile, tuple(streams), checksums, model_id, header.version,
                      orientation, modes)


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


def model_plane_of(data: bytes) -> ModelPlane:
    """The COLR section of a whole .pxc file (after checking the file)."""
    header, sections = unpack(data)
    if COLOUR not in sections:
        raise FormatError("file has no model-coded samples (a palette image)")
    return unpack_model_plane(sections[COLOUR], header)


# ---------------------------------------------------------------- INDX, ALPH, LOWB: LZMA

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


# ------------------------------------------------------------------------------------ CHNK

def pack_chunks(before: tuple[Chunk, ...], after: tuple[Chunk, ...],
                max_size: int = DEFAULT_MAX_METADATA) -> bytes:
    """The CHNK section; metadata over `max_size` bytes is refused here as `unpack_chunks`
    refuses it, so that what compress writes decompress reads with the same limit."""
    entries = chunk_entries(before, after)
    if len(entries) > max_size:
        raise UnsupportedImageError(
            f"the image's metadata (PNG chunks) takes {len(entries)} bytes, over the limit of "
            f"{max_size} that decompression applies (--strip drops it; or raise the limit with "
            "--max-metadata, here and when decompressing)")
    return CRC.pack(len(entries)) + zlib.compress(entries, 9)


def unpack_chunks(data: bytes, max_size: int = DEFAULT_MAX_METADATA
                  ) -> tuple[tuple[Chunk, ...], tuple[Chunk, ...]]:
    if len(data) < CRC.size:
        raise FormatError("truncated CHNK section")
    (size,) = CRC.unpack_from(data)
    stream = data[CRC.size:]
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
        if size - pos < CHUNK_HEAD.size:
            raise FormatError("corrupted CHNK section (truncated entry)")
        place, kind, length = CHUNK_HEAD.unpack_from(entries, pos)
        pos += CHUNK_HEAD.size
        if place not in (BEFORE_IDAT, AFTER_IDAT) or length > size - pos:
            raise FormatError("corrupted CHNK section (invalid entry)")
        if not (kind.isascii() and kind.isalpha()):
            raise FormatError(f"corrupted CHNK section (chunk type {kind!r})")
        placed[place].append(Chunk(kind, entries[pos:pos + length]))
        pos += length
    return tuple(placed[BEFORE_IDAT]), tuple(placed[AFTER_IDAT])


# ------------------------------------------------------------------------------------ ADPT

ADAPT_LEVELS = (1, 2)   # how much of the model a change holds (pixcodec.adapt: which parameters)
# The steps a change may be stored in, 2**-step: a coarser one stores fewer bytes and loses more
# of the fit; files from before the choice was made all use 10.
STEP_CHOICES = (7, 8, 9, 10, 11)
# The level byte's bit 4: the values are stored zigzagged (0, -1, 1, -2, ... as 0, 1, 2, 3, ...)
# as uint16, all low bytes then all high bytes: small changes give long runs of zero high bytes
# (about 20 % fewer bytes after LZMA). Without it (files before 2026-12-03): int16 little-endian.
ZIGZAG_PLANES = 0x10


@dataclass(frozen=True)
class Adaptation:
    """An ADPT section: a change to some of the model's parameters, integers times a power of
    two (multiples of the weight grid), which the decoder adds to the shipped weights."""
    level: int
    step_bits: int                   # the deltas are in units of 2**-step_bits
    deltas: tuple[np.ndarray, ...]   # int16, one per parameter of the level

    def pack(self) -> bytes:
        values = np.concatenate([d.ravel() for d in self.deltas])
        return (bytes([self.level | ZIGZAG_PLANES, self.step_bits])
                + pack_lzma(_zigzag_planes(values)))

    @classmethod
    def quantize(cls, level: int, step_bits: int, deltas: list[np.ndarray]) -> "Adaptation":
        return cls(level, step_bits, tuple(
            np.clip(np.round(d * 2.0**step_bits), -2**15, 2**15 - 1).astype(np.int16)
            for d in deltas))

    def values(self) -> list[np.ndarray]:
        """The deltas as float64 numbers."""
        return [d.astype(np.float64) * 2.0**-self.step_bits for d in self.deltas]


def unpack_adaptation(data: bytes, shapes_of: Callable[[int], Sequence[Sequence[int]]]
                      ) -> Adaptation:
    """An ADPT section's body; `shapes_of(level)`: the shapes of that level's deltas, in order
    (the model's parameters the level changes)."""
    level = data[0] & ~ZIGZAG_PLANES if len(data) >= 2 else None
    if level not in ADAPT_LEVELS or data[1] not in STEP_CHOICES:
        raise FormatError("corrupted ADPT section (unknown level or step)")
    shapes = shapes_of(level)
    size = 2 * sum(math.prod(s) for s in shapes)
    raw = unpack_lzma(data[2:], size, "ADPT")
    values = (_from_zigzag_planes(raw) if data[0] & ZIGZAG_PLANES
              else np.frombuffer(raw, dtype="<i2"))
    deltas, pos = [], 0
    for shape in shapes:
        n = math.prod(shape)
        deltas.append(values[pos:pos + n].reshape(shape))
        pos += n
    return Adaptation(level, data[1], tuple(deltas))


def _zigzag_planes(values: np.ndarray) -> bytes:
    wide = values.astype(np.int32)
    zigzag = np.where(wide >= 0, 2 * wide, -2 * wide - 1).astype(np.uint16)
    return (zigzag & 0xFF).astype(np.uint8).tobytes() + (zigzag >> 8).astype(np.uint8).tobytes()


def _from_zigzag_planes(raw: bytes) -> np.ndarray:
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(2, -1).astype(np.int32)
    zigzag = planes[0] | planes[1] << 8
    return np.where(zigzag % 2 == 0, zigzag // 2, -(zigzag + 1) // 2).astype(np.int16)
