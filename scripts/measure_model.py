"""Held-out NLL of a shipped model in bits/dim, with the exact (coding) arithmetic, recorded in
models/manifest.json for `pixcodec models` and the card.

    python scripts/measure_model.py pixelcnn-rgb-v1 --data ../shared/data
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixcodec import zoo
from pixcodec.codec import model_nll_bits
from pixcodec.data import load_cifar10_npz, load_folder

MODELS = Path(__file__).resolve().parent.parent / "models"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cifar-limit", type=int, default=1000)
    args = ap.parse_args()
    net = zoo.load_model(args.name)
    colours = net.config.colours
    measured = {}
    bsd = [im for i, im in enumerate(load_folder(args.data / "bsd68", colours)) if i % 10 == 0]
    measured["bsd68-heldout"] = sum(model_nll_bits(net, im[None]) for im in bsd) / sum(im.size for im in bsd)
    cifar = load_cifar10_npz(args.data / "cifar10-train-first4000.npz", colours)[3000:][:args.cifar_limit]
    measured["cifar10-heldout"] = sum(model_nll_bits(net, cifar[i:i + 50])
                                      for i in range(0, len(cifar), 50)) / cifar.size
    kodak = load_folder(args.data / "kodak", colours)
    measured["kodak"] = sum(model_nll_bits(net, im[None]) for im in kodak) / sum(im.size for im in kodak)
    for k, v in measured.items():
        print(f"{k}: {v:.4f} bits/dim")
    path = MODELS / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[args.name]["measured"] = {k: round(v, 4) for k, v in measured.items()}
    path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
