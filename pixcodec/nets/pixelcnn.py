"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu, *Pixel Recurrent Neural Networks*, 2016).

Architecture (§3.4-3.5, Table 1, Fig. 5 left)::

    7x7 conv, mask A            C -> 2h
    n residual blocks:          ReLU, 1x1 conv 2h->h, ReLU, 3x3 conv mask B, ReLU, 1x1 conv h->2h,
                                added to the block input
    ReLU, 1x1 conv mask B       2h -> F
    ReLU, 1x1 conv mask B       F -> 256*C     (a 256-way softmax per subpixel; C logits, each
                                                a sigmoid, for binary images)

All 1x1 convolutions carry mask B too: without it a colour group would read a later colour's
features at its own pixel and see the future.

Three ways to run the same weights:
* ``forward``: float32, the whole image at once (training);
* ``forward_exact``: fixed-point arithmetic (``pixcodec.fixedpoint``), the whole image at once:
  the model's exact NLL;
* ``PixelCNNStepper``: the same fixed-point arithmetic for a few positions at a time from cached
  lower-layer features (coding). It gives bit-for-bit the tables of ``forward_exact``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import fixedpoint as fx
from .arithmetic import FLOAT, PixelNetwork, exact_parameters
from .incremental import (FeatureCache, PixelCache, Taps, reach_of, slope_for, wavefront,
                          wavefront_steps)
from .layers import MaskedConv2d, check_levels, output_channels


@dataclass(frozen=True)
class PixelCNNConfig:
    colours: int = 3          # 3: RGB, 1: grayscale
    hidden: int = 32          # h of the paper; the residual stream has 2h channels
    blocks: int = 6           # residual blocks after the 7x7 mask-A layer
    out_features: int = 96    # width of the output layers
    levels: int = 256         # values per subpixel: 256, or 2 for binary images (a sigmoid)

    def __post_init__(self):
        if self.colours not in (1, 3):
            raise ValueError("colours must be 1 or 3")
        check_levels(self.levels)
        fan_in = max(7 * 7 * self.colours, 9 * self.hidden, 2 * self.hidden, self.out_features)
        if fan_in > fx.MAX_FAN_IN:
            raise ValueError(f"fan-in {fan_in} exceeds the exact-arithmetic bound {fx.MAX_FAN_IN}")
        if min(self.hidden, self.out_features) < self.colours:
            raise ValueError("every layer needs at least one channel per colour")

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualBlock(nn.Module):
    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.reduce = MaskedConv2d(2 * hidden, hidden, 1, "B", colours)
        self.spatial = MaskedConv2d(hidden, hidden, 3, "B", colours)
        self.expand = MaskedConv2d(hidden, 2 * hidden, 1, "B", colours)


class PixelCNN(PixelNetwork):
    prefers_channels_last = True

    def __init__(self, config: PixelCNNConfig):
        super().__init__()
        self.config = config
        h, c = config.hidden, config.colours
        self.input_conv = MaskedConv2d(c, 2 * h, 7, "A", c)
        self.blocks = nn.ModuleList(ResidualBlock(h, c) for _ in range(config.blocks))
        self.head = MaskedConv2d(2 * h, config.out_features, 1, "B", c)
        self.logits = MaskedConv2d(config.out_features, output_channels(config.levels) * c, 1,
                                   "B", c)

    def run(self, x: torch.Tensor, arith=FLOAT) -> torch.Tensor:
        """Normalised pixels (B, C, H, W) -> output channels (B, C * per colour, H, W)."""
        conv, act = arith.conv, arith.act
        a = act(conv(self.input_conv, x))
        for block in self.blocks:
            u = act(conv(block.reduce, F.relu(a)))
            u = act(conv(block.spatial, F.relu(u)))
            u = act(conv(block.expand, F.relu(u)))
            a = act(a + u)
        o = act(conv(self.head, F.relu(a)))
        return conv(self.logits, F.relu(o))

    def dependency_offsets(self) -> set[tuple[int, int]]:
        """(dy, dx) of every earlier position the output at (0, 0) can depend on."""
        return reach_of([self.input_conv] + [b.spatial for b in self.blocks])

    def wavefront_slope(self, width: int) -> int:
        return slope_for(self.dependency_offsets())

    def halo_rows(self) -> int:
        """Rows above a pixel that its tables can depend on."""
        return max(-dy for dy, _ in self.dependency_offsets())

    def cache_channels(self) -> int:
        """Float32 channels the stepper caches per position (sets the size of coding rounds)."""
        return self.config.colours + self.config.blocks * self.config.hidden

    def stepper(self, tile_sizes: list[tuple[int, int]]) -> "PixelCNNStepper":
        return PixelCNNStepper(self, tile_sizes)


class PixelCNNStepper:
    """Incremental PixelCNN: tables for a set of positions of a round of same-size tiles.

    Only the inputs of the 7x7 and 3x3 layers are kept (the other layers are pointwise); a step
    computes every layer at its positions alone (interface: ``pixcodec.nets.incremental``)."""

    def __init__(self, net: PixelCNN, tile_sizes: list[tuple[int, int]]):
        cfg = net.config
        tiles = len(tile_sizes)
        height, width = (max(size) for size in zip(*tile_sizes))
        self.tile_sizes = tile_sizes
        self.slope = net.wavefront_slope(width)
        self.known = None
        params = exact_parameters(net)
        self.levels = cfg.levels
        self.per_colour = output_channels(cfg.levels)
        self.input_taps = Taps(net.input_conv, *params[net.input_conv])
        self.pixels = PixelCache(tiles, height, width, cfg.colours, cfg.levels, 3,
                                 self.input_taps.offsets)
        self.blocks = []
        for block in net.blocks:
            spatial = Taps(block.spatial, *params[block.spatial])
            cache = FeatureCache(tiles, height, width, cfg.hidden, 1, spatial.offsets)
            self.blocks.append((Taps(block.reduce, *params[block.reduce]), spatial, cache,
                                Taps(block.expand, *params[block.expand])))
        self.head = Taps(net.head, *params[net.head])
        self.logits = Taps(net.logits, *params[net.logits])

    def steps(self):
        return wavefront(self.tile_sizes, self.slope)

    def step_count(self) -> int:
        return wavefront_steps(self.tile_sizes, self.slope)

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        self.pixel_index = self.pixels.index(tile, row, col)
        self.block_index = [cache.index(tile, row, col) for _, _, cache, _ in self.blocks]
        self.input_context = self.input_taps.context(self.pixels.neighbours(self.pixel_index))
        self.block_context = [spatial.context(cache.neighbours(index)) for (_, spatial, cache, _),
                              index in zip(self.blocks, self.block_index)]

    def table(self, colour: int) -> torch.Tensor:
        """int64 logits (N, levels) of `colour` at the current positions."""
        q = fx.quantize_activation
        a = q(self.input_taps.centre(self.pixels.read(self.pixel_index), self.input_context))
        for (reduce, spatial, cache, expand), index, context in zip(
                self.blocks, self.block_index, self.block_context):
            u = F.relu(q(reduce.centre(F.relu(a))))
            cache.write(index, u)
            u = q(spatial.centre(u, context))
            u = q(expand.centre(F.relu(u)))
            a = q(a + u)
        o = F.relu(q(self.head.centre(F.relu(a))))
        return output_table(self.logits, o, colour, self.levels)

    def reveal(self, colour: int, symbols: torch.Tensor) -> None:
        self.pixels.reveal(self.pixel_index, colour, symbols)


def output_table(logits: Taps, features: torch.Tensor, colour: int, levels: int) -> torch.Tensor:
    """int64 logits (N, levels) of one colour from the last layer's input features."""
    k = output_channels(levels)
    cols = slice(colour * k, (colour + 1) * k)
    out = fx.integer_logits(torch.addmm(logits.bias[cols], features,
                                        logits.centre_weight[:, cols]))
    return torch.cat([torch.zeros_like(out), out], dim=1) if levels == 2 else out
