"""The networks: each module holds a config dataclass, the parallel network and its stepper."""
from .pixelcnn import PixelCNN, PixelCNNConfig, PixelCNNStepper

__all__ = ["PixelCNN", "PixelCNNConfig", "PixelCNNStepper"]
