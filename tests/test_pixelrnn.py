"""Row LSTM and Diagonal BiLSTM: causality across raster and R->G->B order; skew/unskew; the
fused training recurrence against its reference."""
import pytest
import torch

from pixcodec.nets.lstm import DiagonalBiLSTM, RowLSTM, skew, unskew
from pixcodec.nets.pixelrnn import PixelRNN, PixelRNNConfig

from conftest import raster_past

# The recurrent layers: the paper's two, and the Row LSTM with wider 1xk convolutions (k = 5, 7).
CELL_MODULES = {"row_lstm": RowLSTM, "diag_bilstm": DiagonalBiLSTM,
                "row_lstm_1x5": lambda hidden, colours: RowLSTM(hidden, colours, 5),
                "row_lstm_1x7": lambda hidden, colours: RowLSTM(hidden, colours, 7)}


def test_skew_unskew_inverts():
    x = torch.randn(2, 3, 5, 7)
    s = skew(x)
    assert s.shape == (2, 3, 5, 11)
    assert torch.equal(unskew(s, 7), x)
    assert torch.equal(s[:, :, 3, 3:10], x[:, :, 3])


def _outputs_and_gradients(layer, x, bias, fused: bool) -> list[torch.Tensor]:
    layer.fused = fused
    layer.zero_grad()
    x.grad = bias.grad = None
    y = layer(x, bias=bias)
    (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
    return [y.detach(), x.grad, bias.grad] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("cell", sorted(CELL_MODULES))
@pytest.mark.parametrize("batch, hidden, colours, height, width",
                         [(2, 4, 1, 5, 7), (3, 6, 3, 7, 3), (1, 3, 3, 1, 5), (2, 4, 1, 4, 1),
                          (1, 6, 3, 6, 6)])
def test_fused_recurrence_equals_its_reference(cell, batch, hidden, colours, height, width):
    """The hand-written forward and backward of the training path (recurrence.py) give the
    reference loop's outputs and every gradient: input, gate bias, all weights and initial
    states."""
    torch.manual_seed(height * 10 + width)
    layer = CELL_MODULES[cell](hidden, colours).double()
    for p in layer.parameters():
        p.data.normal_(0, 0.7)
    x = torch.randn(batch, 2 * hidden, height, width, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(batch, 4 * hidden, height, width, dtype=torch.float64,
                       requires_grad=True)
    reference = _outputs_and_gradients(layer, x, bias, fused=False)
    fused = _outputs_and_gradients(layer, x, bias, fused=True)
    assert reference[0].abs().min() > 0 and reference[1].abs().min() > 0
    for r, f in zip(reference, fused):
        torch.testing.assert_close(f, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", sorted(CELL_MODULES))
def test_fused_recurrence_under_bfloat16_autocast_stays_float32(cell):
    """Training autocasts to bfloat16; the recurrence runs in the weights' float32 and its
    result stays near float32's."""
    torch.manual_seed(0)
    layer = CELL_MODULES[cell](4, 1)
    x = torch.randn(2, 8, 5, 6)
    exact = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert (y.float() - exact).abs().max() < 0.05
    y.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("cell,kernel", [("row_lstm", 3), ("row_lstm", 5), ("diag_bilstm", 3)])
@pytest.mark.parametrize("colours", [1, 3])
def test_gradient_reaches_only_the_past(cell, kernel, colours):
    torch.manual_seed(0)
    net = PixelRNN(PixelRNNConfig(cell, colours, hidden=6, layers=2, out_features=9,
                                  spatial_width=kernel)).double()
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    height, width = 7, 8
    x = torch.rand(1, colours, height, width, dtype=torch.float64, requires_grad=True)
    logits = net.run(x).view(1, colours, 256, height, width)
    for r, c in [(0, 0), (3, 4), (6, 7), (2, 0)]:
        for colour in range(colours):
            x.grad = None
            logits[0, colour, :, r, c].sum().backward(retain_graph=True)
            allowed = raster_past(colours, height, width, r, c, colour)
            assert not x.grad[0][~allowed].any(), f"{cell} colour {colour} at {(r, c)}"
            if r > 0:
                assert x.grad[0][:, r - 1].abs().sum() > 0


def test_diagonal_bilstm_sees_the_whole_row_above():
    torch.manual_seed(1)
    net = PixelRNN(PixelRNNConfig("diag_bilstm", 1, hidden=4, layers=1, out_features=4)).double()
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    x = torch.rand(1, 1, 4, 9, dtype=torch.float64, requires_grad=True)
    net.run(x)[0, :, 2, 0].sum().backward()
    # The row above, far to the right too; its last pixel only reaches a pixel further right
    # through the mask-A input layer, and there is none.
    assert (x.grad[0, 0, 1, :-1] != 0).all()


@pytest.mark.parametrize("colours", [1, 3])
def test_multiscale_sees_the_small_image_and_the_past_only(colours):
    """Even positions (the small image) see earlier small pixels; the others see every earlier
    pixel and every pixel of the small image, later ones included, and nothing else."""
    from pixcodec.nets.multiscale import MultiScaleConfig, MultiScalePixelRNN
    torch.manual_seed(0)
    layer = dict(cell="row_lstm", colours=colours, hidden=6, layers=2, out_features=9)
    net = MultiScalePixelRNN(MultiScaleConfig(layer, layer, 8)).double()
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    height, width = 6, 7
    x = torch.rand(1, colours, height, width, dtype=torch.float64, requires_grad=True)
    logits = net.run(x).view(1, colours, 256, height, width)
    even = torch.zeros(height, width, dtype=torch.bool)
    even[::2, ::2] = True
    for r, c in [(2, 2), (3, 4), (4, 1), (5, 6)]:
        for colour in range(colours):
            x.grad = None
            logits[0, colour, :, r, c].sum().backward(retain_graph=True)
            allowed = raster_past(colours, height, width, r, c, colour)
            if even[r, c]:
                allowed &= even  # the small network sees the small image only
            else:
                allowed |= even
            assert not x.grad[0][~allowed].any(), f"colour {colour} at {(r, c)}"
            later = torch.zeros(height, width, dtype=torch.bool)
            later.view(-1)[r * width + c + 1:] = True
            if not even[r, c] and (even & later).any():  # it does see the small image ahead
                assert x.grad[0][:, even & later].abs().sum() > 0
