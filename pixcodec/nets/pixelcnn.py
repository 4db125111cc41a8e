"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu, *Pixel Recurrent Neural Networks*, 2016).

Architecture (§3.4-3.5, Table 1, Fig. 5 left)::

    7x7 conv, mask A            C -> 2h
    n residual blocks:          ReLU, 1x1 conv 2h->h, ReLU, 3x3 conv mask B, ReLU, 1x1 conv h->2h,
                                added to the block input (3xW, W = 5 or 7, with spatial_width:
                                a smaller blind spot, not the paper's)
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

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import fixedpoint as fx
from .arithmetic import FLOAT, exact_parameters
from .base import NetworkConfig, PixelNetwork, check_config
from .incremental import FeatureCache, PixelCache, Taps, reach_of, wavefront
from .kernels import integer_logits, neighbour_sums, residual_colour, stacked_neighbour_sums
from .layers import MaskedConv2d, channel_groups, output_channels


@dataclass(frozen=True)
class PixelCNNConfig(NetworkConfig):
    colours: int = 3          # 3: RGB, 1: grayscale
    hidden: int = 32          # h of the paper; the residual stream has 2h channels
    blocks: int = 6           # residual blocks after the 7x7 mask-A layer
    out_features: int = 96    # width of the output layers
    levels: int = 256         # values per subpixel: 256, or 2 for binary images (a sigmoid)
    spatial_width: int = 3    # width of the blocks' 3xW mask-B convolutions (3, 5 or 7)

    def __post_init__(self):
        check_config(self, (self.hidden, self.out_features))


class ResidualBlock(nn.Module):
    """ReLU, 1x1 conv 2h->h, ReLU, 3xW conv mask B, ReLU, 1x1 conv h->2h (added to the input
    by the network). `colours` 1: no colour groups (the logistic PixelCNN)."""

    def __init__(self, hidden: int, colours: int, spatial_width: int = 3):
        super().__init__()
        self.reduce = MaskedConv2d(2 * hidden, hidden, 1, "B", colours)
        self.spatial = MaskedConv2d(hidden, hidden, (3, spatial_width), "B", colours)
        self.expand = MaskedConv2d(hidden, 2 * hidden, 1, "B", colours)


class ResidualNetwork(PixelNetwork):
    """What the two PixelCNNs share (this module's and ``logistic_pixelcnn``'s): the 7x7
    mask-A input layer, the residual blocks and the head, with `groups` colour groups (1: none),
    and what the coding path reads of them."""

    prefers_channels_last = True
    # The compiled steppers encode a 256 x 256 tile faster (the PixelCNN's: 1.6x), or as fast
    # in less memory (the logistic one's).
    band_passes_pay = False

    def __init__(self, config, groups: int):
        super().__init__()
        self.config = config
        h = config.hidden
        self.input_conv = MaskedConv2d(config.colours, 2 * h, 7, "A", groups)
        self.blocks = nn.ModuleList(ResidualBlock(h, groups, config.spatial_width)
                                    for _ in range(config.blocks))
        self.head = MaskedConv2d(2 * h, config.out_features, 1, "B", groups)

    def trunk(self, x: torch.Tensor, arith=FLOAT) -> torch.Tensor:
        """Normalised pixels (B, C, H, W) -> the head's output (B, F, H, W), before its ReLU."""
        conv, act = arith.conv, arith.act
        a = act(conv(self.input_conv, x))
        for block in self.blocks:
            u = act(conv(block.reduce, F.relu(a)))
            u = act(conv(block.spatial, F.relu(u)))
            u = act(conv(block.expand, F.relu(u)))
            a = act(a + u)
        return act(conv(self.head, F.relu(a)))

    def dependency_offsets(self) -> set[tuple[int, int]]:
        """(dy, dx) of every earlier position the output at (0, 0) can depend on."""
        return reach_of([self.input_conv] + [b.spatial for b in self.blocks])

    def cache_channels(self) -> int:
        return self.config.colours + self.config.blocks * self.config.hidden


class PixelCNN(ResidualNetwork):
    def __init__(self, config: PixelCNNConfig):
        super().__init__(config, config.colours)
        self.logits = MaskedConv2d(config.out_features,
                                   output_channels(config.levels) * config.colours, 1, "B",
                                   config.colours)

    def run(self, x: torch.Tensor, arith=FLOAT) -> torch.Tensor:
        """Normalised pixels (B, C, H, W) -> output channels (B, C * per colour, H, W)."""
        return arith.conv(self.logits, F.relu(self.trunk(x, arith)))

    def stepper(self, tile_sizes: list[tuple[int, int]]) -> "PixelCNNStepper":
        return PixelCNNStepper(self, tile_sizes)


class ResidualStepper:
    """What the PixelCNN steppers share (interface: ``base.Stepper``): the wavefront
    over a round of tiles, the cached pixels the mask-A input layer reads, and per residual
    block the cached inputs of its spatial layer. Only those are kept (the other layers are
    pointwise); a step computes every layer at its positions alone, one colour group at a time
    in one compiled call (``pixcodec.nets.kernels``)."""

    def __init__(self, net: nn.Module, tile_sizes: list[tuple[int, int]], levels: int,
                 groups: int):
        cfg = net.config
        tiles = len(tile_sizes)
        height, width = (max(size) for size in zip(*tile_sizes))
        self.tile_sizes = tile_sizes
        self.slope = net.wavefront_slope(width)
        self.known = None
        self.groups = groups
        self.exact = exact_parameters(net)
        input_taps = self.taps(net.input_conv)
        self.pixels = PixelCache(tiles, height, width, cfg.colours, levels, 3, input_taps.offsets)
        self.input_sums = context_weights(input_taps)
        # The blocks' spatial layers' inputs, side by side in one cache (block b's channels at
        # b * h ..): one gather and one compiled call a step serve every block.
        spatial = [self.taps(block.spatial) for block in net.blocks]
        self.block_inputs = FeatureCache(tiles, height, width, len(spatial) * cfg.hidden,
                                         net.blocks[0].spatial.kernel_size[1] // 2,
                                         spatial[0].offsets)
        self.block_sums = tuple(np.stack(part) for part in zip(*map(context_weights, spatial)))
        self.weights = self._kernel_weights(net)

    def _kernel_weights(self, net: nn.Module) -> dict:
        """The centre taps as the compiled trunk reads them: (out, in) float64, biases (1, out),
        the blocks' stacked; and each width's colour-group bounds."""
        def centre(layer):
            return centre_weights(self.taps(layer))[0]

        def bias(layer):
            return self.exact[layer][1][None].numpy()

        def bounds(channels):
            return np.searchsorted(channel_groups(channels, self.groups).numpy(),
                                   np.arange(self.groups + 1))

        blocks = net.blocks
        h = net.config.hidden
        return dict(input_centre=centre(net.input_conv),
                    reduce_w=np.stack([centre(b.reduce) for b in blocks]),
                    reduce_b=np.stack([bias(b.reduce) for b in blocks]),
                    spatial_centre=np.stack([centre(b.spatial) for b in blocks]),
                    expand_w=np.stack([centre(b.expand) for b in blocks]),
                    expand_b=np.stack([bias(b.expand) for b in blocks]),
                    head_w=centre(net.head), head_b=bias(net.head),
                    stream_groups=bounds(2 * h), hidden_groups=bounds(h),
                    head_groups=bounds(net.head.out_channels))

    def taps(self, layer: MaskedConv2d) -> Taps:
        return Taps(layer, *self.exact[layer])

    def steps(self):
        return wavefront(self.tile_sizes, self.slope)

    def locate(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        """Go to a step's positions: the sums over their finished neighbours, and room for
        their layers' outputs."""
        tile, row, col = tile.numpy(), row.numpy(), col.numpy()
        self.pixel_index = self.pixels.index(tile, row, col)
        self.block_index = self.block_inputs.index(tile, row, col)
        self.input_context = cached_sums(self.pixels, self.pixel_index, self.input_sums)
        self.spatial_context = stacked_neighbour_sums(
            self.block_inputs.array, self.block_index, self.block_inputs.offsets.numpy(),
            *self.block_sums)
        n, blocks, w = len(tile), len(self.block_sums[0]), self.weights
        self.stream = np.empty((blocks + 1, n, w["reduce_w"].shape[2]))
        self.reduced = np.empty((blocks, n, w["reduce_w"].shape[1]))
        self.spatial = np.empty_like(self.reduced)
        self.features = np.empty((n, w["head_w"].shape[0]))

    def trunk(self, group: int, centre_pixels: np.ndarray) -> np.ndarray:
        """Channel group `group` of every layer at the current positions (the earlier groups
        done) given the centre's revealed colours (N, C) -> the head's output (N, F), its
        groups up to `group` final. The last group caches each spatial layer's input."""
        w = self.weights
        residual_colour(group, centre_pixels, self.input_context, w["input_centre"],
                        w["reduce_w"], w["reduce_b"], self.spatial_context, w["spatial_centre"],
                        w["expand_w"], w["expand_b"], w["head_w"], w["head_b"],
                        w["stream_groups"], w["hidden_groups"], w["head_groups"],
                        self.stream, self.reduced, self.spatial, self.features)
        if group == self.groups - 1:
            # (blocks, N, h) -> (N, blocks * h); float32 holds them exactly
            self.block_inputs.array[self.block_index] = (
                self.reduced.transpose(1, 0, 2).reshape(len(self.block_index), -1))
        return self.features

    def reveal(self, colour: int, symbols: torch.Tensor) -> None:
        # normalise_pixels in numpy (a torch call per colour costs more than the arithmetic)
        half = self.pixels.levels / 2
        self.pixels.array[self.pixel_index, colour] = (symbols.numpy() - half) / half


def context_weights(taps: Taps) -> tuple[np.ndarray, np.ndarray]:
    """A layer's non-centre taps and bias as ``neighbour_sums`` reads them: (out, taps * in)."""
    return taps.context_weight.t().contiguous().numpy(), taps.bias.numpy()


def centre_weights(taps: Taps) -> tuple[np.ndarray, np.ndarray]:
    """A layer's centre tap (out, in) and bias, as ``kernels.linear`` reads them."""
    return taps.centre_weight.t().contiguous().numpy(), taps.bias.numpy()


def cached_sums(cache: FeatureCache, index: np.ndarray,
                weights: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``Taps.context`` at the cache's positions `index`, compiled: float64 (N, out)."""
    return neighbour_sums(cache.array, index, cache.offsets.numpy(), *weights)


class PixelCNNStepper(ResidualStepper):
    """Incremental PixelCNN: a position's colours are coded one after another, each computing
    its own channel group of every layer (mask B: the groups before it are final)."""

    def __init__(self, net: PixelCNN, tile_sizes: list[tuple[int, int]]):
        super().__init__(net, tile_sizes, net.config.levels, net.config.colours)
        self.levels = net.config.levels
        weight, bias = self.exact[net.logits]
        self.logits_weight = weight[:, :, 0, 0].contiguous().numpy()
        self.logits_bias = bias[None].numpy()

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        self.locate(tile, row, col)

    def table(self, colour: int) -> torch.Tensor:
        """int64 logits (N, levels) of `colour` at the current positions."""
        features = self.trunk(colour, self.pixels.array[self.pixel_index].astype(np.float64))
        k = output_channels(self.levels)
        out = torch.from_numpy(integer_logits(
            features, self.weights["head_groups"][colour + 1], self.logits_weight,
            self.logits_bias, colour * k, (colour + 1) * k))
        return torch.cat([torch.zeros_like(out), out], dim=1) if self.levels == 2 else out


def output_table(logits: Taps, features: torch.Tensor, colour: int, levels: int) -> torch.Tensor:
    """int64 logits (N, levels) of one colour from the last layer's input features."""
    k = output_channels(levels)
    cols = slice(colour * k, (colour + 1) * k)
    out = fx.integer_logits(torch.addmm(logits.bias[cols], features,
                                        logits.centre_weight[:, cols]))
    return torch.cat([torch.zeros_like(out), out], dim=1) if levels == 2 else out
