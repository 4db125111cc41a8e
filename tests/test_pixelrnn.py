"""Row LSTM and Diagonal BiLSTM: causality across raster and R->G->B order; skew/unskew."""
import pytest
import torch

from pixcodec.nets.pixelrnn import PixelRNN, PixelRNNConfig, skew, unskew

from conftest import raster_past


def test_skew_unskew_inverts():
    x = torch.randn(2, 3, 5, 7)
    s = skew(x)
    assert s.shape == (2, 3, 5, 11)
    assert torch.equal(unskew(s, 7), x)
    assert torch.equal(s[:, :, 3, 3:10], x[:, :, 3])


@pytest.mark.parametrize("cell", ["row_lstm", "diag_bilstm"])
@pytest.mark.parametrize("colours", [1, 3])
def test_gradient_reaches_only_the_past(cell, colours):
    torch.manual_seed(0)
    net = PixelRNN(PixelRNNConfig(cell, colours, hidden=6, layers=2, out_features=9)).double()
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
