import numpy as np
import pytest
import torch

from pixcodec.nets import PixelCNN, PixelCNNConfig


def random_pixelcnn(colours: int, seed: int = 0, hidden: int = 6, blocks: int = 2,
                    out_features: int = 9) -> PixelCNN:
    """A small untrained net with weights large enough that every layer matters."""
    torch.manual_seed(seed)
    net = PixelCNN(PixelCNNConfig(colours, hidden, blocks, out_features))
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    return net.eval()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
