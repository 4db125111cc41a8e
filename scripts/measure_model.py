"""Held-out NLL of a shipped model in bits/dim, with the exact (coding) arithmetic, recorded in
models/manifest.json for `pixcodec models`, and the model's card written from the same figures.

    python scripts/measure_model.py pixelcnn-rgb-v1 --data ../shared/data --log runs/rgb.csv \
        --training "CPU, 2 threads, 75 minutes"
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from pixcodec import zoo
from pixcodec.codec import encode_pixels, model_nll_bits
from pixcodec.data import load_cifar10_npz, load_folder

MODELS = Path(__file__).resolve().parent.parent / "models"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cifar-limit", type=int, default=1000)
    ap.add_argument("--log", type=Path, required=True, help="the training CSV log")
    ap.add_argument("--training", required=True, help="where and how long it trained")
    args = ap.parse_args()
    net = zoo.load_model(args.name)
    colours = net.config.colours
    measured = {}
    bsd = [im for i, im in enumerate(load_folder(args.data / "bsd68", colours)) if i % 10 == 0]
    # Photos: the NLL of the tables the coder actually uses (256x256 tiles).
    measured["bsd68-heldout"] = sum(encode_pixels(net, im)[1] for im in bsd) / sum(im.size for im in bsd)
    cifar = load_cifar10_npz(args.data / "cifar10-train-first4000.npz", colours)[3000:][:args.cifar_limit]
    measured["cifar10-heldout"] = sum(model_nll_bits(net, cifar[i:i + 50])
                                      for i in range(0, len(cifar), 50)) / cifar.size
    kodak = load_folder(args.data / "kodak", colours)
    measured["kodak"] = sum(encode_pixels(net, im)[1] for im in kodak) / sum(im.size for im in kodak)
    for k, v in measured.items():
        print(f"{k}: {v:.4f} bits/dim")
    path = MODELS / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[args.name]["measured"] = {k: round(v, 4) for k, v in measured.items()}
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    write_card(manifest[args.name], args.name, net, args.log, args.training)


def write_card(entry: dict, name: str, net, log: Path, training: str) -> None:
    rows = list(csv.reader(log.open()))
    step, train_bpd, held_bpd, _ = rows[-1]
    params = sum(p.numel() for p in net.parameters())
    m = entry["measured"]
    cfg = entry["config"]
    curve = "\n".join(f"| {r[0]} | {r[1]} | {r[2]} |" for r in rows[::max(1, len(rows) // 12)])
    (MODELS / entry["card"]).write_text(f"""# {name}

PixelCNN (van den Oord et al. 2016, §3.4-3.5) for {cfg['colours']}-channel images: a 7x7
mask-A layer to 2h = {2 * cfg['hidden']} features, {cfg['blocks']} residual blocks (h = {cfg['hidden']})
with 3x3 mask-B convolutions, two 1x1 mask-B output layers ({cfg['out_features']} features),
a 256-way softmax per subpixel; {params:,} parameters. Default model for {entry['default_for']}
images.

* **Weights**: `{entry['weights']}`, sha256 `{entry['sha256']}` (checked on load).
* **Data**: random 32x32 crops with horizontal flips of `photos-train` (27 photos, 4x
  downsampled), `urban100-half` (100) and `bsd68` (every image but each 10th, which is held
  out), drawn in proportion to image area, plus the first 3,000 CIFAR-10 training images. Never
  Kodak.{" Converted to grayscale (Pillow `L`)." if entry['config']['colours'] == 1 else ""}
* **Training**: `scripts/train_default.py`, Adam, lr 2e-3 with cosine decay, batch 16,
  gradient norm clipped at 1, {step} steps; {training}.
* **NLL** with the exact coding arithmetic, as coded (256x256 tiles), bits/dim:

| data | bits/dim |
|---|---|
| bsd68 held-out (7 images: every 10th) | {m['bsd68-heldout']:.4f} |
| cifar10-heldout (last 1,000 of the 4,000) | {m['cifar10-heldout']:.4f} |
| Kodak 24 (benchmark only, never trained on) | {m['kodak']:.4f} |

Training curve (running train loss, held-out loss on 32 fixed 64x64 crops of the held-out
bsd68 images), bits/dim:

| step | train | held-out crops |
|---|---|---|
{curve}
""")


if __name__ == "__main__":
    main()
