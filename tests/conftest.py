import numpy as np
import pytest
import torch

from pixcodec.nets import PixelCNN, PixelCNNConfig
from pixcodec.nets.pixelrnn import PixelRNN, PixelRNNConfig


def random_pixelcnn(colours: int, seed: int = 0, hidden: int = 6, blocks: int = 2,
                    out_features: int = 9) -> PixelCNN:
    """A small untrained net with weights large enough that every layer matters."""
    torch.manual_seed(seed)
    net = PixelCNN(PixelCNNConfig(colours, hidden, blocks, out_features))
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    return net.eval()


def random_pixelrnn(cell: str, colours: int, seed: int = 0, hidden: int = 6, layers: int = 2,
                    out_features: int = 9, levels: int = 256) -> PixelRNN:
    torch.manual_seed(seed)
    net = PixelRNN(PixelRNNConfig(cell, colours, hidden, layers, out_features, levels=levels))
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    return net.eval()


def random_net(architecture: str, colours: int, seed: int = 0, levels: int = 256):
    """A small untrained net of any architecture: "pixelcnn", "row_lstm" or "diag_bilstm"."""
    if architecture == "pixelcnn":
        torch.manual_seed(seed)
        net = PixelCNN(PixelCNNConfig(colours, 6, 2, 9, levels=levels))
        for p in net.parameters():
            p.data.normal_(0, 0.3)
        return net.eval()
    return random_pixelrnn(architecture, colours, seed, levels=levels)


ARCHITECTURES = ["pixelcnn", "row_lstm", "diag_bilstm"]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
