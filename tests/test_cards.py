"""Model cards say what the manifest says: each shipped model's measured figures and weights hash
appear on its card, and re-measuring a model (scripts/measure_model.py) keeps the card's
hand-written notes."""
import importlib.util
import json
from pathlib import Path

import pytest

from pixcodec import zoo

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
