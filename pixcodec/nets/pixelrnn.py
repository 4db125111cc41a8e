"""Row LSTM and Diagonal BiLSTM (van den Oord et al. 2016, §3.1-3.3, Table 1, Fig. 5 right).

Trunk shared by both::

    7x7 conv, mask A                    C -> 2h
    n residual LSTM layers:             2h in, h per gate, 1x1 conv h -> 2h added to the input
    skip connections:                   a learnable 1x1 conv of every layer's output, summed
    ReLU, 1x1 conv mask B, ReLU, 1x1 conv mask B -> 256*C

Gate channels are grouped by colour like the state they update (``gate_groups``), so the R/G/B
masking of §3.4 holds through the recurrences. The initial state of every layer is learned.

Only the parallel (training) forward is here so far; incremental steppers for coding are
future work (issue 3).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import MaskedConv2d, channel_groups, gate_groups
from .pixelcnn import normalise_pixels


@dataclass(frozen=True)
class PixelRNNConfig:
    cell: str = "row_lstm"      # "row_lstm" or "diag_bilstm"
    colours: int = 3
    hidden: int = 16            # h: channels per gate; the residual stream has 2h
    layers: int = 2             # recurrent layers
    out_features: int = 32
    residual: bool = True

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}")
        if self.colours not in (1, 3):
            raise ValueError("colours must be 1 or 3")

    def to_dict(self) -> dict:
        return asdict(self)


def lstm_update(gates: torch.Tensor, cell: torch.Tensor, hidden: int):
    """Eq. 3: gates (B, 4h, ...) as [o, f, i, g] -> new (h, c)."""
    o, f, i, g = gates.split(hidden, dim=1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


class RowLSTM(nn.Module):
    """§3.1: input-to-state is a 1x3 mask-B convolution along the row (all rows at once);
    state-to-state is an unmasked 1x3 convolution of the previous row's hidden state; one step
    per row, so the receptive field is a triangle above the pixel."""

    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(2 * hidden, 4 * hidden, (1, 3), "B", colours,
                                           out_groups=gate_groups(hidden, colours))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 3, padding=1)
        self.initial_h = nn.Parameter(torch.zeros(hidden))
        self.initial_c = nn.Parameter(torch.zeros(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, height, width = x.shape
        from_input = self.input_to_state(x)  # (B, 4h, H, W)
        h = self.initial_h[None, :, None].expand(b, -1, width)
        c = self.initial_c[None, :, None].expand(b, -1, width)
        rows = []
        for r in range(height):
            h, c = lstm_update(from_input[:, :, r] + self.state_to_state(h), c, self.hidden)
            rows.append(h)
        return torch.stack(rows, dim=2)


def skew(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W + H - 1), row r shifted right by r (Fig. 3)."""
    b, c, height, width = x.shape
    out = x.new_zeros(b, c, height, width + height - 1)
    for r in range(height):
        out[:, :, r, r:r + width] = x[:, :, r]
    return out


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    return torch.stack([x[:, :, r, r:r + width] for r in range(x.shape[2])], dim=2)


class DiagonalLSTM(nn.Module):
    """One direction of §3.2 on a skewed map: column by column, the state-to-state part a 2x1
    convolution over the previous column's hidden state (the cell above-left and left)."""

    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(2 * hidden, 4 * hidden, 1, "B", colours,
                                           out_groups=gate_groups(hidden, colours))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)
        self.initial_h = nn.Parameter(torch.zeros(hidden))
        self.initial_c = nn.Parameter(torch.zeros(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[3]
        skewed = skew(x)
        b, _, height, columns = skewed.shape
        from_input = self.input_to_state(skewed)
        h = self.initial_h[None, :, None].expand(b, -1, height)
        c = self.initial_c[None, :, None].expand(b, -1, height)
        cols = []
        for j in range(columns):
            above = F.pad(h, (1, 0))  # row r sees rows r-1 and r of the previous column
            h, c = lstm_update(from_input[:, :, :, j] + self.state_to_state(above), c,
                               self.hidden)
            cols.append(h)
        return unskew(torch.stack(cols, dim=3), width)


class DiagonalBiLSTM(nn.Module):
    """§3.2: a left-to-right and a right-to-left diagonal LSTM; the second one's output is
    shifted down one row before the sum, so no pixel sees its own row to the right."""

    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.forward_dir = DiagonalLSTM(hidden, colours)
        self.backward_dir = DiagonalLSTM(hidden, colours)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = self.forward_dir(x)
        right = self.backward_dir(x.flip(3)).flip(3)
        right = F.pad(right, (0, 0, 1, 0))[:, :, :-1]
        return left + right


CELLS = {"row_lstm": RowLSTM, "diag_bilstm": DiagonalBiLSTM}


class ResidualLSTMLayer(nn.Module):
    def __init__(self, cell: str, hidden: int, colours: int, residual: bool):
        super().__init__()
        self.cell = CELLS[cell](hidden, colours)
        self.residual = residual
        self.out = MaskedConv2d(hidden, 2 * hidden, 1, "B", colours)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out(self.cell(x))
        return x + y if self.residual else y


class PixelRNN(nn.Module):
    def __init__(self, config: PixelRNNConfig):
        super().__init__()
        self.config = config
        h, c = config.hidden, config.colours
        self.input_conv = MaskedConv2d(c, 2 * h, 7, "A", c)
        self.layers = nn.ModuleList(ResidualLSTMLayer(config.cell, h, c, config.residual)
                                    for _ in range(config.layers))
        self.skips = nn.ModuleList(MaskedConv2d(2 * h, config.out_features, 1, "B", c)
                                   for _ in range(config.layers))
        self.head = MaskedConv2d(config.out_features, config.out_features, 1, "B", c)
        self.logits = MaskedConv2d(config.out_features, 256 * c, 1, "B", c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float logits (B, C, 256, H, W)."""
        return self.forward_features(normalise_pixels(x))

    def forward_features(self, a: torch.Tensor) -> torch.Tensor:
        a = self.input_conv(a)
        skip = 0
        for layer, to_skip in zip(self.layers, self.skips):
            a = layer(a)
            skip = skip + to_skip(a)
        out = self.logits(F.relu(self.head(F.relu(skip))))
        b, _, height, width = out.shape
        return out.view(b, self.config.colours, 256, height, width)


__all__ = ["PixelRNN", "PixelRNNConfig", "skew", "unskew", "channel_groups"]
