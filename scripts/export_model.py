"""Turn a training checkpoint into a shipped model: safetensors weights + manifest entry.

    python scripts/export_model.py runs/rgb.pt pixelcnn-rgb-v1 --default-for RGB --alias pixelcnn
    python scripts/export_model.py --normalise-manifest

A checkpoint of `pixcodec train`, the one trainer (its weights' running average where the run
kept one, `--average`). The entry is the package's (`zoo.add_to_manifest`): the configuration
with every field written out, as `pixcodec export` writes a .pxm's, a registry number of its
own, and the default and aliases handed over from the older models by the registry's rule
(`zoo.hand_over`). The card and the measured figures are written by scripts/measure_model.py;
an older model that hands over a default or an alias has its card's sentence on them rewritten
(until which model). `--normalise-manifest` only writes out every field of every entry's
configuration (after a field is added to a configuration class). A quantized network's
checkpoint ships as its integer form (`integer_logistic_pixelcnn`: int8/int16 weights, int64
biases and requantization constants, `pixcodec.nets.quantized.integer_parameters`), which the
integer engine codes with, without torch.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from safetensors.torch import save

from pixcodec import modelfile, zoo
from pixcodec.engine.config import ARCHITECTURE as INTEGER_ARCHITECTURE
from pixcodec.errors import ModelError
from pixcodec.nets.quantized import integer_safetensors
from pixcodec.train import load_checkpoint, model_weights, network_from_checkpoint

from measure_model import hand_over  # scripts/, the path of a script run

MODELS = Path(__file__).resolve().parent.parent / "models"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path, nargs="?")
    ap.add_argument("name", nargs="?")
    ap.add_argument("--default-for", choices=["RGB", "L", "1"], default=None)
    ap.add_argument("--alias", action="append", default=[],
                    help="a short name -m accepts (pixelcnn, row_lstm, diag_bilstm, multiscale)")
    ap.add_argument("--tile", type=int, help="the tile side files are coded with")
    ap.add_argument("--normalise-manifest", action="store_true",
                    help="only write out every configuration field of the manifest's entries")
    args = ap.parse_args()
    manifest_path = MODELS / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if args.normalise_manifest:
        zoo.normalise_manifest(manifest)
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        return
    if args.checkpoint is None or args.name is None:
        ap.error("a checkpoint and a name are needed")
    try:
        modelfile.check_name(args.name)
    except ModelError as exc:
        sys.exit(str(exc))
    state = load_checkpoint(args.checkpoint)
    metadata = {"name": args.name, "step": str(state["step"])}
    architecture = state["architecture"]
    if state["config"].get("quantized"):  # its integer form, which the engine codes with
        net = network_from_checkpoint(args.checkpoint)
        blob = integer_safetensors(net, metadata)
        architecture = INTEGER_ARCHITECTURE
    else:
        weights = {k: v.contiguous() for k, v in model_weights(state).items()}
        blob = save(weights, metadata=metadata)
    handed_over = zoo.add_to_manifest(manifest, args.name, architecture, state["config"], blob,
                                      args.default_for, args.alias, args.tile)
    (MODELS / f"{args.name}.safetensors").write_bytes(blob)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    for other, lost_default, lost_aliases in handed_over:
        hand_over(manifest[other], lost_default, lost_aliases, successor=args.name)
    print(f"{args.name}: step {state['step']}, sha256 {manifest[args.name]['sha256']}")


if __name__ == "__main__":
    main()
