"""A PixelCNN with a discretized logistic mixture head (PixelCNN++'s output distribution), the
photo model of the codec.

Architecture::

    7x7 conv, mask A            C -> 2h             (every earlier pixel, no colour groups)
    n residual blocks:          ReLU, 1x1 conv 2h->h, ReLU, 3x3 conv mask B, ReLU, 1x1 conv h->2h
    ReLU, 1x1 conv              2h -> F
    ReLU, 1x1 conv              F -> mixture parameters (``logistic.mixture_channels``)
    + a linear predictor:       5x5 conv, mask A, on the pixels, added to every component's mean

Unlike the paper's PixelCNN, a pixel's three colours share one pass: the network sees only
earlier pixels, and the colours of a pixel depend on each other through the mixture's colour
terms (G's means linear in R, B's in R and G). So coding runs the network once per pixel, not
once per colour, and the linear predictor lets the network learn a correction to a strong
linear guess instead of the guess itself.

Ways to run it, all from one ``run``: ``forward`` (float32 parameters, training, with
``loss``), ``exact_weights`` (the coder's integer tables for whole images) and
``LogisticPixelCNNStepper`` (the same tables a few positions at a time, for coding).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import fixedpoint as fx
from .arithmetic import FLOAT, ExactArithmetic, PixelNetwork, exact_parameters
from .incremental import FeatureCache, PixelCache, Taps, reach_of, slope_for, wavefront, \
    wavefront_steps
from .layers import MaskedConv2d, normalise_pixels
from . import logistic


@dataclass(frozen=True)
class LogisticPixelCNNConfig:
    colours: int = 3          # 3: RGB, 1: grayscale
    hidden: int = 32          # h; the residual stream has 2h channels
    blocks: int = 6           # residual blocks after the 7x7 mask-A layer
    out_features: int = 96    # width of the output layer
    components: int = 5       # logistics in the mixture
    predictor: int = 5        # kernel side of the linear predictor (0: none)
    levels: int = 256         # 8-bit values only

    def __post_init__(self):
        if self.colours not in (1, 3):
            raise ValueError("colours must be 1 or 3")
        if self.levels != 256:
            raise ValueError("a logistic mixture models 8-bit values (levels 256)")
        if self.components < 1 or self.predictor not in (0, 3, 5, 7):
            raise ValueError("components must be >= 1 and predictor one of 0, 3, 5, 7")
        fan_in = max(7 * 7 * self.colours, 9 * self.hidden, 2 * self.hidden, self.out_features)
        if fan_in > fx.MAX_FAN_IN:
            raise ValueError(f"fan-in {fan_in} exceeds the exact-arithmetic bound {fx.MAX_FAN_IN}")

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualBlock(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.reduce = MaskedConv2d(2 * hidden, hidden, 1, "B", 1)
        self.spatial = MaskedConv2d(hidden, hidden, 3, "B", 1)
        self.expand = MaskedConv2d(hidden, 2 * hidden, 1, "B", 1)


class LogisticPixelCNN(PixelNetwork):
    prefers_channels_last = True

    def __init__(self, config: LogisticPixelCNNConfig):
        super().__init__()
        self.config = config
        h, c, k = config.hidden, config.colours, config.components
        self.input_conv = MaskedConv2d(c, 2 * h, 7, "A", 1)
        self.blocks = nn.ModuleList(ResidualBlock(h) for _ in range(config.blocks))
        self.head = MaskedConv2d(2 * h, config.out_features, 1, "B", 1)
        self.params = MaskedConv2d(config.out_features, logistic.mixture_channels(c, k), 1,
                                   "B", 1)
        self.predictor = None
        if config.predictor:
            self.predictor = MaskedConv2d(c, c * k, config.predictor, "A", 1)
            nn.init.zeros_(self.predictor.weight)
            nn.init.zeros_(self.predictor.bias)

    def run(self, x: torch.Tensor, arith=FLOAT) -> torch.Tensor:
        """Normalised pixels (B, C, H, W) -> mixture parameters (B, channels, H, W)."""
        conv, act = arith.conv, arith.act
        a = act(conv(self.input_conv, x))
        for block in self.blocks:
            u = act(conv(block.reduce, F.relu(a)))
            u = act(conv(block.spatial, F.relu(u)))
            u = act(conv(block.expand, F.relu(u)))
            a = act(a + u)
        o = act(conv(self.head, F.relu(a)))
        out = conv(self.params, F.relu(o))
        if self.predictor is None:
            return out
        k, c = self.config.components, self.config.colours
        guess = conv(self.predictor, x)
        return torch.cat([out[:, :k], out[:, k:k + c * k] + guess, out[:, k + c * k:]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols (B, C, H, W) -> float mixture parameters (B, channels, H, W)."""
        return self.run(normalise_pixels(x))

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
        layers = [self.input_conv] + [b.spatial for b in self.blocks]
        reach = reach_of(layers)
        if self.predictor is not None:
            reach |= reach_of([self.predictor])
        return reach

    def wavefront_slope(self, width: int) -> int:
        return slope_for(self.dependency_offsets())

    def halo_rows(self) -> int:
        return max(-dy for dy, _ in self.dependency_offsets())

    def cache_channels(self) -> int:
        return self.config.colours + self.config.blocks * self.config.hidden

    def stepper(self, tile_sizes: list[tuple[int, int]]) -> "LogisticPixelCNNStepper":
        return LogisticPixelCNNStepper(self, tile_sizes)


class LogisticPixelCNNStepper:
    """Incremental LogisticPixelCNN: the network runs once per position (at the first colour);
    each colour's table then needs only the mixture and the colours revealed before it."""

    def __init__(self, net: LogisticPixelCNN, tile_sizes: list[tuple[int, int]]):
        cfg = net.config
        tiles = len(tile_sizes)
        height, width = (max(size) for size in zip(*tile_sizes))
        self.tile_sizes = tile_sizes
        self.slope = net.wavefront_slope(width)
        self.known = None
        self.colours, self.components = cfg.colours, cfg.components
        params = exact_parameters(net)
        self.input_taps = Taps(net.input_conv, *params[net.input_conv])
        self.pixels = PixelCache(tiles, height, width, cfg.colours, 256, 3,
                                 self.input_taps.offsets)
        self.predictor = None
        if net.predictor is not None:
            self.predictor = Taps(net.predictor, *params[net.predictor])
            self.predictor_offsets = self.pixels.flat_offsets(self.predictor.offsets)
        self.blocks = []
        for block in net.blocks:
            spatial = Taps(block.spatial, *params[block.spatial])
            cache = FeatureCache(tiles, height, width, cfg.hidden, 1, spatial.offsets)
            self.blocks.append((Taps(block.reduce, *params[block.reduce]), spatial, cache,
                                Taps(block.expand, *params[block.expand])))
        self.head = Taps(net.head, *params[net.head])
        self.params = Taps(net.params, *params[net.params])

    def steps(self):
        return wavefront(self.tile_sizes, self.slope)

    def step_count(self) -> int:
        return wavefront_steps(self.tile_sizes, self.slope)

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        self.pixel_index = self.pixels.index(tile, row, col)
        self.block_index = [cache.index(tile, row, col) for _, _, cache, _ in self.blocks]
        self.mixture = None
        self.revealed = np.zeros((len(self.pixel_index), self.colours), dtype=np.int64)

    def _run(self) -> torch.Tensor:
        """The exact network outputs (N, channels) at the current positions."""
        q = fx.quantize_activation
        index = self.pixel_index
        # Mask A: the centre tap is dead, the context is the whole sum.
        a = q(self.input_taps.context(self.pixels.neighbours(index)))
        for (reduce, spatial, cache, expand), block_index in zip(self.blocks, self.block_index):
            u = F.relu(q(reduce.centre(F.relu(a))))
            cache.write(block_index, u)
            u = q(spatial.centre(u, spatial.context(cache.neighbours(block_index))))
            u = q(expand.centre(F.relu(u)))
            a = q(a + u)
        o = F.relu(q(self.head.centre(F.relu(a))))
        out = self.params.centre(o)
        if self.predictor is not None:
            k, c = self.components, self.colours
            guess = self.predictor.context(self.pixels.neighbours(index, self.predictor_offsets))
            out[:, k:k + c * k] += guess
        return out

    def table(self, colour: int) -> torch.Tensor:
        """The coder's int64 weights (N, 256) of `colour` at the current positions."""
        if self.mixture is None:
            self.mixture = logistic.QuantizedMixture(self._run(), self.colours, self.components)
        return torch.from_numpy(self.mixture.table(colour, self.revealed[:, :colour]))

    def reveal(self, colour: int, symbols: torch.Tensor) -> None:
        self.pixels.reveal(self.pixel_index, colour, symbols)
        self.revealed[:, colour] = symbols.numpy()
