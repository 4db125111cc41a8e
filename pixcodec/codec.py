"""Pixels <-> range-coder streams: one coding loop shared by the encoder and the decoder.

The image is cut into independent tiles of at most ``tile`` x ``tile`` pixels, and each tile is
coded into a stream of its own (format version 3). Tiles are coded side by side in rounds: all
tiles of a round advance together along a wavefront, position (r, c) of every tile at step
c + slope * r, where ``slope`` is the smallest integer for which nothing a position depends on is
coded at the same or a later step. So each step codes up to one position per row of every tile
at once, and an H x W tile needs W + slope * (H - 1) steps, one table computation per colour.
How many tiles share a round, and which process codes them, changes the speed, never the bytes:
each stream holds its tile's symbols in the tile's own wavefront order.

The decoder runs the networks' steppers along the wavefront. The encoder, which knows every
symbol, takes the same tables from exact parallel passes where they fit and pay
(`encode_small_tiles`, `encode_tile_by_passes`; the tests hold them equal to the loop's) and runs
the decoder's loop with the known symbols otherwise (large tiles of the PixelCNNs, whose
compiled steppers are faster than torch's float64 convolutions); ``pixcodec.fixedpoint`` makes
the tables identical on every machine.

Version 2 files hold one stream for all tiles, interleaved in rounds that a memory budget fixed
(``legacy_rounds``); ``decode_interleaved`` reads them.
"""
from __future__ import annotations

import functools
import itertools
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from torch import nn

from . import fixedpoint as fx
from .coder import CODER_ID, Decoder, Encoder
from .container import tile_count, tile_grid  # noqa: F401 (the format's rules)
from .errors import FormatError
from .limits import DEFAULT_TILE
from .nets.incremental import wavefront

# Version 2's rounds: as many tiles as fit this much feature cache. Part of that format: never
# change it.
CACHE_BUDGET_BYTES = 1 << 30
# Version 3's rounds: tiles side by side up to this many pixels (8 tiles of 256 x 256, one of
# 1024 x 1024, 668 of 28 x 28), and no more than fit the cache budget. Any value gives the same
# bytes; it bounds what a damaged file costs before its tiles' checksums are compared.
ROUND_PIXELS = 2**19
# Rows of a band of the encoder's parallel passes (encode_tile_by_passes): more rows repeat
# fewer halo rows and hold more tables. Any value gives the same bytes.
PASS_ROWS = 16
# Tiles whose tables hold at most this many entries (64 MiB of them) are encoded many at a time
# by whole-tile passes, each with one coder call (digits, CIFAR images); larger ones band by band.
# At most WHOLE_TILE_BATCH tiles a pass: larger batches only add the page faults of their
# intermediate maps (measured on 1,000 digits with the Diagonal BiLSTM: 83 a pass 43.6 s,
# 5,349 a pass 65.1 s, 21 s of it in the kernel).
WHOLE_TILE_ENTRIES = 2**23
WHOLE_TILE_BATCH = 64
# A worker process takes about a second to start (Python, torch): smaller images are coded in
# the calling process alone.
PARALLEL_MIN_PIXELS = 2**17
CODING_THREADS = 1  # see torch_threads; results are identical for any value

# Called as progress(steps_done, steps_total) after every wavefront step.
Progress = Callable[[int, int], None]
# code(tile, row, col, colour, weights) -> the symbols at those positions of the round's tiles.
Code = Callable[[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray], np.ndarray]


class StepCounter:
    """Calls progress(steps_done, total) after each wavefront step; `total` may be set late."""

    def __init__(self, progress: Progress | None, total: int = 0):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, steps: int = 1) -> None:
        self.done += steps
        if self.progress is not None:
            self.progress(self.done, self.total)


def _step_total(net: nn.Module, rounds: Sequence[Sequence[tuple[int, int]]]) -> int:
    """Steps of the coding loop over all these rounds of tile sizes, counted once per distinct
    round (10,000 digits are one)."""
    keys = [tuple(tuple(size) for size in sizes) for sizes in rounds]
    counts = {key: net.step_count(list(key)) for key in set(keys)}
    return sum(counts[key] for key in keys)


def tile_checksum(symbols: np.ndarray) -> int:
    """CRC-32 of a tile's (h, w, C) uint8 symbols in row-major order (format version 3)."""
    return zlib.crc32(np.ascontiguousarray(symbols, dtype=np.uint8).tobytes())


def _cache_bytes(height: int, width: int, net: nn.Module) -> int:
    return 4 * (height + 3) * (width + 6) * net.cache_channels()


def round_size(height: int, width: int, tile: int, net: nn.Module) -> int:
    """Tiles coded side by side in one round (version 3): speed and memory only."""
    height, width = min(tile, height), min(tile, width)
    return max(1, min(ROUND_PIXELS // (height * width),
                      CACHE_BUDGET_BYTES // _cache_bytes(height, width, net)))


def legacy_rounds(height: int, width: int, tile: int, net: nn.Module
                  ) -> tuple[int, Iterator[list]]:
    """Version 2's rounds, (how many, the rounds): lists of tiles coded side by side into the
    one stream, as many as fit CACHE_BUDGET_BYTES of the network's cache."""
    size = max(1, CACHE_BUDGET_BYTES // _cache_bytes(min(tile, height), min(tile, width), net))
    tiles = tile_grid(height, width, tile)
    count = -(-tile_count(height, width, tile) // size)
    return count, (list(itertools.islice(tiles, size)) for _ in range(count))


@contextmanager
def torch_threads(n: int):
    """Coding runs small matrix products one after another: extra threads barely help them and,
    on a busy machine, spin-waiting threads slow them down many times over.

    torch's thread count is global to the process, so calls from several threads of a host
    program take turns here; each puts back the count it found, which is then the host's."""
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


_THREADS_LOCK = threading.RLock()


def code_round(net: nn.Module, canvas: np.ndarray, sizes: Sequence[tuple[int, int]],
               code: Code, step_done: Callable[[], None] | None = None,
               observe: Callable | None = None) -> None:
    """Run the network over every position of a round of tiles, in decoding order.

    `canvas` (n, H, W, C) uint8 holds tile k at [k, :h_k, :w_k] (sizes[k] = (h_k, w_k)).
    ``code(tile, row, col, colour, weights)`` gets the tables of positions to code (integer-valued
    float64 weights, one row per position; in a step, tiles in order, rows increasing) and
    returns the symbols there: read from the canvas when encoding, from the streams when
    decoding. The loop writes them into the canvas. Positions the stepper marks as known are not
    coded: their values are already in the canvas.
    ``observe(tile, row, col, colour, table)``, if given, sees the table of every coded position
    (the tests' window on the loop)."""
    colours = canvas.shape[3]
    stepper = net.stepper(list(sizes))
    with torch_threads(CODING_THREADS):
        for t, r, c in stepper.steps():
            stepper.at(t, r, c)
            t, r, c = t.numpy(), r.numpy(), c.numpy()
            known = stepper.known
            if known is not None:
                coded = ~known.numpy()
                tc, rc, cc = t[coded], r[coded], c[coded]
            for colour in range(colours):
                table = stepper.table(colour).numpy()
                if known is None:  # every position is coded
                    if observe is not None:
                        observe(t, r, c, colour, table)
                    symbols = code(t, r, c, colour, net.table_weights(table))
                else:  # known ones: their tables were computed for the features only
                    table = table[coded]
                    if observe is not None:
                        observe(tc, rc, cc, colour, table)
                    symbols = canvas[t, r, c, colour].astype(np.int64)
                    if len(tc):
                        symbols[coded] = code(tc, rc, cc, colour, net.table_weights(table))
                canvas[t, r, c, colour] = symbols
                stepper.reveal(colour, torch.from_numpy(symbols))
            if step_done is not None:
                step_done()


def _canvas(tiles: Sequence[np.ndarray]) -> np.ndarray:
    height = max(t.shape[0] for t in tiles)
    width = max(t.shape[1] for t in tiles)
    canvas = np.zeros((len(tiles), height, width, tiles[0].shape[2]), dtype=np.uint8)
    for k, t in enumerate(tiles):
        canvas[k, :t.shape[0], :t.shape[1]] = t
    return canvas


def _runs(tiles: np.ndarray) -> Iterator[tuple[int, slice]]:
    """(tile, slice) of each run of equal tile numbers (a step lists tiles in order)."""
    if len(tiles) and tiles[0] == tiles[-1]:  # one tile: common, and a shortcut per colour
        yield int(tiles[0]), slice(0, len(tiles))
        return
    bounds = [0, *(np.flatnonzero(np.diff(tiles)) + 1), len(tiles)]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop > start:
            yield int(tiles[start]), slice(start, stop)


def coding_loop(net: nn.Module, pixels: np.ndarray, tile: int,
                code: Callable[[np.ndarray, np.ndarray, int, np.ndarray], np.ndarray],
                progress: Progress | None = None, observe: Callable | None = None,
                rounds: tuple[int, Iterator[list]] | None = None) -> None:
    """The loop over a whole (H, W, C) image in image coordinates: ``code(ys, xs, colour,
    weights)`` and ``observe(ys, xs, colour, table)`` as in `code_round`; the symbols are
    written into `pixels`. `rounds` (how many, the lists of tiles): default, version 3's."""
    height, width, _ = pixels.shape
    if rounds is None:
        size = round_size(height, width, tile, net)
        count = -(-tile_count(height, width, tile) // size)
        grid = tile_grid(height, width, tile)
        rounds = count, (list(itertools.islice(grid, size)) for _ in range(count))
    count, round_lists = rounds
    steps = StepCounter(progress)
    for round_tiles in round_lists:
        origin = np.array([(y, x) for y, x, _, _ in round_tiles])
        canvas = _canvas([pixels[y:y + h, x:x + w] for y, x, h, w in round_tiles])
        sizes = [(h, w) for _, _, h, w in round_tiles]
        steps.total = steps.total or count * net.step_count(sizes)

        def image_code(t, r, c, colour, weights):
            return code(origin[t, 0] + r, origin[t, 1] + c, colour, weights)

        def image_observe(t, r, c, colour, table):
            observe(origin[t, 0] + r, origin[t, 1] + c, colour, table)

        code_round(net, canvas, sizes, image_code, steps,
                   image_observe if observe is not None else None)
        for k, (y, x, h, w) in enumerate(round_tiles):
            pixels[y:y + h, x:x + w] = canvas[k, :h, :w]


@dataclass(frozen=True)
class CodedTiles:
    """An image's model-coded plane: one stream per tile, in raster order of tiles."""
    streams: tuple[bytes, ...]
    checksums: tuple[int, ...]   # tile_checksum of each tile
    nll_bits: float              # the model's ideal code length: what the streams approach


def _tiles_of(pixels: np.ndarray, tile: int) -> list[np.ndarray]:
    return [pixels[y:y + h, x:x + w] for y, x, h, w in tile_grid(*pixels.shape[:2], tile)]


def useful_workers(height: int, width: int, workers: int) -> int:
    """How many of `workers` processes an image of this size is worth: one below
    PARALLEL_MIN_PIXELS."""
    return workers if height * width >= PARALLEL_MIN_PIXELS else 1


def _groups(count: int, parts: int) -> list[range]:
    """`count` tiles in at most `parts` runs of consecutive tiles, as even as can be."""
    parts = max(1, min(parts, count))
    bounds = [count * k // parts for k in range(parts + 1)]
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def in_groups(func: Callable, items: Sequence, workers: int,
              progress: Progress | None = None) -> list:
    """func(part, progress=...) over runs of consecutive items, joined in order. With more than
    one run, the first is done in this process while `workers` - 1 worker processes do the
    others (each reports progress only when done): one interpreter less to start. The workers
    stay, started, for the next call (the encoder's steps before the tiles; the next image of
    a batch, a bench or a host program), until idle for a minute (workers.SPARE_IDLE_SECONDS):
    a worker's start, about two seconds of importing torch, is paid once, not per image."""
    groups = _groups(len(items), workers)
    if len(groups) == 1:
        return func(list(items), progress=progress)
    from .workers import run_in_workers
    results: list = [None] * len(groups)
    steps = StepCounter(progress, len(items))

    def first_group_here() -> None:
        results[0] = func([items[k] for k in groups[0]])
        for _ in groups[0]:
            steps()

    for index, outcome in run_in_workers(func, [([items[k] for k in g],) for g in groups[1:]],
                                         len(groups) - 1, meanwhile=first_group_here,
                                         keep=True):
        results[index + 1] = outcome.result()
        for _ in groups[index + 1]:
            steps()
    return [r for part in results for r in part]


def _fits_passes(net: nn.Module, height: int, width: int) -> bool:
    """Whether tiles of this size can be encoded from parallel passes (`encode_tile_by_passes`)
    within the cache budget: the tables of the rows the wavefront crosses at once, and a band.
    Networks without a plain wavefront (multi-scale) cannot."""
    if not hasattr(net, "wavefront_slope"):
        return False
    halo = net.halo_rows()
    rows = height if halo is None else min(height, -(-width // net.wavefront_slope(width))
                                           + 2 * PASS_ROWS)
    cfg = net.config
    return rows * width * cfg.colours * cfg.levels * 16 <= CACHE_BUDGET_BYTES


def encode_tile_by_passes(net: nn.Module, pixels: np.ndarray,
                          step_done: Callable[[], None] | None = None) -> tuple[bytes, float]:
    """A (h, w, C) uint8 tile -> (its stream, its NLL in bits), from exact parallel passes over
    bands of PASS_ROWS rows (with the rows above that the model sees): the very tables the
    decoder's loop computes (the tests hold them equal), coded in the loop's order, at a
    fraction of its cost. A band's tables live while the wavefront crosses it."""
    height, width, colours = pixels.shape
    levels = net.config.levels
    halo = net.halo_rows()
    band = height if halo is None else PASS_ROWS
    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]
    weights: dict[int, np.ndarray] = {}  # band -> (rows, w, C, levels) float64

    def band_weights(b: int) -> np.ndarray:
        top = max(0, b * band - (halo or 0))
        tables = net.exact_tables(x[:, :, top:(b + 1) * band])[0, :, :, b * band - top:]
        rows = tables.shape[2]
        flat = tables.permute(2, 3, 0, 1).reshape(-1, levels).numpy()
        return net.table_weights(flat).reshape(rows, width, colours, levels)

    encoder = Encoder()
    bits = 0.0
    with torch_threads(CODING_THREADS):
        for _, r, c in wavefront([(height, width)], net.wavefront_slope(width)):
            r, c = r.numpy(), c.numpy()
            parts = r // band  # rows increase within a step
            for b in range(parts[0], parts[-1] + 1):
                if b not in weights:
                    weights[b] = band_weights(b)
            for b in [b for b in weights if b < parts[0]]:
                del weights[b]  # the wavefront has left it
            splits = np.flatnonzero(np.diff(parts)) + 1
            for colour in range(colours):
                table = np.concatenate([weights[int(p[0])][rr - p[0] * band, cc, colour]
                                        for p, rr, cc in zip(np.split(parts, splits),
                                                             np.split(r, splits),
                                                             np.split(c, splits))])
                symbols = pixels[r, c, colour].astype(np.int64)
                encoder.code(symbols, table)
                bits += float(fx.bits_of(table, symbols).sum())
            if step_done is not None:
                step_done()
    return encoder.finish(), bits


@functools.lru_cache(maxsize=16)
def _coding_order(height: int, width: int, colours: int, slope: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, colours) of a tile's subpixels in its stream's order."""
    parts = [(r.numpy(), c.numpy(), np.full(len(r), colour))
             for _, r, c in wavefront([(height, width)], slope) for colour in range(colours)]
    return tuple(np.concatenate(axis) for axis in zip(*parts))


def encode_small_tiles(net: nn.Module, tiles: Sequence[np.ndarray],
                       step_done: Callable[[int], None] | None = None
                       ) -> list[tuple[bytes, float]]:
    """Tiles of one shape, each with at most WHOLE_TILE_ENTRIES table entries -> (stream, NLL
    in bits) of each: a batch of tiles at a time in one exact parallel pass, each tile's
    symbols then coded in its stream's order with one coder call."""
    height, width, colours = tiles[0].shape
    levels = net.config.levels
    rows, cols, channels = _coding_order(height, width, colours, net.wavefront_slope(width))
    batch = max(1, min(WHOLE_TILE_BATCH,
                       WHOLE_TILE_ENTRIES // (height * width * colours * levels)))
    steps = net.step_count([(height, width)])
    results = []
    with torch_threads(CODING_THREADS):
        for start in range(0, len(tiles), batch):
            part = np.stack(tiles[start:start + batch])
            tables = net.exact_tables(torch.from_numpy(part).permute(0, 3, 1, 2))
            tables = tables.permute(0, 3, 4, 1, 2).numpy()  # (B, h, w, C, levels)
            for pixels, table in zip(part, tables):
                weights = net.table_weights(table[rows, cols, channels])
                symbols = pixels[rows, cols, channels].astype(np.int64)
                encoder = Encoder()
                encoder.code(symbols, weights)
                results.append((encoder.finish(), float(fx.bits_of(weights, symbols).sum())))
                if step_done is not None:
                    step_done(steps)
    return results


def encode_tiles(net: nn.Module, tiles: Sequence[np.ndarray], tile: int,
                 progress: Progress | None = None) -> list[tuple[bytes, float]]:
    """Each (h, w, C) uint8 tile -> (its stream, its NLL in bits): small tiles from parallel
    passes many at a time; larger ones from banded passes where those pay
    (``net.band_passes_pay``), else with the decoder's loop, tiles side by side in rounds."""
    levels = net.config.levels
    passes = bool(tiles) and _fits_passes(net, *tiles[0].shape[:2])
    shapes: dict[tuple, list[int]] = {}  # tiles coded from passes, by shape
    looped: list[int] = []
    for k, t in enumerate(tiles):
        small = np.prod(t.shape) * levels <= WHOLE_TILE_ENTRIES
        if passes and (small or net.band_passes_pay):
            shapes.setdefault(t.shape, []).append(k)
        else:
            looped.append(k)
    size = round_size(*tiles[looped[0]].shape[:2], tile, net) if looped else 1
    rounds = [looped[k:k + size] for k in range(0, len(looped), size)]
    steps = StepCounter(progress, _step_total(
        net, [[t.shape[:2]] for t in tiles if t.shape in shapes]
        + [[tiles[k].shape[:2] for k in r] for r in rounds]))
    results: list = [None] * len(tiles)
    for shape, members in shapes.items():
        if np.prod(shape) * levels <= WHOLE_TILE_ENTRIES:
            coded = encode_small_tiles(net, [tiles[k] for k in members], steps)
        else:
            coded = [encode_tile_by_passes(net, tiles[k], steps) for k in members]
        for k, c in zip(members, coded):
            results[k] = c
    for members in rounds:
        canvas = _canvas([tiles[k] for k in members])
        encoders = [Encoder() for _ in members]
        bits = np.zeros(len(members))

        def code(t, r, c, colour, weights):
            symbols = canvas[t, r, c, colour].astype(np.int64)
            for k, run in _runs(t):
                encoders[k].code(symbols[run], weights[run])
                bits[k] += float(fx.bits_of(weights[run], symbols[run]).sum())
            return symbols

        code_round(net, canvas, [tiles[k].shape[:2] for k in members], code, steps)
        for k, e, b in zip(members, encoders, bits):
            results[k] = (e.finish(), float(b))
    return results


@torch.no_grad()
def encode_pixels(net: nn.Module, pixels: np.ndarray, tile: int = DEFAULT_TILE,
                  progress: Progress | None = None, workers: int = 1) -> CodedTiles:
    """(H, W, C) uint8 -> one stream per tile, in `workers` processes (the same bytes for any
    number)."""
    tiles = _tiles_of(pixels, tile)
    coded = in_groups(functools.partial(encode_tiles, net, tile=tile), tiles,
                      useful_workers(*pixels.shape[:2], workers), progress)
    return CodedTiles(tuple(stream for stream, _ in coded), tuple(map(tile_checksum, tiles)),
                      float(sum(bits for _, bits in coded)))


def decode_tiles(net: nn.Module, jobs: Sequence[tuple[int, bytes, tuple[int, int], int | None]],
                 tile: int, coder: int = CODER_ID, progress: Progress | None = None
                 ) -> list[np.ndarray]:
    """(number, stream, (h, w), checksum or None) of tiles -> each tile's (h, w, C) uint8
    symbols, tiles decoded side by side in rounds. Each round's tiles are checked against their
    checksums as soon as they are decoded, so a damaged or forged file costs one round."""
    colours = net.config.colours
    size = round_size(*jobs[0][2], tile, net) if jobs else 1
    rounds = [jobs[k:k + size] for k in range(0, len(jobs), size)]
    steps = StepCounter(progress, _step_total(net, [[s for _, _, s, _ in r] for r in rounds]))
    results = []
    for round_jobs in rounds:
        sizes = [size for _, _, size, _ in round_jobs]
        canvas = np.zeros((len(sizes), max(h for h, _ in sizes), max(w for _, w in sizes),
                           colours), dtype=np.uint8)
        decoders = [Decoder(stream, coder) for _, stream, _, _ in round_jobs]

        def code(t, r, c, colour, weights):
            symbols = np.empty(len(t), dtype=np.int64)
            for k, run in _runs(t):
                symbols[run] = decoders[k].code(None, weights[run])
            return symbols

        code_round(net, canvas, sizes, code, steps)
        for k, (number, _, (h, w), checksum) in enumerate(round_jobs):
            symbols = canvas[k, :h, :w]
            if checksum is not None and tile_checksum(symbols) != checksum:
                raise FormatError(f"tile {number + 1} fails its checksum: the file is corrupted")
            results.append(symbols.copy())
    return results


@torch.no_grad()
def decode_pixels(net: nn.Module, streams: Sequence[bytes], height: int, width: int,
                  tile: int = DEFAULT_TILE, progress: Progress | None = None,
                  coder: int = CODER_ID, checksums: Sequence[int] | None = None,
                  workers: int = 1) -> np.ndarray:
    """One stream per tile -> (H, W, C) uint8, in `workers` processes. With `checksums`, each
    tile is checked as soon as it is decoded."""
    grid = list(tile_grid(height, width, tile))
    if len(streams) != len(grid):
        raise FormatError(f"{len(streams)} tile streams for {len(grid)} tiles")
    jobs = [(k, streams[k], (h, w), None if checksums is None else checksums[k])
            for k, (_, _, h, w) in enumerate(grid)]
    tiles = in_groups(functools.partial(decode_tiles, net, tile=tile, coder=coder), jobs,
                      useful_workers(height, width, workers), progress)
    pixels = np.zeros((height, width, net.config.colours), dtype=np.uint8)
    for (y, x, h, w), symbols in zip(grid, tiles):
        pixels[y:y + h, x:x + w] = symbols
    return pixels


@torch.no_grad()
def decode_interleaved(net: nn.Module, payload: bytes, height: int, width: int,
                       tile: int = DEFAULT_TILE, progress: Progress | None = None,
                       coder: int = CODER_ID) -> np.ndarray:
    """A version 2 plane: one stream for all tiles, in version 2's rounds."""
    pixels = np.zeros((height, width, net.config.colours), dtype=np.uint8)
    decoder = Decoder(payload, coder)
    coding_loop(net, pixels, tile, lambda ys, xs, colour, weights: decoder.code(None, weights),
                progress, rounds=legacy_rounds(height, width, tile, net))
    return pixels


def coded_nll_bits(net: nn.Module, pixels: np.ndarray, tile: int = DEFAULT_TILE) -> float:
    """The exact NLL in bits of (H, W, C) uint8 pixels as coded, tile by tile: the figure
    encode_pixels returns, from parallel passes instead of the position-by-position loop (much
    faster for the PixelRNNs)."""
    return float(coded_pixel_bits(net, pixels, tile).sum())


def coded_pixel_bits(net: nn.Module, pixels: np.ndarray, tile: int = DEFAULT_TILE) -> np.ndarray:
    """(H, W) float64: each pixel's exact code length in bits (its subpixels' summed) as coded,
    tile by tile."""
    bits = np.zeros(pixels.shape[:2])
    for y, x, h, w in tile_grid(*pixels.shape[:2], tile):
        bits[y:y + h, x:x + w] = pixel_bits(net, pixels[None, y:y + h, x:x + w])[0]
    return bits


def model_nll_bits(net: nn.Module, images: np.ndarray, rows_per_pass: int = 64) -> float:
    """Exact NLL in bits of untiled images (B, H, W, C) uint8, from parallel passes."""
    return float(pixel_bits(net, images, rows_per_pass).sum())


@torch.no_grad()
def pixel_bits(net: nn.Module, images: np.ndarray, rows_per_pass: int = 64) -> np.ndarray:
    """(B, H, W) float64: the exact code length in bits of each pixel of untiled images
    (B, H, W, C) uint8, from parallel passes.

    Bands of rows are computed with as many rows above as the model can see, which makes each
    band's tables identical to a pass over the whole image at a fraction of the memory; a model
    that sees every row above (the PixelRNNs) gets the whole image in one pass."""
    halo = net.halo_rows()
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2)
    b, c, height, width = x.shape
    if halo is None:
        rows_per_pass = height
    bits = np.zeros((b, height, width))
    for y in range(0, height, rows_per_pass):
        top = max(0, y - (halo or 0))
        band = x[:, :, top:y + rows_per_pass]
        tables = net.exact_tables(band)[:, :, :, y - top:]  # (B, C, levels, rows, W)
        rows = tables.shape[3]
        table = tables.permute(0, 1, 3, 4, 2).reshape(-1, tables.shape[2]).numpy()
        symbols = band[:, :, y - top:].reshape(-1).numpy().astype(np.int64)
        subpixel_bits = fx.bits_of(net.table_weights(table), symbols)
        bits[:, y:y + rows] = subpixel_bits.reshape(b, c, rows, width).sum(axis=1)
    return bits
