"""Held-out NLL of a shipped model with the exact (coding) arithmetic, recorded in
models/manifest.json for `pixcodec models`, and the model's card written from the same figures.

    python scripts/measure_model.py pixelcnn-rgb-v1 --data ../shared/data --log runs/rgb.csv \
        --training "CPU, 2 threads, 75 minutes" --bench docs/kodak.json

Photo models (256 levels) are measured on the held-out bsd68 images (every 10th) and
cifar10-heldout, and on Kodak: tile by tile as the codec codes them
(likelihood.coded_nll_bits, the same tables as coding), or, with --bench, from the model's NLL
in a `pixcodec bench kodak --out` JSON (again the same figure) for a model the encoder neither
turns nor adapts: for the others the bench's NLL is of the image turned and the model adapted
to it, so Kodak is measured here. Binary models are measured on binarized MNIST's test set, in nats
per image as Table 4 of the paper reports. A card's "## Notes" section, written by hand, is
kept when the rest of the card is rewritten.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

from safetensors import safe_open

from pixcodec import zoo
from pixcodec.engine.config import ARCHITECTURE as INTEGER_ARCHITECTURE
from pixcodec.adapt import adaptable
from pixcodec.likelihood import coded_nll_bits, model_nll_bits
from pixcodec.data import (CIFAR10_HELDOUT_START, CIFAR10_NPZ, FOLDER_HELDOUT_EVERY,
                           load_cifar10_npz, load_folder)
from pixcodec.nets.presets import parameter_count

MODELS = Path(__file__).resolve().parent.parent / "models"


def coded_bits_per_dim(net, images: list[np.ndarray], tile: int, label: str) -> float:
    """The NLL of the tables the coder uses (tiles included), bits per subpixel."""
    bits = 0.0
    for i, im in enumerate(images, 1):
        bits += coded_nll_bits(net, im, tile)
        # A PixelRNN's Kodak pass takes most of an hour: say how far it is.
        print(f"{label}: {i}/{len(images)} images", file=sys.stderr, flush=True)
    return bits / sum(im.size for im in images)


def parallel_bits(net, images: np.ndarray, batch: int = 50) -> float:
    """Exact NLL in bits of whole images (N, H, W, C) in parallel passes."""
    return sum(model_nll_bits(net, images[i:i + batch]) for i in range(0, len(images), batch))


def bench_bits_per_dim(path: Path, model: str) -> float:
    totals = json.loads(path.read_text())["totals"]
    row = next(r for r in totals if r["codec"] == f"pixcodec {model}" and r["images"])
    return row["nll_bits"] / row["dims"]


def measure(name: str, data: Path, bench: Path | None, cifar_limit: int) -> dict:
    info = zoo.model_info(name)
    net = zoo.load_model(name)
    tile = info.coding_tile
    measured = {}
    if info.levels == 2:
        with np.load(data / "binarized-mnist.npz") as d:
            test = d["test"][..., None]
        measured["binarized-mnist-test"] = (
            parallel_bits(net, test) * math.log(2) / len(test))
        return measured
    colours = info.colours
    bsd = load_folder(data / "bsd68", colours)[::FOLDER_HELDOUT_EVERY]
    measured["bsd68-heldout"] = coded_bits_per_dim(net, bsd, tile, "bsd68-heldout")
    cifar = load_cifar10_npz(data / CIFAR10_NPZ, colours)[CIFAR10_HELDOUT_START:][:cifar_limit]
    measured["cifar10-heldout"] = parallel_bits(net, cifar) / cifar.size
    if bench is not None and not adaptable(net):
        measured["kodak"] = bench_bits_per_dim(bench, name)
    else:
        kodak = load_folder(data / "kodak", colours)
        measured["kodak"] = coded_bits_per_dim(net, kodak, tile, "kodak")
    return measured


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--bench", type=Path, help="a `pixcodec bench kodak --out` JSON")
    ap.add_argument("--cifar-limit", type=int, default=1000)
    ap.add_argument("--log", type=Path, required=True, help="the training CSV log")
    ap.add_argument("--training", required=True, help="how it was trained: command, device, time")
    ap.add_argument("--data-text", help="what it was trained on, when not the usual (DATA)")
    args = ap.parse_args()
    measured = measure(args.name, args.data, args.bench, args.cifar_limit)
    for k, v in measured.items():
        print(f"{k}: {v:.4f}")
    path = MODELS / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[args.name]["measured"] = {k: round(v, 4) for k, v in measured.items()}
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    write_card(args.name, args.log, args.training, measured, args.data_text)


DATA = {
    # The photo runs' six folders (the older cards name the data their runs had).
    256: ("random 64x64 crops with horizontal flips of `photos-train`, `urban100-half`, `bsd68`, "
          "`cbsd432-half`, `imagenet-sample-half` and `unsplash-quarter` (every 10th image of each "
          "folder held out), drawn in proportion to image area. Never Kodak."),
    2: "binarized MNIST (Larochelle's, the paper's): the 50,000 training images; the 10,000 "
       "validation images for the curve; the 10,000 test images for the figure below.",
}
FIGURES = {
    "bsd68-heldout": "bsd68 held-out (7 images: every 10th), as coded",
    "cifar10-heldout": "cifar10-heldout (last 1,000 of the 4,000), whole images",
    "kodak": "Kodak 24 (benchmark only, never trained on), as coded",
    "binarized-mnist-test": "binarized MNIST test (10,000 images), nats per image",
}


# Everything from this heading on is written by hand (comparisons, caveats) and survives a
# re-measurement; the rest of the card is rewritten from the figures.
NOTES = "\n## Notes\n"


def training_curve(log: Path, rows_shown: int = 12) -> str:
    """A dozen rows of the CSV log as a table. the logs of the removed scripts/train_default.py have no header
    (step, train, held-out bits/dim, lr); pixcodec train's names its columns."""
    lines = list(csv.reader(log.open()))
    if lines[0][0].isdigit():
        header, lines = ["step", "train_bpd", "heldout_bpd", "lr"], lines
    else:
        header, lines = lines[0], lines[1:]
    rows = [dict(zip(header, line)) for line in lines]
    shown = rows[::max(1, len(rows) // rows_shown)]
    if shown[-1] is not rows[-1]:
        shown.append(rows[-1])
    columns = [("step", "step"), ("train_bpd", "train bits/dim"),
               ("heldout_bpd", "held-out bits/dim")]
    if any(r.get("heldout_nats_per_image") for r in rows):
        columns.append(("heldout_nats_per_image", "held-out nats/image"))
    if any(r.get("averaged_heldout_bpd") for r in rows):  # a run with --average
        columns.append(("averaged_heldout_bpd", "averaged weights, held-out bits/dim"))
    table = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "---|" * len(columns)]
    for r in shown:
        cells = [r[k] if k == "step" else f"{float(r[k]):.4f}" if r.get(k) else ""
                 for k, _ in columns]
        table.append("| " + " | ".join(cells) + " |")
    return "\n".join(table)


def image_kind(mode: str) -> str:
    return {"1": "1-bit", "L": "grayscale (L)"}.get(mode, mode)


def roles(default_for: str | None, aliases: list[str]) -> str:
    """The sentence after a card's parameter count on what picks the model without its full
    name: the manifest's default and aliases now (after them, those it held before: hand_over)."""
    default = f" Default model for {image_kind(default_for)} images." if default_for else ""
    also = f" Also `-m {' / '.join(aliases)}`." if aliases else ""
    return default + also


ROLES_LINE = re.compile(r"^(.*\bparameters\.)(.*)$", re.MULTILINE)
CURRENT_ROLES = re.compile(r" Default model for [^.]* images\.| Also `-m [^`]*`\.")


def hand_over(entry: dict, lost_default: str | None, lost_aliases: list[str],
              successor: str) -> None:
    """Rewrite the roles sentence of the card of a model (its manifest entry, already updated)
    whose default or aliases a newer model took: what it still does, then since when not."""
    card = MODELS / entry["card"]
    if not card.exists():
        return
    history = ""
    if lost_default:
        history += f" The default model for {image_kind(lost_default)} images until `{successor}`."
    for alias in lost_aliases:
        history += f" `-m {alias}` until `{successor}`."

    def rewrite(line: re.Match) -> str:
        earlier = CURRENT_ROLES.sub("", line.group(2))
        return line.group(1) + roles(entry["default_for"], entry["aliases"]) + earlier + history

    card.write_text(ROLES_LINE.sub(rewrite, card.read_text(), count=1))


def write_card(name: str, log: Path, training: str, measured: dict,
               data_text: str | None = None) -> None:
    info = zoo.model_info(name)
    curve = training_curve(log)
    config = ", ".join(f"{k} = {v}" for k, v in info.config.items())
    figures = "\n".join(f"| {FIGURES[k]} | {v:.4f} |" for k, v in measured.items())
    card = MODELS / info.card
    notes = card.read_text().partition(NOTES)[2] if card.exists() else ""
    card.write_text(f"""# {name}

`{info.architecture}` network (`pixcodec/nets/`; van den Oord et al. 2016) with {config};
{parameters(info):,} parameters.{roles(info.default_for, info.aliases)}

* **Weights**: `{info.weights}`, sha256 `{info.sha256}` (checked on load).
* **Data**: {data_text or DATA[info.levels]}
* **Training**: {training}.
* **NLL** with the exact coding arithmetic (bits/dim unless marked):

| data | NLL |
|---|---|
{figures}

Training curve (running train loss; held-out loss):

{curve}
""" + (NOTES + notes if notes else ""))


def parameters(info: zoo.ModelInfo) -> int:
    """The model's parameter count: the float network's, or for an integer model its weights'
    and biases' (one per float parameter it was made from)."""
    if info.architecture != INTEGER_ARCHITECTURE:
        return parameter_count(zoo.load_model(info.name))
    with safe_open(MODELS / info.weights, "numpy") as weights:
        return sum(int(np.prod(weights.get_slice(key).get_shape())) for key in weights.keys()
                   if key.endswith((".weight", ".bias")))


if __name__ == "__main__":
    main()
