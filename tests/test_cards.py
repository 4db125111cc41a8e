"""Model cards say what the manifest says: each shipped model's measured figures and weights hash
appear on its card, and re-measuring a model (scripts/measure_model.py) keeps the card's
hand-written notes; a new model that takes over a default or an alias (scripts/export_model.py)
has the older card say so."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pixcodec import zoo
from pixcodec.nets.presets import build
from pixcodec.train import TrainOptions, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "models" / "manifest.json").read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_card_gives_the_manifest_figures(name):
    entry = MANIFEST[name]
    card = (ROOT / "models" / entry["card"]).read_text()
    assert card.startswith(f"# {name}\n")
    assert entry["sha256"] in card
    assert entry["measured"], "a shipped model is measured"
    for value in entry["measured"].values():
        assert f"| {value:.4f} |" in card


def load_measure_model():
    spec = importlib.util.spec_from_file_location("measure_model",
                                                  ROOT / "scripts" / "measure_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rewriting_a_card_keeps_its_notes(tmp_path, monkeypatch):
    measure_model = load_measure_model()
    monkeypatch.setattr(measure_model, "MODELS", tmp_path)
    name = "pixelcnn-gray-v1"
    card = tmp_path / zoo.model_info(name).card
    card.write_text("# old card\n\n| 1.0000 |\n\n## Notes\n\nWritten by hand.\n")
    log = tmp_path / "log.csv"
    log.write_text("step,train_bpd,heldout_bpd\n100,5.0,5.5\n200,4.5,4.75\n")
    measure_model.write_card(name, log, "a test run", {"bsd68-heldout": 4.25})
    text = card.read_text()
    assert "old card" not in text and "1.0000" not in text
    assert "| 4.2500 |" in text and "| 200 | 4.5000 | 4.7500 |" in text
    assert text.endswith("\n## Notes\n\nWritten by hand.\n")
    assert text.count("## Notes") == 1

    card.write_text("# a card without notes\n")
    measure_model.write_card(name, log, "a test run", {"bsd68-heldout": 4.25})
    assert "## Notes" not in card.read_text()


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_card_names_the_default_and_aliases_the_model_has_now(name):
    """The sentence after the parameter count begins with the model's default and aliases as the
    manifest gives them, and claims no other: a newer model that takes one over rewrites it."""
    measure_model = load_measure_model()
    entry = MANIFEST[name]
    card = (ROOT / "models" / entry["card"]).read_text()
    sentence = measure_model.ROLES_LINE.search(card).group(2)
    now = measure_model.roles(entry["default_for"], entry["aliases"])
    assert sentence.startswith(now)
    assert not measure_model.CURRENT_ROLES.search(sentence[len(now):])


def test_a_model_that_hands_over_its_alias_says_until_when(tmp_path, monkeypatch):
    measure_model = load_measure_model()
    monkeypatch.setattr(measure_model, "MODELS", tmp_path)
    card = tmp_path / "old.md"
    card.write_text("# old\n\n`pixelcnn` network;\n1,000 parameters. Default model for 1-bit "
                    "images. Also `-m pixelcnn / fast`.\n\n## Notes\n\n1,000 parameters.\n")
    entry = {"card": "old.md", "default_for": "1", "aliases": ["fast"]}
    measure_model.hand_over(entry, None, ["pixelcnn"], successor="new-v2")
    assert card.read_text() == (
        "# old\n\n`pixelcnn` network;\n1,000 parameters. Default model for 1-bit images. "
        "Also `-m fast`. `-m pixelcnn` until `new-v2`.\n\n## Notes\n\n1,000 parameters.\n")
    entry = {"card": "old.md", "default_for": None, "aliases": []}
    measure_model.hand_over(entry, "1", ["fast"], successor="new-v3")
    assert card.read_text().splitlines()[3] == (
        "1,000 parameters. `-m pixelcnn` until `new-v2`. The default model for 1-bit images "
        "until `new-v3`. `-m fast` until `new-v3`.")


def test_exporting_a_model_takes_over_the_alias_and_rewrites_the_older_card(tmp_path,
                                                                             monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("export_model", ROOT / "scripts" / "export_model.py")
    export_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export_model)
    monkeypatch.setattr(export_model, "MODELS", tmp_path)
    monkeypatch.setattr(sys.modules["measure_model"], "MODELS", tmp_path)
    net = build("mnist_pixelcnn")
    opts = TrainOptions(model="mnist_pixelcnn", data="bars", checkpoint=tmp_path / "run.pt")
    save_checkpoint(tmp_path / "run.pt", net, torch.optim.Adam(net.parameters()), 7,
                    np.random.default_rng(0), opts)
    old = dict(MANIFEST["pixelcnn-binary-v1"], aliases=["pixelcnn"], card="old.md")
    (tmp_path / "manifest.json").write_text(json.dumps({"old": old}))
    (tmp_path / "old.md").write_text("# old\n\n26,433 parameters. Default model for 1-bit images. "
                                     "Also `-m pixelcnn`.\n")
    monkeypatch.setattr(sys, "argv", ["export_model.py", str(tmp_path / "run.pt"), "new",
                                      "--alias", "pixelcnn"])
    export_model.main()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["old"]["aliases"] == [] and manifest["old"]["default_for"] == "1"
    assert manifest["new"]["aliases"] == ["pixelcnn"] and manifest["new"]["id"] == old["id"] + 1
    assert (tmp_path / "old.md").read_text() == (
        "# old\n\n26,433 parameters. Default model for 1-bit images. "
        "`-m pixelcnn` until `new`.\n")
    monkeypatch.setattr(sys, "argv", ["export_model.py", str(tmp_path / "run.pt"), "newer",
                                      "--default-for", "1"])
    export_model.main()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["old"]["default_for"] is None and manifest["newer"]["default_for"] == "1"
    assert manifest["new"]["aliases"] == ["pixelcnn"]
    assert (tmp_path / "old.md").read_text() == (
        "# old\n\n26,433 parameters. `-m pixelcnn` until `new`. The default model for 1-bit "
        "images until `newer`.\n")
