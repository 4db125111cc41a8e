"""Tiles <-> streams with the integer engine: the encoder's parallel pass and rANS, the
decoder's stepper and bisection (``pixcodec.engine.rans``). One stream per tile, its symbols in
the tile's wavefront order (step by step; in a step, colour by colour; rows increasing), the
order of ``pixcodec.codec``'s float64 coding loop, so tiles code alone or side by side in
rounds with the same bytes."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..scheduling import one_blas_thread
from . import mixture, online, rans
from .network import IntegerLogisticPixelCNN
from .wavefront import stream_order

Progress = Callable[[int], None]  # called with the steps just done


def intervals(net: IntegerLogisticPixelCNN, tile: np.ndarray, coder: int = rans.CODER_ID
              ) -> tuple[np.ndarray, np.ndarray]:
    """A tile's (H, W, C) uint8 symbols' intervals [start, start + size) in units of
    2**-CODE_BITS, in its stream's order (``stream_order``), as `coder` codes them: 3, the
    mixture's; 4, the online stage's corrections of it (``pixcodec.engine.online``)."""
    height, width, colours = tile.shape
    mix = net.mixture(tile[None])
    pixels = tile.reshape(-1, colours).astype(np.int64)
    rows, cols, channels = stream_order(height, width, colours, net.wavefront_slope())
    at = rows * width + cols
    if coder == online.CODER_ID:
        inputs = [mix.coder_inputs(c, pixels[:, :c]) for c in range(colours)]
        means, inv_scales, weights = (np.stack(arrays) for arrays in zip(*inputs))
        del inputs
        starts, sizes = np.empty((2, len(at)), dtype=np.int64)
        online.intervals(pixels[at, channels], rows, cols, channels, means, inv_scales,
                         weights,
                         online.new_state(1, height, width, colours), starts, sizes)
        return starts, sizes
    starts, sizes = np.empty((2, colours, height * width), dtype=np.int64)
    for c in range(colours):
        starts[c], sizes[c] = mix.intervals(c, pixels[:, c], pixels[:, :c])
    return starts[channels, at], sizes[channels, at]


def encode_tile(net: IntegerLogisticPixelCNN, tile: np.ndarray, coder: int = rans.CODER_ID
                ) -> tuple[bytes, float]:
    """A tile (H, W, C) uint8 -> (its stream of `coder`, its symbols' ideal code length in
    bits)."""
    starts, sizes = intervals(net, tile, coder)
    words = rans.encode(starts, sizes)
    bits = float(np.sum(mixture.CODE_BITS - np.log2(sizes)))
    return words.astype("<u4").tobytes(), bits


def pixel_bits(net: IntegerLogisticPixelCNN, images: np.ndarray, coder: int = rans.CODER_ID
               ) -> np.ndarray:
    """(B, H, W) float64: each pixel's exact code length in bits (its subpixels' summed) in
    images (B, H, W, C) uint8, each coded as one tile with `coder` (``mixture.CODE_BITS``
    minus log2 of each symbol's interval width)."""
    b, height, width, colours = images.shape
    bits = np.zeros((b, height * width))
    rows, cols, _ = stream_order(height, width, colours, net.wavefront_slope())
    for k in range(b):
        _, sizes = intervals(net, np.ascontiguousarray(images[k]), coder)
        np.add.at(bits[k], rows * width + cols, mixture.CODE_BITS - np.log2(sizes))
    return bits.reshape(b, height, width)


def decode_round(net: IntegerLogisticPixelCNN, streams: Sequence[bytes],
                 sizes: Sequence[tuple[int, int]], progress: Progress | None = None,
                 coder: int = rans.CODER_ID) -> tuple[list[np.ndarray], np.ndarray]:
    """Tiles of these sizes, side by side, from their streams of `coder` (3 or 4) -> (the
    tiles (H, W, C) uint8, whether each stream ended exactly where its encoder began)."""
    with one_blas_thread():
        return _decode_round(net, streams, sizes, progress, coder)


def _decode_round(net: IntegerLogisticPixelCNN, streams: Sequence[bytes],
                  sizes: Sequence[tuple[int, int]], progress: Progress | None, coder: int
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    colours = net.colours
    height, width = (max(s) for s in zip(*sizes))
    canvas = np.zeros((len(sizes), height, width, colours), dtype=np.uint8)
    words, offsets, states, positions = rans.start(list(streams))
    for steps in net.stepper(list(sizes)).decode_round(words, offsets, states, positions,
                                                       canvas, coder == online.CODER_ID):
        if progress is not None:
            progress(steps)
    tiles = [canvas[t, :h, :w] for t, (h, w) in enumerate(sizes)]
    return tiles, rans.finished(offsets, states, positions)


def encode_tiles(net: IntegerLogisticPixelCNN, tiles: Sequence[np.ndarray],
                 progress: Progress | None = None, coder: int = rans.CODER_ID
                 ) -> list[tuple[bytes, float]]:
    """Each tile's (stream, ideal length in bits) with `coder`; `progress` told each tile's
    wavefront steps as it is done (the decoder's measure of the same work)."""
    coded = []
    with one_blas_thread():
        for tile in tiles:
            coded.append(encode_tile(net, tile, coder))
            if progress is not None:
                progress(net.step_count([tile.shape[:2]]))
    return coded
