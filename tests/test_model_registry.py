"""One registry and one configuration rule for every model (issues 38 and 40): a model's name
follows the container's rule wherever it is made."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save as save_tensors

from pixcodec import container, modelfile, zoo
from pixcodec.cli.main import main
from pixcodec.errors import ModelError
from pixcodec.nets.presets import build
from pixcodec.train import TrainOptions, save_checkpoint

@pytest.fixture(autouse=True)
def forget_models(monkeypatch):
    monkeypatch.delenv("PIXCODEC_MODEL_PATH", raising=False)
    zoo.clear_caches()
    yield
    zoo.clear_caches()


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def checkpoint(path: Path, preset: str = "mnist_pixelcnn", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    net = build(preset)
    save_checkpoint(path, net, torch.optim.Adam(net.parameters()), 3,
                    np.random.default_rng(0), TrainOptions(model=preset, data="bars",
                                                           checkpoint=path))
    return path


def bars(path: Path, shift: int = 0) -> np.ndarray:
    pixels = np.zeros((8, 8), dtype=bool)
    pixels[:, [1 + shift, 4, 5]] = True
    Image.fromarray(pixels).save(path)
    return pixels


# Issue 38 item 8: one rule for model names.

@pytest.mark.parametrize("name", ["my model", "tab\there", "caf\u00e9", "x" * 65, "", "ok-v1",
                                  "~!@#$%^&*()_+{}", "x" * 64])
def test_export_and_the_container_share_one_rule_for_names(name):
    record = bytes([len(name.encode("utf-8")) % 256]) + name.encode("utf-8") + bytes(32)
    try:
        container._model_name(record, 0)
        readable = True
    except Exception:
        readable = False
    try:
        modelfile.check_name(name)
        exportable = True
    except ModelError:
        exportable = False
    assert readable == exportable == container.valid_model_name(name)


def test_a_name_with_a_space_is_refused_when_exporting(tmp_path):
    """It was exported, and compress -m wrote a file that decompress refused."""
    ckpt = checkpoint(tmp_path / "run.pt")
    result = cli("export", ckpt, "-o", tmp_path / "m.pxm", "--name", "my model")
    assert result.exit_code == 2 and "without spaces" in result.output
    assert not (tmp_path / "m.pxm").exists()
    result = cli("export", ckpt, "-o", tmp_path / "my model.pxm")
    assert result.exit_code == 2 and "--name" in result.output
    assert not (tmp_path / "my model.pxm").exists()


def test_a_model_file_named_with_a_space_codes_nothing(tmp_path):
    """A .pxm made before the rule (or by hand) is refused at compress, not after."""
    ckpt = checkpoint(tmp_path / "run.pt")
    good = modelfile.read(modelfile.export(ckpt, "good"), "x")[1]
    meta = {"format": modelfile.FORMAT, "name": "my model", "architecture": "pixelcnn",
            "config": json.dumps(good.config.to_dict()), "about": "{}"}
    (tmp_path / "m.pxm").write_bytes(save_tensors(dict(good.state_dict()), metadata=meta))
    bars(tmp_path / "bars.png")
    result = cli("compress", tmp_path / "bars.png", "-m", tmp_path / "m.pxm")
    assert result.exit_code == 1 and "without spaces" in result.output
    assert not (tmp_path / "bars.pxc").exists()
