"""Masked convolutions of PixelCNN / PixelRNN (van den Oord et al. 2016, §3.4).

Channels of every layer are split into as many groups as the image has colours (R, G, B), group
g holding channels [g*n/C, (g+1)*n/C). A 5x5 kernel of mask 'A' for one (out group, in group)
pair looks like this, x marking live taps::

    x x x x x
    x x x x x
    x x o . .      o: the centre, live only if the input group is earlier than the output
    . . . . .         group (mask A) or earlier-or-equal (mask B)
    . . . . .

so the prediction for a subpixel sees every earlier pixel and, at its own pixel, only the
earlier colours (R -> G -> B).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def channel_groups(n_channels: int, n_colours: int) -> torch.Tensor:
    return torch.arange(n_channels) * n_colours // n_channels


def gate_groups(hidden: int, n_colours: int, gates: int = 4) -> torch.Tensor:
    """Colour groups of `gates` stacked gate blocks of `hidden` channels each (LSTM o, f, i, g):
    every gate splits into R/G/B the same way as the hidden state it updates."""
    return channel_groups(hidden, n_colours).repeat(gates)


def causal_mask(out_groups: torch.Tensor, in_groups: torch.Tensor, kernel: tuple[int, int],
                mask_type: str) -> torch.Tensor:
    """The (out, in, kh, kw) 0/1 mask; the kernel centre is (kh // 2, kw // 2) and
    `out_groups` / `in_groups` give each channel's colour."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask type must be 'A' or 'B', not {mask_type!r}")
    kh, kw = kernel
    cy, cx = kh // 2, kw // 2
    mask = torch.zeros(len(out_groups), len(in_groups), kh, kw)
    mask[:, :, :cy, :] = 1
    mask[:, :, cy, :cx] = 1
    out_g, in_g = out_groups[:, None], in_groups[None, :]
    centre = (in_g < out_g) if mask_type == "A" else (in_g <= out_g)
    mask[:, :, cy, cx] = centre.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-size convolution whose weight is multiplied by a fixed causal mask."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 mask_type: str, n_colours: int, out_groups: torch.Tensor | None = None):
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        super().__init__(in_channels, out_channels, kernel,
                         padding=(kernel[0] // 2, kernel[1] // 2))
        self.mask_type = mask_type
        if out_groups is None:
            out_groups = channel_groups(out_channels, n_colours)
        mask = causal_mask(out_groups, channel_groups(in_channels, n_colours), kernel, mask_type)
        self.register_buffer("mask", mask, persistent=False)

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias, padding=self.padding)


LEVELS = (2, 256)


def check_levels(levels: int) -> None:
    if levels not in LEVELS:
        raise ValueError(f"levels must be one of {LEVELS}, not {levels}")


SPATIAL_WIDTHS = (3, 5, 7)


def check_spatial_width(width: int) -> None:
    """The residual blocks' 3xW mask-B convolutions: 3 wide (the paper's) or wider, which
    reaches further right in the rows above (a smaller blind spot). Up to 7 the 7x7 input
    layer already reads as far, so the coding wavefront's slope is unchanged."""
    if width not in SPATIAL_WIDTHS:
        raise ValueError(f"spatial_width must be one of {SPATIAL_WIDTHS}, not {width}")


def output_channels(levels: int) -> int:
    """Output channels per colour: a 256-way softmax, or one logit (a sigmoid) for binary."""
    return 1 if levels == 2 else levels


def normalise_pixels(x: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Symbols 0..levels-1 -> [-1, 1) (exact on the fixed-point grid): 0..255 in steps of
    2**-7, binary 0/1 as -1/0. Float64 stays float64, anything else becomes float32."""
    half = levels / 2
    return (x.to(torch.float64 if x.dtype == torch.float64 else torch.float32) - half) / half


def split_logits(out: torch.Tensor, colours: int, levels: int) -> torch.Tensor:
    """(B, C * output_channels, H, W) -> (B, C, levels, H, W). A binary output's single logit l
    is the table (0, l): softmax over it is (1 - sigmoid(l), sigmoid(l))."""
    b, _, height, width = out.shape
    out = out.view(b, colours, output_channels(levels), height, width)
    if levels == 2:
        out = torch.cat([torch.zeros_like(out), out], dim=2)
    return out
