"""Pixels <-> payload: one coding loop shared by the encoder and the decoder.

The image is cut into independent tiles of at most ``tile`` x ``tile`` pixels (the default is
large enough that most photos are few tiles). All tiles of a round advance together along a
wavefront: position (r, c) of every tile is coded at step c + slope * r, where ``slope`` is the
smallest integer for which nothing a position depends on is coded at the same or a later step.
So each step codes up to one position per row of every tile at once, and an H x W tile needs
W + slope * (H - 1) steps, one table computation per colour.

The encoder runs exactly the decoder's loop, with the known symbols instead of decoded ones, so
both see the same tables by construction; ``pixcodec.fixedpoint`` makes those tables identical on
every machine.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from torch import nn

from . import fixedpoint as fx
from .coder import CODER_ID, Decoder, Encoder
from .limits import DEFAULT_TILE

CACHE_BUDGET_BYTES = 1 << 30  # per round of tiles decoded together
CODING_THREADS = 1  # see torch_threads; results are identical for any value

# Called as progress(steps_done, steps_total) after every wavefront step.
Progress = Callable[[int, int], None]


def tile_grid(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """(y, x, h, w) of each tile, in raster order of tiles; made as they are needed (a file's
    header may state 2^32 tiles of one pixel)."""
    return ((y, x, min(tile, height - y), min(tile, width - x))
            for y in range(0, height, tile) for x in range(0, width, tile))


def tile_count(height: int, width: int, tile: int) -> int:
    return -(-height // tile) * -(-width // tile)


def _rounds(height: int, width: int, tile: int, net: nn.Module) -> tuple[int, Iterator[list]]:
    """(how many, the rounds): lists of tiles coded side by side, as many as fit in
    CACHE_BUDGET_BYTES of the network's cache."""
    per_tile = 4 * (min(tile, height) + 3) * (min(tile, width) + 6) * net.cache_channels()
    size = max(1, CACHE_BUDGET_BYTES // per_tile)
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


def coding_loop(net: nn.Module, pixels: np.ndarray, tile: int,
                 code: Callable[[np.ndarray, np.ndarray, int, np.ndarray], np.ndarray],
                 progress: Progress | None = None, observe: Callable | None = None) -> None:
    """Run the network over every position in decoding order.

    ``code(ys, xs, colour, weights)`` gets the tables of positions to code (integer-valued
    float64 weights, one row per position) and returns the symbols there (read from `pixels`
    when encoding, from the bitstream when decoding, then written to `pixels`). Positions the
    stepper marks as known are not coded: their values are already in `pixels`.
    ``observe(ys, xs, colour, logits)``, if given, sees the table of every coded position (the
    tests' window on the loop)."""
    height, width, colours = pixels.shape
    round_count, rounds = _rounds(height, width, tile, net)
    done, total = 0, None
    with torch_threads(CODING_THREADS):
        for round_tiles in rounds:
            stepper = net.stepper([(h, w) for _, _, h, w in round_tiles])
            total = total or round_count * stepper.step_count()
            origin = torch.tensor([(y, x) for y, x, _, _ in round_tiles])
            for t, r, c in stepper.steps():
                stepper.at(t, r, c)
                ys = (origin[t, 0] + r).numpy()
                xs = (origin[t, 1] + c).numpy()
                known = stepper.known
                coded = slice(None) if known is None else ~known.numpy()
                for colour in range(colours):
                    table = stepper.table(colour).numpy()[coded]  # known ones: features only
                    if observe is not None:
                        observe(ys[coded], xs[coded], colour, table)
                    weights = net.table_weights(table)
                    if known is None:
                        symbols = code(ys, xs, colour, weights)
                    else:
                        symbols = pixels[ys, xs, colour].astype(np.int64)
                        if coded.any():
                            symbols[coded] = code(ys[coded], xs[coded], colour, weights)
                    stepper.reveal(colour, torch.from_numpy(symbols))
                done += 1
                if progress is not None:
                    progress(done, total)


@torch.no_grad()
def encode_pixels(net: nn.Module, pixels: np.ndarray, tile: int = DEFAULT_TILE,
                  progress: Progress | None = None) -> tuple[bytes, float]:
    """(H, W, C) uint8 -> (payload, model NLL in bits: the ideal code length)."""
    encoder = Encoder()
    nll_bits = 0.0

    def code(ys, xs, colour, weights):
        nonlocal nll_bits
        symbols = pixels[ys, xs, colour].astype(np.int64)
        nll_bits += float(fx.bits_of(weights, symbols).sum())
        return encoder.code(symbols, weights)

    coding_loop(net, pixels, tile, code, progress)
    return encoder.finish(), nll_bits


@torch.no_grad()
def decode_pixels(net: nn.Module, payload: bytes, height: int, width: int,
                  tile: int = DEFAULT_TILE, progress: Progress | None = None,
                  coder: int = CODER_ID) -> np.ndarray:
    colours = net.config.colours
    pixels = np.zeros((height, width, colours), dtype=np.uint8)
    decoder = Decoder(payload, coder)

    def code(ys, xs, colour, weights):
        symbols = decoder.code(None, weights)
        pixels[ys, xs, colour] = symbols
        return symbols

    coding_loop(net, pixels, tile, code, progress)
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
