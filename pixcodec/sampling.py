"""`pixcodec sample` and `pixcodec complete`: drawing images from a model, as the paper's
Figures 1 and 9 do.

Sampling runs the decoder's loop (``codec.coding_loop``) with a random draw in place of the
range decoder: each symbol is drawn from the exact integer table the decoder would use, with an
integer draw from numpy's PCG64 (u uniform below the table's total, the symbol whose cumulative
weight first exceeds u). No float arithmetic touches the draw, so a seed gives the same images
on every machine and with any thread count.

N images are drawn together as N tiles of one canvas, side by side (or stacked when taller than
wide), so every step of the loop serves all of them.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from .codec import coding_loop
from .errors import ArgumentError
from .limits import MAX_TILE
from .scheduling import Progress


def draw(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One symbol per row of integer-valued weights (N, K), with probability weight / total."""
    cumulative = np.cumsum(weights.astype(np.int64), axis=1)
    u = rng.integers(0, cumulative[:, -1])
    return (cumulative <= u[:, None]).sum(axis=1).astype(np.int64)


def _canvas(count: int, height: int, width: int) -> tuple[tuple[int, int], int]:
    """The canvas shape holding `count` images as tiles, and the tile side."""
    side = max(height, width)
    if side > MAX_TILE:
        raise ArgumentError(f"images are at most {MAX_TILE} pixels a side")
    if width >= height:
        return (height, count * width), side
    return (count * height, width), side


def _tiles(canvas: np.ndarray, count: int, height: int, width: int) -> np.ndarray:
    if canvas.shape[0] == height:
        return np.stack([canvas[:, k * width:(k + 1) * width] for k in range(count)])
    return np.stack([canvas[k * height:(k + 1) * height] for k in range(count)])


def sample(net: nn.Module, count: int, height: int, width: int, seed: int = 0,
           progress: Progress | None = None) -> np.ndarray:
    """`count` images (count, H, W, C) uint8 drawn from `net`."""
    return complete(net, np.zeros((height, width, net.config.colours), dtype=np.uint8),
                    np.zeros((height, width), dtype=bool), count, seed, progress)


def complete(net: nn.Module, pixels: np.ndarray, keep: np.ndarray, count: int, seed: int = 0,
             progress: Progress | None = None) -> np.ndarray:
    """`count` completions (count, H, W, C) uint8 of `pixels` (H, W, C): the pixels where
    `keep` (H, W) is true stay as they are (the model reads them as context), the others are
    drawn."""
    if count < 1:
        raise ArgumentError("the number of images must be at least 1")
    height, width, colours = pixels.shape
    shape, tile = _canvas(count, height, width)
    canvas = np.zeros((*shape, colours), dtype=np.uint8)
    kept = np.zeros(shape, dtype=bool)
    for k in range(count):
        window = _window(shape, k, height, width)
        canvas[window] = pixels
        kept[window] = keep
    rng = np.random.default_rng(seed)

    def code(ys, xs, colour, weights):
        symbols = canvas[ys, xs, colour].astype(np.int64)
        drawn = ~kept[ys, xs]
        if drawn.any():
            symbols[drawn] = draw(weights[drawn], rng)
            canvas[ys[drawn], xs[drawn], colour] = symbols[drawn]
        return symbols

    coding_loop(net, canvas, tile, code, progress)
    return _tiles(canvas, count, height, width)


def _window(shape: tuple[int, int], k: int, height: int, width: int):
    if shape[0] == height:
        return np.s_[:, k * width:(k + 1) * width]
    return np.s_[k * height:(k + 1) * height, :]


def grid_png(rows: list[list[np.ndarray]], levels: int = 256, scale: int = 1) -> bytes:
    """Images (H, W, C) uint8 of the model's symbols, laid out in rows with 2-pixel white
    gaps, as an 8-bit PNG (a binary model's 0/1 as black/white), each pixel `scale` times."""
    from .imageio import PngImage, write_png, GRAY, RGB
    first = rows[0][0]
    height, width, colours = first.shape
    gap = 2
    columns = max(len(row) for row in rows)
    grid = np.full((len(rows) * (height + gap) - gap, columns * (width + gap) - gap, colours),
                   255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = r * (height + gap), c * (width + gap)
            grid[y:y + height, x:x + width] = image * np.uint8(255 if levels == 2 else 1)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return write_png(PngImage(np.ascontiguousarray(grid), RGB if colours == 3 else GRAY, 8))


def in_rows(images: np.ndarray, columns: int | None = None) -> list[list[np.ndarray]]:
    """(N, H, W, C) -> rows of a near-square grid (or of `columns` images)."""
    columns = columns or int(np.ceil(np.sqrt(len(images))))
    return [list(images[i:i + columns]) for i in range(0, len(images), columns)]


def occluded(pixels: np.ndarray, keep: np.ndarray, levels: int = 256) -> np.ndarray:
    """What a completion starts from: the kept pixels, the rest mid-gray (black for binary)."""
    shown = pixels.copy()
    shown[~keep] = 0 if levels == 2 else 128
    return shown
