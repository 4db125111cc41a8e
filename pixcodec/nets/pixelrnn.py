"""Row LSTM and Diagonal BiLSTM (van den Oord et al. 2016, §3.1-3.3, Table 1, Fig. 5 right).

Trunk shared by both::

    7x7 conv, mask A                    C -> 2h
    n LSTM layers:                      2h in, h per gate (o, f, i, g); a 1x1 mask-B conv
                                        h -> 2h, added to the layer input (residual, §3.3)
    skip connections:                   a learnable 1x1 conv of every layer's output, summed
    ReLU, 1x1 conv mask B, ReLU, 1x1 conv mask B -> 256*C (or C sigmoid logits for binary)

Gate channels are grouped by colour like the state they update (``gate_groups``), so the R/G/B
masking of §3.4 holds through the recurrences. The initial state of every layer is learned; it
is the state "before" the first row (Row LSTM) or left of the first column (each direction of
the Diagonal BiLSTM), and the row above the image holds zeros.

Like the PixelCNN, the network runs in either arithmetic (``arithmetic.py``): float for
training, exact for coding; ``PixelRNNStepper`` computes the exact tables a few positions at a
time, carrying the recurrent states as positions are decoded. The recurrent layers themselves:
``lstm.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .arithmetic import FLOAT, ExactArithmetic
from .base import NetworkConfig, PixelNetwork, check_config
from ..engine.wavefront import slope_for
from .incremental import FeatureCache, PixelCache, Taps, live_offsets, wavefront
from .layers import MaskedConv2d, output_channels
from .lstm import DiagonalBiLSTM, ResidualLSTMLayer, RowLSTM, lstm_update
from .pixelcnn import output_table

CELLS = ("row_lstm", "diag_bilstm")


@dataclass(frozen=True)
class PixelRNNConfig(NetworkConfig):
    cell: str = "row_lstm"      # "row_lstm" or "diag_bilstm"
    colours: int = 3
    hidden: int = 16            # h: channels per gate; the residual stream has 2h
    layers: int = 2             # recurrent layers
    out_features: int = 32
    residual: bool = True
    levels: int = 256           # values per subpixel: 256, or 2 for binary images (a sigmoid)
    spatial_width: int = 3      # k of §3.1, the Row LSTM's 1xk convolutions (3, 5 or 7)

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}")
        check_config(self, (self.hidden, self.out_features))
        if self.cell != "row_lstm" and self.spatial_width != 3:
            raise ValueError("spatial_width is the Row LSTM's: the Diagonal BiLSTM's is fixed")


class PixelRNN(PixelNetwork):
    def __init__(self, config: PixelRNNConfig):
        super().__init__()
        self.config = config
        h, c = config.hidden, config.colours
        self.input_conv = MaskedConv2d(c, 2 * h, 7, "A", c)
        self.layers = nn.ModuleList(ResidualLSTMLayer(config.cell, h, c, config.residual,
                                                      config.spatial_width)
                                    for _ in range(config.layers))
        self.skips = nn.ModuleList(MaskedConv2d(2 * h, config.out_features, 1, "B", c)
                                   for _ in range(config.layers))
        self.head = MaskedConv2d(config.out_features, config.out_features, 1, "B", c)
        self.logits = MaskedConv2d(config.out_features, output_channels(config.levels) * c, 1,
                                   "B", c)

    def run(self, x: torch.Tensor, arith=FLOAT, biases: list | None = None) -> torch.Tensor:
        """Normalised pixels (B, C, H, W) -> output channels (B, C * per colour, H, W).
        `biases`: one (B, 4h, H, W) map per layer added to its gates (multi-scale)."""
        act = arith.act
        a = act(arith.conv(self.input_conv, x))
        skip = None
        for k, (layer, to_skip) in enumerate(zip(self.layers, self.skips)):
            a = layer(a, arith, None if biases is None else biases[k])
            s = act(arith.conv(to_skip, a))
            skip = s if skip is None else act(skip + s)
        o = act(arith.conv(self.head, F.relu(skip)))
        return arith.conv(self.logits, F.relu(o))

    def wavefront_slope(self, width: int) -> int:
        if self.config.cell == "diag_bilstm":
            return width  # the right-to-left direction needs the whole row above: row by row
        # A Row LSTM state reads the previous row's states at c-k//2 .. c+k//2 (up to k = 7
        # no further right than the 7x7 input layer: the slope stays).
        offsets = set(live_offsets(self.input_conv)) | {(0, -1)} | set(
            _row_state_offsets(self.config.spatial_width))
        return slope_for(offsets)

    def cache_channels(self) -> int:
        h = self.config.hidden
        per_layer = 4 * h if self.config.cell == "row_lstm" else 6 * h
        return self.config.colours + self.config.layers * per_layer

    def stepper(self, tile_sizes: list[tuple[int, int]]) -> "PixelRNNStepper":
        return PixelRNNStepper(self, tile_sizes)


# --- incremental decoding -------------------------------------------------------------------

def _row_state_offsets(width: int) -> list[tuple[int, int]]:
    """The previous row's states a Row LSTM state reads (its 1xk state-to-state taps)."""
    return [(-1, dx) for dx in range(-(width // 2), width // 2 + 1)]


def _state_taps(conv: nn.Conv1d, weight: torch.Tensor, bias: torch.Tensor):
    """A state-to-state Conv1d as (T*h, 4h) context weights over its T taps, and its bias."""
    return weight.permute(2, 1, 0).reshape(-1, weight.shape[0]).contiguous(), bias


class _Grid:
    """Shared position bookkeeping of a round of tiles: (tile, row, col) -> flat index in a
    cache of (height + pad) x (width + 2 pad) per tile (`pad` rows above, `pad` columns either
    side: the reach of the Row LSTM's state-to-state taps, at least one)."""

    def __init__(self, tile_sizes: list[tuple[int, int]], pad: int = 1):
        self.sizes = torch.tensor(tile_sizes, dtype=torch.long)
        self.tiles = len(tile_sizes)
        self.height, self.width = (int(v) for v in self.sizes.max(dim=0).values)
        self.pad = pad

    def cache(self, channels: int, offsets=()) -> FeatureCache:
        return FeatureCache(self.tiles, self.height, self.width, channels, self.pad, offsets)


class _RowLSTMStep:
    """One Row LSTM layer at a set of positions: the gates' context (the input to the left, the
    previous row's states) is summed once per position; the centre input per colour."""

    def __init__(self, cell: RowLSTM, params: dict, grid: _Grid, arith: ExactArithmetic):
        self.hidden = cell.hidden
        self.input_taps = Taps(cell.input_to_state, *params[cell.input_to_state])
        self.state_weight, self.state_bias = _state_taps(cell.state_to_state,
                                                         *params[cell.state_to_state])
        self.inputs = grid.cache(2 * cell.hidden, self.input_taps.offsets)
        self.h = grid.cache(cell.hidden, _row_state_offsets(cell.state_to_state.kernel_size[0]))
        self.c = grid.cache(cell.hidden, [(-1, 0)])
        # The learned initial state is row -1 of each tile, over that tile's own width.
        h0, c0 = arith.param(cell.initial_h), arith.param(cell.initial_c)
        for k, (_, w) in enumerate(grid.sizes.tolist()):
            row = self.h.index(torch.tensor(k), torch.tensor(-1), torch.arange(w))
            self.h.write(row, h0.expand(w, -1))
            self.c.write(row, c0.expand(w, -1))

    def at(self, tile, row, col, bias):
        self.index = self.inputs.index(tile, row, col)
        context = self.input_taps.context(self.inputs.neighbours(self.index))
        state = self.h.neighbours(self.index)
        context = context + torch.addmm(self.state_bias, state.reshape(len(state), -1),
                                        self.state_weight)
        self.context = context if bias is None else context + bias
        self.previous_cell = self.c.neighbours(self.index)[:, 0]

    def step(self, a: torch.Tensor, arith: ExactArithmetic) -> torch.Tensor:
        self.inputs.write(self.index, a)
        gates = arith.act(self.input_taps.centre(a, self.context))
        h, c = lstm_update(gates, self.previous_cell, self.hidden, arith)
        self.h.write(self.index, h)
        self.c.write(self.index, c)
        return h


class _DiagonalStep:
    """One Diagonal BiLSTM layer, decoded row by row: the left-to-right direction advances with
    the positions; the right-to-left direction runs over a row once all of it is known
    (``finish_row``), and its states reach the next row through the one-row shift."""

    def __init__(self, cell: DiagonalBiLSTM, params: dict, grid: _Grid,
                 arith: ExactArithmetic):
        self.hidden = cell.left.hidden
        self.grid = grid
        self.directions = []
        for direction in (cell.left, cell.right):
            taps = Taps(direction.input_to_state, *params[direction.input_to_state])
            weight, bias = _state_taps(direction.state_to_state,
                                       *params[direction.state_to_state])
            # The 1x1 input-to-state conv has no context taps: its bias joins the state's.
            self.directions.append((taps, weight, bias + taps.bias))
        self.inputs = grid.cache(2 * self.hidden)
        # Left direction: (r-1, c) and (r, c-1); right direction: (r-1, c) and (r, c+1).
        self.left_h = grid.cache(self.hidden, [(-1, 0), (0, -1)])
        self.left_c = grid.cache(self.hidden, [(0, -1)])
        self.right_h = grid.cache(self.hidden, [(-1, 0), (0, 1)])
        self.right_c = grid.cache(self.hidden, [(0, 1)])
        self.shifted = grid.cache(self.hidden, [(-1, 0)])  # reads the right states of row r-1
        self.shifted.data = self.right_h.data
        # Learned initial states: column -1 (left direction) and column w (right direction)
        # of every row of every tile.
        for k, (h, w) in enumerate(grid.sizes.tolist()):
            rows = torch.arange(h)
            for direction, column, hs, cs in ((cell.left, -1, self.left_h, self.left_c),
                                              (cell.right, w, self.right_h, self.right_c)):
                index = hs.index(torch.tensor(k), rows, torch.full((h,), column))
                hs.write(index, arith.param(direction.initial_h).expand(h, -1))
                cs.write(index, arith.param(direction.initial_c).expand(h, -1))

    def at(self, tile, row, col, bias):
        self.index = self.inputs.index(tile, row, col)
        _, weight, state_bias = self.directions[0]
        state = self.left_h.neighbours(self.index)
        self.context = torch.addmm(state_bias, state.reshape(len(state), -1), weight)
        if bias is not None:
            self.context = self.context + bias
        self.previous_cell = self.left_c.neighbours(self.index)[:, 0]
        self.from_right = self.shifted.neighbours(self.index)[:, 0]

    def step(self, a: torch.Tensor, arith: ExactArithmetic) -> torch.Tensor:
        self.inputs.write(self.index, a)
        taps = self.directions[0][0]
        gates = arith.act(taps.centre(a, self.context))
        h, c = lstm_update(gates, self.previous_cell, self.hidden, arith)
        self.left_h.write(self.index, h)
        self.left_c.write(self.index, c)
        return arith.act(h + self.from_right)

    def finish_row(self, row: int, arith: ExactArithmetic, biases) -> None:
        """Run the right-to-left direction over `row` of every tile that has it."""
        taps, weight, state_bias = self.directions[1]
        heights, widths = self.grid.sizes[:, 0], self.grid.sizes[:, 1]
        for col in range(self.grid.width - 1, -1, -1):
            tiles = torch.nonzero((heights > row) & (widths > col))[:, 0]
            if len(tiles) == 0:
                continue
            index = self.inputs.index(tiles, torch.full_like(tiles, row),
                                      torch.full_like(tiles, col))
            state = self.right_h.neighbours(index)
            context = torch.addmm(state_bias, state.reshape(len(state), -1), weight)
            if biases is not None:
                context = context + biases[tiles, row, col].to(torch.float64)
            gates = arith.act(taps.centre(self.inputs.read(index), context))
            h, c = lstm_update(gates, self.right_c.neighbours(index)[:, 0], self.hidden, arith)
            self.right_h.write(index, h)
            self.right_c.write(index, c)


class PixelRNNStepper:
    """Incremental PixelRNN (interface: ``base.Stepper``). Every layer keeps its
    recurrent states per position in caches; a step computes every layer at its positions.

    `biases`: per layer, a (tiles, H, W, 4h) float32 map added to the gates (multi-scale),
    on the activation grid like every stored value."""

    def __init__(self, net: PixelRNN, tile_sizes: list[tuple[int, int]],
                 biases: list[torch.Tensor] | None = None):
        cfg = net.config
        self.arith = ExactArithmetic(net)
        params = self.arith.params
        self.grid = grid = _Grid(tile_sizes, max(1, cfg.spatial_width // 2))
        self.levels = cfg.levels
        self.residual = cfg.residual
        self.diagonal = cfg.cell == "diag_bilstm"
        self.biases = biases
        self.input_taps = Taps(net.input_conv, *params[net.input_conv])
        self.pixels = PixelCache(grid.tiles, grid.height, grid.width, cfg.colours, cfg.levels,
                                 3, self.input_taps.offsets)
        step_type = _DiagonalStep if self.diagonal else _RowLSTMStep
        self.layers = [(step_type(layer.cell, params, grid, self.arith),
                        Taps(layer.out, *params[layer.out]), Taps(skip, *params[skip]))
                       for layer, skip in zip(net.layers, net.skips)]
        self.head = Taps(net.head, *params[net.head])
        self.logits = Taps(net.logits, *params[net.logits])
        self.finished_rows = 0
        self.tile_sizes = tile_sizes
        self.slope = net.wavefront_slope(grid.width)
        self.known = None

    def steps(self):
        return wavefront(self.tile_sizes, self.slope)

    def _bias(self, k: int, tile, row, col):
        if self.biases is None:
            return None
        return self.biases[k][tile, row, col].to(torch.float64)

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        if self.diagonal:  # positions go row by row; a new row first finishes the one above
            r = int(row[0])
            while self.finished_rows < r:
                for k, (cell, _, _) in enumerate(self.layers):
                    cell.finish_row(self.finished_rows, self.arith,
                                    None if self.biases is None else self.biases[k])
                self.finished_rows += 1
        self.pixel_index = self.pixels.index(tile, row, col)
        self.input_context = self.input_taps.context(self.pixels.neighbours(self.pixel_index))
        for k, (cell, _, _) in enumerate(self.layers):
            cell.at(tile, row, col, self._bias(k, tile, row, col))

    def table(self, colour: int) -> torch.Tensor:
        """int64 logits (N, levels) of `colour` at the current positions."""
        act = self.arith.act
        a = act(self.input_taps.centre(self.pixels.read(self.pixel_index), self.input_context))
        skip = None
        for cell, out, to_skip in self.layers:
            y = act(out.centre(cell.step(a, self.arith)))
            a = act(a + y) if self.residual else y
            s = act(to_skip.centre(a))
            skip = s if skip is None else act(skip + s)
        o = F.relu(act(self.head.centre(F.relu(skip))))
        return output_table(self.logits, o, colour, self.levels)

    def reveal(self, colour: int, symbols: torch.Tensor) -> None:
        self.pixels.reveal(self.pixel_index, colour, symbols)


__all__ = ["PixelRNN", "PixelRNNConfig", "PixelRNNStepper"]
