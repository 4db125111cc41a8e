"""Building blocks of the steppers (interface: ``pixcodec.nets.base.Stepper``): the networks
run a few positions at a time, in exact arithmetic, from cached features of positions already
decoded.

The PixelCNN and PixelRNN steppers go along a wavefront: position (r, c) of every tile at step
c + slope * r, with ``net.wavefront_slope(width)`` the smallest slope for which nothing a
position depends on comes at the same step or later.
"""
from __future__ import annotations

import torch

from ..engine.wavefront import reach
from ..engine.wavefront import wavefront as numpy_wavefront
from .layers import MaskedConv2d, normalise_pixels


def wavefront(tile_sizes: list[tuple[int, int]], slope: int):
    """``engine.wavefront.wavefront``'s steps as (3, N) index tensors (tile, row, col)."""
    for chunk in numpy_wavefront(tile_sizes, slope):
        yield torch.from_numpy(chunk)


class Taps:
    """A masked conv applied at chosen positions: one matmul over its live taps.

    Taps other than the centre read finished neighbours, which do not change while the colours
    of a position are coded, so their sum (``context``) is computed once per position and only
    the centre tap is redone per colour. Splitting the sum keeps it exact (fixedpoint.py)."""

    def __init__(self, layer: MaskedConv2d, weight: torch.Tensor, bias: torch.Tensor):
        kh, kw = layer.kernel_size
        ph, pw = kh // 2, kw // 2
        live = layer.mask.sum(dim=(0, 1)) > 0
        self.offsets = [(i - ph, j - pw) for i in range(kh) for j in range(kw)
                        if live[i, j] and (i, j) != (ph, pw)]
        ii = torch.tensor([i + ph for i, _ in self.offsets], dtype=torch.long)
        jj = torch.tensor([j + pw for _, j in self.offsets], dtype=torch.long)
        # (out, in, T) -> (T*in, out): matches gathered rows laid out as (N, T, in).
        self.context_weight = (weight[:, :, ii, jj].permute(2, 1, 0)
                               .reshape(-1, weight.shape[0]).contiguous())
        self.centre_weight = weight[:, :, ph, pw].t().contiguous()
        self.bias = bias

    def context(self, gathered: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, gathered.reshape(gathered.shape[0], -1),
                           self.context_weight)

    def centre(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return torch.addmm(self.bias if context is None else context, x, self.centre_weight)


def live_offsets(layer: MaskedConv2d) -> list[tuple[int, int]]:
    """(dy, dx) of the live non-centre taps of a masked conv."""
    return Taps(layer, layer.weight, layer.bias).offsets


class FeatureCache:
    """Channels-last feature maps of a round of tiles of at most height x width, addressed by
    flat index, with `pad` rows above and `pad` columns either side (zero unless written: the
    zero padding of a convolution, also beyond the edge of a tile smaller than the largest).

    Float32 holds fixed-point activations exactly (20 significant bits)."""

    def __init__(self, tiles: int, height: int, width: int, channels: int, pad: int,
                 offsets: list[tuple[int, int]] = ()):
        self.pad = pad
        self.row_len = width + 2 * pad
        self.tile_len = (height + pad) * self.row_len
        self.data = torch.zeros(tiles * self.tile_len, channels, dtype=torch.float32)
        self.array = self.data.numpy()  # the same memory, for the compiled steppers
        self.offsets = self.flat_offsets(offsets)

    def index(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        return tile * self.tile_len + (row + self.pad) * self.row_len + (col + self.pad)

    def neighbours(self, centre: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """(N, T, channels) float64 at the cache's offsets (or `offsets`, from
        ``flat_offsets``) around each centre."""
        offsets = self.offsets if offsets is None else offsets
        # index_select on the flat indices: about twice as fast as indexing with a 2-D tensor
        rows = self.data.index_select(0, (centre[:, None] + offsets[None, :]).reshape(-1))
        return rows.view(len(centre), len(offsets), self.data.shape[1]).to(torch.float64)

    def flat_offsets(self, offsets: list[tuple[int, int]]) -> torch.Tensor:
        return torch.tensor([dr * self.row_len + dc for dr, dc in offsets], dtype=torch.long)

    def read(self, index: torch.Tensor) -> torch.Tensor:
        return self.data.index_select(0, index).to(torch.float64)

    def write(self, index: torch.Tensor, values: torch.Tensor) -> None:
        self.data.index_copy_(0, index, values.to(torch.float32))


class PixelCache(FeatureCache):
    """The normalised pixels themselves, revealed one colour at a time."""

    def __init__(self, tiles: int, height: int, width: int, colours: int, levels: int,
                 pad: int, offsets: list[tuple[int, int]]):
        super().__init__(tiles, height, width, colours, pad, offsets)
        self.levels = levels

    def reveal(self, index: torch.Tensor, colour: int, symbols: torch.Tensor) -> None:
        self.data[index, colour] = normalise_pixels(symbols, self.levels).to(torch.float32)


def reach_of(layers: list[MaskedConv2d]) -> set[tuple[int, int]]:
    """(dy, dx) of every earlier position a stack of masked convs lets (0, 0) depend on."""
    return reach([live_offsets(layer) for layer in layers])
