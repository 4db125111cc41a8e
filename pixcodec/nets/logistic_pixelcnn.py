"""A PixelCNN with a discretized logistic mixture head (PixelCNN++'s output distribution), the
photo model of the codec.

Architecture::

    7x7 conv, mask A            C -> 2h             (every earlier pixel, no colour groups)
    n residual blocks:          ReLU, 1x1 conv 2h->h, ReLU, 3xW conv mask B, ReLU, 1x1 conv h->2h
    ReLU, 1x1 conv              2h -> F
    ReLU, 1x1 conv              F -> mixture parameters (``logistic.mixture_channels``)
    + a linear predictor:       5x5 conv, mask A, on the pixels, added to every component's mean
    + optionally LOCO-I's median edge detector (MED) of each colour, weighted per component

Unlike the paper's PixelCNN, a pixel's three colours share one pass: the network sees only
earlier pixels, and the colours of a pixel depend on each other through the mixture's colour
terms (G's means linear in R, B's in R and G). So coding runs the network once per pixel, not
once per colour, and the linear predictor lets the network learn a correction to a strong
linear guess instead of the guess itself.

The blocks' spatial convolutions are 3 wide (the paper's) or wider (``spatial_width`` 5 or 7):
a wider one reaches further right in the rows above, shrinking PixelCNN's blind spot, at no
cost in coding steps: the 7x7 input layer already reads 3 columns right of the row above, so
the wavefront's slope (``incremental.slope_for``) stays 4 for widths up to 7.

Ways to run it, all from one ``run``: ``forward`` (float32 parameters, training, with
``loss``), ``exact_weights`` (the coder's integer tables for whole images) and
``LogisticPixelCNNStepper`` (the same tables a few positions at a time, for coding).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..fixedpoint import Array
from .arithmetic import FLOAT, ExactArithmetic
from .base import NetworkConfig, check_config
from .incremental import reach_of
from .layers import MaskedConv2d, normalise_pixels
from .kernels import linear, neighbour_sums
from .pixelcnn import ResidualNetwork, ResidualStepper, centre_weights, context_weights
from . import logistic, quantized


EDGE_OFFSETS = [(-1, 0), (0, -1), (-1, -1)]  # (dy, dx) of N, W and NW, the MED's inputs
# W, WW, N, NN, NE, NW and NNE: the inputs of CALIC's gradient-adjusted prediction
GAP_OFFSETS = [(0, -1), (0, -2), (-1, 0), (-2, 0), (-1, 1), (-1, -1), (-2, 1)]


@dataclass(frozen=True)
class LogisticPixelCNNConfig(NetworkConfig):
    colours: int = 3          # 3: RGB, 1: grayscale
    hidden: int = 32          # h; the residual stream has 2h channels
    blocks: int = 6           # residual blocks after the 7x7 mask-A layer
    out_features: int = 96    # width of the output layer
    components: int = 5       # logistics in the mixture
    predictor: int = 5        # kernel side of the linear predictor (0: none)
    spatial_width: int = 3    # width of the blocks' 3xW mask-B convolutions (3, 5 or 7)
    edge_predictor: bool = False  # add the median edge detector's guess to the means
    gap_predictor: bool = False   # add CALIC's gradient-adjusted prediction to the means
    levels: int = 256         # 8-bit values only
    quantized: bool = False   # the integer network of the coding engine (nets/quantized.py)

    def __post_init__(self):
        if self.levels != 256:
            raise ValueError("a logistic mixture models 8-bit values (levels 256)")
        check_config(self)
        if self.components < 1 or self.predictor not in (0, 3, 5, 7):
            raise ValueError("components must be >= 1 and predictor one of 0, 3, 5, 7")


class LogisticPixelCNN(ResidualNetwork):
    def __init__(self, config: LogisticPixelCNNConfig):
        super().__init__(config, 1)  # no colour groups: the colours share every layer
        c, k = config.colours, config.components
        self.params = MaskedConv2d(config.out_features, logistic.mixture_channels(c, k), 1,
                                   "B", 1)
        self.predictor = None
        if config.predictor:
            self.predictor = MaskedConv2d(c, c * k, config.predictor, "A", 1)
            nn.init.zeros_(self.predictor.weight)
            nn.init.zeros_(self.predictor.bias)
        self.edge = None
        if config.edge_predictor:
            self.edge = MaskedConv2d(c, c * k, 1, "B", 1)  # the MED guesses -> each mean
            nn.init.zeros_(self.edge.weight)
            nn.init.zeros_(self.edge.bias)
        self.gap = None
        if config.gap_predictor:
            self.gap = MaskedConv2d(c, c * k, 1, "B", 1)  # the GAP guesses -> each mean
            nn.init.zeros_(self.gap.weight)
            nn.init.zeros_(self.gap.bias)
        if config.quantized:
            self.quantizers = quantized.input_quantizers(self)

    def run(self, x: torch.Tensor, arith=FLOAT) -> torch.Tensor:
        """Normalised pixels (B, C, H, W) -> mixture parameters (B, channels, H, W)."""
        return self.mixture_parameters(self.features(x, arith), x, arith)

    def features(self, x: torch.Tensor, arith=FLOAT) -> torch.Tensor:
        """Normalised pixels (B, C, H, W) -> the output layer's input (B, F, H, W)."""
        return F.relu(self.trunk(x, arith))

    def mixture_parameters(self, features: torch.Tensor, x: torch.Tensor,
                           arith=FLOAT) -> torch.Tensor:
        """The output layer plus the predictors' guesses added to the means; per-image
        adaptation (pixcodec.adapt) fits this part alone."""
        conv = arith.conv
        out = conv(self.params, features)
        k, c = self.config.components, self.config.colours
        logits, means, rest = out.split([k, c * k, out.shape[1] - k - c * k], dim=1)
        if self.predictor is not None:
            means = means + conv(self.predictor, x)
        if self.edge is not None:
            means = means + conv(self.edge, median_edge(*neighbours(x, EDGE_OFFSETS)))
        if self.gap is not None:
            means = means + conv(self.gap, gradient_adjusted(*neighbours(x, GAP_OFFSETS)))
        return torch.cat([logits, means, rest], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols (B, C, H, W) -> float mixture parameters (B, channels, H, W)."""
        arith = quantized.QuantizedTraining(self) if self.config.quantized else FLOAT
        return self.run(normalise_pixels(x), arith)

    def loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return logistic.mixture_nll(out, x, self.config.colours, self.config.components)

    @torch.no_grad()
    def exact_tables(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols (B, C, H, W) -> the coder's int64 weights (B, C, 256, H, W)."""
        cfg = self.config
        out = self.run(normalise_pixels(x.to(torch.float64)), ExactArithmetic(self))
        b, _, h, w = out.shape
        flat = out.permute(0, 2, 3, 1).reshape(b * h * w, -1)
        pixels = x.permute(0, 2, 3, 1).reshape(b * h * w, cfg.colours).to(torch.int64)
        tables = logistic.exact_tables(flat, pixels, cfg.colours, cfg.components)
        return tables.reshape(b, h, w, cfg.colours, 256).permute(0, 3, 4, 1, 2)

    @staticmethod
    def table_weights(tables: np.ndarray) -> np.ndarray:
        return tables.astype(np.float64)  # below 2**50: exact

    def dependency_offsets(self) -> set[tuple[int, int]]:
        reach = super().dependency_offsets()
        if self.predictor is not None:
            reach |= reach_of([self.predictor])
        if self.edge is not None:
            reach |= set(EDGE_OFFSETS)
        if self.gap is not None:
            reach |= set(GAP_OFFSETS)
        return reach

    def stepper(self, tile_sizes: list[tuple[int, int]]) -> "LogisticPixelCNNStepper":
        return LogisticPixelCNNStepper(self, tile_sizes)


class LogisticPixelCNNStepper(ResidualStepper):
    """Incremental LogisticPixelCNN: the network runs once per position (at the first colour);
    each colour's table then needs only the mixture and the colours revealed before it."""

    def __init__(self, net: LogisticPixelCNN, tile_sizes: list[tuple[int, int]]):
        super().__init__(net, tile_sizes, 256, 1)
        self.colours, self.components = net.config.colours, net.config.components
        self.params_weight, self.params_bias = centre_weights(self.taps(net.params))
        self.predictor_sums = None
        if net.predictor is not None:
            predictor = self.taps(net.predictor)
            self.predictor_offsets = self.pixels.flat_offsets(predictor.offsets).numpy()
            self.predictor_sums = context_weights(predictor)
        # the cheap causal predictions: (their 1x1 layer, where their inputs are, the rule)
        self.guesses = [(centre_weights(self.taps(layer)),
                         self.pixels.flat_offsets(offsets).numpy(), rule)
                        for layer, offsets, rule in ((net.edge, EDGE_OFFSETS, median_edge),
                                                     (net.gap, GAP_OFFSETS, gradient_adjusted))
                        if layer is not None]

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        self.locate(tile, row, col)
        self.mixture = None
        self.revealed = np.zeros((len(self.pixel_index), self.colours), dtype=np.int64)

    def _run(self) -> np.ndarray:
        """The exact network outputs (N, channels) at the current positions, in numpy: at a
        step's few hundred positions torch's fixed cost per call outweighs the arithmetic.
        Every sum is exact (pixcodec.fixedpoint), so its order does not matter."""
        index = self.pixel_index
        # One channel group (the colours share every layer); mask A: the centre is not read.
        features = self.trunk(0, np.zeros((len(index), self.colours)))
        out = linear(features, self.params_weight, self.params_bias)
        means = out[:, self.components:self.components * (1 + self.colours)]
        if self.predictor_sums is not None:
            means += neighbour_sums(self.pixels.array, index, self.predictor_offsets,
                                    *self.predictor_sums)
        for (weight, bias), offsets, rule in self.guesses:
            around = self.pixels.array[index[:, None] + offsets].astype(np.float64)
            means += linear(rule(*around.transpose(1, 0, 2)), weight, bias)
        return out

    def table(self, colour: int) -> torch.Tensor:
        """The coder's int64 weights (N, 256) of `colour` at the current positions."""
        if self.mixture is None:
            self.mixture = logistic.QuantizedMixture(self._run(), self.colours, self.components)
        return torch.from_numpy(self.mixture.table(colour, self.revealed[:, :colour]))

    def reveal(self, colour: int, symbols: torch.Tensor) -> None:
        super().reveal(colour, symbols)
        self.revealed[:, colour] = symbols.numpy()


def median_edge(north: Array, west: Array, north_west: Array) -> Array:
    """LOCO-I's median edge detector: the median of N, W and N + W - NW (the smaller of N and W
    across an edge above or left, the larger across the other, the plane through them
    elsewhere). Exact on the pixel grid; torch tensors (training) or numpy arrays (coding)."""
    xp = _module_of(north)
    plane = north + west - north_west
    return xp.maximum(xp.minimum(north, west), xp.minimum(xp.maximum(north, west), plane))


def _module_of(x: Array):
    return np if isinstance(x, np.ndarray) else torch


def neighbours(x: torch.Tensor, offsets) -> list[torch.Tensor]:
    """For each (dy, dx), the pixels (B, C, H, W) at (row + dy, col + dx), zero beyond the
    image, as the stepper's pixel cache holds them."""
    height, width = x.shape[-2:]
    shifted = []
    for dy, dx in offsets:
        padded = F.pad(x, (max(-dx, 0), max(dx, 0), max(-dy, 0), max(dy, 0)))
        top, left = dy + max(-dy, 0), dx + max(-dx, 0)
        shifted.append(padded[..., top:top + height, left:left + width])
    return shifted


def gradient_adjusted(west, west_west, north, north_north, north_east, north_west,
                      north_north_east) -> Array:
    """CALIC's gradient-adjusted prediction (Wu and Memon, 1997) on normalised pixels (steps of
    2**-7, so its thresholds of 80, 32 and 8 grey levels are 80/128, ...): the pixel to the
    left across a sharp horizontal edge, the one above across a sharp vertical one, else the
    plane through W, N, NE and NW pulled towards W or N by how strongly the gradients
    differ. Exact on the fixed-point grid (quarters of quarters of pixel steps); torch tensors
    or numpy arrays."""
    where = _module_of(west).where
    horizontal = abs(west - west_west) + abs(north - north_west) + abs(north - north_east)
    vertical = (abs(west - north_west) + abs(north - north_north)
                + abs(north_east - north_north_east))
    # > 0: values change more going up than going left, an edge along the row: W is the guess
    d = vertical - horizontal
    guess = (west + north) / 2 + (north_east - north_west) / 4
    guess = where(d > 32 / 128, (guess + west) / 2,
                  where(d > 8 / 128, (3 * guess + west) / 4,
                        where(d < -32 / 128, (guess + north) / 2,
                              where(d < -8 / 128, (3 * guess + north) / 4, guess))))
    return where(d > 80 / 128, west, where(d < -80 / 128, north, guess))
