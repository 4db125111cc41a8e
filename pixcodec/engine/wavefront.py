"""The coding order of the wavefront networks, in numpy: position (r, c) of every tile of a round
at step c + slope * r, with ``slope`` the smallest integer for which nothing a position depends
on comes at the same or a later step."""
from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np


def reach(layers: list[list[tuple[int, int]]]) -> set[tuple[int, int]]:
    """(dy, dx) of every earlier position that (0, 0) can depend on through a stack of layers,
    each given by the offsets of its live taps besides the centre."""
    reached = {(0, 0)}
    for offsets in reversed(layers):
        reached = {(y + dy, x + dx) for y, x in reached for dy, dx in list(offsets) + [(0, 0)]}
    return reached - {(0, 0)}


def slope_for(offsets) -> int:
    """The smallest slope S with c' + S r' < c + S r for every dependency (r', c') of (r, c),
    given as offsets (dy, dx)."""
    slope = 1
    for dy, dx in offsets:
        if dy < 0:
            slope = max(slope, dx // -dy + 1)
    return slope


def wavefront(tile_sizes: list[tuple[int, int]], slope: int) -> Iterator[np.ndarray]:
    """Positions of a round of tiles grouped by wavefront step: yields (3, N) int64 arrays of
    (tile, row, col); in a step, tiles in order, rows increasing."""
    parts = []
    for k, (h, w) in enumerate(tile_sizes):
        rows, cols = np.mgrid[0:h, 0:w]
        parts.append(np.stack([np.full(h * w, k), rows.ravel(), cols.ravel(),
                               (cols + slope * rows).ravel()]))
    pos = np.concatenate(parts, axis=1)
    pos = pos[:, np.argsort(pos[3], kind="stable")]
    bounds = np.flatnonzero(np.diff(pos[3])) + 1
    for chunk in np.split(pos[:3], bounds, axis=1):
        yield np.ascontiguousarray(chunk)


@functools.lru_cache(maxsize=16)
def stream_order(height: int, width: int, colours: int, slope: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, colours) of a tile's subpixels in its stream's order: step by step; in a
    step, colour by colour; rows increasing (docs/FORMAT.md, "Order of symbols")."""
    parts = [(rows, cols, np.full(len(rows), colour))
             for _, rows, cols in wavefront([(height, width)], slope)
             for colour in range(colours)]
    return tuple(np.concatenate(axis) for axis in zip(*parts))


def wavefront_steps(tile_sizes: list[tuple[int, int]], slope: int) -> int:
    """How many steps `wavefront` yields: the steps some position of some tile falls on (a
    tile narrower than the slope leaves gaps between its rows' runs of steps)."""
    height, width = (max(size) for size in zip(*tile_sizes))
    taken = np.zeros(width + slope * (height - 1), dtype=bool)
    for h, w in set(tile_sizes):
        taken[(slope * np.arange(h)[:, None] + np.arange(w)).ravel()] = True
    return int(taken.sum())
