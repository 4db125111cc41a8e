"""Model files (.pxm): a trained network in one self-describing file, for models users train.

A .pxm is a safetensors file (tensors and a string-to-string header: loading it runs no code)
whose header metadata holds:

    format        "pixcodec-model/1"
    name          the model's name, as .pxc files record it (container.valid_model_name: 1-64
                  printable ASCII characters, no spaces)
    architecture  a network family of pixcodec.nets.presets.ARCHITECTURES
    config        the network's configuration, JSON
    about         what is known of its training, JSON: preset, steps, data, held-out bits/dim

`pixcodec export` writes one from a `pixcodec train` checkpoint. A .pxc file coded with it
records its name and the sha256 of the .pxm's bytes, as for a shipped model.
"""
from __future__ import annotations

import csv
import hashlib
import json
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors, save as save_tensors

from .container import MAX_MODEL_NAME, valid_model_name
from .errors import ModelError
from .nets.presets import ARCHITECTURES, make_network

FORMAT = "pixcodec-model/1"
SUFFIX = ".pxm"
_MAX_HEADER = 1 << 20


def check_name(name: str) -> str:
    """The name, if a .pxc file can record it (the container's rule); else a ModelError."""
    if not valid_model_name(name):
        raise ModelError(f"a model name must be 1 to {MAX_MODEL_NAME} printable ASCII "
                         f"characters without spaces, not {name!r}")
    return name


def export(checkpoint: str | Path, name: str) -> bytes:
    """The .pxm bytes of a `pixcodec train` checkpoint's network, named `name`."""
    from .train import load_checkpoint, network_from_checkpoint
    check_name(name)
    net = network_from_checkpoint(checkpoint)  # refuses what is not a checkpoint
    state = load_checkpoint(Path(checkpoint))
    options = state.get("options", {})
    averaged = "averaged_weights" in state
    about = {"preset": state.get("model"), "step": state.get("step"),
             "steps": options.get("steps"), "data": options.get("data"),
             "crop": options.get("crop"),
             "heldout_bpd": _last_heldout(Path(checkpoint), averaged)}
    if averaged:
        about["average"] = options.get("average")
    metadata = {"format": FORMAT, "name": name, "architecture": state["architecture"],
                "config": json.dumps(state["config"]), "about": json.dumps(about)}
    weights = {k: v.contiguous() for k, v in net.state_dict().items()}
    return save_tensors(weights, metadata=metadata)


def _last_heldout(checkpoint: Path, averaged: bool) -> float | None:
    """The log's last held-out figure of the weights exported (the average, where kept)."""
    log = checkpoint.with_suffix(".csv")
    if not log.exists():
        return None
    column = "averaged_heldout_bpd" if averaged else "heldout_bpd"
    with open(log) as f:
        rows = [r for r in csv.DictReader(f) if r.get(column)]
    return float(rows[-1][column]) if rows else None


def metadata(data: bytes, source: str) -> dict[str, str]:
    """The header metadata of .pxm bytes, checked to be one (the tensors are not read)."""
    if len(data) < 8:
        raise ModelError(f"{source}: not a pixcodec model file (too short)")
    (size,) = struct.unpack_from("<Q", data)
    if not (2 <= size <= min(_MAX_HEADER, len(data) - 8) and data[8:9] == b"{"):
        if data[:4] == b"PK\x03\x04" or data[:1] == b"\x80":  # torch.save's zip, a pickle
            raise ModelError(f"{source}: a pickled file (a training checkpoint?); model files "
                             f"hold no pickle: export a checkpoint with `pixcodec export "
                             f"CHECKPOINT -o NAME{SUFFIX}`")
        raise ModelError(f"{source}: not a pixcodec model file (bad safetensors header)")
    try:
        header = json.loads(data[8:8 + size])
        meta = header["__metadata__"]
    except (ValueError, KeyError, TypeError):
        raise ModelError(f"{source}: not a pixcodec model file (no pixcodec metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{source}: not a pixcodec model file (format "
                         f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    return meta


def read(data: bytes, source: str) -> tuple[dict, torch.nn.Module]:
    """(metadata with "config" and "about" parsed, the network in eval mode) of .pxm bytes;
    anything wrong is one ModelError naming `source`."""
    meta = dict(metadata(data, source))
    check_name(meta.get("name", ""))
    if meta.get("architecture") not in ARCHITECTURES:
        raise ModelError(f"{source}: unknown architecture {meta.get('architecture')!r}")
    try:
        meta["config"] = json.loads(meta.get("config", ""))
        meta["about"] = json.loads(meta.get("about", "{}"))
        net = make_network(meta["architecture"], meta["config"])
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{source}: bad network configuration ({exc})") from None
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError) as exc:
        raise ModelError(f"{source}: damaged model file ({exc})") from None
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"{source}: the weights do not fit the configuration ({first})") \
            from None
    return meta, net.eval()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
