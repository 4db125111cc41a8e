"""The residual blocks' spatial inputs as the decoder's walk keeps them: rings of the last few
wavefront steps. A step's positions lie next to each other there, where the whole-tile
layout of the parallel pass (``network.Cache``) spreads them over every row of every tile (a
memory page a position: the decode of a photo 10 % slower, its memory 50 MB larger)."""
from __future__ import annotations

import numpy as np

from ..compiled import kernel


class Ring:
    """Each residual block's spatial inputs at the last `depth` wavefront steps (as far back as
    a block's neighbours reach), a step's slots holding every row of the round's tiles (`pad`
    rows above each tile) side by side; a step's neighbours lie the same distance from it
    (``ring_step``)."""

    def __init__(self, tiles: int, height: int, pad: int, offsets: list[tuple[int, int]],
                 slope: int):
        back = [dx + slope * dy for dy, dx in offsets]  # steps from a position to each neighbour
        self.depth = 1 - min(back)
        self.tile_rows, self.pad = height + pad, pad
        self.rows = tiles * self.tile_rows
        self.back = np.asarray(back, dtype=np.int64)
        self.dy = np.asarray([dy for dy, _ in offsets], dtype=np.int64)

    def arrays(self, channels: int, dtype) -> np.ndarray:
        return np.zeros((self.depth * self.rows, channels), dtype=dtype)

    def layout(self) -> tuple:
        """``ring_step``'s arguments that describe the ring."""
        return self.depth, self.rows, self.tile_rows, self.pad, self.back, self.dy


@kernel(nogil=True)
def ring_step(caches, step, layout, tile, row, slots, neighbours):
    """Makes the ring caches ready for wavefront step `step`: its slots cleared (what a step
    `depth` back left there; a neighbour that no position of its step fills, beyond a tile's
    edge, reads zero as in the whole-tile layout: the slot of its row at that step was
    cleared then, and no position of its row at that step exists), the positions' (tile, row)
    slots in `slots`, their neighbours' distance from them in `neighbours`. A step without
    positions (every tile narrower than the slope) is never made ready: a position of its
    row `depth` steps away lies beyond such a tile, so none of its slots was ever written."""
    depth, rows, tile_rows, pad, back, dy = layout
    base = (step % depth) * rows
    for cache in caches:
        cache[base:base + rows] = 0
    for i in range(len(row)):
        slots[i] = base + tile[i] * tile_rows + pad + row[i]
    for k in range(len(back)):
        neighbours[k] = ((step + back[k]) % depth - step % depth) * rows + dy[k]
