"""Model files (.pxm): a trained network in one self-describing file, for models users train.

A .pxm is a safetensors file (tensors and a string-to-string header: loading it runs no code)
whose header metadata holds:

    format        "pixcodec-model/1"
    name          the model's name, as .pxc files record it (container.valid_model_name: 1-64
                  printable ASCII characters, no spaces)
    architecture  a network family of pixcodec.nets.presets.ARCHITECTURES
    config        the network's configuration, JSON, every field written out
                  (presets.normalise_config), so a later change of a default changes no model
    about         what is known of its training, JSON: preset, steps, data, held-out bits/dim

`pixcodec export` writes one from a `pixcodec train` checkpoint. A .pxc file coded with it
records its name and the sha256 of the .pxm's bytes, as for a shipped model.

Reading one checks the configuration's every field against its bounds, then the weights the
header lists against the network it describes (built with shapes only), before the network is
built: a small file cannot make pixcodec build a large network.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors, save as save_tensors

from .container import MAX_MODEL_NAME, valid_model_name
from .errors import ModelError
from .nets.presets import ARCHITECTURES, make_network, normalise_config, skeleton

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
    if state["config"].get("quantized"):
        # Its float weights would code on the float64 path, not as the integers it was
        # trained to be: it ships as an integer model (scripts/export_model.py) until .pxm
        # files can hold one.
        raise ModelError(f"{checkpoint}: a quantized network cannot be exported to a .pxm file "
                         "yet (scripts/export_model.py ships it as an integer model)")
    options = state.get("options", {})
    averaged = "averaged_weights" in state
    about = {"preset": state.get("model"), "step": state.get("step"),
             "steps": options.get("steps"), "data": options.get("data"),
             "crop": options.get("crop"),
             "heldout_bpd": _last_heldout(Path(checkpoint), averaged)}
    if averaged:
        about["average"] = options.get("average")
    config = normalise_config(state["architecture"], state["config"])
    metadata = {"format": FORMAT, "name": name, "architecture": state["architecture"],
                "config": json.dumps(config), "about": json.dumps(about)}
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
    return _header(data, source)["__metadata__"]


def _header(data: bytes, source: str) -> dict:
    """The safetensors header of .pxm bytes (tensor entries and "__metadata__"), checked to be
    a pixcodec model file's."""
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
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ModelError(f"{source}: not a pixcodec model file (no pixcodec metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{source}: not a pixcodec model file (format "
                         f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    return header


def read(data: bytes, source: str) -> tuple[dict, torch.nn.Module]:
    """(metadata with "config" (every field) and "about" parsed, the network in eval mode) of
    .pxm bytes; anything wrong is one ModelError naming `source`."""
    header = _header(data, source)
    meta = dict(header["__metadata__"])
    check_name(meta.get("name", ""))
    if meta.get("architecture") not in ARCHITECTURES:
        raise ModelError(f"{source}: unknown architecture {meta.get('architecture')!r}")
    try:
        config = _parsed(meta.get("config", ""), "network configuration")
        meta["about"] = _parsed(meta.get("about", "{}"), "training record")
        if not isinstance(meta["about"], dict):
            raise ValueError("its training record is not a JSON object")
        shapes = {k: tuple(v.shape) for k, v in
                  skeleton(meta["architecture"], config).state_dict().items()}
        meta["config"] = normalise_config(meta["architecture"], config)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelError(f"{source}: bad network configuration ({exc})") from None
    unfit = _unfit(shapes, header)
    if unfit:
        raise ModelError(f"{source}: the weights do not fit the configuration ({unfit})")
    heldout = meta["about"].get("heldout_bpd")
    if not (isinstance(heldout, (int, float)) and not isinstance(heldout, bool)
            and math.isfinite(heldout)):
        meta["about"].pop("heldout_bpd", None)
    net = make_network(meta["architecture"], meta["config"])  # checked above
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


def _parsed(text, what: str):
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: {exc}") from None


def _unfit(shapes: dict[str, tuple], header: dict) -> str | None:
    """What of the tensors a safetensors header lists does not fit the shapes a network needs
    (None if all fit): read from the header, before any tensor is."""
    held = {}
    for name, entry in header.items():
        if name != "__metadata__":
            shape = entry.get("shape") if isinstance(entry, dict) else None
            held[name] = tuple(shape) if isinstance(shape, list) else None
    for name, shape in shapes.items():
        if name not in held:
            return f"no tensor {name!r}"
        if held[name] != shape:
            return f"{name!r} is {held[name]}, the configuration needs {shape}"
    extra = sorted(set(held) - set(shapes))
    return f"unexpected tensor {extra[0]!r}" if extra else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
