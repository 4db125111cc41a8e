"""The image data (IDAT) of PNGs: the scanlines' layout (``scanline_runs``), their filter types
checked on reading, and for the PNGs pixcodec writes each scanline behind the PNG filter
that suits it (libpng's rule: the least sum of the filtered bytes read as signed), deflated at
a chosen zlib level by zlib-ng (smaller and faster than zlib at level 9). pypng wrote every
row unfiltered, which made decompressed photos and screenshots up to 6 times the original
PNG's size (issue 37)."""
from __future__ import annotations

import numpy as np
from zlib_ng import zlib_ng

from .errors import UnsupportedImageError

# Adam7's passes: (x start, y start, x step, y step).
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2))
# zlib levels a user may ask for; the default, measured in docs/BENCHMARKS.md ("PNGs that
# decompress writes"): level 9 against 6 saves little, and costs little after the filters.
LEVELS = range(0, 10)
DEFAULT_LEVEL = 9
# Rows filtered at a time: bounds the five candidate filterings' memory (int16 each). Small
# enough that the temporaries stay in the cache and in memory already mapped: at 4 MiB each
# block's arrays were fresh pages, zeroed by the kernel (kodim01's first filtering 33-42 ms,
# 20 ms at 64 KiB; the same bytes). At least _MIN_BLOCK_ROWS rows, so that the two dozen numpy
# calls a block takes stay few per row of a very wide image.
_BLOCK_BYTES = 1 << 16
_MIN_BLOCK_ROWS = 8


def scanline_runs(width: int, height: int, channels: int, depth: int, interlaced: bool
                  ) -> list[tuple[int, int]]:
    """(rows, bytes a row with its filter byte) of each pass: Adam7's non-empty ones, or one."""
    runs = []
    for x0, y0, dx, dy in ADAM7 if interlaced else ((0, 0, 1, 1),):
        pass_width = (width - x0 + dx - 1) // dx
        pass_height = (height - y0 + dy - 1) // dy
        if pass_width > 0 and pass_height > 0:
            runs.append((pass_height, 1 + (pass_width * channels * depth + 7) // 8))
    return runs


def check_filter_types(raw: bytes, runs: list[tuple[int, int]]) -> None:
    """Every scanline's filter type one that PNG defines (0 to 4). Checked here, not left to
    the decoders: Pillow, where its host program has set LOAD_TRUNCATED_IMAGES, stops at an
    unknown one without a word and leaves the rows after it zero."""
    types, start = np.frombuffer(raw, dtype=np.uint8), 0
    for rows, length in runs:
        bad = types[start:start + rows * length:length]
        if (bad > 4).any():
            raise UnsupportedImageError(f"corrupted PNG image data (filter type "
                                        f"{int(bad[bad > 4][0])})")
        start += rows * length


def image_data(samples: np.ndarray, depth: int, interlaced: bool, palette: bool,
               level: int = DEFAULT_LEVEL) -> bytes:
    """(H, W, C) samples (uint16 at depth 16, else uint8 values below 2^depth) -> the zlib
    stream of their PNG scanlines, every filter type byte included. Palette images and depths
    below 8 are left unfiltered, as libpng advises (filters do not help packed indices)."""
    if level not in LEVELS:
        raise ValueError(f"zlib level {level} (0 to 9)")
    channels = samples.shape[2]
    unit = max(1, channels * depth // 8)  # bytes of a pixel, or 1: the filters' distance
    adaptive = depth >= 8 and not palette
    passes = ([samples] if not interlaced
              else [samples[y::dy, x::dx] for x, y, dx, dy in ADAM7])
    compressor = zlib_ng.compressobj(level)
    parts = []
    for image in passes:
        if image.size:
            lines = _scanlines(image, depth)
            parts.append(compressor.compress(_filtered(lines, unit) if adaptive
                                             else _unfiltered(lines)))
    parts.append(compressor.flush())
    return b"".join(parts)


def _scanlines(samples: np.ndarray, depth: int) -> np.ndarray:
    """(H, W, C) samples -> (H, bytes per row) uint8, as PNG packs them (big-endian 16-bit
    samples; several samples to a byte below 8 bits, the first in the high bits)."""
    height, width, channels = samples.shape
    values = samples.reshape(height, width * channels)
    if depth == 16:
        return values.astype(">u2").view(np.uint8).reshape(height, -1)
    if depth == 8:
        return np.ascontiguousarray(values, dtype=np.uint8)
    per_byte = 8 // depth
    padded = np.zeros((height, -(-values.shape[1] // per_byte) * per_byte), dtype=np.uint8)
    padded[:, :values.shape[1]] = values
    shifts = (8 - depth * np.arange(1, per_byte + 1)).astype(np.uint8)
    return np.bitwise_or.reduce(padded.reshape(height, -1, per_byte) << shifts, axis=2)


def _unfiltered(lines: np.ndarray) -> bytes:
    return np.hstack([np.zeros((len(lines), 1), np.uint8), lines]).tobytes()


def _filtered(lines: np.ndarray, unit: int) -> bytes:
    """Each row behind the filter (0 none, 1 sub, 2 up, 3 average, 4 Paeth) whose bytes, read
    as signed, have the least absolute sum; the first such filter on ties. Every filter reads
    the raw bytes alone, so all rows are filtered at once, a block of rows at a time."""
    rows, width = lines.shape
    block = max(_MIN_BLOCK_ROWS, _BLOCK_BYTES // max(1, width))
    out = []
    for top in range(0, rows, block):
        raw = lines[top:top + block].astype(np.int16)
        above = np.zeros_like(raw)
        above[1:] = raw[:-1]
        if top:
            above[0] = lines[top - 1]
        left = np.zeros_like(raw)
        left[:, unit:] = raw[:, :-unit]
        corner = np.zeros_like(raw)
        corner[:, unit:] = above[:, :-unit]
        guess = left + above - corner
        far_left, far_above, far_corner = (np.abs(guess - left), np.abs(guess - above),
                                           np.abs(guess - corner))
        paeth = np.where((far_left <= far_above) & (far_left <= far_corner), left,
                         np.where(far_above <= far_corner, above, corner))
        candidates = np.stack([raw, raw - left, raw - above, raw - ((left + above) >> 1),
                               raw - paeth]).astype(np.uint8)  # modulo 256
        cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
        choice = np.argmin(cost, axis=0)
        chosen = candidates[choice, np.arange(len(raw))]
        out.append(np.hstack([choice.astype(np.uint8)[:, None], chosen]))
    return np.vstack(out).tobytes()
