"""Turn a training checkpoint into a shipped model: safetensors weights + manifest entry.

    python scripts/export_model.py runs/rgb.pt pixelcnn-rgb-v1 --default-for RGB --alias pixelcnn

A checkpoint of `pixcodec train`, the one trainer (its weights' running average where the run
kept one, `--average`). The card and the
measured figures are written by scripts/measure_model.py. A model that takes the default or an
alias from an older one rewrites the older card's sentence on them (until which model).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from safetensors.torch import save

from pixcodec.nets.presets import make_network
from pixcodec.train import load_checkpoint, model_weights

from measure_model import hand_over  # scripts/, the path of a script run

MODELS = Path(__file__).resolve().parent.parent / "models"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("name")
    ap.add_argument("--default-for", choices=["RGB", "L", "1"], default=None)
    ap.add_argument("--alias", action="append", default=[],
                    help="a short name -m accepts (pixelcnn, row_lstm, diag_bilstm, multiscale)")
    ap.add_argument("--tile", type=int, help="the tile side files are coded with")
    args = ap.parse_args()
    state = load_checkpoint(args.checkpoint)
    architecture = state["architecture"]
    weights = {k: v.contiguous() for k, v in model_weights(state).items()}
    blob = save(weights, metadata={"name": args.name, "step": str(state["step"])})
    (MODELS / f"{args.name}.safetensors").write_bytes(blob)
    manifest_path = MODELS / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    old = manifest.get(args.name, {})
    # Every field, defaults included: a later change of a default must not change the model.
    config = make_network(architecture, state["config"]).config.to_dict()
    # The file format names a shipped model by this registry number: never reuse one.
    model_id = old.get("id", max((m["id"] for m in manifest.values()), default=0) + 1)

    def kind(c: dict) -> tuple:  # RGB, gray or 1-bit: what an alias is resolved within
        return c.get("colours", 3), c.get("levels", 256)

    handed_over = []  # the new model takes the default of its image kind and its aliases
    for name, other in manifest.items():
        if name == args.name:
            continue
        lost_default = args.default_for if other["default_for"] == args.default_for else None
        lost_aliases = [a for a in other["aliases"]
                        if a in args.alias and kind(other["config"]) == kind(config)]
        if lost_default or lost_aliases:
            other["default_for"] = None if lost_default else other["default_for"]
            other["aliases"] = [a for a in other["aliases"] if a not in lost_aliases]
            handed_over.append((other, lost_default, lost_aliases))
    manifest[args.name] = {
        "id": model_id,
        "architecture": architecture,
        "config": config,
        "weights": f"{args.name}.safetensors",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "card": f"{args.name}.md",
        "default_for": args.default_for,
        "measured": old.get("measured", {}),
        "aliases": args.alias,
    }
    if args.tile:
        manifest[args.name]["tile"] = args.tile
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    for other, lost_default, lost_aliases in handed_over:
        hand_over(other, lost_default, lost_aliases, successor=args.name)
    print(f"{args.name}: step {state['step']}, sha256 {manifest[args.name]['sha256']}")


if __name__ == "__main__":
    main()
