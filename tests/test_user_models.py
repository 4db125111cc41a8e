"""Your own models: train, export a .pxm, and compress / decompress / bench with it."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save as save_tensors

from pixcodec.cli.main import main
from pixcodec import modelfile, zoo
from pixcodec.train import TrainOptions, train

from test_train import tiny_set


@pytest.fixture(autouse=True)
def forget_models():
    zoo.clear_caches()
    yield
    zoo.clear_caches()


def trained(tmp_path, name="run.pt", seed=0):
    checkpoint = tmp_path / name
    train(TrainOptions(model="mnist_pixelcnn", data="bars", checkpoint=checkpoint, steps=3,
                       batch=4, eval_every=3, eval_images=4, threads=1, seed=seed),
          data=tiny_set())
    return checkpoint


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def bars(tmp_path) -> np.ndarray:
    pixels = np.zeros((8, 8), dtype=bool)
    pixels[:, [1, 4, 5]] = True
    Image.fromarray(pixels).save(tmp_path / "bars.png")
    return pixels


def test_train_export_compress_decompress_bench(tmp_path, monkeypatch):
    monkeypatch.delenv("PIXCODEC_MODEL_PATH", raising=False)
    checkpoint = trained(tmp_path)
    assert cli("export", checkpoint, "-o", tmp_path / "bars-v1.pxm").exit_code == 0
    shown = cli("models", "--path", tmp_path / "bars-v1.pxm")
    assert shown.exit_code == 0 and "bars-v1: pixelcnn" in shown.output
    pixels = bars(tmp_path)
    made = cli("compress", tmp_path / "bars.png", "-m", tmp_path / "bars-v1.pxm")
    assert made.exit_code == 0 and "bars-v1" in made.output
    zoo.clear_caches()  # a fresh process knows no model files
    missing = cli("decompress", tmp_path / "bars.pxc", "-o", tmp_path / "a.png")
    assert missing.exit_code == 1 and len(missing.output.strip().splitlines()) == 1
    assert "needs model 'bars-v1' (sha256 " in missing.output and "-m FILE" in missing.output
    assert not (tmp_path / "a.png").exists()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "bars-v1.pxm").write_bytes((tmp_path / "bars-v1.pxm").read_bytes())
    for k, how in enumerate((["-m", tmp_path / "bars-v1.pxm"],
                             ["--model-dir", tmp_path / "models"], [])):
        zoo.clear_caches()
        if not how:
            monkeypatch.setenv("PIXCODEC_MODEL_PATH", str(tmp_path / "models"))
        out = tmp_path / f"back{k}.png"
        done = cli("decompress", tmp_path / "bars.pxc", "-o", out, *how)
        assert done.exit_code == 0, done.output
        assert np.array_equal(np.array(Image.open(out)), pixels)
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "bars.png").write_bytes((tmp_path / "bars.png").read_bytes())
    bench = cli("bench", tmp_path / "set", "-m", tmp_path / "bars-v1.pxm")
    assert bench.exit_code == 0, bench.output
    assert "| pixcodec " in bench.output and "bars" in bench.output and "| yes |" in bench.output


def test_another_model_of_the_same_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("PIXCODEC_MODEL_PATH", raising=False)
    cli("export", trained(tmp_path, "a.pt", seed=0), "-o", tmp_path / "m.pxm")
    bars(tmp_path)
    assert cli("compress", tmp_path / "bars.png", "-m", tmp_path / "m.pxm").exit_code == 0
    (tmp_path / "other").mkdir()
    cli("export", trained(tmp_path, "b.pt", seed=1), "-o", tmp_path / "other" / "m.pxm")
    zoo.clear_caches()
    wrong = cli("decompress", tmp_path / "bars.pxc", "-o", tmp_path / "x.png",
                "--model-dir", tmp_path / "other")
    assert wrong.exit_code == 1 and "different weights for model 'm'" in wrong.output
    assert cli("export", tmp_path / "a.pt", "-o", tmp_path / "logistic-rgb-v1.pxm").exit_code == 2


def crafted(tmp_path, file, weights=None, **meta) -> str:
    good = modelfile.read(modelfile.export(trained(tmp_path), "crafted"), "x")[1]
    metadata = {"format": modelfile.FORMAT, "name": "crafted", "architecture": "pixelcnn",
                "config": json.dumps(good.config.to_dict()), "about": "{}", **meta}
    tensors = weights if weights is not None else dict(good.state_dict())
    (tmp_path / file).write_bytes(save_tensors(tensors, metadata=metadata))
    return str(tmp_path / file)


@pytest.mark.parametrize("make,message", [
    (lambda t: crafted(t, "a.pxm", config=json.dumps({"colours": 5})), "bad network configuration"),
    (lambda t: crafted(t, "b.pxm", config=json.dumps(
        {"colours": 1, "hidden": 700, "levels": 2})), "too wide for the exact arithmetic"),
    (lambda t: crafted(t, "c.pxm", weights={"input_conv.weight": torch.zeros(3, 3)}),
     "weights do not fit the configuration"),
    (lambda t: crafted(t, "d.pxm", architecture="os.system"), "unknown architecture"),
    (lambda t: crafted(t, "e.pxm", name="bad\nname"), "a model name must be"),
])
def test_crafted_model_files_are_refused_in_one_line(tmp_path, make, message):
    path = make(tmp_path)
    bars(tmp_path)
    result = cli("compress", tmp_path / "bars.png", "-m", path)
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "bars.pxc").exists()


def test_pickles_and_checkpoints_are_never_loaded_as_models(tmp_path):
    torch.save({"weights": {}}, tmp_path / "evil.pxm")
    bars(tmp_path)
    result = cli("compress", tmp_path / "bars.png", "-m", tmp_path / "evil.pxm")
    assert result.exit_code == 1 and "a pickled file" in result.output
    assert "pixcodec export CHECKPOINT" in result.output
    checkpoint = trained(tmp_path)
    result = cli("compress", tmp_path / "bars.png", "-m", checkpoint)
    assert result.exit_code == 1 and "pixcodec export CHECKPOINT" in result.output
