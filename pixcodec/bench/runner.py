"""A whole benchmark: the images of each data set, measured one at a time or in worker
processes, and their totals."""
from __future__ import annotations

import os
import platform
from contextlib import closing
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .. import api, zoo
from ..data import open_image_set
from ..errors import PixcodecError
from ..scheduling import Progress
from ..workers import run_in_workers, start_ready
from .codecs import CLASSIC_CODECS, _imagecodecs, missing_reason, webp_library
from .measure import measure_image, measure_pixcodec_together
from .rows import BenchResult, Row, total_row


def sample_indices(size: int, limit: int | None, seed: int) -> list[int]:
    """`limit` indices of range(size) drawn with `seed`, in ascending order; all if no limit."""
    if limit is None or limit >= size:
        return list(range(size))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(size, limit, replace=False))


def run_bench(specs: Sequence[str], models: Sequence[str | None] = (None,), *,
              codecs: Sequence[str] | None = None, data_root: str | Path | None = None,
              limit: int | None = None, seed: int = 0, jobs: int = 1, threads: int | None = None,
              together: bool = False, tile_cost: bool = False, repeat: int = 1,
              progress: Progress | None = None) -> BenchResult:
    """Run the benchmark on data sets or folders (`specs`, see data.open_image_set).

    `models`: pixcodec models, each a row; None is the default model for each image's mode.
    `codecs`: names from CLASSIC_CODECS (default all). `limit`: a sample of that many images of
    each set, drawn with `seed`. `jobs`: worker processes, one image at a time each. `threads`:
    processes coding one image's tiles when `jobs` is 1 (default: one per core; with more jobs,
    one). `together`: each set's pixcodec files decoded at once (``measure_pixcodec_together``),
    the classic codecs image by image. `repeat`: each encode and decode timed as the fastest of
    that many runs."""
    codecs = list(CLASSIC_CODECS) if codecs is None else list(codecs)
    for name in codecs:
        if name not in CLASSIC_CODECS:
            raise PixcodecError(f"unknown codec {name!r} (known: {', '.join(CLASSIC_CODECS)})")
    for model in models:
        if model is not None:
            zoo.check_reference(model)  # an unknown name or a bad file fails now
    if jobs < 1 or repeat < 1:
        raise ValueError("jobs and repeat must be at least 1")
    sets = [open_image_set(spec, data_root) for spec in specs]
    work = [(s.name, s.read(i)) for s in sets for i in sample_indices(s.size, limit, seed)]
    missing = {name: reason for name in codecs
               if (reason := missing_reason(CLASSIC_CODECS[name])) is not None}
    threads = 1 if jobs > 1 else threads or os.cpu_count() or 1
    args = (() if together else models, codecs, missing, tile_cost, threads, repeat)
    results: list[list[Row] | None] = [None] * len(work)
    if jobs == 1:
        if threads > 1 and not together:  # started before any image is timed, as the warm-ups
            start_ready(threads - 1, [api.__name__])
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
    if together:  # pixcodec's rows first for each image, as measure_image puts them
        for s in sets:
            members = [k for k, (name, _) in enumerate(work) if name == s.name]
            for model in reversed(models):
                set_rows = measure_pixcodec_together(s.name, [work[k][1] for k in members],
                                                     model, tile_cost, repeat)
                for k, row in zip(members, set_rows):
                    results[k] = [row, *results[k]]
    rows = [row for image_rows in results for row in image_rows]
    settings = {"data_sets": [s.name for s in sets], "models": list(models), "codecs": codecs,
                "limit": limit, "seed": seed, "jobs": jobs, "threads": threads,
                "together": together, "tile_cost": tile_cost, "repeat": repeat,
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
            "pillow": PIL.__version__, "imagecodecs": imagecodecs_version,
            "webp": webp_library()}
