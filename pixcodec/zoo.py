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

from .errors import ModelError
from .nets.presets import make_network


@dataclass(frozen=True)
class ModelInfo:
    name: str
    architecture: str
    config: dict
    weights: str
    sha256: str
    card: str
    default_for: str | None
    measured: dict  # data set -> bits/dim, as measured for the card

    @property
    def colours(self) -> int:
        return self.config["colours"]


def _weights_dir():
    return resources.files("pixcodec.weights")


@functools.cache
def manifest() -> dict[str, ModelInfo]:
    raw = json.loads((_weights_dir() / "manifest.json").read_text())
    return {name: ModelInfo(name=name, **entry) for name, entry in raw.items()}


def model_info(name: str) -> ModelInfo:
    try:
        return manifest()[name]
    except KeyError:
        known = ", ".join(sorted(manifest()))
        raise ModelError(f"unknown model {name!r} (known: {known})") from None


def default_model(mode: str) -> str:
    for info in manifest().values():
        if info.default_for == mode:
            return info.name
    raise ModelError(f"no default model for {mode} images")


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
