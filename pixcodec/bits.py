"""`pixcodec bits`: where a model spends its bits in an image.

Each pixel's code length is the sum over its model-coded subpixels of -log2 p under the exact
tables the codec codes with (tile by tile, as in a file; in the image's orientation and with its
adaptation when an effort is asked for), so the map sums to the model's NLL of the image: the
file's COLR payload, less the coder's few bytes. Alpha, palette indices and the low bytes of
16-bit samples are not model-coded and are not in the map.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from . import adapt
from .api import Source, model_input
from .likelihood import coded_pixel_bits
from .errors import UnsupportedImageError
from .figures import png_bytes, pyplot
from .orientation import restored
from .tilechoice import default_tile, looks_photographic


@dataclass(frozen=True)
class BitsMap:
    bits: np.ndarray     # (H, W) float64, bits per pixel
    model: str
    subpixels: int       # model-coded samples in the image

    @property
    def bits_per_dim(self) -> float:
        return float(self.bits.sum()) / self.subpixels


def bits_map(source: Source | np.ndarray, model: str | None = None,
             effort: int = 0) -> BitsMap:
    """The per-pixel code lengths of an image (as `pixcodec.encode` reads it) under `model`
    (default: the shipped one for its colour type), adapted to the image at `effort`."""
    coded = model_input(source, model)
    if coded is None:
        raise UnsupportedImageError("palette images are coded with LZMA, not a model: no map")
    coder_model, values = coded
    turn, values, adaptation = adapt.fit_to_image(coder_model.net, values, effort)
    net = adapt.apply(coder_model.net, adaptation)
    tile = default_tile(values, coder_model.info.coding_tile, net.coders[0],
                        looks_photographic(values))  # the file's tiles
    bits = coded_pixel_bits(net, values, tile)
    return BitsMap(restored(bits[:, :, None], turn)[:, :, 0], coder_model.name, values.size)


def to_csv(result: BitsMap) -> bytes:
    """One row per pixel: y, x, bits."""
    height, width = result.bits.shape
    ys, xs = np.mgrid[0:height, 0:width]
    rows = np.stack([ys.ravel(), xs.ravel(), result.bits.ravel()], axis=1)
    out = io.StringIO()
    out.write("y,x,bits\n")
    np.savetxt(out, rows, fmt=["%d", "%d", "%.6f"], delimiter=",")
    return out.getvalue().encode()


def heat_map_png(result: BitsMap, title: str) -> bytes:
    """The map as a heat map with a colour bar, the total bits/dim in the title; PNG bytes."""
    plt = pyplot("the heat map")
    height, width = result.bits.shape
    scale = 8 / max(height, width)
    fig, ax = plt.subplots(figsize=(max(3.0, width * scale) + 1.5, max(3.0, height * scale)))
    # A few pixels cost many times the rest: the scale stops at the 99.5th percentile.
    top = float(np.percentile(result.bits, 99.5)) or 1.0
    shown = ax.imshow(result.bits, cmap="inferno", interpolation="nearest", vmin=0, vmax=top)
    fig.colorbar(shown, ax=ax, extend="max", label="bits per pixel (all its colours)")
    ax.set_title(f"{title}: {result.bits_per_dim:.3f} bits/dim ({result.model})")
    ax.set_axis_off()
    return png_bytes(fig, dpi=100)
