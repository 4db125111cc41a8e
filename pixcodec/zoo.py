"""Models: name -> manifest entry -> verified weights -> network.

The manifest (models/manifest.json, installed as ``pixcodec.weights``) is the table of shipped
models. Names are immutable: retraining makes ``-v2`` so files made with ``-v1`` stay decodable.
Weights are safetensors (loading cannot run code) and their sha256 is checked before use.

Models users train come as .pxm files (``pixcodec.modelfile``): named by path wherever a model
is named (``use_model_file``), and found for decoding by name and hash in the files and folders
given, then in ``$PIXCODEC_MODEL_PATH`` (``find_model``). Once read, a model file's model is
known for the rest of the process by its name and weights (``ModelName``): two files may give
one name to different weights, and the .pxc files coded with each record both.

The manifest's rules are here too: names (the container's rule), registry numbers, one model
per default and alias and colour mode (``check_choices``), and the hand-over of a default or
alias to a newer model (``add_to_manifest``, which scripts/export_model.py uses). Configurations
are normalised and bounded by ``pixcodec.nets.presets`` for every source alike: checkpoints,
.pxm files, the manifest.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .container import valid_model_name
from .errors import ModelError
from .limits import DEFAULT_TILE

from .engine import config as integer
from .planes import MODE_COLOURS

if TYPE_CHECKING:  # the float networks' type; the integer ones are read without torch
    import torch

MODEL_PATH_ENV = "PIXCODEC_MODEL_PATH"
MODES = ("RGB", "L", "1")


class ModelName(str):
    """The name of a model read from a .pxm file, as files record it, knowing the sha256 of its
    weights: what picks that model among others of its name (``model_info``, ``load_model``)."""

    def __new__(cls, name: str, sha256: str):
        self = super().__new__(cls, name)
        self.sha256 = sha256
        return self

    def __reduce__(self):
        return ModelName, (str(self), self.sha256)


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
    id: int = 0  # a shipped model's registry number, for ever its own; 0: not shipped

    @property
    def coding_tile(self) -> int:
        """The tile side new files are coded with when none is asked for."""
        return self.tile or DEFAULT_TILE

    @functools.cached_property
    def _network_config(self):
        if self.architecture == integer.ARCHITECTURE:
            return integer.IntegerConfig(**integer.check_config(self.config))
        from .nets.presets import make_config  # torch: only for the float64 networks
        return make_config(self.architecture, self.config)

    @property
    def colours(self) -> int:
        return self._config_field("colours")

    @property
    def levels(self) -> int:
        """256 for 8-bit values, 2 for a binary (1-bit) model."""
        return self._config_field("levels")

    def _config_field(self, field: str) -> int:
        """A field every shipped entry writes out, read as it is: choosing a model among the
        manifest's loads no torch; the configuration is checked whole where its network is
        built (``load_model``)."""
        value = self.config.get(field)
        return value if type(value) is int else getattr(self._network_config, field)

    def codes(self, mode: str) -> bool:
        """Whether the model fits images of `mode` ("RGB", "L" or "1")."""
        if mode == "1":
            return self.colours == 1  # binary models, and 8-bit gray ones on 0/255 values
        return self.colours == MODE_COLOURS[mode] and self.levels == 256

    def made_for(self, mode: str) -> bool:
        """Whether the model codes `mode` images as its own kind (a binary model 1-bit ones),
        not as a fallback (a gray one 1-bit ones): what an alias picks first."""
        return self.codes(mode) and (mode != "1" or self.levels == 2)


def _weights_dir():
    return resources.files("pixcodec.weights")


def _info(name: str, entry: dict) -> ModelInfo:
    return ModelInfo(name=name, **{**entry, "aliases": tuple(entry.get("aliases", ()))})


@functools.cache
def manifest() -> dict[str, ModelInfo]:
    raw = json.loads((_weights_dir() / "manifest.json").read_text())
    models = {name: _info(name, entry) for name, entry in raw.items()}
    check_choices(models)
    return models


def check_choices(models: dict[str, ModelInfo]) -> None:
    """A name that picks a model must pick one: at most one default per colour mode, and an
    alias names at most one model for each mode. A file names a shipped model by its registry
    number: each has its own; or by its name, which follows the container's rule."""
    ids = [info.id for info in models.values()]
    if min(ids, default=1) < 1 or len(set(ids)) < len(ids):
        raise ModelError(f"the manifest's registry numbers are not distinct positive integers: "
                         f"{sorted(ids)}")
    bad = [name for name in models if not valid_model_name(name)]
    if bad:
        raise ModelError(f"the manifest names a model {bad[0]!r}: a file cannot record it")
    for mode in MODES:
        defaults = [info.name for info in models.values() if info.default_for == mode]
        if len(defaults) > 1:
            raise ModelError(f"the manifest names several default {mode} models: {defaults}")
        for alias in {a for info in models.values() for a in info.aliases}:
            named = [info.name for info in models.values()
                     if alias in info.aliases and info.made_for(mode)]
            if len(named) > 1:
                raise ModelError(f"the manifest's alias {alias!r} names several {mode} models: "
                                 f"{named}")


def hand_over(entries: dict[str, dict], name: str, default_for: str | None,
              aliases: list[str]) -> list[tuple[str, str | None, list[str]]]:
    """The rule for a new model `name` (of the manifest's JSON `entries`) that takes the default
    for `default_for` images and `aliases`: each other model that had the default, and each that
    had one of the aliases for a colour mode the new model is made for (``ModelInfo.made_for``,
    as ``check_choices``), loses it. Updates those entries; returns (name, default lost, aliases
    lost) of each."""
    new_modes = {m for m in MODES if _info(name, entries[name]).made_for(m)}
    handed = []
    for other, entry in entries.items():
        if other == name:
            continue
        modes = {m for m in MODES if _info(other, entry).made_for(m)}
        lost_default = default_for if default_for and entry["default_for"] == default_for \
            else None
        lost_aliases = [a for a in entry["aliases"] if a in aliases and modes & new_modes]
        if lost_default or lost_aliases:
            entry["default_for"] = None if lost_default else entry["default_for"]
            entry["aliases"] = [a for a in entry["aliases"] if a not in lost_aliases]
            handed.append((other, lost_default, lost_aliases))
    return handed


def add_to_manifest(entries: dict[str, dict], name: str, architecture: str, config: dict,
                    weights: bytes, default_for: str | None = None, aliases: tuple = (),
                    tile: int | None = None) -> list[tuple[str, str | None, list[str]]]:
    """Put a shipped model into the manifest's JSON `entries` (a new one, or new weights for one
    not yet released): its configuration with every field written out, a registry number never
    used before (kept if it has one), the default and aliases handed over (``hand_over``), the
    result checked as ``manifest`` checks it. Returns what the others lost."""
    from .nets.presets import normalise_config

    old = entries.get(name, {})
    entries[name] = {
        "id": old.get("id", max((e["id"] for e in entries.values()), default=0) + 1),
        "architecture": architecture,
        "config": normalise_config(architecture, config),
        "weights": f"{name}.safetensors",
        "sha256": hashlib.sha256(weights).hexdigest(),
        "card": f"{name}.md",
        "default_for": default_for,
        "measured": old.get("measured", {}),
        "aliases": list(aliases),
        **({"tile": tile} if tile else {}),
    }
    handed = hand_over(entries, name, default_for, list(aliases))
    check_choices({n: _info(n, e) for n, e in entries.items()})
    return handed


def normalise_manifest(entries: dict[str, dict]) -> None:
    """Write out every field of each entry's configuration (after those it gives, in their
    order), whatever a later default says, but for a field added after the entry was written
    (presets.LATER_FIELDS: absent, it means what the network was without it)."""
    from .nets.presets import LATER_FIELDS, normalise_config

    for entry in entries.values():
        given, later = entry["config"], LATER_FIELDS.get(entry["architecture"], ())
        full = normalise_config(entry["architecture"], given)
        entry["config"] = {**given, **{k: v for k, v in full.items()
                                       if k in given or k not in later}}


# Models read from .pxm files in this process: (name, weights sha256) -> (info, network); and
# for each name, the sha256 of the one read last (what the bare name means).
_from_files: dict[tuple[str, str], tuple[ModelInfo, torch.nn.Module]] = {}
_latest: dict[str, str] = {}


def _file_model(name: str) -> tuple[ModelInfo, torch.nn.Module] | None:
    sha256 = getattr(name, "sha256", None) or _latest.get(name)
    return _from_files.get((name, sha256)) if sha256 else None


def model_info(name: str) -> ModelInfo:
    known = _file_model(name)
    if known is not None:
        return known[0]
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
            if info.default_for == wanted:  # one at most (check_choices)
                return info.name
    raise ModelError(f"no default model for {mode} images")


def resolve_model(name: str | None, mode: str) -> str:
    """A model name, an alias (the shipped model of that kind for `mode`), a .pxm file's path
    or None (the default) -> the name of a known model that codes `mode` images."""
    if name is None:
        return default_model(mode)
    if is_model_file(name):
        name = use_model_file(name)
    if name not in manifest() and name not in _latest:
        fitting = sorted((not info.made_for(mode), info.name) for info in manifest().values()
                         if name in info.aliases and info.codes(mode))
        if fitting:
            return fitting[0][1]  # the model made for `mode`, else the fallback
        if any(name in info.aliases for info in manifest().values()):
            raise ModelError(f"no {name!r} model for {mode} images is shipped")
    info = model_info(name)
    if not info.codes(mode):
        kind = "1-bit" if info.levels == 2 else f"{info.colours}-channel"
        raise ModelError(f"model {name!r} codes {kind} images, not {mode} images")
    return name


@dataclass(frozen=True)
class Model:
    """A model resolved once (by name, kind, file or a .pxc file's reference): its manifest
    entry and its network, checked against the weights hash, loaded when first asked for (a
    file whose tiles are all coded without the model never loads it: nor torch, for a float
    network). What encode and decode carry."""
    info: ModelInfo

    @functools.cached_property
    def net(self) -> torch.nn.Module:
        return load_model(self.info.name)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def levels(self) -> int:
        return self.info.levels

    @property
    def weights_sha256(self) -> bytes:
        return bytes.fromhex(self.info.sha256)


def model(name: str) -> Model:
    """The known model of that exact name (shipped, or read from a .pxm file)."""
    return Model(model_info(name))


def resolve(reference: str | None, mode: str) -> Model:
    """-m's argument (a name, a kind, a .pxm file's path, or None for the default) for `mode`
    images, as a Model."""
    return model(resolve_model(reference, mode))


def model_by_id(number: int) -> str:
    """The name of the shipped model with that registry number."""
    for info in manifest().values():
        if info.id == number:
            return info.name
    raise ModelError(f"file needs the shipped model number {number}, which this pixcodec "
                     "does not have (made by a newer pixcodec?)")


def weights_sha256(name: str) -> bytes:
    return bytes.fromhex(model_info(name).sha256)


def load_model(name: str) -> torch.nn.Module:
    """The named network in eval mode, after checking its weights against the manifest."""
    known = _file_model(name)
    if known is not None:
        return known[1]
    return _load_shipped(name)


@functools.cache
def _load_shipped(name: str) -> torch.nn.Module:
    info = model_info(name)
    data = (_weights_dir() / info.weights).read_bytes()
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise ModelError(f"weights of model {name!r} do not match their recorded sha256 "
                         "(damaged installation?)")
    if info.architecture == integer.ARCHITECTURE:  # integers, read without torch
        from .engine.network import load  # numba: only to code (not for `info`, `models`)
        try:
            return load(info.config, data)
        except ValueError as exc:
            raise ModelError(f"model {name!r}: {exc}") from None
    from safetensors.torch import load as load_safetensors

    from .nets.presets import make_network
    net = make_network(info.architecture, info.config)
    net.load_state_dict(load_safetensors(data))
    return net.eval()


def check_reference(reference: str) -> None:
    """Refuse, with the known names, what -m cannot mean: a name, a kind (alias) or a .pxm
    file's path are fine."""
    if is_model_file(reference):
        use_model_file(reference)
    elif not any(reference in info.aliases for info in manifest().values()):
        model_info(reference)


def is_model_file(reference: str) -> bool:
    """Whether a -m argument names a file rather than a model: a path to an existing file."""
    return reference not in manifest() and reference not in _latest \
        and Path(reference).is_file()


def use_model_file(path: str | Path) -> ModelName:
    """Read a .pxm file and make its model known by its name (and weights); returns the name."""
    from . import modelfile
    data = _read_model_file(Path(path))
    meta, net = modelfile.read(data, str(path))
    return _register(meta, net, modelfile.sha256(data), str(path))


def _read_model_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None


def _register(meta: dict, net: torch.nn.Module, sha256: str, source: str) -> ModelName:
    """Make a model file's model known (modelfile.read's metadata and network) by its name and
    weights; the bare name now means it."""
    name = meta["name"]
    if name in manifest():
        raise ModelError(f"{source}: names its model {name!r}, a shipped model's name; "
                         "export it under another name")
    known = _from_files.get((name, sha256))
    if known is None:
        about = meta.get("about", {})
        measured = {"held-out bits/dim (training log)": about["heldout_bpd"]} \
            if about.get("heldout_bpd") else {}
        info = ModelInfo(name=ModelName(name, sha256), architecture=meta["architecture"],
                         config=meta["config"], weights=source, sha256=sha256, card="",
                         default_for=None, measured=measured)
        known = _from_files[(name, sha256)] = (info, net)
    _latest[name] = sha256
    return known[0].name


def model_search_path(given: list[str | Path] | tuple = ()) -> list[Path]:
    """The .pxm files and folders to look in for a model: those given, then
    $PIXCODEC_MODEL_PATH (entries separated by the system's path separator)."""
    env = [p for p in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if p]
    return [Path(p) for p in [*given, *env]]


def find_model(name: str, sha256: bytes, search: list[str | Path] | tuple = ()) -> str:
    """The model a .pxc file names by name and weights hash: shipped, read already, or read
    now from a .pxm of that name and hash found on the search path (``model_search_path``); one
    ModelError saying what to pass if there is none."""
    from . import modelfile
    if name in manifest():
        return name
    known = _from_files.get((name, sha256.hex()))
    if known is not None:
        _latest[name] = sha256.hex()
        return known[0].name
    in_use = _file_model(name)  # the same name, other weights
    wrong = in_use[0].weights if in_use else None
    for place in model_search_path(search):
        candidates = sorted(place.glob(f"*{modelfile.SUFFIX}")) if place.is_dir() else [place]
        for path in candidates:
            try:
                data = path.read_bytes()
                if modelfile.metadata(data, str(path)).get("name") != name:
                    continue
            except (OSError, ModelError):
                continue
            if modelfile.sha256(data) != sha256.hex():
                wrong = path
                continue
            meta, net = modelfile.read(data, str(path))
            return _register(meta, net, sha256.hex(), str(path))
    if wrong is not None:
        raise ModelError(f"file was made with different weights for model {name!r} than "
                         f"{wrong} holds (sha256 {sha256.hex()[:16]}...)")
    raise ModelError(f"file needs model {name!r} (sha256 {sha256.hex()[:16]}...), which is not "
                     f"shipped: pass its {modelfile.SUFFIX} file with -m FILE or --model-dir "
                     f"DIR, or put its folder in ${MODEL_PATH_ENV}")


def clear_caches() -> None:
    """Forget the manifest, loaded networks and models read from files (for tests that swap
    the weights folder)."""
    manifest.cache_clear()
    _load_shipped.cache_clear()
    _from_files.clear()
    _latest.clear()
