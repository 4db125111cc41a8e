"""The Python API's arguments checked at the door: each one pixcodec does not take raises
ArgumentError naming it, before any work, rather than another exception deep inside or a
silent default (a NaN limit compares false and would turn the limit off)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from .errors import ArgumentError
from .limits import EFFORTS, MAX_TILE

# What the API reads: a path, a bytes-like object (bytes, bytearray, memoryview, a uint8 array)
# or a binary file object.
Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

# The first byte of both a PNG (\x89PNG) and a .pxc file (\x89PXC): a str starting with it is
# a file's bytes decoded by mistake, not a path.
_BINARY_MAGIC = "\x89"


def read_source(source: Source, what: str) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        return Path(checked_path(source, what)).read_bytes()
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise ArgumentError(f"{what}: the file object gave {type(data).__name__}, not bytes "
                                "(open it in binary mode)")
        return data
    try:
        view = memoryview(source)
    except TypeError:
        raise ArgumentError(f"{what} must be a path, bytes or a binary file, not "
                            f"{type(source).__name__}") from None
    if view.itemsize != 1 or not view.c_contiguous:
        raise ArgumentError(f"{what}: a buffer of single contiguous bytes is needed, not "
                            f"items of {view.itemsize} bytes")
    return view.tobytes()


def checked_path(path: str | os.PathLike, what: str) -> str | os.PathLike:
    """A str or path-like object that can name a file: not empty (Path('') is the current
    folder), without NUL bytes, not a file's bytes decoded to a str."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        raise ArgumentError(f"{what}: a path-like object giving bytes is not taken; give a str "
                            "path, or the data as bytes")
    if not text or "\x00" in text or text.startswith(_BINARY_MAGIC):
        raise ArgumentError(f"{what}: a str is a file's path, and {text[:20]!r} cannot be one "
                            "(give a file's data as bytes)")
    return path


def checked_sources(sources, what: str) -> list:
    """The images or files of encode_many / decode_many: a list, tuple or other iterable of
    them, not one of them alone."""
    if sources is None or isinstance(sources, (str, os.PathLike, bytes, bytearray, memoryview)) \
            or hasattr(sources, "read") or not hasattr(sources, "__iter__"):
        raise ArgumentError(f"sources must be a list of {what}, not {type(sources).__name__}")
    return list(sources)


def checked_integer(value, name: str, least: int | None) -> int:
    """An int (or numpy integer) of at least `least`: not a bool, a float (NaN, 1.5, 1e9) or a
    str."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"{name} must be an integer, not {value!r}")
    if least is not None and value < least:
        raise ArgumentError(f"{name} must be at least {least}, not {value}")
    return int(value)


def checked_tile(tile) -> int | None:
    if tile is None:
        return None
    tile = checked_integer(tile, "tile", None)
    if not 1 <= tile <= MAX_TILE:
        raise ArgumentError(f"tile must be between 1 and {MAX_TILE}, not {tile}")
    return tile


def checked_effort(effort) -> int:
    if isinstance(effort, bool) or effort not in EFFORTS:
        raise ArgumentError(f"effort must be one of {EFFORTS}, not {effort!r}")
    return int(effort)


def checked_model(model):
    """-m's argument: a model's name or kind, a .pxm file's path, or None (the default)."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise ArgumentError(f"model must be a model's name or a .pxm file's path, not "
                            f"{type(model).__name__}")
    if model is not None and not os.fspath(model):
        raise ArgumentError("model must be a model's name or a .pxm file's path, not ''")
    return None if model is None else os.fspath(model)


def checked_models(models) -> tuple:
    """Where models that are not shipped are looked for: .pxm files and folders."""
    if isinstance(models, (str, os.PathLike)):
        models = (models,)  # one place, given alone
    if not isinstance(models, (list, tuple)) or \
            not all(isinstance(m, (str, os.PathLike)) for m in models):
        raise ArgumentError(f"models must be a list of .pxm files' and folders' paths, not "
                            f"{models!r}"[:200])
    return tuple(checked_path(m, "models") for m in models)


def checked_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentError(f"{name} must be True or False, not {value!r}")
    return bool(value)


def checked_progress(progress):
    if progress is not None and not callable(progress):
        raise ArgumentError(f"progress must be a function (done, total), not "
                            f"{type(progress).__name__}")
    return progress


def checked_limits(max_pixels, max_metadata) -> tuple[int, int]:
    return (checked_integer(max_pixels, "max_pixels", 1),
            checked_integer(max_metadata, "max_metadata", 0))
