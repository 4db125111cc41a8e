"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu, *Pixel Recurrent Neural Networks*, 2016).

Architecture (§3.4-3.5, Table 1, Fig. 5 left)::

    7x7 conv, mask A            C -> 2h
    n residual blocks:          ReLU, 1x1 conv 2h->h, ReLU, 3x3 conv mask B, ReLU, 1x1 conv h->2h,
                                added to the block input
    ReLU, 1x1 conv mask B       2h -> F
    ReLU, 1x1 conv mask B       F -> 256*C     (a 256-way softmax per subpixel)

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
from .layers import MaskedConv2d


@dataclass(frozen=True)
class PixelCNNConfig:
    colours: int = 3          # 3: RGB, 1: grayscale
    hidden: int = 32          # h of the paper; the residual stream has 2h channels
    blocks: int = 6           # residual blocks after the 7x7 mask-A layer
    out_features: int = 96    # width of the output layers

    def __post_init__(self):
        if self.colours not in (1, 3):
            raise ValueError("colours must be 1 or 3")
        fan_in = max(7 * 7 * self.colours, 9 * self.hidden, 2 * self.hidden, self.out_features)
        if fan_in > fx.MAX_FAN_IN:
            raise ValueError(f"fan-in {fan_in} exceeds the exact-arithmetic bound {fx.MAX_FAN_IN}")
        if min(self.hidden, self.out_features) < self.colours:
            raise ValueError("every layer needs at least one channel per colour")

    def to_dict(self) -> dict:
        return asdict(self)


def normalise_pixels(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> [-1, 1) in steps of 2**-7 (exact on the fixed-point grid)."""
    return (x.to(torch.float64 if x.dtype == torch.float64 else torch.float32) - 128.0) / 128.0


class ResidualBlock(nn.Module):
    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.reduce = MaskedConv2d(2 * hidden, hidden, 1, "B", colours)
        self.spatial = MaskedConv2d(hidden, hidden, 3, "B", colours)
        self.expand = MaskedConv2d(hidden, 2 * hidden, 1, "B", colours)


class PixelCNN(nn.Module):
    def __init__(self, config: PixelCNNConfig):
        super().__init__()
        self.config = config
        h, c = config.hidden, config.colours
        self.input_conv = MaskedConv2d(c, 2 * h, 7, "A", c)
        self.blocks = nn.ModuleList(ResidualBlock(h, c) for _ in range(config.blocks))
        self.head = MaskedConv2d(2 * h, config.out_features, 1, "B", c)
        self.logits = MaskedConv2d(config.out_features, 256 * c, 1, "B", c)

    def _run(self, x, conv, act):
        """The network once, with `conv(layer, input)` and `act(tensor)` chosen by the caller."""
        a = act(conv(self.input_conv, x))
        for block in self.blocks:
            u = act(conv(block.reduce, F.relu(a)))
            u = act(conv(block.spatial, F.relu(u)))
            u = act(conv(block.expand, F.relu(u)))
            a = act(a + u)
        o = act(conv(self.head, F.relu(a)))
        return conv(self.logits, F.relu(o))

    def _split(self, out: torch.Tensor) -> torch.Tensor:
        b, _, hgt, wid = out.shape
        return out.view(b, self.config.colours, 256, hgt, wid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float logits (B, C, 256, H, W)."""
        return self._split(self._run(normalise_pixels(x), lambda layer, t: layer(t),
                                     lambda t: t))

    @torch.no_grad()
    def forward_exact(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> int64 logits (B, C, 256, H, W) in fixed point."""
        params = exact_parameters(self)

        def conv(layer, t):
            w, b = params[layer]
            return F.conv2d(t, w, b, padding=layer.padding)

        out = self._run(normalise_pixels(x.to(torch.float64)), conv, fx.quantize_activation)
        return self._split(fx.integer_logits(out))


def exact_parameters(net: nn.Module) -> dict:
    """Each masked layer -> (weight, bias) rounded to the fixed-point grid, float64."""
    return {
        m: (fx.quantize_weight(m.masked_weight()), fx.quantize_bias(m.bias))
        for m in net.modules() if isinstance(m, MaskedConv2d)
    }


class _Taps:
    """A masked conv applied at chosen positions: one matmul over its live taps.

    Taps other than the centre read finished neighbours, which do not change while the colours
    of a position are coded, so their sum (``context``) is computed once per position and only
    the centre tap is redone per colour. Splitting the sum keeps it exact (fixedpoint.py)."""

    def __init__(self, layer: MaskedConv2d, weight: torch.Tensor, bias: torch.Tensor):
        k = layer.kernel_size[0]
        pad = k // 2
        live = layer.mask.sum(dim=(0, 1)) > 0
        self.offsets = [(i - pad, j - pad) for i in range(k) for j in range(k)
                        if live[i, j] and (i, j) != (pad, pad)]
        ii = torch.tensor([i + pad for i, _ in self.offsets], dtype=torch.long)
        jj = torch.tensor([j + pad for _, j in self.offsets], dtype=torch.long)
        # (out, in, T) -> (T*in, out): matches gathered rows laid out as (N, T, in).
        self.context_weight = (weight[:, :, ii, jj].permute(2, 1, 0)
                               .reshape(-1, weight.shape[0]).contiguous())
        self.centre_weight = weight[:, :, pad, pad].t().contiguous()
        self.bias = bias

    def context(self, gathered: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, gathered.reshape(gathered.shape[0], -1),
                           self.context_weight)

    def centre(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return torch.addmm(self.bias if context is None else context, x, self.centre_weight)


class _FeatureCache:
    """Channels-last, zero-padded feature maps of a round of tiles, addressed by flat index.

    Float32 holds fixed-point activations exactly (20 significant bits)."""

    def __init__(self, tiles: int, height: int, width: int, channels: int, pad: int,
                 offsets: list[tuple[int, int]]):
        self.pad = pad
        self.row_len = width + 2 * pad
        self.tile_len = (height + pad) * self.row_len
        self.data = torch.zeros(tiles * self.tile_len, channels, dtype=torch.float32)
        self.offsets = torch.tensor([dr * self.row_len + dc for dr, dc in offsets],
                                    dtype=torch.long)

    def index(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        return tile * self.tile_len + (row + self.pad) * self.row_len + (col + self.pad)

    def neighbours(self, centre: torch.Tensor) -> torch.Tensor:
        return self.data[centre[:, None] + self.offsets[None, :]].to(torch.float64)

    def read(self, centre: torch.Tensor) -> torch.Tensor:
        return self.data[centre].to(torch.float64)


class PixelCNNStepper:
    """Incremental PixelCNN: tables for a set of positions of a round of same-size tiles.

    Only the inputs of the 7x7 and 3x3 layers are kept (the other layers are pointwise); a step
    computes every layer at its positions alone. Usage per step: ``at(tile, row, col)``, then for
    each colour in order ``table(colour)`` and ``reveal(colour, symbols)``."""

    def __init__(self, net: PixelCNN, tiles: int, height: int, width: int):
        params = exact_parameters(net)
        self.input_taps = _Taps(net.input_conv, *params[net.input_conv])
        self.pixels = _FeatureCache(tiles, height, width, net.config.colours, 3,
                                    self.input_taps.offsets)
        self.blocks = []
        for block in net.blocks:
            spatial = _Taps(block.spatial, *params[block.spatial])
            cache = _FeatureCache(tiles, height, width, net.config.hidden, 1, spatial.offsets)
            self.blocks.append((_Taps(block.reduce, *params[block.reduce]), spatial, cache,
                                _Taps(block.expand, *params[block.expand])))
        self.head = _Taps(net.head, *params[net.head])
        self.logits = _Taps(net.logits, *params[net.logits])

    @staticmethod
    def dependency_offsets(net: PixelCNN) -> set[tuple[int, int]]:
        """(dy, dx) of every earlier position the output at (0, 0) can depend on."""
        reach = {(0, 0)}
        spatial = [net.input_conv] + [b.spatial for b in net.blocks]
        for layer in reversed(spatial):
            live = _Taps(layer, layer.weight, layer.bias).offsets + [(0, 0)]
            reach = {(y + dy, x + dx) for y, x in reach for dy, dx in live}
        return reach - {(0, 0)}

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        self.pixel_index = self.pixels.index(tile, row, col)
        self.block_index = [cache.index(tile, row, col) for _, _, cache, _ in self.blocks]
        self.input_context = self.input_taps.context(self.pixels.neighbours(self.pixel_index))
        self.block_context = [spatial.context(cache.neighbours(index)) for (_, spatial, cache, _),
                              index in zip(self.blocks, self.block_index)]

    def table(self, colour: int) -> torch.Tensor:
        """int64 logits (N, 256) of `colour` at the current positions."""
        q = fx.quantize_activation
        a = q(self.input_taps.centre(self.pixels.read(self.pixel_index), self.input_context))
        for (reduce, spatial, cache, expand), index, context in zip(
                self.blocks, self.block_index, self.block_context):
            u = F.relu(q(reduce.centre(F.relu(a))))
            cache.data[index] = u.to(torch.float32)
            u = q(spatial.centre(u, context))
            u = q(expand.centre(F.relu(u)))
            a = q(a + u)
        o = F.relu(q(self.head.centre(F.relu(a))))
        cols = slice(colour * 256, (colour + 1) * 256)
        return fx.integer_logits(torch.addmm(self.logits.bias[cols], o,
                                             self.logits.centre_weight[:, cols]))

    def reveal(self, colour: int, symbols: torch.Tensor) -> None:
        self.pixels.data[self.pixel_index, colour] = (symbols.to(torch.float32) - 128.0) / 128.0
