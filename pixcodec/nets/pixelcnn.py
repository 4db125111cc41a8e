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
    """ReLU, 1x1 conv 2h->h, ReLU, 3xW conv mask B, ReLU, 1x1 conv h->2h (added to the input
    by the network). `colours` 1: no colour groups (the logistic PixelCNN)."""

    def __init__(self, hidden: int, colours: int, spatial_width: int = 3):
        super().__init__()
        self.reduce = MaskedConv2d(2 * hidden, hidden, 1, "B", colours)
        self.spatial = MaskedConv2d(hidden, hidden, (3, spatial_width), "B", colours)
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


class ResidualStepper:
    """What the PixelCNN steppers share (interface: ``pixcodec.nets.incremental``): the wavefront
    over a round of tiles, the cached pixels the mask-A input layer reads, and per residual
    block the cached inputs of its spatial layer. Only those are kept (the other layers are
    pointwise); a step computes every layer at its positions alone."""

    def __init__(self, net: nn.Module, tile_sizes: list[tuple[int, int]], levels: int):
        cfg = net.config
        tiles = len(tile_sizes)
        height, width = (max(size) for size in zip(*tile_sizes))
        self.tile_sizes = tile_sizes
        self.slope = net.wavefront_slope(width)
        self.known = None
        self.exact = exact_parameters(net)
        self.input_taps = self.taps(net.input_conv)
        self.pixels = PixelCache(tiles, height, width, cfg.colours, levels, 3,
                                 self.input_taps.offsets)
        self.blocks = []
        for block in net.blocks:
            spatial = self.taps(block.spatial)
            cache = FeatureCache(tiles, height, width, cfg.hidden,
                                 block.spatial.kernel_size[1] // 2, spatial.offsets)
            self.blocks.append((self.taps(block.reduce), spatial, cache, self.taps(block.expand)))
        self.head = self.taps(net.head)

    def taps(self, layer: MaskedConv2d) -> Taps:
        return Taps(layer, *self.exact[layer])

    def steps(self):
        return wavefront(self.tile_sizes, self.slope)

    def step_count(self) -> int:
        return wavefront_steps(self.tile_sizes, self.slope)

    def locate(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        self.pixel_index = self.pixels.index(tile, row, col)
        self.block_index = [cache.index(tile, row, col) for _, _, cache, _ in self.blocks]

    def block_contexts(self) -> list[torch.Tensor]:
        """The spatial layers' sums over the finished neighbours of the current positions."""
        return [spatial.context(cache.neighbours(index))
                for (_, spatial, cache, _), index in zip(self.blocks, self.block_index)]

    def trunk(self, a: torch.Tensor, block_contexts: list[torch.Tensor]) -> torch.Tensor:
        """The input layer's output -> the last layer's input features at the current positions
        (caching each spatial layer's input on the way)."""
        q = fx.quantize_activation
        for (reduce, spatial, cache, expand), index, context in zip(
                self.blocks, self.block_index, block_contexts):
            u = F.relu(q(reduce.centre(F.relu(a))))
            cache.write(index, u)
            u = q(spatial.centre(u, context))
            u = q(expand.centre(F.relu(u)))
            a = q(a + u)
        return F.relu(q(self.head.centre(F.relu(a))))


class PixelCNNStepper(ResidualStepper):
    """Incremental PixelCNN: a position's colours are coded one after another, each running the
    layers at the position again (the colour groups' centre taps see the colours before it)."""

    def __init__(self, net: PixelCNN, tile_sizes: list[tuple[int, int]]):
        super().__init__(net, tile_sizes, net.config.levels)
        self.levels = net.config.levels
        self.logits = self.taps(net.logits)

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        self.locate(tile, row, col)
        self.input_context = self.input_taps.context(self.pixels.neighbours(self.pixel_index))
        self.contexts = self.block_contexts()

    def table(self, colour: int) -> torch.Tensor:
        """int64 logits (N, levels) of `colour` at the current positions."""
        a = fx.quantize_activation(self.input_taps.centre(self.pixels.read(self.pixel_index),
                                                          self.input_context))
        return output_table(self.logits, self.trunk(a, self.contexts), colour, self.levels)

    def reveal(self, colour: int, symbols: torch.Tensor) -> None:
        self.pixels.reveal(self.pixel_index, colour, symbols)


def output_table(logits: Taps, features: torch.Tensor, colour: int, levels: int) -> torch.Tensor:
    """int64 logits (N, levels) of one colour from the last layer's input features."""
    k = output_channels(levels)
    cols = slice(colour * k, (colour + 1) * k)
    out = fx.integer_logits(torch.addmm(logits.bias[cols], features,
                                        logits.centre_weight[:, cols]))
    return torch.cat([torch.zeros_like(out), out], dim=1) if levels == 2 else out
