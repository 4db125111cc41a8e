"""One registry and one configuration rule for every model (issues 38 and 40): checkpoints,
.pxm files, shipped models and the manifest all record every field of a network's
configuration; a model's name follows the container's rule wherever it is made; a model
file's configuration is bounded before anything is built; and files coded with two models of
one name but different weights each find their own."""
import importlib.util
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save as save_tensors

import pixcodec
from pixcodec import container, modelfile, zoo
from pixcodec.cli.main import main
from pixcodec.errors import ModelError
from pixcodec.nets import presets
from pixcodec.nets.presets import ARCHITECTURES, build
from pixcodec.sections import _model_name, model_plane_of
from pixcodec.train import TrainOptions, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "models" / "manifest.json").read_text())


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


def every_field(architecture: str, config: dict) -> bool:
    """Whether `config` writes out every field of its architecture's configuration (and of the
    networks a multi-scale one nests)."""
    names = {f.name for f in fields(ARCHITECTURES[architecture][0])}
    if set(config) != names:
        return False
    return architecture != "multiscale" or all(every_field("pixelrnn", config[k])
                                               for k in ("small", "large"))


def load_script(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Issue 40 item 4: one configuration rule.

def test_checkpoints_model_files_and_the_manifest_write_every_config_field(tmp_path,
                                                                           monkeypatch):
    """The preset mnist_pixelcnn leaves spatial_width to its default: `pixcodec export` wrote
    the partial preset, scripts/export_model.py every field; now both (and the checkpoint)
    write the same complete configuration, so a later change of a default changes no model."""
    ckpt = checkpoint(tmp_path / "run.pt")
    assert every_field("pixelcnn", load_checkpoint(ckpt)["config"])
    assert cli("export", ckpt, "-o", tmp_path / "m.pxm").exit_code == 0
    meta = modelfile.metadata((tmp_path / "m.pxm").read_bytes(), "m.pxm")
    from_file = json.loads(meta["config"])
    assert every_field("pixelcnn", from_file)
    export_model = load_script("export_model", monkeypatch)
    monkeypatch.setattr(export_model, "MODELS", tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    monkeypatch.setattr(sys, "argv", ["export_model.py", str(ckpt), "new"])
    export_model.main()
    entry = json.loads((tmp_path / "manifest.json").read_text())["new"]
    assert entry["config"] == from_file
    assert presets.normalise_config("pixelcnn", {"colours": 1, "levels": 2}) == dict(
        colours=1, hidden=32, blocks=6, out_features=96, levels=2, spatial_width=3)


def test_a_multi_scale_checkpoint_exports_every_nested_field(tmp_path):
    ckpt = checkpoint(tmp_path / "ms.pt", "mnist_multiscale_row_lstm")
    assert cli("export", ckpt, "-o", tmp_path / "ms.pxm").exit_code == 0
    meta = modelfile.metadata((tmp_path / "ms.pxm").read_bytes(), "ms.pxm")
    assert every_field("multiscale", json.loads(meta["config"]))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_the_manifest_writes_every_config_field(name):
    """Each shipped model's configuration gives every field, but for one added to the class
    after the model was made (presets.LATER_FIELDS, whose absence means the network without
    it)."""
    entry = MANIFEST[name]
    full = presets.normalise_config(entry["architecture"], entry["config"])
    later = presets.LATER_FIELDS.get(entry["architecture"], set())
    assert {k: v for k, v in full.items() if k in entry["config"] or k not in later} \
        == entry["config"], (f"models/manifest.json: {name}'s config lacks fields; write each "
                             "with the value that keeps the model as it is (python "
                             "scripts/export_model.py --normalise-manifest)")


def test_an_alias_is_handed_over_only_within_the_kinds_a_model_codes(tmp_path, monkeypatch):
    """export_model.kind() read a multi-scale model's colours and levels at the top of its
    config, where they are not (3 and 256 by default): a new RGB model given the alias
    `multiscale` took it from a 1-bit multi-scale model, which codes other images."""
    export_model = load_script("export_model", monkeypatch)
    monkeypatch.setattr(export_model, "MODELS", tmp_path)
    layer = dict(cell="row_lstm", colours=1, hidden=6, layers=2, out_features=9, levels=2)
    old = {"id": 1, "architecture": "multiscale",
           "config": {"small": layer, "large": layer, "upsample_features": 8},
           "weights": "old.safetensors", "sha256": "00" * 32, "card": "old.md",
           "default_for": None, "measured": {}, "aliases": ["multiscale"]}
    (tmp_path / "manifest.json").write_text(json.dumps({"old": old}))
    ckpt = checkpoint(tmp_path / "rgb.pt", "photo_pixelcnn")
    monkeypatch.setattr(sys, "argv", ["export_model.py", str(ckpt), "new-rgb",
                                      "--alias", "multiscale"])
    export_model.main()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["old"]["aliases"] == ["multiscale"]
    assert manifest["new-rgb"]["aliases"] == ["multiscale"]
    # The rule is the package's, beside the registry's own check of the choices it leaves.
    entries = {"old": old, "new": dict(old, id=2, aliases=["multiscale"])}
    assert zoo.hand_over(entries, "new", None, ["multiscale"]) == [("old", None, ["multiscale"])]
    assert entries["old"]["aliases"] == []


# Issue 38 item 8: one rule for model names.

@pytest.mark.parametrize("name", ["my model", "tab\there", "caf\u00e9", "x" * 65, "", "ok-v1",
                                  "~!@#$%^&*()_+{}", "x" * 64])
def test_export_and_the_container_share_one_rule_for_names(name):
    record = bytes([len(name.encode("utf-8")) % 256]) + name.encode("utf-8") + bytes(32)
    try:
        _model_name(record, 0)
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


# Issue 38 item 9: a model file's configuration is bounded before anything is built.

def crafted(tmp_path: Path, config: str, tensors=None, about: str = "{}") -> Path:
    net = build("mnist_pixelcnn")
    meta = {"format": modelfile.FORMAT, "name": "crafted", "architecture": "pixelcnn",
            "config": config, "about": about}
    tensors = tensors if tensors is not None else {k: v.contiguous()
                                                   for k, v in net.state_dict().items()}
    path = tmp_path / "crafted.pxm"
    path.write_bytes(save_tensors(tensors, metadata=meta))
    return path


def refused_quickly(path: Path, tmp_path: Path) -> str:
    bars(tmp_path / "bars.png")
    start = time.monotonic()
    result = cli("compress", tmp_path / "bars.png", "-m", path)
    assert time.monotonic() - start < 10
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "internal error" not in result.output and not (tmp_path / "bars.pxc").exists()
    return result.output


@pytest.mark.parametrize("config,message", [
    ({"colours": 1, "levels": 2, "blocks": 10**6}, "blocks = 1000000 is not an integer from 1 "
                                                    "to 64"),
    ({"colours": 1, "levels": 2, "hidden": 10**400}, "hidden = 1000"),
    ({"colours": 1, "levels": 2, "hidden": "32"}, "hidden = '32' is not an integer"),
    ({"colours": 1, "levels": 2, "hidden": True}, "hidden = True is not an integer"),
    ({"colours": 1, "levels": 2, "hidden": [[[]]]}, "hidden = [[[]]] is not an integer"),
    ({"colours": 1, "rm": 1}, "unknown field 'rm'"),
    ([1, 2], "not a JSON object"),
])
def test_every_config_field_is_bounded(tmp_path, config, message):
    output = refused_quickly(crafted(tmp_path, json.dumps(config)), tmp_path)
    assert "bad network configuration" in output and message in output


def test_a_config_nested_100000_deep_is_one_line(tmp_path):
    output = refused_quickly(crafted(tmp_path, "[" * 100_000 + "]" * 100_000), tmp_path)
    assert "bad network configuration (nested too deeply)" in output
    about = crafted(tmp_path, json.dumps({"colours": 1, "levels": 2}),
                    about='{"a":' * 100_000 + "0" + "}" * 100_000)
    assert "nested too deeply" in refused_quickly(about, tmp_path)


def test_the_weights_in_all_are_bounded(tmp_path):
    """Every field within its bounds, 64 Row LSTM layers of h = 512 ask for 780 million
    weights."""
    config = dict(cell="row_lstm", colours=3, hidden=512, layers=64, out_features=1024)
    with pytest.raises(ValueError, match="million weights, more than the 134"):
        presets.make_network("pixelrnn", config)


def test_a_file_must_hold_the_weights_its_config_asks_for_before_any_is_built(tmp_path,
                                                                              monkeypatch):
    """A small file whose configuration asks for ImageNet's Row LSTM (79 million weights) is
    refused from its header, without building (or allocating) the network."""
    architecture, config = presets.PRESETS["imagenet32_row_lstm"]
    path = crafted(tmp_path, json.dumps(config))
    path.write_bytes(path.read_bytes().replace(b'"pixelcnn"', b'"pixelrnn"'))

    def no_build(*args):
        raise AssertionError("the network was built")
    monkeypatch.setattr(modelfile, "make_network", no_build)
    output = refused_quickly(path, tmp_path)
    assert "the weights do not fit the configuration" in output


# Issue 38 item 14: two models of one name, different weights.

def test_two_models_of_one_name_each_decode_their_own_files(tmp_path):
    (tmp_path / "models").mkdir()
    for seed, label in ((0, "a"), (1, "b")):
        ckpt = checkpoint(tmp_path / f"{label}.pt", seed=seed)
        made = cli("export", ckpt, "-o", tmp_path / "models" / f"m-{label}.pxm", "--name", "m")
        assert made.exit_code == 0, made.output
    originals = {}
    for k, label in enumerate("ab"):
        zoo.clear_caches()  # as if compressed by separate runs
        originals[label] = bars(tmp_path / f"{label}.png", shift=k)
        made = cli("compress", tmp_path / f"{label}.png", "-m",
                   tmp_path / "models" / f"m-{label}.pxm")
        assert made.exit_code == 0, made.output
    zoo.clear_caches()
    done = cli("decompress", tmp_path / "a.pxc", tmp_path / "b.pxc", "-o", tmp_path / "out",
               "--model-dir", tmp_path / "models", "--jobs", "1")
    assert done.exit_code == 0, done.output
    for label, pixels in originals.items():
        assert np.array_equal(np.array(Image.open(tmp_path / "out" / f"{label}.png")), pixels)
    zoo.clear_caches()
    (tmp_path / "models" / "m-a.pxm").unlink()
    wrong = cli("decompress", tmp_path / "a.pxc", "-o", tmp_path / "x.png",
                "--model-dir", tmp_path / "models")
    assert wrong.exit_code == 1 and "different weights for model 'm'" in wrong.output


def test_one_process_codes_with_two_models_of_one_name(tmp_path):
    """Both are known at once, each by its weights; a bare name means the one read last."""
    pixels = bars(tmp_path / "bars.png")
    made = []
    for seed in (0, 1):
        path = tmp_path / f"m{seed}.pxm"
        path.write_bytes(modelfile.export(checkpoint(tmp_path / f"{seed}.pt", seed=seed), "m"))
        made.append((pixcodec.compress(tmp_path / "bars.png", str(path)),
                     modelfile.sha256(path.read_bytes())))
    assert made[0][1] != made[1][1] and zoo.model_info("m").sha256 == made[1][1]
    for data, sha256 in made:
        assert model_plane_of(data).weights_sha256.hex() == sha256
        assert np.array_equal(pixcodec.decompress(data) > 0, pixels)
