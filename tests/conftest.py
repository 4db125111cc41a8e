import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save

from pixcodec import adapt, container, zoo

from pixcodec.nets import PixelCNN, PixelCNNConfig
from pixcodec.nets.logistic_pixelcnn import LogisticPixelCNN, LogisticPixelCNNConfig
from pixcodec.nets.pixelrnn import PixelRNN, PixelRNNConfig
from pixcodec.container import COLOUR
from pixcodec.sections import ModelPlane, model_plane_of, pack_model_plane


@pytest.fixture(autouse=True)
def no_spare_workers_left_over():
    """A CLI test that prestarts workers and then codes nothing in them would leave spares for
    the next test to take; each test starts and ends without any."""
    from pixcodec import workers
    yield
    workers.stop_spares()


def random_pixelcnn(colours: int, seed: int = 0, hidden: int = 6, blocks: int = 2,
                    out_features: int = 9, levels: int = 256,
                    spatial_width: int = 3) -> PixelCNN:
    """A small untrained net with weights large enough that every layer matters."""
    torch.manual_seed(seed)
    net = PixelCNN(PixelCNNConfig(colours, hidden, blocks, out_features, levels=levels,
                                  spatial_width=spatial_width))
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    return net.eval()


def random_pixelrnn(cell: str, colours: int, seed: int = 0, hidden: int = 6, layers: int = 2,
                    out_features: int = 9, levels: int = 256,
                    spatial_width: int = 3) -> PixelRNN:
    torch.manual_seed(seed)
    net = PixelRNN(PixelRNNConfig(cell, colours, hidden, layers, out_features, levels=levels,
                                  spatial_width=spatial_width))
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    return net.eval()


def random_logistic_net(colours: int, seed: int = 0, components: int = 3,
                        predictor: int = 5, spatial_width: int = 3,
                        edge_predictor: bool = False,
                        gap_predictor: bool = False) -> LogisticPixelCNN:
    torch.manual_seed(seed)
    net = LogisticPixelCNN(LogisticPixelCNNConfig(colours, hidden=6, blocks=2, out_features=9,
                                                  components=components, predictor=predictor,
                                                  spatial_width=spatial_width,
                                                  edge_predictor=edge_predictor,
                                                  gap_predictor=gap_predictor))
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    return net.eval()


def random_net(architecture: str, colours: int, seed: int = 0, levels: int = 256):
    """A small untrained net of any architecture: "pixelcnn", "row_lstm", "diag_bilstm" or
    "multiscale" (Row LSTMs)."""
    if architecture == "multiscale":
        from pixcodec.nets.multiscale import MultiScaleConfig, MultiScalePixelRNN
        torch.manual_seed(seed)
        layer = dict(cell="row_lstm", colours=colours, hidden=6, layers=2, out_features=9,
                     levels=levels)
        net = MultiScalePixelRNN(MultiScaleConfig(layer, layer, 8))
        for p in net.parameters():
            p.data.normal_(0, 0.5)
        return net.eval()
    if architecture == "pixelcnn":
        torch.manual_seed(seed)
        net = PixelCNN(PixelCNNConfig(colours, 6, 2, 9, levels=levels))
        for p in net.parameters():
            p.data.normal_(0, 0.3)
        return net.eval()
    return random_pixelrnn(architecture, colours, seed, levels=levels)


ARCHITECTURES = ["pixelcnn", "row_lstm", "diag_bilstm", "multiscale"]


def raster_past(colours: int, height: int, width: int, r: int, c: int,
                colour: int) -> torch.Tensor:
    """(C, H, W) mask of the subpixels colour `colour` at (r, c) may depend on: earlier rows,
    earlier pixels of its row, earlier colours of its own pixel."""
    allowed = torch.zeros(colours, height, width, dtype=torch.bool)
    allowed[:, :r] = True
    allowed[:, r, :c] = True
    allowed[:colour, r, c] = True
    return allowed


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


SHIPPED = "pixelcnn-gray-v1"


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """A weights folder of our own: the shipped gray model's files plus what a test adds."""
    real = zoo._weights_dir()
    manifest = json.loads((real / "manifest.json").read_text())
    entry = manifest[SHIPPED]
    (tmp_path / entry["weights"]).write_bytes((real / entry["weights"]).read_bytes())
    (tmp_path / "manifest.json").write_text(json.dumps({SHIPPED: entry}))
    monkeypatch.setattr(zoo, "_weights_dir", lambda: tmp_path)
    zoo.clear_caches()
    yield tmp_path
    zoo.clear_caches()


def add_model(folder: Path, name: str, weights: bytes, sha256: str | None = None,
              **entry) -> None:
    """Put a model into the weights folder of `weights_dir`: by default a copy of the shipped
    gray model's entry with other weights, without its default role or alias (a manifest lets
    a name pick one model only) and with a registry number of its own; `entry` overrides fields
    (architecture, config...)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / f"{name}.safetensors").write_bytes(weights)
    manifest[name] = {**manifest[SHIPPED], "weights": f"{name}.safetensors",
                      "sha256": sha256 or hashlib.sha256(weights).hexdigest(), "default_for": None,
                      "aliases": [], "id": max(e["id"] for e in manifest.values()) + 1, **entry}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    zoo.clear_caches()


def add_network(folder: Path, name: str, net, architecture: str, **entry) -> None:
    """Put an (untrained) network into the weights folder as a model."""
    weights = save({k: v.contiguous() for k, v in net.state_dict().items()})
    add_model(folder, name, weights, architecture=architecture,
              config=net.config.to_dict(), **entry)




def with_model_plane(data: bytes, **changes) -> bytes:
    """A .pxc file with fields of its COLR section changed (a forgery)."""
    header, sections = container.unpack(data)
    body = pack_model_plane(dataclasses.replace(model_plane_of(data), **changes))
    return container.pack(header, {**sections, COLOUR: body})


def model_plane(data: bytes) -> ModelPlane:
    """The COLR section of a .pxc file (model, weights hash, coder, tile, streams), with the
    name of a model the file gives by registry number."""
    plane = model_plane_of(data)
    return plane if plane.model else dataclasses.replace(plane,
                                                         model=zoo.model_by_id(plane.model_id))


PHOTO_CROP = Path(__file__).parent / "assets" / "kodim23-crop.png"


@pytest.fixture
def logistic_zoo(weights_dir, monkeypatch):
    """The shipped gray model and a small, briefly trained logistic-mixture RGB model; fits are
    tried on images of any size (a small model far from its image gains enough to pay)."""
    monkeypatch.setattr(adapt, "MIN_SUBPIXELS", 0)
    torch.manual_seed(0)
    net = LogisticPixelCNN(LogisticPixelCNNConfig(3, hidden=8, blocks=1, out_features=16,
                                                  components=2, predictor=3))
    photo = photo_pixels()
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(20):  # a few steps, so that the model is a model but far from this image
        loss = net.loss(net(x[:, :, :16, :16]), x[:, :, :16, :16])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    add_network(weights_dir, "logistic-test", net.eval(), "logistic_pixelcnn")
    return weights_dir


def photo_pixels() -> np.ndarray:
    return np.array(Image.open(PHOTO_CROP).convert("RGB"))[100:132, 60:100]
