"""Images as a PNG file holds them: read exactly, written back exactly.

A `PngImage` is everything a PNG file means: the samples at their bit depth (palette indices for
palette images), the colour type, the interlace method, and every chunk other than IHDR, IDAT
and IEND, byte for byte and in file order (PLTE, tRNS, gAMA, iCCP, text, EXIF, ...). Writing it
gives a PNG with the same meaning; only the compressed IDAT bytes may differ.

PNG files are parsed here; their pixel data is decoded by Pillow at 8 bits a sample and by
pypng at the other depths, which pypng keeps exact (Pillow reduces 16-bit RGB to 8 bits).
Other formats go through Pillow and become the PNG that Pillow would write for them.
"""
from __future__ import annotations

import contextlib
import io
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png
from PIL import Image, UnidentifiedImageError

from .errors import UnsupportedImageError
from .limits import MAX_SIDE
from .pngdata import (DEFAULT_LEVEL as DEFAULT_PNG_LEVEL, check_filter_types, image_data,
                      scanline_runs)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# colour type -> (name, channels, allowed bit depths), from the PNG specification
COLOUR_TYPES = {
    0: ("gray", 1, (1, 2, 4, 8, 16)),
    2: ("RGB", 3, (8, 16)),
    3: ("palette", 1, (1, 2, 4, 8)),
    4: ("gray+alpha", 2, (8, 16)),
    6: ("RGBA", 4, (8, 16)),
}
GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6

# Pillow modes accepted from formats other than PNG: those Pillow writes to PNG losslessly.
PILLOW_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")

_IHDR = struct.Struct(">IIBBBBB")


@dataclass(frozen=True)
class Chunk:
    type: bytes   # 4 ASCII letters
    data: bytes


@dataclass(frozen=True, eq=False)
class PngImage:
    samples: np.ndarray          # (H, W, channels): uint8, or uint16 for bit depth 16
    colour_type: int             # 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    bit_depth: int               # 1, 2, 4, 8 or 16, as COLOUR_TYPES allows
    interlaced: bool = False     # Adam7
    before_idat: tuple[Chunk, ...] = ()   # chunks between IHDR and IDAT, in file order
    after_idat: tuple[Chunk, ...] = ()    # chunks between IDAT and IEND, in file order

    @property
    def height(self) -> int:
        return self.samples.shape[0]

    @property
    def width(self) -> int:
        return self.samples.shape[1]

    @property
    def channels(self) -> int:
        return self.samples.shape[2]

    @property
    def palette(self) -> bytes | None:
        """The PLTE chunk's contents, if any."""
        return next((c.data for c in self.before_idat if c.type == b"PLTE"), None)

    def describe(self) -> str:
        return f"{COLOUR_TYPES[self.colour_type][0]} {self.bit_depth}-bit"

    def stripped(self) -> PngImage:
        """The image without ancillary chunks, except tRNS, which is part of the pixels' meaning."""
        keep = tuple(c for c in self.before_idat if c.type in (b"PLTE", b"tRNS"))
        return PngImage(self.samples, self.colour_type, self.bit_depth, self.interlaced, keep)

    def __eq__(self, other) -> bool:
        return (isinstance(other, PngImage) and self.colour_type == other.colour_type
                and self.bit_depth == other.bit_depth and self.interlaced == other.interlaced
                and self.before_idat == other.before_idat and self.after_idat == other.after_idat
                and self.samples.dtype == other.samples.dtype
                and np.array_equal(self.samples, other.samples))


def sample_dtype(bit_depth: int) -> np.dtype:
    return np.dtype(np.uint16 if bit_depth == 16 else np.uint8)


# ---------------------------------------------------------------------------------- reading

# Formats whose pixels are already lossy: a lossless copy of them is larger than the file and
# is not the file (issue 37). Refused unless the caller allows them; lossless recompression of
# the JPEG itself (its DCT coefficients) would be another coding, not built yet.
LOSSY_FORMATS = ("JPEG", "MPO")
JPEG_REFUSAL = ("a JPEG: its pixels are already lossy, and a lossless copy of them is larger "
                "than the JPEG, which could not be got back; give --allow-jpeg (Python: "
                "allow_jpeg=True) to compress its decoded pixels anyway")


def read_image(source: str | Path | bytes, max_pixels: int,
               allow_jpeg: bool = False) -> PngImage:
    """A file path or encoded bytes -> PngImage; refuses what it cannot keep exactly, and a
    JPEG unless `allow_jpeg`."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if data.startswith(PNG_SIGNATURE):
        return read_png(data, max_pixels)
    return read_png(_pillow_to_png(data, max_pixels, allow_jpeg), max_pixels)


def read_png(data: bytes, max_pixels: int) -> PngImage:
    chunks, trailing = split_chunks(data)
    if trailing:
        raise UnsupportedImageError(f"{trailing} bytes after the PNG's IEND chunk; pixcodec "
                                    "would not keep them")
    if not chunks or chunks[0].type != b"IHDR" or len(chunks[0].data) != _IHDR.size:
        raise UnsupportedImageError("invalid PNG: no IHDR chunk first")
    header, *rest = chunks
    width, height, depth, colour_type, compression, filtering, interlace = \
        _IHDR.unpack(header.data)
    if colour_type not in COLOUR_TYPES or depth not in COLOUR_TYPES[colour_type][2]:
        raise UnsupportedImageError(f"invalid PNG: bit depth {depth} with colour type "
                                    f"{colour_type}")
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise UnsupportedImageError("invalid PNG: unknown compression, filter or interlace method")
    check_size(width, height, max_pixels)
    idat_at = [i for i, c in enumerate(rest) if c.type == b"IDAT"]
    if not idat_at:
        raise UnsupportedImageError("invalid PNG: no IDAT chunk")
    if idat_at != list(range(idat_at[0], idat_at[-1] + 1)):
        raise UnsupportedImageError("invalid PNG: IDAT chunks are not consecutive")
    before, after = tuple(rest[:idat_at[0]]), tuple(rest[idat_at[-1] + 1:])
    check_chunks(before, after, colour_type, depth)
    idat = b"".join(rest[i].data for i in idat_at)
    samples = _decode_idat(idat, width, height, colour_type, depth, bool(interlace))
    return PngImage(samples, colour_type, depth, bool(interlace), before, after)


def split_chunks(data: bytes) -> tuple[list[Chunk], int]:
    """A PNG file -> (its chunks up to IEND, which is left out; bytes after IEND).

    Every length is checked against the bytes that remain before anything is read."""
    if not data.startswith(PNG_SIGNATURE):
        raise UnsupportedImageError("not a PNG file")
    chunks, pos = [], len(PNG_SIGNATURE)
    while True:
        if len(data) - pos < 12:
            raise UnsupportedImageError("truncated PNG: no IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, pos)
        if not kind.isascii() or not kind.isalpha():
            raise UnsupportedImageError(f"invalid PNG: chunk type {kind!r}")
        name = kind.decode()
        if length > len(data) - pos - 12:
            raise UnsupportedImageError(f"truncated or corrupted PNG: chunk {name} claims "
                                        f"{length} bytes, {len(data) - pos - 12} remain")
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(kind + body) != crc:
            raise UnsupportedImageError(f"corrupted PNG: CRC mismatch in chunk {name}")
        pos += 12 + length
        if kind == b"IEND":
            return chunks, len(data) - pos
        chunks.append(Chunk(kind, body))


def check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise UnsupportedImageError(f"invalid image size {width}x{height}")
    if max(width, height) > MAX_SIDE:
        raise UnsupportedImageError(f"images up to {MAX_SIDE} pixels a side are supported, "
                                    f"this one is {width}x{height}")
    if width * height > max_pixels:
        raise UnsupportedImageError(f"image of {width}x{height} pixels exceeds the limit of "
                                    f"{max_pixels} pixels")


# Ancillary chunks whose layout the PNG specification fixes: type -> (length in bytes, or by
# colour type; must come before PLTE; must come after PLTE). Each may occur once, before IDAT.
# Chunks not listed (text, EXIF, private ones) are kept as they are.
_CHUNK_RULES = {
    b"gAMA": (4, True, False),
    b"cHRM": (32, True, False),
    b"sRGB": (1, True, False),
    b"iCCP": (None, True, False),  # any length
    b"cICP": (4, True, False),
    b"mDCV": (24, True, False),
    b"cLLI": (8, True, False),
    b"sBIT": ({GRAY: 1, RGB: 3, PALETTE: 3, GRAY_ALPHA: 2, RGBA: 4}, True, False),
    b"bKGD": ({GRAY: 2, RGB: 6, PALETTE: 1, GRAY_ALPHA: 2, RGBA: 6}, False, True),
    b"tRNS": ({GRAY: 2, RGB: 6, PALETTE: "entries"}, False, True),
    b"hIST": ({PALETTE: "2 entries", RGB: "2 entries", RGBA: "2 entries"}, False, True),
    b"pHYs": (9, False, False),
    b"oFFs": (9, False, False),
}


def _allowed_lengths(size, colour_type: int, palette_entries: int):
    """The lengths a chunk may have, from its rule; None where it has no place."""
    if isinstance(size, dict):
        size = size.get(colour_type)
        if size == "entries":
            return range(1, palette_entries + 1)
        if size == "2 entries":
            return (2 * palette_entries,) if palette_entries else None
        return None if size is None else (size,)
    return range(1, 2**31) if size is None else (size,)


def check_chunks(before: tuple[Chunk, ...], after: tuple[Chunk, ...], colour_type: int,
                 depth: int) -> None:
    """Refuse chunk lists that no valid PNG has (the rules of the PNG specification that
    concern what pixcodec keeps); raises UnsupportedImageError naming the problem."""
    for chunk in before + after:
        if chunk.type in (b"IHDR", b"IEND", b"IDAT"):
            raise UnsupportedImageError(f"invalid PNG: misplaced {chunk.type.decode()} chunk")
        if chunk.type[:1].isupper() and chunk.type != b"PLTE":
            raise UnsupportedImageError(f"unknown critical PNG chunk {chunk.type.decode()}: "
                                        "pixcodec cannot keep its meaning")
        if chunk.type in (b"acTL", b"fcTL", b"fdAT"):
            raise UnsupportedImageError("animated PNG images are not supported")
    types = [c.type for c in before]
    plte_at = types.index(b"PLTE") if b"PLTE" in types else None
    palette_entries = 0
    if plte_at is not None:
        plte = before[plte_at].data
        palette_entries = len(plte) // 3
        if types.count(b"PLTE") > 1:
            raise UnsupportedImageError("invalid PNG: more than one PLTE chunk")
        if colour_type in (GRAY, GRAY_ALPHA):
            raise UnsupportedImageError("invalid PNG: PLTE chunk in a grayscale image")
        if len(plte) % 3 or not 1 <= palette_entries <= 256:
            raise UnsupportedImageError(f"invalid PNG: PLTE chunk of {len(plte)} bytes")
        if colour_type == PALETTE and palette_entries > 2 ** depth:
            raise UnsupportedImageError(f"invalid PNG: {palette_entries} palette entries for "
                                        f"bit depth {depth}")
    elif colour_type == PALETTE:
        raise UnsupportedImageError("invalid PNG: palette image without a PLTE chunk")
    for kind, (size, before_plte, after_plte) in _CHUNK_RULES.items():
        name = kind.decode()
        if any(c.type == kind for c in after):
            raise UnsupportedImageError(f"invalid PNG: {name} chunk after the image data")
        where = [i for i, t in enumerate(types) if t == kind]
        if not where:
            continue
        if len(where) > 1:
            raise UnsupportedImageError(f"invalid PNG: more than one {name} chunk")
        allowed = _allowed_lengths(size, colour_type, palette_entries)
        length = len(before[where[0]].data)
        if allowed is None:
            raise UnsupportedImageError(f"invalid PNG: {name} chunk in a "
                                        f"{COLOUR_TYPES[colour_type][0]} image"
                                        + ("" if palette_entries else " without PLTE"))
        if length not in allowed:
            raise UnsupportedImageError(f"invalid PNG: {name} chunk of {length} bytes")
        if plte_at is not None and before_plte and where[0] > plte_at:
            raise UnsupportedImageError(f"invalid PNG: {name} chunk after PLTE")
        if plte_at is not None and after_plte and where[0] < plte_at:
            raise UnsupportedImageError(f"invalid PNG: {name} chunk before PLTE")


def _decode_idat(idat: bytes, width: int, height: int, colour_type: int, depth: int,
                 interlaced: bool) -> np.ndarray:
    channels = COLOUR_TYPES[colour_type][1]
    runs = scanline_runs(width, height, channels, depth, interlaced)
    expected = sum(rows * length for rows, length in runs)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(idat, expected + 1)  # bounded: a small IDAT cannot balloon
    except zlib.error as exc:
        raise UnsupportedImageError(f"corrupted PNG image data ({exc})") from None
    if len(raw) > expected or inflater.unused_data:
        raise UnsupportedImageError("invalid PNG: image data longer than the image")
    if len(raw) < expected or not inflater.eof:
        raise UnsupportedImageError("truncated PNG image data")
    check_filter_types(raw, runs)
    # The filters and interlacing are undone from IHDR and IDAT alone (a palette image as gray
    # of the same depth, which lays out samples identically), so what is read is checked.
    gray_like = GRAY if colour_type == PALETTE else colour_type
    minimal = (PNG_SIGNATURE + _chunk_bytes(b"IHDR", _IHDR.pack(width, height, depth, gray_like,
                                                                 0, 0, int(interlaced)))
               + _chunk_bytes(b"IDAT", idat) + _chunk_bytes(b"IEND", b""))
    if depth == 8:
        return _samples_by_pillow(minimal, height, width, channels)
    try:
        _, _, values, _ = png.Reader(bytes=minimal).read_flat()
    except (png.Error, ValueError, IndexError) as exc:
        raise UnsupportedImageError(f"corrupted PNG image data ({exc})") from None
    samples = np.frombuffer(values, dtype=sample_dtype(depth))
    if samples.size != height * width * channels:
        raise UnsupportedImageError("corrupted PNG image data")
    return samples.reshape(height, width, channels)


def _samples_by_pillow(minimal: bytes, height: int, width: int, channels: int) -> np.ndarray:
    """8-bit samples by Pillow's PNG decoder, in C: pypng undoes the filters in Python, 0.2 s
    of a filtered 768 x 512 photo. Pillow keeps 8-bit samples exact in every colour type (it is
    16-bit RGB that it reduces), so the other depths stay with pypng."""
    try:
        with pillow_without_pixel_limit():  # Image.open checks the limit, load does not
            image = Image.open(io.BytesIO(minimal), formats=["PNG"])
        with image:
            image.load()
            samples = np.array(image)  # a copy of its own, writable as pypng's
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedImageError(f"corrupted PNG image data ({exc})") from None
    if samples.dtype != np.uint8 or samples.size != height * width * channels:
        raise UnsupportedImageError("corrupted PNG image data")
    return samples.reshape(height, width, channels)


@contextlib.contextmanager
def pillow_without_pixel_limit():
    """Lift Pillow's decompression-bomb limit for pixcodec's own reads (the caller's
    --max-pixels applies, checked before decoding) and put the host program's value back."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


_PILLOW_LIMIT_LOCK = threading.Lock()


def _pillow_to_png(data: bytes, max_pixels: int, allow_jpeg: bool) -> bytes:
    """A non-PNG image file -> the PNG Pillow writes for it (its pixels, same mode)."""
    with pillow_without_pixel_limit():
        return _pillow_to_png_unlimited(data, max_pixels, allow_jpeg)


def _pillow_to_png_unlimited(data: bytes, max_pixels: int, allow_jpeg: bool) -> bytes:
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnsupportedImageError("cannot read image: unknown file format") from None
    except Exception as exc:
        raise UnsupportedImageError(f"cannot read image: {exc}") from None
    check_size(im.width, im.height, max_pixels)
    if getattr(im, "n_frames", 1) > 1:
        raise UnsupportedImageError("animated / multi-frame images are not supported")
    if im.mode not in PILLOW_MODES:
        raise UnsupportedImageError(f"{im.format} images of mode {im.mode} are not supported "
                                    f"(modes {', '.join(PILLOW_MODES)} are)")
    # after the checks that --allow-jpeg cannot lift
    if im.format in LOSSY_FORMATS and not allow_jpeg:
        raise UnsupportedImageError(JPEG_REFUSAL)
    buf = io.BytesIO()
    try:
        im.load()
        im.save(buf, format="PNG")
    except Exception as exc:
        raise UnsupportedImageError(f"cannot read image: {exc}") from None
    return buf.getvalue()


def image_from_array(pixels: np.ndarray, max_pixels: int) -> PngImage:
    """A user's array -> PngImage: uint8 or uint16, (H, W) or (H, W, C) with C = 1 gray,
    2 gray+alpha, 3 RGB, 4 RGBA."""
    arr = np.asarray(pixels)
    if arr.dtype.kind != "u" or arr.dtype.itemsize not in (1, 2):
        raise UnsupportedImageError(f"pixel arrays must be uint8 or uint16, not {arr.dtype}")
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)  # either byte order
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or 0 in arr.shape:
        raise UnsupportedImageError(f"pixel arrays must be (H, W) or (H, W, C) with C 1 to 4, "
                                    f"not {arr.shape}")
    check_size(arr.shape[1], arr.shape[0], max_pixels)
    colour_type = {1: GRAY, 2: GRAY_ALPHA, 3: RGB, 4: RGBA}[arr.shape[2]]
    depth = 16 if arr.dtype == np.uint16 else 8
    return PngImage(np.ascontiguousarray(arr, dtype=sample_dtype(depth)), colour_type, depth)


# ---------------------------------------------------------------------------------- writing

def _chunk_bytes(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_bytes(header, before_idat: tuple[Chunk, ...] = ()) -> bytes:
    """A PNG file of `header`'s size and kind (a container.Header) with the chunks that come
    before its pixel data and none of the pixels: enough for a reader to tell the mode."""
    ihdr = _IHDR.pack(header.width, header.height, header.bit_depth, header.colour_type, 0, 0,
                      int(header.interlaced))
    return (PNG_SIGNATURE + _chunk_bytes(b"IHDR", ihdr)
            + b"".join(_chunk_bytes(c.type, c.data) for c in before_idat)
            + _chunk_bytes(b"IDAT", b"") + _chunk_bytes(b"IEND", b""))


_IDAT_CHUNK = 1 << 20  # bytes of image data per IDAT chunk (as pypng wrote them)


def write_png(image: PngImage, level: int = DEFAULT_PNG_LEVEL) -> bytes:
    """PngImage -> PNG file bytes: IHDR, the chunks before IDAT, IDAT, the chunks after, IEND.
    `level`: zlib's (0-9; lower is faster; the filters are chosen either way)."""
    height, width, _ = image.samples.shape
    idat = image_data(image.samples, image.bit_depth, image.interlaced,
                      image.colour_type == PALETTE, level)
    header = _IHDR.pack(width, height, image.bit_depth, image.colour_type, 0, 0,
                        int(image.interlaced))
    parts = [PNG_SIGNATURE, _chunk_bytes(b"IHDR", header)]
    parts += [_chunk_bytes(c.type, c.data) for c in image.before_idat]
    parts += [_chunk_bytes(b"IDAT", idat[k:k + _IDAT_CHUNK])
              for k in range(0, max(1, len(idat)), _IDAT_CHUNK)]
    parts += [_chunk_bytes(c.type, c.data) for c in image.after_idat]
    parts.append(_chunk_bytes(b"IEND", b""))
    return b"".join(parts)
