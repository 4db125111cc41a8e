"""Multi-Scale PixelRNN (van den Oord et al. 2016, §3.6).

An unconditional PixelRNN models the s x s image subsampled from the n x n one (every second
row and column: s = ceil(n / 2)); a conditional PixelRNN models the n x n image with every layer
biased by the small image: a deconvolution upsamples it to a c x n x n map, and a 1x1
unmasked convolution per layer turns that map into a 4h x n x n bias of the layer's
input-to-state gates::

    small = x[::2, ::2]                         unconditional PixelRNN      -> small's tables
    u = ReLU(3x3 conv(ReLU(2x2 deconv, stride 2 (small))))                  c x n x n
    bias_l = 1x1 conv_l(u)                      added to layer l's gates of the large PixelRNN

For lossless coding the subsampling keeps pixels: the small image *is* the pixels at even rows
and columns, so the large network codes only the other three quarters. ``run`` returns one map
of tables for the whole image, the small network's at even (row, column) and the large one's
elsewhere, so the training loss and the NLL of every other network apply unchanged. The
stepper codes the small image first, then the rest of the large one, where the even positions
are "known": computed for their features, not coded.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .arithmetic import FLOAT, ExactArithmetic
from .base import NetworkConfig, PixelNetwork
from ..engine.wavefront import wavefront_steps
from .pixelrnn import PixelRNN, PixelRNNConfig, PixelRNNStepper


@dataclass(frozen=True)
class MultiScaleConfig(NetworkConfig):
    small: dict                   # PixelRNNConfig fields of the unconditional s x s network
    large: dict                   # PixelRNNConfig fields of the conditional n x n network
    upsample_features: int = 32   # c: features of the upsampled map

    def __post_init__(self):
        small, large = PixelRNNConfig(**self.small), PixelRNNConfig(**self.large)
        if (small.colours, small.levels) != (large.colours, large.levels):
            raise ValueError("the small and large networks must code the same colours and "
                             "levels")

    @property
    def colours(self) -> int:
        return self.large["colours"]

    @property
    def levels(self) -> int:
        return self.large.get("levels", 256)


def subsample(x: torch.Tensor) -> torch.Tensor:
    """(B, C, n, m) -> (B, C, ceil(n/2), ceil(m/2)): the pixels at even rows and columns."""
    return x[:, :, ::2, ::2]


class MultiScalePixelRNN(PixelNetwork):
    def __init__(self, config: MultiScaleConfig):
        super().__init__()
        self.config = config
        self.small = PixelRNN(PixelRNNConfig(**config.small))
        self.large = PixelRNN(PixelRNNConfig(**config.large))
        c, f, h = config.colours, config.upsample_features, self.large.config.hidden
        self.upsample = nn.ConvTranspose2d(c, f, 2, stride=2)
        self.refine = nn.Conv2d(f, f, 3, padding=1)
        self.to_gates = nn.ModuleList(nn.Conv2d(f, 4 * h, 1)
                                      for _ in range(self.large.config.layers))

    def conditioning(self, small: torch.Tensor, height: int, width: int,
                     arith=FLOAT) -> list[torch.Tensor]:
        """Normalised small images (B, C, s, t) -> per large layer a (B, 4h, height, width)
        bias of its gates."""
        act = arith.act
        u = act(F.relu(arith.conv(self.upsample, small)))[:, :, :height, :width]
        u = act(F.relu(arith.conv(self.refine, u)))
        return [act(arith.conv(to_gates, u)) for to_gates in self.to_gates]

    def run(self, x: torch.Tensor, arith=FLOAT) -> torch.Tensor:
        """Normalised pixels (B, C, n, m) -> output channels (B, C * per colour, n, m): the small
        network's at even rows and columns, the conditional large network's elsewhere."""
        small = subsample(x)
        out = self.large.run(x, arith, self.conditioning(small, x.shape[2], x.shape[3], arith))
        out = out.clone()
        out[:, :, ::2, ::2] = self.small.run(small, arith)
        return out

    def wavefront_slope(self, width: int) -> None:
        return None  # the small image's wavefront, then the large one's: no one plain wavefront

    def cache_channels(self) -> int:
        large = self.large.config
        return (self.small.cache_channels() + self.large.cache_channels()
                + large.layers * 4 * large.hidden)

    def stepper(self, tile_sizes: list[tuple[int, int]]) -> "MultiScaleStepper":
        return MultiScaleStepper(self, tile_sizes)

    def step_count(self, tile_sizes: list[tuple[int, int]]) -> int:
        """The small image's wavefront, then the large network's over each whole tile."""
        width = max(w for _, w in tile_sizes)
        return (self.small.step_count(small_sizes(tile_sizes))
                + wavefront_steps(tile_sizes, self.large.wavefront_slope(width)))


def small_sizes(tile_sizes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The subsampled images' sizes: each tile's even rows and columns."""
    return [((h + 1) // 2, (w + 1) // 2) for h, w in tile_sizes]


class MultiScaleStepper:
    """The small image of every tile first (at the even positions of the tile, in the small
    network's own wavefront order), then the large network's wavefront over each whole tile,
    with the even positions known (interface: ``base.Stepper``)."""

    def __init__(self, net: MultiScalePixelRNN, tile_sizes: list[tuple[int, int]]):
        self.net = net
        self.tile_sizes = tile_sizes
        self.small_sizes = small_sizes(tile_sizes)
        self.small = PixelRNNStepper(net.small, self.small_sizes)
        self.large: PixelRNNStepper | None = None
        self.current: PixelRNNStepper = self.small
        self.known = None
        width = max(w for _, w in tile_sizes)
        self.large_slope = net.large.wavefront_slope(width)

    def steps(self):
        for tile, row, col in self.small.steps():
            yield tile, 2 * row, 2 * col
        self.large = PixelRNNStepper(self.net.large, self.tile_sizes, self._biases())
        self.current = self.large
        yield from self.large.steps()

    def _biases(self) -> list[torch.Tensor]:
        """Per large layer, (tiles, H, W, 4h) float32 gate biases from the decoded small
        images, computed tile by tile (a tile sees only its own small image, as it would
        alone)."""
        arith = ExactArithmetic(self.net)
        height, width = (max(size) for size in zip(*self.tile_sizes))
        channels = 4 * self.net.large.config.hidden
        biases = [torch.zeros(len(self.tile_sizes), height, width, channels)
                  for _ in self.net.to_gates]
        cache = self.small.pixels
        for k, ((h, w), (hs, ws)) in enumerate(zip(self.tile_sizes, self.small_sizes)):
            rows = torch.arange(hs)[:, None].expand(hs, ws).reshape(-1)
            cols = torch.arange(ws)[None, :].expand(hs, ws).reshape(-1)
            index = cache.index(torch.full_like(rows, k), rows, cols)
            small = cache.read(index).t().reshape(1, -1, hs, ws)  # normalised, float64
            for bias, layer_bias in zip(biases, self.net.conditioning(small, h, w, arith)):
                bias[k, :h, :w] = layer_bias[0].permute(1, 2, 0).to(torch.float32)
        return biases

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        if self.current is self.small:
            self.small.at(tile, row // 2, col // 2)
        else:
            self.large.at(tile, row, col)
            self.known = (row % 2 == 0) & (col % 2 == 0)

    def table(self, colour: int) -> torch.Tensor:
        return self.current.table(colour)

    def reveal(self, colour: int, symbols: torch.Tensor) -> None:
        self.current.reveal(colour, symbols)


__all__ = ["MultiScaleConfig", "MultiScalePixelRNN", "MultiScaleStepper", "subsample"]
