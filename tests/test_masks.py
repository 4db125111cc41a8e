"""Causality of the PixelCNN: the prediction of a subpixel never depends on itself or later ones."""
import pytest
import torch

from pixcodec.nets.layers import causal_mask, channel_groups
from pixcodec.nets.layers import normalise_pixels

from conftest import random_pixelcnn, raster_past


def test_mask_a_centre_follows_colour_order():
    m = causal_mask(channel_groups(6, 3), channel_groups(3, 3), (3, 3), "A")[:, :, 1, 1]
    assert m.tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0]]
    m = causal_mask(channel_groups(3, 3), channel_groups(3, 3), (3, 3), "B")
    assert m[:, :, 1, 1].tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert m[:, :, 1, 2].sum() == 0 and m[:, :, 2, :].sum() == 0 and m[:, :, 0, :].all()


@pytest.mark.parametrize("colours", [1, 3])
@pytest.mark.parametrize("where", [(0, 0), (4, 5), (8, 10), (3, 0)])
def test_gradient_reaches_only_the_past(colours, where):
    net = random_pixelcnn(colours, hidden=6, blocks=3)
    height, width = 9, 11
    x = torch.rand(1, colours, height, width, dtype=torch.float64, requires_grad=True)
    net = net.double()
    logits = net.run(x).view(1, colours, 256, height, width)
    r, c = where
    for colour in range(colours):
        x.grad = None
        logits[0, colour, :, r, c].sum().backward(retain_graph=True)
        allowed = raster_past(colours, height, width, r, c, colour)
        grad = x.grad[0]
        assert not grad[~allowed].any(), f"colour {colour} at {where} sees the future"
        if r > 0:  # and it does see the past: the row above is within reach
            assert grad[:, r - 1].abs().sum() > 0


def test_normalised_pixels_sit_on_the_fixed_point_grid():
    x = torch.arange(256, dtype=torch.uint8)
    y = normalise_pixels(x.to(torch.float64))
    assert torch.equal(y * 128, torch.round(y * 128)) and y.min() == -1 and y.max() < 1
