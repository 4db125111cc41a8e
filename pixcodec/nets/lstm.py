"""The PixelRNNs' recurrent layers (van den Oord et al. 2016, §3.1-3.3): the Row LSTM, the
Diagonal BiLSTM and the residual layer around either, in either arithmetic
(``arithmetic.py``). Float arithmetic takes the fused recurrences of ``recurrence.py``; the
loops here are their reference, and the exact arithmetic's. The networks: ``pixelrnn.py``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .arithmetic import FLOAT
from .layers import MaskedConv2d, gate_groups
from .recurrence import diagonal_recurrence, row_recurrence


def lstm_update(gates: torch.Tensor, cell: torch.Tensor, hidden: int, arith=FLOAT):
    """Eq. 3: gates (N, 4h, ...) as [o, f, i, g] and the previous cell -> new (h, c)."""
    # One sigmoid over the three sigmoid gates: in the coding loop each call has a fixed cost.
    o, f, i = arith.sigmoid(gates[:, :3 * hidden]).split(hidden, dim=1)
    g = gates[:, 3 * hidden:]
    cell = arith.act(f * cell + i * arith.tanh(g))
    return arith.act(o * arith.tanh(cell)), cell


class RowLSTM(nn.Module):
    """§3.1: input-to-state is a 1xk mask-B convolution along the row (all rows at once);
    state-to-state is an unmasked 1xk convolution of the previous row's hidden state; one step
    per row, so the receptive field is a triangle above the pixel, k // 2 columns wider on
    each side for every row up (k = 3: 45 degrees)."""

    # Float arithmetic takes the fused recurrence (recurrence.py); the loop in `forward` is its
    # reference, and the exact arithmetic's.
    fused = True

    def __init__(self, hidden: int, colours: int, width: int = 3):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(2 * hidden, 4 * hidden, (1, width), "B", colours,
                                           out_groups=gate_groups(hidden, colours))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, width, padding=width // 2)
        self.initial_h = nn.Parameter(torch.zeros(hidden))
        self.initial_c = nn.Parameter(torch.zeros(hidden))

    def forward(self, x: torch.Tensor, arith=FLOAT, bias: torch.Tensor | None = None):
        """(B, 2h, H, W) -> hidden states (B, h, H, W); `bias` (B, 4h, H, W) is added to the
        input-to-state map (the multi-scale conditioning)."""
        b, _, height, width = x.shape
        from_input = arith.conv(self.input_to_state, x)
        if bias is not None:
            from_input = from_input + bias
        if arith is FLOAT and self.fused:
            step = self.state_to_state
            # in the weights' precision: under bfloat16 autocast the recurrence stays float32
            with torch.autocast(x.device.type, enabled=False):
                states = row_recurrence(from_input.permute(2, 0, 3, 1).to(step.weight.dtype),
                                        step.weight.permute(2, 1, 0), step.bias,
                                        self.initial_h, self.initial_c)
            return states.permute(1, 3, 0, 2)  # (H, B, W, h) -> (B, h, H, W)
        h = arith.param(self.initial_h)[None, :, None].expand(b, -1, width)
        c = arith.param(self.initial_c)[None, :, None].expand(b, -1, width)
        rows = []
        # unbind, not indexing: the backward of one index per row would be quadratic
        for from_row in from_input.unbind(2):
            gates = arith.act(from_row + arith.conv(self.state_to_state, h))
            h, c = lstm_update(gates, c, self.hidden, arith)
            rows.append(h)
        return torch.stack(rows, dim=2)


def skew(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W + H - 1), row r shifted right by r (Fig. 3).

    Rows padded to W + H and read back with rows one shorter: each starts one further right."""
    b, c, height, width = x.shape
    flat = F.pad(x, (0, height)).reshape(b, c, height * (width + height))
    return flat[:, :, :height * (width + height - 1)].reshape(b, c, height, width + height - 1)


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of skew: (B, C, H, W + H - 1) -> (B, C, H, W)."""
    b, c, height, columns = x.shape
    flat = F.pad(x.reshape(b, c, height * columns), (0, height))
    return flat.reshape(b, c, height, columns + 1)[:, :, :, :width]


class DiagonalLSTM(nn.Module):
    """One direction of §3.2 on a skewed map: column by column, the state-to-state part a 2x1
    convolution over the previous column's hidden state (in image terms: the pixel above and
    the pixel to the left); the cell state comes from the left."""

    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(2 * hidden, 4 * hidden, 1, "B", colours,
                                           out_groups=gate_groups(hidden, colours))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)
        self.initial_h = nn.Parameter(torch.zeros(hidden))
        self.initial_c = nn.Parameter(torch.zeros(hidden))

    def forward(self, x: torch.Tensor, arith=FLOAT, bias: torch.Tensor | None = None):
        width = x.shape[3]
        from_input = arith.conv(self.input_to_state, x)
        if bias is not None:
            from_input = from_input + bias
        from_input = skew(from_input)
        b, _, height, columns = from_input.shape
        h0 = arith.param(self.initial_h)[None, :, None].expand(b, -1, height)
        c0 = arith.param(self.initial_c)[None, :, None].expand(b, -1, height)
        h, c = h0, c0
        rows = torch.arange(height)
        cols = []
        for j, from_column in enumerate(from_input.unbind(3)):
            above = F.pad(h, (1, 0))  # row r sees rows r-1 (zero above the image) and r
            gates = arith.act(from_column + arith.conv(self.state_to_state, above))
            h_new, c_new = lstm_update(gates, c, self.hidden, arith)
            # Row r reaches the image at column j = r; left of it, the learned initial state.
            started = (rows <= j)[None, None, :]
            h, c = torch.where(started, h_new, h0), torch.where(started, c_new, c0)
            cols.append(h)
        return unskew(torch.stack(cols, dim=3), width)


class DiagonalBiLSTM(nn.Module):
    """§3.2: a left-to-right and a right-to-left diagonal LSTM; the second one's output is
    shifted down one row before the sum, so no pixel sees its own row to the right."""

    # Float arithmetic runs both directions in one fused recurrence (recurrence.py); the
    # directions' own loops are its reference, and the exact arithmetic's.
    fused = True

    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.left = DiagonalLSTM(hidden, colours)
        self.right = DiagonalLSTM(hidden, colours)

    def forward(self, x: torch.Tensor, arith=FLOAT, bias: torch.Tensor | None = None):
        flipped_bias = None if bias is None else bias.flip(3)
        if arith is FLOAT and self.fused:
            left, right = self._fused(x, bias, flipped_bias)
        else:
            left = self.left(x, arith, bias)
            right = self.right(x.flip(3), arith, flipped_bias)
        right = F.pad(right.flip(3), (0, 0, 1, 0))[:, :, :-1]
        return arith.act(left + right)

    def _fused(self, x: torch.Tensor, bias, flipped_bias):
        """Both directions as one recurrence over their stacked states (gate-major channels,
        block-diagonal state-to-state weights): half the steps, twice as wide."""
        directions = (self.left, self.right)
        b, _, height, width = x.shape
        h = self.left.hidden
        gates = []
        for direction, image, extra in zip(directions, (x, x.flip(3)), (bias, flipped_bias)):
            g = direction.input_to_state(image)
            g = g if extra is None else g + extra
            gates.append(g.permute(2, 3, 0, 1).reshape(height, width, b, 4, h))
        # (H, W, B, [o, f, i, g], direction, h): rows of gate-major stacked states
        gates = torch.stack(gates, dim=4).reshape(height, width, b, 8 * h)
        weight = self.left.state_to_state.weight
        one_per_direction = torch.eye(2, dtype=weight.dtype, device=weight.device)

        def block(tap: int) -> torch.Tensor:  # (2h, 8h): a direction's states feed its gates
            taps = torch.stack([d.state_to_state.weight[..., tap].t().view(h, 4, h)
                                for d in directions])
            return torch.einsum("dkgm,de->dkgem", taps, one_per_direction).reshape(2 * h, 8 * h)

        state_bias = torch.stack([d.state_to_state.bias.view(4, h) for d in directions], dim=1)
        h0 = torch.cat([d.initial_h for d in directions])
        c0 = torch.cat([d.initial_c for d in directions])
        # in the weights' precision: under bfloat16 autocast the recurrence stays float32
        with torch.autocast(x.device.type, enabled=False):
            # the taps: the state above, the state to the left
            states = diagonal_recurrence(gates.to(h0.dtype), block(0), block(1),
                                         state_bias.reshape(-1), h0, c0)
        states = states.view(height, width, b, 2, h).permute(3, 2, 4, 0, 1)
        return states[0], states[1]


class ResidualLSTMLayer(nn.Module):
    def __init__(self, cell: str, hidden: int, colours: int, residual: bool, width: int = 3):
        super().__init__()
        self.cell = RowLSTM(hidden, colours, width) if cell == "row_lstm" else \
            DiagonalBiLSTM(hidden, colours)
        self.residual = residual
        self.out = MaskedConv2d(hidden, 2 * hidden, 1, "B", colours)

    def forward(self, x: torch.Tensor, arith=FLOAT, bias: torch.Tensor | None = None):
        y = arith.act(arith.conv(self.out, self.cell(x, arith, bias)))
        return arith.act(x + y) if self.residual else y
