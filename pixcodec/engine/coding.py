"""Tiles <-> streams with the integer engine: the encoder's parallel pass and rANS, the
decoder's stepper and bisection (``pixcodec.engine.rans``). One stream per tile, its symbols in
the tile's wavefront order (step by step; in a step, colour by colour; rows increasing), the
order of ``pixcodec.codec``'s float64 coding loop, so tiles code alone or side by side in
rounds with the same bytes."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..scheduling import one_blas_thread
from . import mixture, rans
from .network import IntegerLogisticPixelCNN
from .wavefront import stream_order

Progress = Callable[[int], None]  # called with the steps just done


def encode_tile(net: IntegerLogisticPixelCNN, tile: np.ndarray) -> tuple[bytes, float]:
    """A tile (H, W, C) uint8 -> (its stream, its symbols' ideal code length in bits)."""
    height, width, colours = tile.shape
    mix = net.mixture(tile[None])
    pixels = tile.reshape(-1, colours).astype(np.int64)
    starts, sizes = np.empty((2, colours, height * width), dtype=np.int64)
    for c in range(colours):
        starts[c], sizes[c] = mix.intervals(c, pixels[:, c], pixels[:, :c])
    rows, cols, channels = stream_order(height, width, colours, net.wavefront_slope())
    at = rows * width + cols
    sizes = sizes[channels, at]
    words = rans.encode(starts[channels, at], sizes)
    bits = float(np.sum(mixture.CODE_BITS - np.log2(sizes)))
    return words.astype("<u4").tobytes(), bits


def decode_round(net: IntegerLogisticPixelCNN, streams: Sequence[bytes],
                 sizes: Sequence[tuple[int, int]], progress: Progress | None = None
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """Tiles of these sizes, side by side, from their streams -> (the tiles (H, W, C) uint8,
    whether each stream ended exactly where its encoder began)."""
    with one_blas_thread():
        return _decode_round(net, streams, sizes, progress)


def _decode_round(net: IntegerLogisticPixelCNN, streams: Sequence[bytes],
                  sizes: Sequence[tuple[int, int]], progress: Progress | None
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    colours = net.colours
    height, width = (max(s) for s in zip(*sizes))
    canvas = np.zeros((len(sizes), height, width, colours), dtype=np.uint8)
    words, offsets, states, positions = rans.start(list(streams))
    for steps in net.stepper(list(sizes)).decode_round(words, offsets, states, positions,
                                                       canvas):
        if progress is not None:
            progress(steps)
    tiles = [canvas[t, :h, :w] for t, (h, w) in enumerate(sizes)]
    return tiles, rans.finished(offsets, states, positions)


def encode_tiles(net: IntegerLogisticPixelCNN, tiles: Sequence[np.ndarray],
                 progress: Progress | None = None) -> list[tuple[bytes, float]]:
    """Each tile's (stream, ideal length in bits); `progress` told each tile's wavefront steps
    as it is done (the decoder's measure of the same work)."""
    coded = []
    with one_blas_thread():
        for tile in tiles:
            coded.append(encode_tile(net, tile))
            if progress is not None:
                progress(net.step_count([tile.shape[:2]]))
    return coded
