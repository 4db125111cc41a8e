"""How many bits a model gives pixels, measured without coding them.

* Exact: the code lengths under the very tables the coder uses (fixed-point arithmetic), from
  parallel passes: of untiled images (`pixel_bits`, `model_nll_bits`), or tile by tile as a
  file codes them (`coded_pixel_bits`, `coded_nll_bits`: the figure the encoder reports).
* Float: the training network's NLL in one float32 pass (`float_nll_bits`, `float_bits`):
  fast and close, for choices (the encoder's orientation) and estimates (bench's tile cost),
  never for a file's bytes.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import fixedpoint as fx
from .coder import ENGINE_RANS
from .container import tile_grid
from .engine import coding as engine_coding
from .limits import DEFAULT_TILE
from .nets.base import CodingNetwork, PixelNetwork


def coded_nll_bits(net: CodingNetwork, pixels: np.ndarray,
                   tile: int = DEFAULT_TILE) -> float:
    """The exact NLL in bits of (H, W, C) uint8 pixels as coded, tile by tile: the figure
    the encoder returns, from parallel passes instead of the position-by-position loop (much
    faster for the PixelRNNs)."""
    return float(coded_pixel_bits(net, pixels, tile).sum())


def coded_pixel_bits(net: CodingNetwork, pixels: np.ndarray,
                     tile: int = DEFAULT_TILE) -> np.ndarray:
    """(H, W) float64: each pixel's exact code length in bits (its subpixels' summed) as coded,
    tile by tile."""
    bits = np.zeros(pixels.shape[:2])
    for y, x, h, w in tile_grid(*pixels.shape[:2], tile):
        bits[y:y + h, x:x + w] = pixel_bits(net, pixels[None, y:y + h, x:x + w])[0]
    return bits


def model_nll_bits(net: CodingNetwork, images: np.ndarray,
                   rows_per_pass: int = 64) -> float:
    """Exact NLL in bits of untiled images (B, H, W, C) uint8, from parallel passes."""
    return float(pixel_bits(net, images, rows_per_pass).sum())


@torch.no_grad()
def pixel_bits(net: CodingNetwork, images: np.ndarray,
               rows_per_pass: int = 64) -> np.ndarray:
    """(B, H, W) float64: the exact code length in bits of each pixel of untiled images
    (B, H, W, C) uint8, from parallel passes.

    Bands of rows are computed with as many rows above as the model can see, which makes each
    band's tables identical to a pass over the whole image at a fraction of the memory; a model
    that sees every row above (the PixelRNNs) gets the whole image in one pass. The integer
    engine's networks are measured as their coder codes each image (``engine.coding.pixel_bits``:
    the parallel pass, then the online stage in the stream's order)."""
    if ENGINE_RANS in net.coders:
        return engine_coding.pixel_bits(net, np.asarray(images, dtype=np.uint8), net.coders[0])
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


@torch.no_grad()
def _float_nats(net: PixelNetwork, pixels: np.ndarray) -> float:
    """The float network's mean NLL of (H, W, C) uint8 `pixels`, in nats per subpixel."""
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None]  # a writable copy
    return float(net.loss(net(x), x))


def float_nll_bits(net: PixelNetwork, pixels: np.ndarray) -> float:
    """The float network's NLL in bits of (H, W, C) uint8 `pixels`, in one parallel pass."""
    return _float_nats(net, pixels) * pixels.size / math.log(2)


def float_bits(net: PixelNetwork, pixels: np.ndarray) -> float:
    """The float network's mean NLL of (H, W, C) uint8 `pixels`, in bits per subpixel."""
    return _float_nats(net, pixels) / math.log(2)
