"""The PixelRNNs' recurrences for training (Row LSTM, Diagonal BiLSTM), each with its backward
pass written by hand.

``RowLSTM.forward`` and ``DiagonalLSTM.forward`` in ``lstm.py`` state the recurrences
plainly: an autograd graph of ~15 small operations per row, or per skewed column and direction,
some 25,000 a training step of the 7-layer MNIST Diagonal BiLSTM, whose per-operation cost, not
the arithmetic, bounded its speed (docs/TRAINING.md). Here a row or column is one or two
matrix products and a dozen element-wise operations forward, about twice that backward, on
preallocated buffers, with no autograd graph inside the loop. The Diagonal BiLSTM's two
directions are one recurrence over stacked channels (block-diagonal state-to-state weights),
and only positions in the image are computed: on the skewed map, column j holds the rows
max(0, j - W + 1) .. min(j, H - 1), a contiguous slice, so no mask is needed.

Diagonal buffers are laid out (skewed column, row, batch, channels) and Row LSTM buffers (row,
batch, padded column, channels), so that the positions of a step are one contiguous (positions,
channels) matrix; gate channels are [o, f, i, g], each over all the (stacked) states, so each
activation is one slice. The reference loops stay the definition: tests compare outputs and
every gradient with them.
"""
from __future__ import annotations

import torch


def _skewed_index(height: int, width: int) -> torch.Tensor:
    """Row (column * height + row) of every image position (row, col), in raster order, in
    the skewed buffers flattened to (columns * height, batch * channels)."""
    rows = torch.arange(height)[:, None]
    cols = torch.arange(width)[None, :]
    return ((rows + cols) * height + rows).reshape(-1)


def _active_rows(column: int, height: int, width: int) -> tuple[int, int]:
    """The rows [lo, hi) whose pixels lie on skewed `column`."""
    return max(0, column - width + 1), min(column, height - 1) + 1


def _to_skewed(rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(H, W, B, X) -> (columns, H, B, X); positions off the image are left undefined (no
    fill: these buffers are large, and only positions in the image are ever read)."""
    height, width, b, x = rows.shape
    skewed = rows.new_empty((height + width - 1) * height, b * x)
    skewed.index_copy_(0, index, rows.reshape(height * width, b * x))
    return skewed.view(height + width - 1, height, b, x)


def _to_rows(skewed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The inverse of `_to_skewed`: (columns, H, B, X) -> (H, W, B, X)."""
    columns, height, b, x = skewed.shape
    rows = skewed.reshape(columns * height, b * x).index_select(0, index)
    return rows.view(height, columns - height + 1, b, x)


def _lstm_step(a, cell_before, cell, tanh_cell, state) -> None:
    """Eq. 3 on N positions: a (N, 4n), the pre-activations [o, f, i, g], becomes the gates'
    activations in place; the new cell, its tanh and the new state are written to the last
    three (N, n) arguments."""
    n = a.shape[1] // 4
    # tanh(x) = 2 sigmoid(2x) - 1: torch's float32 tanh is 5x slower than its sigmoid
    a[:, 3 * n:].mul_(2)
    a.sigmoid_()
    a[:, 3 * n:].mul_(2).sub_(1)
    o, f, i, g = a.split(n, dim=1)
    torch.mul(f, cell_before, out=cell)
    cell.addcmul_(i, g)
    torch.mul(cell, 2, out=tanh_cell).sigmoid_().mul_(2).sub_(1)
    torch.mul(o, tanh_cell, out=state)


def _lstm_step_backward(d, d_h, d_c, a, cell_before, tanh_cell) -> None:
    """The gradient of `_lstm_step`: from d_h and d_c, the gradients with respect to the new
    state and cell, writes d (N, 4n) for the pre-activations; d_c becomes, in place, the
    gradient with respect to `cell_before`. `a` holds the activations."""
    n = a.shape[1] // 4
    o, f, i, g = a.split(n, dim=1)
    d_c.addcmul_(d_h, (1 - tanh_cell * tanh_cell).mul_(o))
    # the gates' values, then times the derivatives of their activations
    torch.mul(d_h, tanh_cell, out=d[:, :n])
    torch.mul(d_c, cell_before, out=d[:, n:2 * n])
    torch.mul(d_c, g, out=d[:, 2 * n:3 * n])
    torch.mul(d_c, i, out=d[:, 3 * n:])
    sigmoids = a[:, :3 * n]
    d[:, :3 * n].mul_(sigmoids - sigmoids * sigmoids)
    d[:, 3 * n:].mul_(1 - g * g)
    d_c.mul_(f)


class DiagonalRecurrence(torch.autograd.Function):
    """gates (H, W, B, 4n), the input-to-state part of a left-to-right diagonal LSTM (§3.2) of
    n state channels, gate-major [o, f, i, g], at every image position -> its states
    (H, W, B, n).

    The state-to-state part at (r, c) is ``above @ w_above + left @ w_left + bias``, above and
    left being the states at (r - 1, c) (zero on the first row) and (r, c - 1) (the learned
    ``h0`` left of the first column, as the cell state ``c0``)."""

    @staticmethod
    def forward(ctx, gates, w_above, w_left, bias, h0, c0):
        height, width, b, four_n = gates.shape
        n = four_n // 4
        columns = height + width - 1
        w_above, w_left = w_above.contiguous(), w_left.contiguous()
        index = _skewed_index(height, width)
        acts = _to_skewed(gates + bias, index)
        # states[j + 1, r + 1]: row r after column j; states[j, r + 1] is the state left of
        # column j, h0 where row r starts (j = r); states[:, 0] is the zero row above the image.
        # Only those and the positions in the image are ever read: no fill of the rest.
        states = gates.new_empty(columns + 1, height + 1, b, n)
        states[:, 0] = 0
        starts = torch.arange(height)
        states[starts, starts + 1] = h0
        cells = gates.new_empty(columns + 1, height, b, n)
        cells[starts, starts] = c0
        tanh_cells = torch.empty_like(cells)
        for j in range(columns):
            lo, hi = _active_rows(j, height, width)
            a = acts[j, lo:hi].view(-1, four_n)
            a.addmm_(states[j, lo:hi].view(-1, n), w_above)
            a.addmm_(states[j, lo + 1:hi + 1].view(-1, n), w_left)
            _lstm_step(a, cells[j, lo:hi].view(-1, n), cells[j + 1, lo:hi].view(-1, n),
                       tanh_cells[j + 1, lo:hi].view(-1, n),
                       states[j + 1, lo + 1:hi + 1].view(-1, n))
        ctx.save_for_backward(acts, states, cells, tanh_cells, w_above, w_left, index)
        return _to_rows(states[1:, 1:], index)

    @staticmethod
    def backward(ctx, grad_out):
        acts, states, cells, tanh_cells, w_above, w_left, index = ctx.saved_tensors
        columns, height, b, four_n = acts.shape
        n = four_n // 4
        width = columns - height + 1
        grad_states = _to_skewed(grad_out, index)
        grad_gates = torch.empty_like(acts)  # only positions in the image are written and read
        # gradients with respect to each row's states after the column being undone
        dh = grad_out.new_zeros(height + 1, b, n)
        dc = grad_out.new_zeros(height, b, n)
        w_above_t, w_left_t = w_above.t().contiguous(), w_left.t().contiguous()
        grad_above, grad_left = torch.zeros_like(w_above), torch.zeros_like(w_left)
        for j in range(columns - 1, -1, -1):
            lo, hi = _active_rows(j, height, width)
            d = grad_gates[j, lo:hi].view(-1, four_n)
            d_h = dh[lo + 1:hi + 1].view(-1, n) + grad_states[j, lo:hi].view(-1, n)
            _lstm_step_backward(d, d_h, dc[lo:hi].view(-1, n), acts[j, lo:hi].view(-1, four_n),
                                cells[j, lo:hi].view(-1, n), tanh_cells[j + 1, lo:hi].view(-1, n))
            above, left = states[j, lo:hi].view(-1, n), states[j, lo + 1:hi + 1].view(-1, n)
            grad_above.addmm_(above.t(), d)
            grad_left.addmm_(left.t(), d)
            torch.mm(d, w_left_t, out=dh[lo + 1:hi + 1].view(-1, n))
            dh[lo:hi].view(-1, n).addmm_(d, w_above_t)
        grad_gates = _to_rows(grad_gates, index)
        # every row starts from h0 and c0 once, left of its first column
        return (grad_gates, grad_above, grad_left, grad_gates.sum((0, 1, 2)),
                dh[1:].sum((0, 1)), dc.sum((0, 1)))


class RowRecurrence(torch.autograd.Function):
    """gates (H, B, W, 4n), the input-to-state part of a Row LSTM (§3.1) of n state channels,
    [o, f, i, g], at every image position -> its states (H, B, W, n).

    The state-to-state part at (r, c) is ``sum_k above[c - p + k] @ taps[k] + bias`` over the
    k = 2p + 1 states of the row above (zero beyond the image's edges); above the first row,
    the learned ``h0`` (and ``c0``) at every column. Rows are held padded by p columns either
    side, so a row's k taps are k shifted slices of one (B * (W + 2p), n) matrix; the padding
    columns are zeroed after every row."""

    @staticmethod
    def forward(ctx, gates, taps, bias, h0, c0):
        height, b, width, four_n = gates.shape
        n = four_n // 4
        taps = taps.contiguous()
        k_taps = len(taps)
        p = k_taps // 2
        inside = slice(p, p + width)
        acts = gates.new_zeros(height, b, width + 2 * p, four_n)
        acts[:, :, inside] = gates + bias
        states = gates.new_zeros(height + 1, b, width + 2 * p, n)
        states[0, :, inside] = h0
        cells = gates.new_zeros(height + 1, b, width + 2 * p, n)
        cells[0, :, inside] = c0
        tanh_cells = torch.empty_like(cells)  # row 0 is never read; every other row is written
        for r in range(height):
            above = states[r].view(-1, n)
            a = acts[r].view(-1, four_n)
            # all of the flattened (B * padded) rows but the first and last p positions, so
            # that tap k is one shifted slice; what lands in padding columns is zeroed below
            inner = a[p:len(a) - p]
            for k in range(k_taps):
                inner.addmm_(above[k:len(above) - 2 * p + k], taps[k])
            _lstm_step(a, cells[r].view(-1, n), cells[r + 1].view(-1, n),
                       tanh_cells[r + 1].view(-1, n), states[r + 1].view(-1, n))
            states[r + 1, :, :p] = 0
            states[r + 1, :, p + width:] = 0
        ctx.save_for_backward(acts, states, cells, tanh_cells, taps)
        return states[1:, :, inside]

    @staticmethod
    def backward(ctx, grad_out):
        acts, states, cells, tanh_cells, taps = ctx.saved_tensors
        height, b, padded, four_n = acts.shape
        n = four_n // 4
        k_taps = len(taps)
        p = k_taps // 2
        inside = slice(p, padded - p)
        grad_states = grad_out.new_zeros(height, b, padded, n)
        grad_states[:, :, inside] = grad_out
        grad_gates = torch.zeros_like(acts)
        dh = grad_out.new_zeros(b, padded, n)
        dc = grad_out.new_zeros(b * padded, n)
        grad_taps = torch.zeros_like(taps)
        taps_t = taps.transpose(1, 2).contiguous()
        for r in range(height - 1, -1, -1):
            d = grad_gates[r].view(-1, four_n)
            _lstm_step_backward(d, dh.view(-1, n) + grad_states[r].view(-1, n), dc,
                                acts[r].view(-1, four_n), cells[r].view(-1, n),
                                tanh_cells[r + 1].view(-1, n))
            above = states[r].view(-1, n)
            inner = d[p:len(d) - p]
            dh.zero_()
            flat = dh.view(-1, n)
            for k in range(k_taps):
                grad_taps[k].addmm_(above[k:len(above) - 2 * p + k].t(), inner)
                flat[k:len(flat) - 2 * p + k].addmm_(inner, taps_t[k])
            dh[:, :p] = 0
            dh[:, padded - p:] = 0
        grad_h0 = dh[:, inside].sum((0, 1))
        grad_c0 = dc.view(b, padded, n)[:, inside].sum((0, 1))
        return (grad_gates[:, :, inside], grad_taps, grad_gates.sum((0, 1, 2)), grad_h0, grad_c0)


def diagonal_recurrence(gates, w_above, w_left, bias, h0, c0) -> torch.Tensor:
    """See `DiagonalRecurrence`."""
    return DiagonalRecurrence.apply(gates, w_above, w_left, bias, h0, c0)


def row_recurrence(gates, taps, bias, h0, c0) -> torch.Tensor:
    """See `RowRecurrence`."""
    return RowRecurrence.apply(gates, taps, bias, h0, c0)


__all__ = ["diagonal_recurrence", "row_recurrence"]
