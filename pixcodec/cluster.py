"""Compressing an archive on a Dask cluster (dask.distributed; pip install 'pixcodec[cluster]').

    from dask.distributed import Client, LocalCluster
    from pixcodec.cluster import compress_archive
    with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, Client(cluster) as client:
        report = compress_archive(client, ["photos/"], output="archive/")
    print(report.summary())

One task per image, on whichever worker is free: it reads the PNG, compresses it, decodes the
result and compares it with the PNG (`verify`), then writes the .pxc through pixcodec.fileio
(a temporary file renamed: an output exists whole or not at all), so the workers need the
inputs and the output folder on a filesystem they share. An output that exists is therefore
finished, and is skipped: a run stopped half way (a worker lost, the cluster shut down) is
finished by running it again. A file that fails is reported with its one-line error (the
`PixcodecError` message the command line would print) and the others go on.

Each task codes with one thread and no worker processes of pixcodec's own (threads=1): the
cluster already shares out the cores, one task per worker thread (threads_per_worker=1 keeps
one task per core).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .arguments import checked_effort
from .limits import DEFAULT_EFFORT

IN_SUFFIX, OUT_SUFFIX = ".png", ".pxc"


@dataclass(frozen=True)
class Coded:
    source: str
    target: str
    source_bytes: int
    target_bytes: int
    seconds: float      # on its worker: read, compress, verify, write


@dataclass
class ArchiveReport:
    compressed: list[Coded] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)          # sources whose output existed
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, one-line error)
    seconds: float = 0.0  # wall clock of the whole run

    def summary(self) -> str:
        total = len(self.compressed) + len(self.skipped) + len(self.failed)
        saved = sum(c.target_bytes for c in self.compressed)
        read = sum(c.source_bytes for c in self.compressed)
        rate = len(self.compressed) / self.seconds if self.seconds else 0.0
        return (f"{len(self.compressed)} of {total} files compressed and verified "
                f"({read:,} -> {saved:,} bytes, {rate:.2f} files/s), {len(self.skipped)} "
                f"skipped (their outputs exist), {len(self.failed)} failed")


def plan(sources: Iterable[str | os.PathLike], output: str | os.PathLike | None = None
         ) -> list[tuple[str, str]]:
    """(source, target) of every .png a list names: a file as it is, a folder's .png files in
    all its subfolders. The target goes next to its source, or, with `output`, into that folder
    (a folder's files mirrored below it)."""
    pairs = []
    for name in sources:
        path = Path(name)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*")
                           if f.is_file() and f.suffix.lower() == IN_SUFFIX)
            pairs += [(f, f.relative_to(path)) for f in found]
        else:
            pairs.append((path, Path(path.name)))
    return [(str(source), str(source.with_suffix(OUT_SUFFIX) if output is None
                              else Path(output) / relative.with_suffix(OUT_SUFFIX)))
            for source, relative in pairs]


def compress_archive(client, sources: Iterable[str | os.PathLike],
                     output: str | os.PathLike | None = None, *, model: str | None = None,
                     effort: int = DEFAULT_EFFORT, verify: bool = True) -> ArchiveReport:
    """Compress every .png that `sources` names (files, or folders searched recursively) on
    the Dask `client`'s cluster, skipping those whose output exists; see the module's
    docstring."""
    from distributed import as_completed
    effort = checked_effort(effort)
    start = time.perf_counter()
    report = ArchiveReport()
    todo = []
    for source, target in plan(sources, output):
        if Path(target).is_file():
            report.skipped.append(source)
        else:
            todo.append((source, target))
    sources_of = {client.submit(compress_one, source, target, model, effort, verify,
                                pure=False): source for source, target in todo}
    for future in as_completed(list(sources_of)):
        try:
            outcome = future.result()
        except Exception as exc:  # a worker lost (KilledWorker) or a bug: this file only
            outcome = (sources_of[future], f"{type(exc).__name__}: {exc}")
        if isinstance(outcome, Coded):
            report.compressed.append(outcome)
        else:
            report.failed.append(outcome)
    report.compressed.sort(key=lambda c: c.source)
    report.failed.sort()
    report.seconds = time.perf_counter() - start
    return report


def compress_one(source: str, target: str, model: str | None, effort: int,
                 verify: bool) -> Coded | tuple[str, str]:
    """One task, run on a worker: the Coded file, or (source, one-line error)."""
    one_thread()
    import pixcodec
    from .errors import PixcodecError
    from .fileio import atomic_write
    from .imageio import read_image
    from .limits import DEFAULT_MAX_PIXELS
    start = time.perf_counter()
    try:
        data = Path(source).read_bytes()
        coded = pixcodec.encode(data, model, effort=effort, threads=1).data
        if verify and pixcodec.decode(coded, threads=1).image != read_image(data,
                                                                          DEFAULT_MAX_PIXELS):
            raise PixcodecError("decoded image differs from the source: not written")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, coded)
    except (PixcodecError, OSError, MemoryError) as exc:
        message = str(exc) if isinstance(exc, PixcodecError) else f"{type(exc).__name__}: {exc}"
        return source, message
    return Coded(source, target, len(data), len(coded), time.perf_counter() - start)


def one_thread() -> None:
    """Hold pixcodec to one thread in this worker: torch reads OMP_NUM_THREADS when a float
    model first loads it (the integer engine never does, and keeps BLAS to one thread itself);
    where torch is loaded already, its count is set."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
