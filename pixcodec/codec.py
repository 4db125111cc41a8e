"""Pixels <-> range-coder streams: the one coding loop shared by the encoder and the decoder,
and the decoder.

The image is cut into independent tiles of at most ``tile`` x ``tile`` pixels, and each tile is
coded into a stream of its own (format version 3). Tiles are coded side by side in rounds: all
tiles of a round advance together along a wavefront, position (r, c) of every tile at step
c + slope * r, where ``slope`` is the smallest integer for which nothing a position depends on is
coded at the same or a later step. So each step codes up to one position per row of every tile
at once, and an H x W tile needs W + slope * (H - 1) steps, one table computation per colour.
How many tiles share a round, and which process codes them, changes the speed, never the bytes:
each stream holds its tile's symbols in the tile's own wavefront order.

The decoder runs the networks' steppers along the wavefront (`code_round`); the encoder
(``pixcodec.encoder``) runs the same loop with the known symbols, or takes the same tables from
exact parallel passes; ``pixcodec.fixedpoint`` makes the tables identical on every machine.

Version 2 files hold one stream for all tiles, interleaved in rounds that a memory budget fixed
(``legacy_rounds``); ``decode_interleaved`` reads them.
"""
from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import classic
from .coder import CODER_ID, ENGINE_CODERS, Decoder
from .container import tile_checksum, tile_count, tile_grid
from .engine import coding as engine_coding
from .errors import FormatError
from .limits import DEFAULT_TILE
from .scheduling import (Progress, StepCounter, coding_threads, in_groups, useful_workers,
                         torch_module, without_gradients)

if TYPE_CHECKING:  # torch: loaded only by the float networks' paths
    from .nets.base import CodingNetwork

# Version 2's rounds: as many tiles as fit this much feature cache. Part of that format: never
# change it. (The encoder's passes keep their tables within it too.)
CACHE_BUDGET_BYTES = 1 << 30
# Version 3's rounds: tiles side by side up to this many pixels (8 tiles of 256 x 256, one of
# 1024 x 1024, 668 of 28 x 28), and no more than fit the cache budget. Any value gives the same
# bytes; it bounds what a damaged file costs before its tiles' checksums are compared.
ROUND_PIXELS = 2**19

# code(tile, row, col, colour, weights) -> the symbols at those positions of the round's tiles.
Code = Callable[[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray], np.ndarray]


def _numpy(values) -> np.ndarray:
    """A stepper's arrays: torch tensors from the float networks, numpy arrays from the integer
    engine's (whose own coders do not run this loop; sampling does)."""
    return values if isinstance(values, np.ndarray) else values.numpy()


def step_total(net: CodingNetwork, rounds: Sequence[Sequence[tuple[int, int]]]) -> int:
    """Steps of the coding loop over all these rounds of tile sizes, counted once per distinct
    round (10,000 digits are one)."""
    keys = [tuple(tuple(size) for size in sizes) for sizes in rounds]
    counts = {key: net.step_count(list(key)) for key in set(keys)}
    return sum(counts[key] for key in keys)


def within_cache_budget(nbytes: int) -> bool:
    """Whether this much memory of tables or caches fits CACHE_BUDGET_BYTES (read at each
    call)."""
    return nbytes <= CACHE_BUDGET_BYTES


def _cache_bytes(height: int, width: int, net: CodingNetwork) -> int:
    return 4 * (height + 3) * (width + 6) * net.cache_channels()


def round_size(height: int, width: int, tile: int, net: CodingNetwork) -> int:
    """Tiles coded side by side in one round (version 3): speed and memory only."""
    height, width = min(tile, height), min(tile, width)
    return max(1, min(ROUND_PIXELS // (height * width),
                      CACHE_BUDGET_BYTES // _cache_bytes(height, width, net)))


def largest(sizes: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """(the largest height, the largest width) of tiles of these (h, w): what a round of them
    side by side holds, whichever comes first."""
    heights, widths = zip(*sizes)
    return max(heights), max(widths)


def _batches(items: Iterable, size: int, count: int) -> Iterator[list]:
    """`count` lists of `size` consecutive items (the last may hold fewer), each made when it
    is needed (a file's header may state 2^32 tiles of one pixel)."""
    items = iter(items)
    return (list(itertools.islice(items, size)) for _ in range(count))


def in_rounds(items: Sequence, size: int) -> list[list]:
    """Tiles (or their jobs), in order, as rounds of `size` (a `round_size`)."""
    return list(_batches(items, size, -(-len(items) // size)))


def _grid_rounds(height: int, width: int, tile: int, size: int) -> tuple[int, Iterator[list]]:
    """(how many, the rounds) of the image's tile grid in rounds of `size` tiles."""
    count = -(-tile_count(height, width, tile) // size)
    return count, _batches(tile_grid(height, width, tile), size, count)


def legacy_rounds(height: int, width: int, tile: int, net: CodingNetwork
                  ) -> tuple[int, Iterator[list]]:
    """Version 2's rounds, (how many, the rounds): lists of tiles coded side by side into the
    one stream, as many as fit CACHE_BUDGET_BYTES of the network's cache."""
    size = max(1, CACHE_BUDGET_BYTES // _cache_bytes(min(tile, height), min(tile, width), net))
    return _grid_rounds(height, width, tile, size)


def code_round(net: CodingNetwork, canvas: np.ndarray, sizes: Sequence[tuple[int, int]],
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
    with coding_threads():
        for t, r, c in stepper.steps():
            stepper.at(t, r, c)
            t, r, c = _numpy(t), _numpy(r), _numpy(c)
            known = stepper.known
            if known is not None:
                coded = ~_numpy(known)
                tc, rc, cc = t[coded], r[coded], c[coded]
            for colour in range(colours):
                table = _numpy(stepper.table(colour))
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
                stepper.reveal(colour, torch_module().from_numpy(symbols))
            if step_done is not None:
                step_done()


def canvas_of(tiles: Sequence[np.ndarray]) -> np.ndarray:
    """A round's canvas (`code_round`) holding these (h, w, C) tiles."""
    height = max(t.shape[0] for t in tiles)
    width = max(t.shape[1] for t in tiles)
    canvas = np.zeros((len(tiles), height, width, tiles[0].shape[2]), dtype=np.uint8)
    for k, t in enumerate(tiles):
        canvas[k, :t.shape[0], :t.shape[1]] = t
    return canvas


def tile_runs(tiles: np.ndarray) -> Iterator[tuple[int, slice]]:
    """(tile, slice) of each run of equal tile numbers (a step lists tiles in order)."""
    if len(tiles) and tiles[0] == tiles[-1]:  # one tile: common, and a shortcut per colour
        yield int(tiles[0]), slice(0, len(tiles))
        return
    bounds = [0, *(np.flatnonzero(np.diff(tiles)) + 1), len(tiles)]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop > start:
            yield int(tiles[start]), slice(start, stop)


def coding_loop(net: CodingNetwork, pixels: np.ndarray, tile: int,
                code: Callable[[np.ndarray, np.ndarray, int, np.ndarray], np.ndarray],
                progress: Progress | None = None, observe: Callable | None = None,
                rounds: tuple[int, Iterator[list]] | None = None) -> None:
    """The loop over a whole (H, W, C) image in image coordinates: ``code(ys, xs, colour,
    weights)`` and ``observe(ys, xs, colour, table)`` as in `code_round`; the symbols are
    written into `pixels`. `rounds` (how many, the lists of tiles): default, version 3's."""
    height, width, _ = pixels.shape
    if rounds is None:
        rounds = _grid_rounds(height, width, tile, round_size(height, width, tile, net))
    count, round_lists = rounds
    steps = StepCounter(progress)
    for round_tiles in round_lists:
        origin = np.array([(y, x) for y, x, _, _ in round_tiles])
        canvas = canvas_of([pixels[y:y + h, x:x + w] for y, x, h, w in round_tiles])
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


def decode_tiles(net: CodingNetwork,
                 jobs: Sequence[tuple[int, bytes, tuple[int, int], int | None]], tile: int,
                 coder: int = CODER_ID, progress: Progress | None = None) -> list[np.ndarray]:
    """(number, stream, (h, w), checksum or None) of tiles -> each tile's (h, w, C) uint8
    symbols, tiles decoded side by side in rounds. Each round's tiles are checked against their
    checksums as soon as they are decoded, so a damaged or forged file costs one round."""
    colours = net.config.colours
    rounds = in_rounds(jobs, round_size(*largest(s for _, _, s, _ in jobs), tile, net)
                       if jobs else 1)
    steps = StepCounter(progress, step_total(net, [[s for _, _, s, _ in r] for r in rounds]))
    if coder in ENGINE_CODERS:
        return [t for r in rounds for t in _engine_round(net, r, steps, coder)]
    results = []
    for round_jobs in rounds:
        sizes = [size for _, _, size, _ in round_jobs]
        canvas = np.zeros((len(sizes), max(h for h, _ in sizes), max(w for _, w in sizes),
                           colours), dtype=np.uint8)
        decoders = [Decoder(stream, coder) for _, stream, _, _ in round_jobs]

        def code(t, r, c, colour, weights):
            symbols = np.empty(len(t), dtype=np.int64)
            for k, run in tile_runs(t):
                symbols[run] = decoders[k].code(None, weights[run])
            return symbols

        code_round(net, canvas, sizes, code, steps)
        for k, (number, _, (h, w), checksum) in enumerate(round_jobs):
            symbols = canvas[k, :h, :w]
            if checksum is not None and tile_checksum(symbols) != checksum:
                raise FormatError(f"tile {number + 1} fails its checksum: the file is corrupted")
            results.append(symbols.copy())
    return results


def _engine_round(net: CodingNetwork,
                  jobs: Sequence[tuple[int, bytes, tuple[int, int], int | None]],
                  steps: StepCounter, coder: int) -> list[np.ndarray]:
    """A round of tiles coded by the integer engine (``pixcodec.engine.coding``), checked as
    ``decode_tiles`` checks them, and each stream for having ended where its encoder began."""
    tiles, finished = engine_coding.decode_round(net, [stream for _, stream, _, _ in jobs],
                                                 [size for _, _, size, _ in jobs], steps, coder)
    for (number, _, _, checksum), symbols, ok in zip(jobs, tiles, finished):
        if not ok or (checksum is not None and tile_checksum(symbols) != checksum):
            raise FormatError(f"tile {number + 1} fails its checksum: the file is corrupted")
    return [t.copy() for t in tiles]


@without_gradients
def decode_pixels(net: CodingNetwork, streams: Sequence[bytes], height: int, width: int,
                  tile: int = DEFAULT_TILE, progress: Progress | None = None,
                  coder: int = CODER_ID, checksums: Sequence[int] | None = None,
                  workers: int = 1, modes: Sequence[int] | None = None) -> np.ndarray:
    """One stream per tile -> (H, W, C) uint8, in `workers` processes. With `checksums`, each
    tile is checked as soon as it is decoded. `modes` (version 4): each tile's coding mode; the
    model decodes those of mode `classic.MODEL`, pixcodec.classic the others."""
    grid, jobs = _tile_jobs(streams, height, width, tile, checksums)
    colours = net.config.colours
    classic_tiles = _classic_tiles(jobs, modes, colours)
    model_jobs = [job for job in jobs if job[0] not in classic_tiles]
    tiles = in_groups(functools.partial(decode_tiles, net, tile=tile, coder=coder), model_jobs,
                      useful_workers(height, width, workers, net.codes_in_threads), progress,
                      threads=net.codes_in_threads,
                      weights=[h * w for _, _, (h, w), _ in model_jobs]) if model_jobs else []
    decoded = {**dict(zip((k for k, _, _, _ in model_jobs), tiles)), **classic_tiles}
    return _joined(grid, decoded, height, width, colours)


def decode_classic(streams: Sequence[bytes], height: int, width: int, tile: int, colours: int,
                   checksums: Sequence[int] | None, modes: Sequence[int]) -> np.ndarray:
    """``decode_pixels`` of a plane whose tiles are all coded without the model: no network."""
    grid, jobs = _tile_jobs(streams, height, width, tile, checksums)
    return _joined(grid, _classic_tiles(jobs, modes, colours), height, width, colours)


def _tile_jobs(streams, height, width, tile, checksums) -> tuple[list, list]:
    grid = list(tile_grid(height, width, tile))
    if len(streams) != len(grid):
        raise FormatError(f"{len(streams)} tile streams for {len(grid)} tiles")
    return grid, [(k, streams[k], (h, w), None if checksums is None else checksums[k])
                  for k, (_, _, h, w) in enumerate(grid)]


def _classic_tiles(jobs, modes, colours: int) -> dict[int, np.ndarray]:
    return {k: _classic_tile(modes[k], stream, size, colours, checksum, k)
            for k, stream, size, checksum in jobs
            if modes is not None and modes[k] != classic.MODEL}


def _joined(grid, decoded: dict[int, np.ndarray], height: int, width: int,
            colours: int) -> np.ndarray:
    pixels = np.zeros((height, width, colours), dtype=np.uint8)
    for k, (y, x, h, w) in enumerate(grid):
        pixels[y:y + h, x:x + w] = decoded[k]
    return pixels


def _classic_tile(mode: int, stream: bytes, size: tuple[int, int], colours: int,
                  checksum: int | None, number: int) -> np.ndarray:
    """A tile coded without the model (pixcodec/classic.py), checked as the model's are."""
    symbols = classic.decode_tile(mode, stream, *size, colours, number)
    if checksum is not None and tile_checksum(symbols) != checksum:
        raise FormatError(f"tile {number + 1} fails its checksum: the file is corrupted")
    return symbols


@without_gradients
def decode_interleaved(net: CodingNetwork, payload: bytes, height: int, width: int,
                       tile: int = DEFAULT_TILE, progress: Progress | None = None,
                       coder: int = CODER_ID) -> np.ndarray:
    """A version 2 plane: one stream for all tiles, in version 2's rounds."""
    pixels = np.zeros((height, width, net.config.colours), dtype=np.uint8)
    decoder = Decoder(payload, coder)
    coding_loop(net, pixels, tile, lambda ys, xs, colour, weights: decoder.code(None, weights),
                progress, rounds=legacy_rounds(height, width, tile, net))
    return pixels

