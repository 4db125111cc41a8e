"""Shipped models: name -> manifest entry -> verified weights -> network.

The manifest (models/manifest.json, installed as ``pixcodec.weights``) is the one table of
models. Names are immutable: retraining makes ``-v2`` so files made with ``-v1`` stay decodable.
Weights are safetensors (loading cannot run code) and their sha256 is checked before use.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources

import torch
from safetensors.torch import load as load_safetensors

from .codec import DEFAULT_TILE
from .errors import ModelError

MODE_COLOURS = {"RGB": 3, "L": 1, "1": 1}
from .nets.presets import make_network


@dataclass(frozen=True)
class ModelInfo:
    name: str
    architecture: str
    config: dict
    weights: str
    sha256: str
    card: str
    default_for: str | None   # "RGB", "L" or "1": the model used when none is named
    measured: dict  # data set -> bits/dim (nats per image for binary models), as on the card
    aliases: tuple[str, ...] = ()  # short names, e.g. "row_lstm": picked by colour mode
    tile: int | None = None   # the manifest's tile side, if the model needs its own

    @property
    def coding_tile(self) -> int:
        """The tile side new files are coded with when none is asked for."""
        return self.tile or DEFAULT_TILE

    @property
    def colours(self) -> int:
        return self.config["colours"]

    @property
    def levels(self) -> int:
        """256 for 8-bit values, 2 for a binary (1-bit) model."""
        return self.config.get("levels", 256)

    def codes(self, mode: str) -> bool:
        """Whether the model fits images of `mode` ("RGB", "L" or "1")."""
        if mode == "1":
            return self.colours == 1  # binary models, and 8-bit gray ones on 0/255 values
        return self.colours == MODE_COLOURS[mode] and self.levels == 256


def _weights_dir():
    return resources.files("pixcodec.weights")


@functools.cache
def manifest() -> dict[str, ModelInfo]:
    raw = json.loads((_weights_dir() / "manifest.json").read_text())
    return {name: ModelInfo(name=name, **{**entry, "aliases": tuple(entry.get("aliases", ()))})
            for name, entry in raw.items()}


def model_info(name: str) -> ModelInfo:
    try:
        return manifest()[name]
    except KeyError:
        known = ", ".join(sorted(manifest()))
        kinds = ", ".join(sorted({a for info in manifest().values() for a in info.aliases}))
        raise ModelError(f"unknown model {name!r} (known: {known}; kinds: {kinds})") from None


def default_model(mode: str) -> str:
    """The model for images of `mode` when none is named; 1-bit images fall back to the
    grayscale model when no binary one is shipped."""
    for wanted in ([mode, "L"] if mode == "1" else [mode]):
        for info in manifest().values():
            if info.default_for == wanted:
                return info.name
    raise ModelError(f"no default model for {mode} images")


def resolve_model(name: str | None, mode: str) -> str:
    """A model name, an alias (the shipped model of that kind for `mode`) or None (the
    default) -> the name of a shipped model that codes `mode` images."""
    if name is None:
        return default_model(mode)
    if name not in manifest():
        fitting = [info.name for info in manifest().values()
                   if name in info.aliases and info.codes(mode)]
        if fitting:
            return fitting[0]
        if any(name in info.aliases for info in manifest().values()):
            raise ModelError(f"no {name!r} model for {mode} images is shipped")
    info = model_info(name)
    if not info.codes(mode):
        kind = "1-bit" if info.levels == 2 else f"{info.colours}-channel"
        raise ModelError(f"model {name!r} codes {kind} images, not {mode} images")
    return name


def weights_sha256(name: str) -> bytes:
    return bytes.fromhex(model_info(name).sha256)


@functools.cache
def load_model(name: str) -> torch.nn.Module:
    """The named network in eval mode, after checking its weights against the manifest."""
    info = model_info(name)
    data = (_weights_dir() / info.weights).read_bytes()
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise ModelError(f"weights of model {name!r} do not match their recorded sha256 "
                         "(damaged installation?)")
    net = make_network(info.architecture, info.config)
    net.load_state_dict(load_safetensors(data))
    return net.eval()
