"""The encoder's choice of tiles: their side (`tile_side`), and each one's coding mode (format
version 4). The modes, and all that the decoder needs of them: pixcodec/classic.py.

Photos take the model alone, as before: a cheap look at the whole plane (the share of
neighbouring pixel pairs that are equal, the number of colours) tells them from screenshots,
documents, charts and pixel art, so a photo pays milliseconds and its file is version 3's byte
for byte, unless a tile's model stream is longer than the tile's samples (noise): that tile is
then stored. Other images take, tile by tile, the smallest of a lossless WebP, the tile stored,
and the model, which is tried only where WebP needs more than MODEL_TRIAL_BITS a sample (the
photo in a page); or the whole plane in the largest tiles the format allows, classic modes
alone, when that is smaller (one WebP file sees every repeated glyph of a page).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .classic import MODEL, STORED, WEBP, encode_tile
from .coder import ENGINE_ONLINE
from .container import tile_checksum, tile_count, tile_grid
from .encoder import CodedTiles, encode_pixels, encode_shared
from .limits import MAX_TILE
from .scheduling import Progress, balanced_groups
from .sections import ModelPlane, pack_model_plane

# A plane is not a photo when at least this share of its neighbouring pixel pairs (left-right
# and up-down) are equal (measured, docs/BENCHMARKS.md "Screenshots, documents, charts": Kodak
# at most 0.19, BSD68 0.11; the synthetic set's screenshots, text, charts and pixel art 0.78
# to 0.96, the photo in a page 0.53) ...
REPEAT_SHARE = 0.4
# ... or, in colour, when it has fewer colours than this share of its pixels, in windows of
# 256 x 256 (whole images: Kodak at least 0.034, BSD68 0.16, CIFAR 0.12, ImageNet 64x64 0.062;
# the synthetic set's screenshots, text, charts and pixel art at most 0.015).
FEW_COLOURS_SHARE = 1 / 64
# Planes of fewer pixels are coded as photos: small images are coded many at a time
# (api.encode_many) and so few pixels tell little (CIFAR images reach 0.43 equal pairs,
# ImageNet 64x64 ones 0.65).
MIN_PIXELS = 2**16
# In a plane that is not a photo, the model is tried on a tile only where WebP needs more than
# this many bits a sample: below it, the photo model, which cannot predict exact copies, loses.
MODEL_TRIAL_BITS = 1.5
# libwebp's (method, quality) tried on each tile: its strongest search is not always its
# smallest file (synthetic-v1's gray document: 7,596 bytes at method 6, quality 100 against
# 6,380 at its defaults, method 4, quality 75, which take a fiftieth of the time).
WEBP_SETTINGS = ((6, 100), (4, 75))
# The online stage (coder ENGINE_ONLINE) learns within a tile, so its tiles grow, in steps of
# TILE_STEP up to LARGEST_ONLINE_TILE, where a decode on each of DECODE_THREADS threads keeps
# its busiest thread within SLOWER_DECODE of the pixels it has at the model's own side
# (measured, docs/TRAINING.md "Larger tiles for the online stage": 384 and 512 save 0.1-0.2 %).
# Larger machines than two cores are common: a side that suits two threads alone (384 for a
# Kodak photo: four tiles) would leave the cores of an eight-thread decode idle. The side is
# chosen from the image's size alone: the bytes never depend on the threads decoding them.
TILE_STEP = 64
LARGEST_ONLINE_TILE = 512
DECODE_THREADS = (2, 4, 8)
SLOWER_DECODE = 1.05


def looks_photographic(values: np.ndarray) -> bool:
    """Whether the (H, W, C) uint8 plane is coded as a photo: by the model alone."""
    height, width, colours = values.shape
    if height * width < MIN_PIXELS:
        return True
    keys = values[:, :, 0].astype(np.uint32)
    for c in range(1, colours):
        keys = keys << 8 | values[:, :, c]
    equal = np.count_nonzero(keys[:, 1:] == keys[:, :-1]) + np.count_nonzero(keys[1:] == keys[:-1])
    pairs = height * (width - 1) + width * (height - 1)
    if equal >= REPEAT_SHARE * pairs:
        return False
    return colours == 1 or _colour_share(keys) >= FEW_COLOURS_SHARE


def _colour_share(keys: np.ndarray, window: int = 256, windows: int = 16) -> float:
    """Distinct colours per pixel, averaged over up to `windows` windows of `window` pixels a
    side spread over the plane (the plane itself if smaller). Not over the whole plane: a
    photo's distinct colours grow far slower than its pixels (a 25-megapixel mosaic of the
    Kodak photos has fewer than 1/64 as many, and was coded as a screenshot), a window's
    do not."""
    height, width = keys.shape
    tops = range(0, max(height - window, 0) + 1, window)
    lefts = range(0, max(width - window, 0) + 1, window)
    corners = [(y, x) for y in tops for x in lefts]
    picked = [corners[k * len(corners) // windows] for k in range(min(windows, len(corners)))]
    return float(np.mean([len(np.unique(keys[y:y + window, x:x + window]))
                          / keys[y:y + window, x:x + window].size for y, x in picked]))


def default_tile(values: np.ndarray, smallest: int, coder: int, photographic: bool) -> int:
    """The tile side of the (H, W, C) plane coded with `coder` when none is asked for, its
    model coding in tiles of `smallest`: `tile_side` for a photo; `smallest` for the others,
    whose tiles' modes are chosen tile by tile."""
    return tile_side(*values.shape[:2], smallest, coder) if photographic else smallest


def tile_side(height: int, width: int, smallest: int, coder: int) -> int:
    """The side of the tiles of a photo of this size coded with `coder`, whose model codes in
    tiles of `smallest`: for the online stage, the largest (the fewest tiles; the smallest side
    of equal counts) that decodes about as fast (above); `smallest` for the other coders."""
    if coder != ENGINE_ONLINE:
        return smallest
    limits = [SLOWER_DECODE * _busiest_thread_pixels(height, width, smallest, threads)
              for threads in DECODE_THREADS]
    sides = [side for side in range(smallest, max(smallest, LARGEST_ONLINE_TILE) + 1, TILE_STEP)
             if all(_busiest_thread_pixels(height, width, side, threads) <= limit
                    for threads, limit in zip(DECODE_THREADS, limits))]
    return min(sides, key=lambda side: (tile_count(height, width, side), side))


def _busiest_thread_pixels(height: int, width: int, side: int, threads: int) -> int:
    """Pixels of the busiest of `threads` threads decoding these tiles (as the decoder shares
    them out: ``scheduling.balanced_groups``)."""
    pixels = [h * w for _, _, h, w in tile_grid(height, width, side)]
    return max(sum(pixels[k] for k in group) for group in balanced_groups(pixels, threads))


def code_plane(net, values: np.ndarray, tile: int, progress: Progress | None = None,
               workers: int = 1, photographic: bool = True) -> CodedTiles:
    """The (H, W, C) uint8 plane -> its tiles' streams and modes, as above; `workers` processes
    code the model's tiles (the same bytes for any number)."""
    if photographic:
        coded = encode_pixels(net, values, tile, progress, workers)
        return bounded(coded, values, tile)
    tiles = _tiles(values, tile)
    chosen = [_best_classic(t) for t in tiles]
    trial = [k for k, (_, stream, _) in enumerate(chosen)
             if 8 * len(stream) > MODEL_TRIAL_BITS * tiles[k].size]
    if trial:
        coded = encode_shared(net, [tiles[k] for k in trial], tile, values.shape[:2],
                              progress, workers)
        for k, (stream, bits) in zip(trial, coded):
            if len(stream) < len(chosen[k][1]):
                chosen[k] = (MODEL, stream, bits)
    mixed = _coded(tiles, chosen, tile)
    if tile >= MAX_TILE and MODEL not in mixed.modes:
        return mixed  # classic_plane would code the same tiles again
    return _smaller(mixed, classic_plane(values))


def bounded(coded: CodedTiles, values: np.ndarray, tile: int) -> CodedTiles:
    """The model's tiles of the plane, each stored instead where its stream is longer than its
    samples: the plane as the model coded it if none is."""
    tiles = _tiles(values, tile)
    if all(len(s) <= t.size for s, t in zip(coded.streams, tiles)):
        return coded
    if all(len(s) > t.size for s, t in zip(coded.streams, tiles)):
        return classic_plane(values)  # nothing for the model: the largest classic tiles
    # a model tile's NLL is not kept apart from the plane's: its stream's bits stand for it
    chosen = [(MODEL, stream, 8.0 * len(stream)) if len(stream) <= t.size else _stored(t)
              for stream, t in zip(coded.streams, tiles)]
    return _smaller(coded, _coded(tiles, chosen, tile))


def classic_plane(values: np.ndarray) -> CodedTiles:
    """The plane in tiles of MAX_TILE, each in its smallest classic mode."""
    tiles = _tiles(values, MAX_TILE)
    return _coded(tiles, [_best_classic(t) for t in tiles], MAX_TILE)


def _best_classic(symbols: np.ndarray) -> tuple[int, bytes, float]:
    """(mode, stream, bits) of the smallest classic coding of a tile; stored on a tie (the
    cheaper to decode)."""
    webp = min((encode_tile(WEBP, symbols, *setting) for setting in WEBP_SETTINGS), key=len)
    return (WEBP, webp, 8.0 * len(webp)) if len(webp) < symbols.size else _stored(symbols)


def _stored(symbols: np.ndarray) -> tuple[int, bytes, float]:
    return STORED, encode_tile(STORED, symbols), 8.0 * symbols.size


def _tiles(values: np.ndarray, tile: int) -> list[np.ndarray]:
    return [values[y:y + h, x:x + w] for y, x, h, w in tile_grid(*values.shape[:2], tile)]


def _coded(tiles: Sequence[np.ndarray], chosen: Sequence[tuple[int, bytes, float]],
           tile: int) -> CodedTiles:
    """The plane from each tile's (mode, stream, bits): the bits are the model's NLL for its
    tiles, the stream's length for the others."""
    return CodedTiles(tuple(stream for _, stream, _ in chosen),
                      tuple(tile_checksum(t) for t in tiles),
                      float(sum(bits for _, _, bits in chosen)),
                      tuple(mode for mode, _, _ in chosen), tile)


def _smaller(first: CodedTiles, second: CodedTiles) -> CodedTiles:
    """The one whose COLR section is shorter; the first on a tie."""
    return second if _section_bytes(second) < _section_bytes(first) else first


def _section_bytes(coded: CodedTiles) -> int:
    """Bytes of a COLR section holding these tiles: what differs between two codings of one
    plane with one model (the model's reference is the same length in both)."""
    plane = ModelPlane(None, bytes(2), 2, coded.tile or 1, coded.streams,
                       coded.checksums if len(coded.streams) > 1 else None, model_id=1,
                       modes=coded.modes)
    return len(pack_model_plane(plane))
