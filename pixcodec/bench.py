"""Benchmarks: how close real .pxc files come to the model's NLL, and how pixcodec stands against
the classic lossless codecs, with encode and decode times (the `pixcodec bench` command).

Every figure is a `Row`: one codec on one image, or one codec on a whole data set (image
`TOTAL`), whose sizes, NLLs and seconds are sums over its images. So a total's bits/dim is its
total bits over its total dims, not a mean of per-image values.

    bits/dim = 8 x file bytes / (H x W x C)      C = 3 for RGB, 1 for grayscale and 1-bit

Sizes are whole files, headers included. How the classic codecs are fed (each round trip is
checked against the original pixels):

* 1-bit images: PNG writes a 1-bit PNG; the others get samples 0/1, JPEG 2000 at 1-bit precision.
* WebP and QOI have no grayscale mode: grayscale and 1-bit images reach them as RGB with three
  equal channels (the dims still count one channel).
* Every codec runs on one thread, as pixcodec's coding does.

The library never imports click; the CLI prints, saves and plots what `run_bench` returns.
"""
from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import platform
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from PIL import Image

from . import api, container, zoo
from .codec import Progress, tile_count, tile_grid
from .data import MODE_COLOURS, NamedImage, open_image_set
from .errors import PixcodecError
from .workers import run_in_workers

TOTAL = "TOTAL"
INSTALL_HINT = "pip install 'pixcodec[bench]'"


# --- Results ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One codec on one image, or (image TOTAL) on every image of a data set, as sums."""
    dataset: str
    image: str
    codec: str
    images: int = 1                 # how many images the sums cover (0: none coded)
    width: int | None = None        # None for totals
    height: int | None = None
    dims: int = 0                   # H x W x C
    status: str = "ok"              # "ok", "missing" (codec not installed), "error" (see note)
    note: str = ""
    bytes: int = 0                  # the whole file, headers included
    encode_s: float = 0.0
    decode_s: float = 0.0
    exact: bool | None = None       # decoded pixels equal the original; None: not run
    # pixcodec only:
    nll_bits: float | None = None   # the model's NLL of the pixels as coded: the ideal payload
    header_bytes: int | None = None
    whole_nll_bits: float | None = None  # float net, whole image in one piece (tile cost)
    tiled_nll_bits: float | None = None  # float net, each tile on its own, as the codec codes

    @property
    def bits_per_dim(self) -> float | None:
        return 8 * self.bytes / self.dims if self.images and self.dims else None

    @property
    def nll_bits_per_dim(self) -> float | None:
        return self.nll_bits / self.dims if self.images and self.nll_bits is not None else None

    @property
    def overhead_pct(self) -> float | None:
        """How far the real file is above the ideal: the model's NLL plus the header."""
        if not self.images or not self.nll_bits:
            return None
        return 100 * (8 * self.bytes / (self.nll_bits + 8 * self.header_bytes) - 1)

    @property
    def payload_overhead_pct(self) -> float | None:
        """The coder's own overhead: payload bits over NLL bits (headers left out)."""
        if not self.images or not self.nll_bits:
            return None
        return 100 * (8 * (self.bytes - self.header_bytes) / self.nll_bits - 1)

    @property
    def tile_cost_pct(self) -> float | None:
        """Extra NLL of coding tiles independently rather than the whole image in one piece."""
        if not self.images or not self.whole_nll_bits:
            return None
        return 100 * (self.tiled_nll_bits / self.whole_nll_bits - 1)

    @property
    def encode_s_per_image(self) -> float | None:
        return self.encode_s / self.images if self.images else None

    @property
    def decode_s_per_image(self) -> float | None:
        return self.decode_s / self.images if self.images else None


DERIVED = ("bits_per_dim", "nll_bits_per_dim", "overhead_pct", "payload_overhead_pct",
           "tile_cost_pct", "encode_s_per_image", "decode_s_per_image")


def row_dict(row: Row) -> dict:
    """A row's fields and derived figures, for JSON and CSV."""
    return {**asdict(row), **{name: getattr(row, name) for name in DERIVED}}


@dataclass
class BenchResult:
    rows: list[Row]      # per image, in data set, image, codec order
    totals: list[Row]    # per data set and codec, every codec listed (missing ones too)
    settings: dict = field(default_factory=dict)

    def problems(self) -> list[Row]:
        """Rows whose round trip failed or was not exact (missing codecs are not problems)."""
        return [r for r in self.rows if r.status == "error" or r.exact is False]


def total_row(dataset: str, codec: str, rows: Sequence[Row]) -> Row:
    """The sums over a codec's rows on one data set; images that failed are counted out."""
    ok = [r for r in rows if r.status == "ok"]
    failed = [r for r in rows if r.status == "error"]
    missing = [r for r in rows if r.status == "missing"]

    def total(name):
        values = [getattr(r, name) for r in ok]
        return None if not values or None in values else sum(values)

    if missing and not ok and not failed:
        status, note = "missing", missing[0].note
    elif failed:
        status, note = "error", f"{len(failed)} of {len(rows)} images failed: {failed[0].note}"
    else:
        status, note = "ok", ""
    return Row(dataset, TOTAL, codec, images=len(ok), dims=sum(r.dims for r in ok),
               status=status, note=note, bytes=sum(r.bytes for r in ok),
               encode_s=sum(r.encode_s for r in ok), decode_s=sum(r.decode_s for r in ok),
               exact=all(r.exact for r in ok) if ok else None,
               nll_bits=total("nll_bits"), header_bytes=total("header_bytes"),
               whole_nll_bits=total("whole_nll_bits"), tiled_nll_bits=total("tiled_nll_bits"))


# --- The classic codecs ----------------------------------------------------------------------

@dataclass(frozen=True)
class Codec:
    name: str                                     # the row label: codec and setting
    encode: Callable[[np.ndarray, str], bytes]    # (pixels (H, W, C), mode) -> file
    decode: Callable[[bytes, str], np.ndarray]    # (file, mode) -> pixels (H, W, C)
    imagecodecs_name: str | None = None           # what it needs from imagecodecs; None: Pillow


def _imagecodecs():
    try:
        import imagecodecs
    except ImportError:
        raise ImportError(f"imagecodecs is not installed ({INSTALL_HINT})") from None
    return imagecodecs


def _samples(pixels: np.ndarray, mode: str, rgb: bool = False) -> np.ndarray:
    """What an imagecodecs codec is given: (H, W) or (H, W, 3); 1-bit images as 0/1."""
    samples = pixels // 255 if mode == "1" else pixels
    if samples.shape[2] == 1:
        samples = np.repeat(samples, 3, axis=2) if rgb else samples[:, :, 0]
    return np.ascontiguousarray(samples)


def _pixels(samples: np.ndarray, mode: str) -> np.ndarray:
    """The inverse of _samples; anything it cannot invert is left to fail the exactness check."""
    if samples.ndim == 2:
        samples = samples[:, :, None]
    if mode != "RGB" and samples.shape[2] == 3 and (samples == samples[:, :, :1]).all():
        samples = samples[:, :, :1]
    return samples * np.uint8(255) if mode == "1" else samples


def pillow_png(pixels: np.ndarray, mode: str, optimize: bool = False) -> bytes:
    """(H, W, C) pixels in `mode` (1-bit as 0/255) -> a PNG written by Pillow. `optimize`:
    zlib level 9 and extra filter search, Pillow's smallest file."""
    im = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels,
                         "L" if pixels.shape[2] == 1 else "RGB")
    if mode == "1":
        im = im.convert("1", dither=Image.Dither.NONE)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=optimize)
    return buf.getvalue()


def _png_encode(pixels, mode, optimize):
    return pillow_png(pixels, mode, optimize=optimize)


def _png_decode(data, mode):
    im = Image.open(io.BytesIO(data))
    if im.mode != mode:
        raise ValueError(f"PNG came back as mode {im.mode}, not {mode}")
    return _pixels(np.asarray(im.convert("L") if mode == "1" else im), "RGB" if mode == "RGB"
                   else "L")


def _webp_encode(pixels, mode, **settings):
    return _imagecodecs().webp_encode(_samples(pixels, mode, rgb=True), lossless=True,
                                      **settings)


def _webp_decode(data, mode):
    return _pixels(_imagecodecs().webp_decode(data), mode)


def _jpegxl_encode(pixels, mode, effort):
    return _imagecodecs().jpegxl_encode(_samples(pixels, mode), lossless=True, effort=effort)


def _jpegxl_decode(data, mode):
    return _pixels(_imagecodecs().jpegxl_decode(data), mode)


def _jpeg2k_encode(pixels, mode):
    # level 0 with the reversible wavelet is JPEG 2000's lossless mode; a JP2 file, as users save.
    return _imagecodecs().jpeg2k_encode(_samples(pixels, mode), level=0, reversible=True,
                                        bitspersample=1 if mode == "1" else None)


def _jpeg2k_decode(data, mode):
    return _pixels(_imagecodecs().jpeg2k_decode(data), mode)


def _jpegls_encode(pixels, mode):
    return _imagecodecs().jpegls_encode(_samples(pixels, mode), level=0)  # NEAR = 0: lossless


def _jpegls_decode(data, mode):
    return _pixels(_imagecodecs().jpegls_decode(data), mode)


def _qoi_encode(pixels, mode):
    return _imagecodecs().qoi_encode(_samples(pixels, mode, rgb=True))


def _qoi_decode(data, mode):
    return _pixels(_imagecodecs().qoi_decode(data), mode)


# Each codec at its default and at its strongest setting where it has one. imagecodecs' own
# defaults are not the libraries' (its JPEG XL default is effort 5), so settings are explicit;
# its default thread counts (one) are kept: every codec runs on one thread, as pixcodec's coding.
CLASSIC_CODECS = {codec.name: codec for codec in [
    Codec("png (pillow default)", functools.partial(_png_encode, optimize=False), _png_decode),
    Codec("png (pillow optimize)", functools.partial(_png_encode, optimize=True), _png_decode),
    # libwebp's defaults for lossless are method 4, quality 75; method 6 with quality 100 is
    # its strongest preset (cwebp -z 9).
    Codec("webp lossless (default)", _webp_encode, _webp_decode, "WEBP"),
    Codec("webp lossless (method 6, quality 100)",
          functools.partial(_webp_encode, level=100, method=6), _webp_decode, "WEBP"),
    Codec("jpegxl (effort 7)", functools.partial(_jpegxl_encode, effort=7), _jpegxl_decode,
          "JPEGXL"),
    Codec("jpegxl (effort 9)", functools.partial(_jpegxl_encode, effort=9), _jpegxl_decode,
          "JPEGXL"),
    Codec("jpeg2000 lossless", _jpeg2k_encode, _jpeg2k_decode, "JPEG2K"),
    Codec("jpegls", _jpegls_encode, _jpegls_decode, "JPEGLS"),
    Codec("qoi", _qoi_encode, _qoi_decode, "QOI"),
]}


def missing_reason(codec: Codec) -> str | None:
    """Why a codec cannot run here, or None when it can."""
    if codec.imagecodecs_name is None:
        return None  # Pillow is one of pixcodec's own dependencies
    try:
        imagecodecs = _imagecodecs()
    except ImportError as exc:
        return str(exc)
    constants = getattr(imagecodecs, codec.imagecodecs_name, None)
    if constants is None or not getattr(constants, "available", True):
        return f"imagecodecs {imagecodecs.__version__} was built without {codec.imagecodecs_name}"
    return None  # an encoder that turns out absent raises ImportError: measure_classic says so


# --- Measuring one image ---------------------------------------------------------------------

def _timed(func, *args):
    start = time.perf_counter()
    out = func(*args)
    return out, time.perf_counter() - start


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
        return 0, 1, image.pixels // 255
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


@torch.no_grad()
def float_nll_bits(net: torch.nn.Module, pixels: np.ndarray) -> float:
    """NLL in bits from the float32 network in one parallel pass: fast, used only to price the
    tile edges (the coded NLL comes from the exact arithmetic)."""
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return float(net.loss(net(x), x)) * x.numel() / math.log(2)


def tile_nll_bits(net: torch.nn.Module, pixels: np.ndarray, tile: int) -> tuple[float, float]:
    """(NLL of the whole image in one piece, sum of the NLLs of its tiles), float net, bits."""
    whole = float_nll_bits(net, pixels)
    if tile_count(*pixels.shape[:2], tile) == 1:
        return whole, whole
    return whole, sum(float_nll_bits(net, pixels[y:y + h, x:x + w]) for y, x, h, w in tile_grid(*pixels.shape[:2], tile))


def measure_pixcodec(dataset: str, image: NamedImage, model: str | None,
                     tile_cost: bool = False) -> Row:
    row = _blank_row(dataset, image, pixcodec_label(model))
    source = _pixcodec_source(image)
    try:
        _warm_up_pixcodec(model, image.mode)
        result, encode_s = _timed(api.encode, source, model)
        decoded, decode_s = _timed(api.decode, result.data)
    except PixcodecError as exc:  # e.g. a model for another colour mode
        return _not_coded(row, "error", str(exc))
    colour_type, depth, samples = _expected_samples(image)
    exact = ((decoded.header.colour_type, decoded.header.bit_depth) == (colour_type, depth)
             and np.array_equal(decoded.pixels, samples))
    plane = container.unpack_model_plane(container.unpack(result.data)[1][container.COLOUR])
    row = replace(row, codec=pixcodec_label(result.model), bytes=len(result.data),
                  encode_s=encode_s, decode_s=decode_s, exact=exact, nll_bits=result.nll_bits,
                  header_bytes=len(result.data) - len(plane.payload))
    if tile_cost:
        whole, tiled = tile_nll_bits(zoo.load_model(result.model), image.pixels, plane.tile)
        row = replace(row, whole_nll_bits=whole, tiled_nll_bits=tiled)
    return row


def measure_classic(dataset: str, image: NamedImage, codec: Codec) -> Row:
    row = _blank_row(dataset, image, codec.name)
    _warm_up_classic(codec, image.mode)
    try:
        data, encode_s = _timed(codec.encode, image.pixels, image.mode)
        decoded, decode_s = _timed(codec.decode, data, image.mode)
    except ImportError as exc:  # imagecodecs raises it when a codec's library is absent
        return _not_coded(row, "missing", str(exc) or type(exc).__name__)
    except Exception as exc:  # another library failing on one image must not end a long run
        return _not_coded(row, "error", f"{type(exc).__name__}: {exc}")
    return replace(row, bytes=len(data), encode_s=encode_s, decode_s=decode_s,
                   exact=np.array_equal(decoded, image.pixels))


def measure_image(dataset: str, image: NamedImage, models: Sequence[str | None],
                  codecs: Sequence[str], missing: dict[str, str], tile_cost: bool) -> list[Row]:
    """Every pixcodec model and classic codec on one image (codecs by name: this runs in worker
    processes too)."""
    rows = [measure_pixcodec(dataset, image, model, tile_cost) for model in models]
    for name in codecs:
        if name in missing:
            rows.append(_not_coded(_blank_row(dataset, image, name), "missing", missing[name]))
        else:
            rows.append(measure_classic(dataset, image, CLASSIC_CODECS[name]))
    return rows


# --- A whole benchmark -----------------------------------------------------------------------

def sample_indices(size: int, limit: int | None, seed: int) -> list[int]:
    """`limit` indices of range(size) drawn with `seed`, in ascending order; all if no limit."""
    if limit is None or limit >= size:
        return list(range(size))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(size, limit, replace=False))


def run_bench(specs: Sequence[str], models: Sequence[str | None] = (None,), *,
              codecs: Sequence[str] | None = None, data_root: str | Path | None = None,
              limit: int | None = None, seed: int = 0, jobs: int = 1, tile_cost: bool = False,
              progress: Progress | None = None) -> BenchResult:
    """Run the benchmark on data sets or folders (`specs`, see data.open_image_set).

    `models`: pixcodec models, each a row; None is the default model for each image's mode.
    `codecs`: names from CLASSIC_CODECS (default all). `limit`: a sample of that many images of
    each set, drawn with `seed`. `jobs`: worker processes, one image at a time each."""
    codecs = list(CLASSIC_CODECS) if codecs is None else list(codecs)
    for name in codecs:
        if name not in CLASSIC_CODECS:
            raise PixcodecError(f"unknown codec {name!r} (known: {', '.join(CLASSIC_CODECS)})")
    for model in models:
        if model is not None:
            zoo.check_reference(model)  # an unknown name or a bad file fails now
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    sets = [open_image_set(spec, data_root) for spec in specs]
    work = [(s.name, s.read(i)) for s in sets for i in sample_indices(s.size, limit, seed)]
    missing = {name: reason for name in codecs
               if (reason := missing_reason(CLASSIC_CODECS[name])) is not None}
    args = (models, codecs, missing, tile_cost)
    results: list[list[Row] | None] = [None] * len(work)
    if jobs == 1:
        for k, (dataset, image) in enumerate(work):
            results[k] = measure_image(dataset, image, *args)
            if progress is not None:
                progress(k + 1, len(work))
    else:
        tasks = [(dataset, image, *args) for dataset, image in work]
        with closing(run_in_workers(measure_image, tasks, jobs)) as finishing:
            for done, (index, outcome) in enumerate(finishing, 1):
                results[index] = outcome.result()
                if progress is not None:
                    progress(done, len(work))
    rows = [row for image_rows in results for row in image_rows]
    settings = {"data_sets": [s.name for s in sets], "models": list(models), "codecs": codecs,
                "limit": limit, "seed": seed, "jobs": jobs, "tile_cost": tile_cost,
                "machine": machine()}
    return BenchResult(rows, totals(rows), settings)


def totals(rows: Sequence[Row]) -> list[Row]:
    """One total per data set and codec: data sets in their order, pixcodec's models first (as
    they first appear), then the classic codecs in CLASSIC_CODECS order."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.dataset, row.codec), []).append(row)
    datasets = list(dict.fromkeys(dataset for dataset, _ in groups))
    classic = list(CLASSIC_CODECS)

    def order(key):
        dataset, codec = key
        rank = classic.index(codec) if codec in CLASSIC_CODECS else -1
        return datasets.index(dataset), rank  # sorted() keeps pixcodec's models in their order

    return [total_row(dataset, codec, groups[dataset, codec])
            for dataset, codec in sorted(groups, key=order)]


def machine() -> dict:
    """Where the figures were measured, for the output files."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        imagecodecs_version = _imagecodecs().__version__
    except ImportError:
        imagecodecs_version = None
    import PIL
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "pillow": PIL.__version__, "imagecodecs": imagecodecs_version}


# --- Output ----------------------------------------------------------------------------------

def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "" if value is None else f"{value:{spec}}{suffix}"


def _seconds(value: float | None) -> str:
    # Three significant digits: classic codecs take milliseconds, pixcodec up to minutes.
    return _fmt(value, ".3g")


def _outcome(row: Row) -> str:
    if row.status != "ok":
        return row.status
    return {True: "yes", False: "NO", None: ""}[row.exact]


def format_table(result: BenchResult, per_image: bool = False) -> str:
    """Markdown tables (readable in a terminal): totals always, per image on request."""
    lines = []
    if per_image:
        lines += ["| data set | image | size | codec | bits/dim | model NLL | overhead "
                  "| encode s | decode s | exact |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in result.rows:
            lines.append(
                f"| {r.dataset} | {r.image} | {r.width}x{r.height} | {r.codec} "
                f"| {_fmt(r.bits_per_dim, '.3f')} | {_fmt(r.nll_bits_per_dim, '.3f')} "
                f"| {_fmt(r.overhead_pct, '.3f', '%')} | {_seconds(r.encode_s_per_image)} "
                f"| {_seconds(r.decode_s_per_image)} | {_outcome(r)} |")
        lines.append("")
    tile_cost = result.settings.get("tile_cost")
    lines += ["| data set | codec | images | bits/dim | model NLL | overhead | payload overhead "
              + ("| tile cost " if tile_cost else "") + "| encode s/image | decode s/image "
              "| exact |",
              "|---|---|---|---|---|---|---|" + ("---|" if tile_cost else "") + "---|---|---|"]
    for r in result.totals:
        lines.append(
            f"| {r.dataset} | {r.codec} | {r.images} | {_fmt(r.bits_per_dim, '.3f')} "
            f"| {_fmt(r.nll_bits_per_dim, '.3f')} | {_fmt(r.overhead_pct, '.3f', '%')} "
            f"| {_fmt(r.payload_overhead_pct, '.3f', '%')} "
            + (f"| {_fmt(r.tile_cost_pct, '.2f', '%')} " if tile_cost else "")
            + f"| {_seconds(r.encode_s_per_image)} | {_seconds(r.decode_s_per_image)} "
            f"| {_outcome(r)} |")
    lines.append("")
    lines.append("bits/dim: 8 x file bytes / (H x W x C), headers included; totals are total "
                 "bits over total dims. overhead: file / (model NLL + header) - 1; payload "
                 "overhead: payload / model NLL - 1.")
    jobs = result.settings.get("jobs", 1)
    cores = result.settings.get("machine", {}).get("cores")
    lines.append(f"timings: {jobs} worker processes sharing {cores} cores, so each time is "
                 "longer than on an idle machine" if jobs > 1 else
                 f"timings: one image at a time, one thread per codec ({cores} cores)")
    for r in result.totals:
        if r.status != "ok":
            lines.append(f"{r.status}: {r.dataset} / {r.codec}: {r.note}")
    return "\n".join(lines)


def to_json(result: BenchResult) -> bytes:
    return json.dumps({"settings": result.settings,
                       "totals": [row_dict(r) for r in result.totals],
                       "images": [row_dict(r) for r in result.rows]}, indent=1).encode()


def to_csv(result: BenchResult) -> bytes:
    """Per-image rows, then the totals (image TOTAL), one header."""
    buf = io.StringIO()
    names = [f.name for f in fields(Row)] + list(DERIVED)
    writer = csv.DictWriter(buf, names, lineterminator="\n")
    writer.writeheader()
    for row in [*result.rows, *result.totals]:
        writer.writerow(row_dict(row))
    return buf.getvalue().encode()


# The --out formats, by file name suffix.
SERIALISERS = {".json": to_json, ".csv": to_csv}


def require_matplotlib(what: str = "--plot") -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PixcodecError(f"{what} needs matplotlib ({INSTALL_HINT})") from None


def plot_png(result: BenchResult) -> bytes:
    """Bits/dim against encode and decode seconds per image (log scale), one point per codec and
    setting, one row of panels per data set; PNG bytes."""
    require_matplotlib()
    import matplotlib
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r.dataset for r in result.totals))
    codecs = list(dict.fromkeys(r.codec for r in result.totals))
    ours = [codec for codec in codecs if codec not in CLASSIC_CODECS]
    # pixcodec's models: large stars in their own colours; the classic codecs: tab10.
    style = {codec: (("black", "crimson", "darkorange", "purple")[k % 4], "*", 160)
             for k, codec in enumerate(ours)}
    markers = "os^Dv<>phX"
    style.update({codec: (plt.get_cmap("tab10")(k % 10), markers[k % len(markers)], 60)
                  for k, codec in enumerate(CLASSIC_CODECS)})
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 3.6 * len(datasets)),
                             squeeze=False, sharey="row")
    for (ax_encode, ax_decode), dataset in zip(axes, datasets):
        for r in result.totals:
            if r.dataset != dataset or r.bits_per_dim is None:
                continue
            colour, marker, size = style[r.codec]
            for ax, seconds in ((ax_encode, r.encode_s_per_image),
                                (ax_decode, r.decode_s_per_image)):
                ax.scatter(max(seconds, 1e-6), r.bits_per_dim, color=colour, marker=marker,
                           s=size, label=r.codec)
        images = max(r.images for r in result.totals if r.dataset == dataset)
        for ax, what in ((ax_encode, "encode"), (ax_decode, "decode")):
            ax.set_xscale("log")
            ax.set_xlabel(f"{what} seconds per image (log scale)")
            ax.set_title(f"{dataset} ({images} images): {what}")
            ax.grid(True, which="both", alpha=0.3)
        ax_encode.set_ylabel("bits/dim (file size)")
    handles, labels = [], []
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
