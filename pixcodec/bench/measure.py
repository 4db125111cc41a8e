"""Measuring one image: pixcodec's models and the classic codecs, each timed and its round trip
checked."""
from __future__ import annotations

import functools
import math
import time
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from .. import api
from ..container import tile_count, tile_grid
from ..data import NamedImage
from ..likelihood import float_nll_bits
from ..orientation import oriented
from ..sections import model_plane_of
from ..planes import MODE_COLOURS
from ..errors import PixcodecError
from .codecs import CLASSIC_CODECS, Codec, pillow_png
from .rows import Row


def _timed(func, *args, repeat: int = 1):
    """(func(*args), the fastest of `repeat` runs' seconds): one run's time also holds whatever
    else the machine did meanwhile (a Kodak photo's encode varied from 0.80 to 1.06 s)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = func(*args)
        best = min(best, time.perf_counter() - start)
    return out, best


def pixcodec_label(model: str | None) -> str:
    return f"pixcodec {model or '(default model)'}"


def _blank_row(dataset: str, image: NamedImage, codec: str) -> Row:
    height, width, _ = image.pixels.shape
    return Row(dataset, image.name, codec, width=width, height=height, dims=image.pixels.size)


def _not_coded(row: Row, status: str, note: str) -> Row:
    return replace(row, status=status, note=note, images=0)


def _pixcodec_source(image: NamedImage) -> np.ndarray | bytes:
    # The API reads arrays as grayscale or RGB; a 1-bit image goes in as a 1-bit PNG so that it
    # is coded, and restored, as mode 1.
    return pillow_png(image.pixels, "1") if image.mode == "1" else image.pixels


def _expected_samples(image: NamedImage) -> tuple[int, int, np.ndarray]:
    """(PNG colour type, bit depth, samples) pixcodec must restore for a bench image."""
    if image.mode == "1":
        return 0, 1, image.pixels
    return (2 if image.mode == "RGB" else 0), 8, image.pixels


def _tiny_image(mode: str) -> NamedImage:
    return NamedImage("warm-up", np.zeros((2, 2, MODE_COLOURS[mode]), dtype=np.uint8), mode)


# Each codec runs once on a tiny image before it is timed, so that no image's time includes
# loading weights, starting torch or importing a codec's library (milliseconds, as long as
# coding a whole CIFAR image with some codecs).
@functools.cache
def _warm_up_pixcodec(model: str | None, mode: str) -> None:
    api.decode(api.encode(_pixcodec_source(_tiny_image(mode)), model).data)


@functools.cache
def _warm_up_classic(codec: Codec, mode: str) -> None:
    try:
        codec.decode(codec.encode(_tiny_image(mode).pixels, mode), mode)
    except Exception:
        pass  # the measurement that follows meets the same failure and reports it


def tile_nll_bits(net: torch.nn.Module, pixels: np.ndarray, tile: int) -> tuple[float, float]:
    """(NLL of the whole image in one piece, sum of the NLLs of its tiles), float net, bits:
    fast, used only to price the tile edges (the coded NLL comes from the exact arithmetic)."""
    whole = float_nll_bits(net, pixels)
    if tile_count(*pixels.shape[:2], tile) == 1:
        return whole, whole
    return whole, sum(float_nll_bits(net, pixels[y:y + h, x:x + w])
                      for y, x, h, w in tile_grid(*pixels.shape[:2], tile))


def measure_pixcodec(dataset: str, image: NamedImage, model: str | None,
                     tile_cost: bool = False, threads: int = 1, repeat: int = 1) -> Row:
    row = _blank_row(dataset, image, pixcodec_label(model))
    source = _pixcodec_source(image)
    try:
        _warm_up_pixcodec(model, image.mode)
        result, encode_s = _timed(functools.partial(api.encode, threads=threads), source, model,
                                  repeat=repeat)
        decoded, decode_s = _timed(functools.partial(api.decode, threads=threads), result.data,
                                   repeat=repeat)
    except PixcodecError as exc:  # e.g. a model for another colour mode
        return _not_coded(row, "error", str(exc))
    return _coded_row(row, image, source, result, encode_s, decoded, decode_s, tile_cost)


def measure_pixcodec_together(dataset: str, images: Sequence[NamedImage], model: str | None,
                              tile_cost: bool = False, repeat: int = 1) -> list[Row]:
    """`measure_pixcodec` of a set's images at once: all encoded together
    (``api.encode_many``), all decoded together (``api.decode_many``), the tiles of small
    images side by side; an image's seconds are its share, by pixels, of the whole."""
    rows = [_blank_row(dataset, image, pixcodec_label(model)) for image in images]
    if not images:
        return rows
    sources = [_pixcodec_source(image) for image in images]
    try:
        _warm_up_pixcodec(model, images[0].mode)
        results, encode_s = _timed(api.encode_many, sources, model, repeat=repeat)
        decoded, decode_s = _timed(api.decode_many, [result.data for result in results],
                                   repeat=repeat)
    except PixcodecError as exc:  # e.g. a model for another colour mode
        return [_not_coded(row, "error", str(exc)) for row in rows]
    pixels = sum(image.pixels.size for image in images)
    return [_coded_row(row, image, source, result, encode_s * image.pixels.size / pixels, out,
                       decode_s * image.pixels.size / pixels, tile_cost)
            for row, image, source, result, out in zip(rows, images, sources, results, decoded)]


def _coded_row(row: Row, image: NamedImage, source, result, encode_s: float, decoded,
               decode_s: float, tile_cost: bool) -> Row:
    colour_type, depth, samples = _expected_samples(image)
    exact = ((decoded.header.colour_type, decoded.header.bit_depth) == (colour_type, depth)
             and np.array_equal(decoded.pixels, samples))
    plane = model_plane_of(result.data)
    row = replace(row, codec=pixcodec_label(result.model), bytes=len(result.data),
                  encode_s=encode_s, decode_s=decode_s, exact=exact, nll_bits=result.nll_bits,
                  header_bytes=len(result.data) - len(plane.payload))
    if tile_cost:
        # the symbols the model coded: 1-bit samples are 0/1 for a binary model, 0/255 else
        coder_model, symbols = api.model_input(source, result.model)
        symbols = oriented(symbols, plane.orientation)  # tiled as the file tiles them
        whole, tiled = tile_nll_bits(coder_model.net, symbols, plane.tile)
        row = replace(row, whole_nll_bits=whole, tiled_nll_bits=tiled)
    return row


def measure_classic(dataset: str, image: NamedImage, codec: Codec, repeat: int = 1) -> Row:
    row = _blank_row(dataset, image, codec.name)
    _warm_up_classic(codec, image.mode)
    try:
        data, encode_s = _timed(codec.encode, image.pixels, image.mode, repeat=repeat)
        decoded, decode_s = _timed(codec.decode, data, image.mode, repeat=repeat)
    except ImportError as exc:  # imagecodecs raises it when a codec's library is absent
        return _not_coded(row, "missing", str(exc) or type(exc).__name__)
    except Exception as exc:  # another library failing on one image must not end a long run
        return _not_coded(row, "error", f"{type(exc).__name__}: {exc}")
    return replace(row, bytes=len(data), encode_s=encode_s, decode_s=decode_s,
                   exact=np.array_equal(decoded, image.pixels))


def measure_image(dataset: str, image: NamedImage, models: Sequence[str | None],
                  codecs: Sequence[str], missing: dict[str, str], tile_cost: bool,
                  threads: int = 1, repeat: int = 1) -> list[Row]:
    """Every pixcodec model and classic codec on one image (codecs by name: this runs in worker
    processes too), each coding timed as the fastest of `repeat` runs."""
    rows = [measure_pixcodec(dataset, image, model, tile_cost, threads, repeat)
            for model in models]
    for name in codecs:
        if name in missing:
            rows.append(_not_coded(_blank_row(dataset, image, name), "missing", missing[name]))
        else:
            rows.append(measure_classic(dataset, image, CLASSIC_CODECS[name], repeat))
    return rows
