"""The encoder: pixels -> one range-coder stream per tile, the very streams the decoder's loop
(``pixcodec.codec``) reads.

The encoder knows every symbol, so where they fit and pay it takes the loop's tables from exact
parallel passes instead of running the loop: small tiles many at a time in whole-tile passes
(`encode_small_tiles`), larger ones in bands of rows (`encode_tile_by_passes`); the tests hold
both equal to the loop's. Elsewhere (large tiles of the PixelCNNs, whose compiled steppers are
faster than torch's float64 convolutions) it runs the decoder's loop with the known symbols.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import fixedpoint as fx
from .codec import (canvas_of, code_round, in_rounds, largest, round_size, step_total,
                    tile_runs, within_cache_budget)
from .coder import ENGINE_RANS, Encoder
from .container import tile_checksum, tile_grid
from .engine import coding as engine_coding
from .engine.wavefront import stream_order, wavefront
from .limits import DEFAULT_TILE
from .scheduling import (Progress, StepCounter, coding_threads, in_groups, useful_workers,
                         torch_module, without_gradients)

if TYPE_CHECKING:  # torch: loaded only by the float networks' paths
    from .nets.base import CodingNetwork

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


@dataclass(frozen=True)
class CodedTiles:
    """An image's model-coded plane: one stream per tile, in raster order of tiles."""
    streams: tuple[bytes, ...]
    checksums: tuple[int, ...]   # tile_checksum of each tile
    nll_bits: float              # the model's ideal code length: what the streams approach
    #                              (a tile coded without the model: its stream's bits)
    modes: tuple[int, ...] | None = None  # each tile's mode (pixcodec/classic.py); None: the
    #                                       model codes every tile
    tile: int | None = None      # the tiles' side, when the encoder chose it (pixcodec/tilechoice)

    @classmethod
    def of(cls, coded: Sequence[tuple[bytes, float]],
           checksums: Sequence[int]) -> "CodedTiles":
        """From each tile's (stream, NLL in bits) and checksum."""
        return cls(tuple(stream for stream, _ in coded), tuple(checksums),
                   float(sum(bits for _, bits in coded)))


@without_gradients
def encode_pixels(net: CodingNetwork, pixels: np.ndarray, tile: int = DEFAULT_TILE,
                  progress: Progress | None = None, workers: int = 1) -> CodedTiles:
    """(H, W, C) uint8 -> one stream per tile, in `workers` processes (the same bytes for any
    number)."""
    tiles = [pixels[y:y + h, x:x + w] for y, x, h, w in tile_grid(*pixels.shape[:2], tile)]
    checksums = [tile_checksum(t) for t in tiles]
    coded = encode_shared(net, tiles, tile, pixels.shape[:2], progress, workers)
    return CodedTiles.of(coded, checksums)


def encode_shared(net: CodingNetwork, tiles: Sequence[np.ndarray], tile: int,
                  image_size: tuple[int, int], progress: Progress | None = None,
                  workers: int = 1) -> list[tuple[bytes, float]]:
    """``encode_tiles`` with the tiles of an image of this size shared among `workers`
    processes, or threads where the network's coding runs outside the GIL."""
    workers = useful_workers(*image_size, workers, net.codes_in_threads)
    return in_groups(functools.partial(encode_tiles, net, tile=tile), tiles, workers, progress,
                     threads=net.codes_in_threads,
                     weights=[t.shape[0] * t.shape[1] for t in tiles])


def encode_tiles(net: CodingNetwork, tiles: Sequence[np.ndarray], tile: int,
                 progress: Progress | None = None) -> list[tuple[bytes, float]]:
    """Each (h, w, C) uint8 tile -> (its stream, its NLL in bits): small tiles from parallel
    passes many at a time; larger ones from banded passes where those pay
    (``net.band_passes_pay``), else with the decoder's loop, tiles side by side in rounds.
    The integer engine's networks code with their own coder, each tile from a parallel pass."""
    if ENGINE_RANS in net.coders:
        return engine_coding.encode_tiles(net, tiles, StepCounter(
            progress, sum(net.step_count([t.shape[:2]]) for t in tiles)), net.coders[0])
    levels = net.config.levels
    passes = bool(tiles) and _fits_passes(net, *largest(t.shape[:2] for t in tiles))
    shapes: dict[tuple, list[int]] = {}  # tiles coded from passes, by shape
    looped: list[int] = []
    for k, t in enumerate(tiles):
        small = np.prod(t.shape) * levels <= WHOLE_TILE_ENTRIES
        if passes and (small or net.band_passes_pay):
            shapes.setdefault(t.shape, []).append(k)
        else:
            looped.append(k)
    rounds = in_rounds(looped, round_size(*largest(tiles[k].shape[:2] for k in looped), tile,
                                          net) if looped else 1)
    steps = StepCounter(progress, step_total(
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
        canvas = canvas_of([tiles[k] for k in members])
        encoders = [Encoder() for _ in members]
        bits = np.zeros(len(members))

        def code(t, r, c, colour, weights):
            symbols = canvas[t, r, c, colour].astype(np.int64)
            for k, run in tile_runs(t):
                encoders[k].code(symbols[run], weights[run])
                bits[k] += float(fx.bits_of(weights[run], symbols[run]).sum())
            return symbols

        code_round(net, canvas, [tiles[k].shape[:2] for k in members], code, steps)
        for k, e, b in zip(members, encoders, bits):
            results[k] = (e.finish(), float(b))
    return results


def _fits_passes(net: CodingNetwork, height: int, width: int) -> bool:
    """Whether tiles of this size can be encoded from parallel passes (`encode_tile_by_passes`)
    within the cache budget: the tables of the rows the wavefront crosses at once, and a band.
    Networks without a plain wavefront (multi-scale) cannot."""
    slope = net.wavefront_slope(width)
    if slope is None:
        return False
    halo = net.halo_rows()
    rows = height if halo is None else min(height, -(-width // slope) + 2 * PASS_ROWS)
    cfg = net.config
    return within_cache_budget(rows * width * cfg.colours * cfg.levels * 16)


def encode_tile_by_passes(net: CodingNetwork, pixels: np.ndarray,
                          step_done: Callable[[], None] | None = None) -> tuple[bytes, float]:
    """A (h, w, C) uint8 tile -> (its stream, its NLL in bits), from exact parallel passes over
    bands of PASS_ROWS rows (with the rows above that the model sees): the very tables the
    decoder's loop computes (the tests hold them equal), coded in the loop's order, at a
    fraction of its cost. A band's tables live while the wavefront crosses it."""
    height, width, colours = pixels.shape
    levels = net.config.levels
    halo = net.halo_rows()
    band = height if halo is None else PASS_ROWS
    x = torch_module().from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]
    weights: dict[int, np.ndarray] = {}  # band -> (rows, w, C, levels) float64

    def band_weights(b: int) -> np.ndarray:
        top = max(0, b * band - (halo or 0))
        tables = net.exact_tables(x[:, :, top:(b + 1) * band])[0, :, :, b * band - top:]
        rows = tables.shape[2]
        flat = tables.permute(2, 3, 0, 1).reshape(-1, levels).numpy()
        return net.table_weights(flat).reshape(rows, width, colours, levels)

    encoder = Encoder()
    bits = 0.0
    with coding_threads():
        for _, r, c in wavefront([(height, width)], net.wavefront_slope(width)):
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


def encode_small_tiles(net: CodingNetwork, tiles: Sequence[np.ndarray],
                       step_done: Callable[[int], None] | None = None
                       ) -> list[tuple[bytes, float]]:
    """Tiles of one shape, each with at most WHOLE_TILE_ENTRIES table entries -> (stream, NLL
    in bits) of each: a batch of tiles at a time in one exact parallel pass, each tile's
    symbols then coded in its stream's order with one coder call."""
    height, width, colours = tiles[0].shape
    levels = net.config.levels
    rows, cols, channels = stream_order(height, width, colours, net.wavefront_slope(width))
    batch = max(1, min(WHOLE_TILE_BATCH,
                       WHOLE_TILE_ENTRIES // (height * width * colours * levels)))
    steps = net.step_count([(height, width)])
    results = []
    with coding_threads():
        for start in range(0, len(tiles), batch):
            part = np.stack(tiles[start:start + batch])
            tables = net.exact_tables(torch_module().from_numpy(part).permute(0, 3, 1, 2))
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

