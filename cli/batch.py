"""Many files in one command: every output name is settled first (collisions are a usage
error), then the files are coded one by one or, with --jobs N, in N worker processes. A failing
file is reported on one line and the others go on; a summary ends the run. Only this process
writes files, each through a temporary file and a rename (pixcodec.fileio), so a failure,
Ctrl-C or SIGTERM leaves no partial output; the workers (pixcodec.workers), which hold no files,
are then stopped at once.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from pixcodec.limits import DEFAULT_MAX_METADATA

from . import raise_if_interrupted
from .common import (EXIT_ERROR, ProgressBar, fail, message_of, print_error, read_input,
                     with_options)

@dataclass(frozen=True)
class Job:
    input: str    # a path, or "-" for stdin
    output: str   # a path, or "-" for stdout


# ------------------------------------------------------------------------------ planning

def plan_jobs(inputs: tuple[str, ...], output: str | None, recursive: bool, in_suffix: str,
              out_suffix: str) -> list[Job]:
    """Inputs (files, '-', or folders with -r) -> jobs with their output names."""
    if "-" in inputs and len(inputs) > 1:
        raise click.UsageError("'-' (stdin) cannot be combined with other inputs")
    if inputs == ("-",):
        if output not in (None, "-"):
            _check_output_file(Path(output), in_suffix, out_suffix)
        return [Job("-", output or "-")]
    found: list[tuple[Path, Path]] = []  # (input file, output path relative to its root)
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            if not recursive:
                raise click.UsageError(f"{name} is a folder (use -r to process the "
                                       f"{in_suffix} files in it)")
            files = sorted(f for f in path.rglob("*")
                           if f.is_file() and f.suffix.lower() == in_suffix)
            found += [(f, f.relative_to(path).with_suffix(out_suffix)) for f in files]
        else:
            found.append((path, Path(path.name).with_suffix(out_suffix)))
    if not found:
        raise click.UsageError(f"no {in_suffix} files in {', '.join(inputs)}")
    several = len(inputs) > 1 or recursive
    if output == "-" and (several or len(found) != 1):
        raise click.UsageError("-o - (stdout) takes a single input")
    if output is not None and output != "-" and several and Path(output).exists() \
            and not Path(output).is_dir():
        raise click.UsageError(f"with several inputs, -o must be a folder; {output} is a file")
    if output not in (None, "-"):
        (_check_output_folder if several else _check_output_file)(Path(output), in_suffix,
                                                                  out_suffix)
    jobs = []
    for source, relative in found:
        if output is None:
            target = source.with_suffix(out_suffix)
        elif several:
            target = Path(output) / relative
        else:
            target = Path(output)
        jobs.append(Job(str(source), str(target) if output != "-" else "-"))
    seen: dict[Path, str] = {}
    for job in jobs:
        if job.output == "-":
            continue
        key = Path(job.output).resolve()
        if key in seen:
            raise click.UsageError(f"{seen[key]} and {job.input} would both be written to "
                                   f"{job.output}")
        seen[key] = job.input
    return jobs


def _check_output_file(path: Path, in_suffix: str, out_suffix: str) -> None:
    """-o naming the one output: a file (never a folder to write into), whose name says what
    it holds (a character device or a pipe, /dev/null, takes anything), in a folder that
    exists: a mistyped folder is an error, not a new tree."""
    import stat
    if path.is_dir():
        fail(f"{path} is a directory (with one input, -o names the output file)")
    streams = path.exists() and (stat.S_ISCHR(path.stat().st_mode)
                                 or stat.S_ISFIFO(path.stat().st_mode))
    if not streams and path.suffix.lower() != out_suffix:
        fail(f"{path}: the file name must end in {out_suffix} (what is written)")
    if not path.parent.is_dir():
        fail(f"{path.parent} is not a folder")


def _check_output_folder(path: Path, in_suffix: str, out_suffix: str) -> None:
    """-o naming the folder of several outputs: one that exists, or a new one (made when the
    first file is written) in a folder that exists, whose name is not a file's."""
    if path.is_dir():
        return
    if path.suffix.lower() in (in_suffix, out_suffix):
        fail(f"with several inputs, -o is a folder and {path} names a file")
    if not path.parent.is_dir():
        fail(f"{path.parent} is not a folder")


def _output_problem(job: Job, force: bool) -> str | None:
    if job.output == "-":
        return None
    from pixcodec.fileio import output_problem
    out = Path(job.output)
    if job.input != "-" and out.exists() and out.resolve() == Path(job.input).resolve():
        return f"{job.output} is the input file; pixcodec never overwrites its input"
    return output_problem(out, force)


# ------------------------------------------------------------------------------ the work

def compress_file(path: str, model: str | None, strip: bool, tile: int | None = None,
                  effort: int | None = None, max_metadata: int = DEFAULT_MAX_METADATA,
                  threads: int = 1, progress=None, allow_jpeg: bool = False
                  ) -> tuple[bytes, str]:
    import pixcodec
    from pixcodec.limits import DEFAULT_EFFORT
    result = pixcodec.encode(read_input(path), model, strip=strip, tile=tile,
                             effort=DEFAULT_EFFORT if effort is None else effort,
                             max_metadata=max_metadata, progress=progress, threads=threads,
                             allow_jpeg=allow_jpeg)
    return result.data, _compress_summary(result)


def compress_files(paths: list[str], model: str | None, strip: bool, tile: int | None = None,
                   effort: int | None = None, max_metadata: int = DEFAULT_MAX_METADATA,
                   allow_jpeg: bool = False) -> list[tuple[bytes, str]]:
    """compress_file of many files at once (pixcodec.encode_many: small images many to a
    pass)."""
    import pixcodec
    from pixcodec.limits import DEFAULT_EFFORT
    results = pixcodec.encode_many([read_input(path) for path in paths], model, strip=strip,
                                   tile=tile, effort=DEFAULT_EFFORT if effort is None else effort,
                                   max_metadata=max_metadata, allow_jpeg=allow_jpeg)
    return [(result.data, _compress_summary(result)) for result in results]


def _compress_summary(result) -> str:
    h = result.header
    coded_by = (f"model {result.nll_bits / result.dims:.3f}, {result.model}" if result.model
                else "palette indices: LZMA")
    return (f"{h.width}x{h.height} {h.describe()}, {len(result.data)} bytes, "
            f"{8 * len(result.data) / result.dims:.3f} bits/dim ({coded_by})")


def decompress_file(path: str, max_pixels: int, max_metadata: int, models: tuple = (),
                     threads: int = 1, progress=None, png_level: int | None = None
                     ) -> tuple[bytes, str]:
    import pixcodec
    result = pixcodec.decode(read_input(path), max_pixels=max_pixels, max_metadata=max_metadata,
                             progress=progress, models=models, threads=threads)
    return _png_of(result, png_level), _decompress_summary(result)


def decompress_files(paths: list[str], max_pixels: int, max_metadata: int, models: tuple = (),
                     png_level: int | None = None) -> list[tuple[bytes, str]]:
    """decompress_file of many files at once (pixcodec.decode_many: small images' tiles side
    by side)."""
    import pixcodec
    results = pixcodec.decode_many([read_input(path) for path in paths], max_pixels=max_pixels,
                                   max_metadata=max_metadata, models=models)
    return [(_png_of(result, png_level), _decompress_summary(result)) for result in results]


def _png_of(result, level: int | None) -> bytes:
    """The PNG decompress writes, at zlib `level` (None: the measured default)."""
    from pixcodec.imageio import write_png
    return write_png(result.image) if level is None else write_png(result.image, level)


def _decompress_summary(result) -> str:
    return f"{result.header.width}x{result.header.height} {result.header.describe()}"


# What compress and decompress do: (the suffix read, the suffix written, one file's work, many
# small files' work), each called with the command's options.
ACTIONS = {"compress": (".png", ".pxc", compress_file, compress_files),
           "decompress": (".pxc", ".png", decompress_file, decompress_files)}


def code_files(action: str, inputs: tuple[str, ...], output: str | None, recursive: bool,
               jobs: int, threads: int | None, force: bool, quiet: bool,
               skip_existing: bool = False, **options) -> None:
    """The `action` of ACTIONS on the files a command names, with its options: the jobs planned,
    stdout checked, the jobs whose output exists left out with --skip-existing, then
    `run_jobs`."""
    if skip_existing and force:
        raise click.UsageError("--skip-existing and --force contradict each other")
    in_suffix, out_suffix, work, work_many = ACTIONS[action]
    plan = plan_jobs(inputs, output, recursive, in_suffix, out_suffix)
    check_stdout(plan)
    skipped = [job for job in plan if skip_existing and _output_done(job)]
    for job in skipped:
        if not quiet:
            click.echo(f"{job.input} -> {job.output}: skipped, the output exists", err=True)
    run_jobs([job for job in plan if job not in skipped], functools.partial(work, **options),
             functools.partial(work_many, **options), jobs, threads, force, quiet, action,
             len(skipped))


def _output_done(job: Job) -> bool:
    """Whether --skip-existing leaves the job out: its output is a regular file (through a
    symlink too). Outputs are written whole or not at all (pixcodec.fileio), so one that
    exists is finished; a pipe or a device is written into, never skipped."""
    return job.output != "-" and Path(job.output).is_file()


def _write_output(job: Job, data: bytes, force: bool) -> None:
    from pixcodec.fileio import atomic_write
    if job.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    # Only a folder of several outputs (-o DIR) and the subfolders -r mirrors are made: their
    # root's parent was checked to exist (plan_jobs); a single output's folder must exist.
    Path(job.output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(job.output, data, force)


def run_jobs(jobs: list[Job], work, work_many, workers: int, threads: int | None, force: bool,
             quiet: bool, label: str, skipped: int = 0) -> None:
    """Do `work(input, threads=...) -> (output bytes, summary)` for every job; report each;
    exit 1 if any failed. Files in `workers` processes at once get one thread each; files in
    this process, `threads` processes each (default: one per core), except small files (digits,
    CIFAR images) when there are several: `work_many(inputs) -> [(output bytes, summary)]` on
    up to MANY_AT_ONCE at a time (a batch that fails is done again file by file, so that each
    file's own error is reported)."""
    failed = 0

    def finished(job: Job, outcome) -> None:
        nonlocal failed
        try:
            data, summary = outcome()
            _write_output(job, data, force)
        except BrokenPipeError:  # the output's reader is gone (`-o - | head`): nothing to go on for
            raise
        except Exception as exc:  # one file's failure never stops the others
            failed += 1
            print_error(f"{job.input}: {message_of(exc)}")
        else:
            if not quiet:
                click.echo(f"{job.input} -> {job.output}: {summary}", err=True)
        raise_if_interrupted()

    runnable = []
    for job in jobs:
        problem = _output_problem(job, force)
        if problem:
            finished(job, functools.partial(fail, problem))
        else:
            runnable.append(job)
    small = [job for job in runnable if _is_small(job.input)]
    if workers == 1 and len(small) > 1:  # small files together, the others one by one
        runnable = [job for job in runnable if job not in small]
        for start in range(0, len(small), MANY_AT_ONCE):
            batch = small[start:start + MANY_AT_ONCE]
            try:
                outcomes = work_many([job.input for job in batch])
            except Exception:
                for job in batch:
                    finished(job, functools.partial(work, job.input, threads=1))
            else:
                for job, outcome in zip(batch, outcomes):
                    finished(job, functools.partial(lambda value: value, outcome))
    if workers == 1 or len(runnable) <= 1:
        threads = threads or os.cpu_count() or 1
        if threads > 1 and any(not _is_small(job.input) for job in runnable):
            from pixcodec.workers import prestart
            prestart(threads - 1, ["pixcodec.api"])  # a large image's tiles will need them
        for job in runnable:
            bar = ProgressBar(label, enabled=not quiet and len(jobs) == 1)
            try:
                finished(job, functools.partial(work, job.input, threads=threads, progress=bar))
            finally:
                bar.close()
    else:
        from contextlib import closing

        from pixcodec.workers import run_in_workers
        tasks = [(job.input,) for job in runnable]
        with closing(run_in_workers(functools.partial(work, threads=1), tasks,
                                   min(workers, len(runnable)))) as finishing:
            for index, outcome in finishing:
                finished(runnable[index], outcome.result)
    total = len(jobs) + skipped
    if total > 1 and (failed or not quiet):  # -q: nothing but errors and their count
        click.echo(f"pixcodec: {len(jobs) - failed} of {total} files {label}ed"
                   + (f", {skipped} skipped (their outputs exist)" if skipped else "")
                   + (f", {failed} failed" if failed else ""), err=True)
    if failed:
        sys.exit(EXIT_ERROR)


# Files of at most SMALL_FILE bytes are coded MANY_AT_ONCE at a time by work_many (their
# pixels and outputs held at once, written when the batch is done); larger ones one by one, as
# they gain little from it and a user sees each finish.
SMALL_FILE = 2**16
MANY_AT_ONCE = 256


def _is_small(path: str) -> bool:
    try:
        return path != "-" and Path(path).stat().st_size <= SMALL_FILE
    except OSError:
        return False  # reported by the file's own job


def check_stdout(jobs: list[Job]) -> None:
    if any(job.output == "-" for job in jobs) and sys.stdout.isatty():
        raise click.UsageError("refusing to write binary data to a terminal (use -o FILE)")


many_files = with_options([
    click.argument("inputs", metavar="IN...", nargs=-1, required=True),
    click.option("-o", "--output", metavar="OUT",
                 help="Output file ('-' for stdout), named .pxc (compress) or .png "
                      "(decompress), in a folder that exists; with several inputs or -r, a "
                      "folder, made if its parent exists. Default: next to each input."),
    click.option("-r", "--recursive", is_flag=True, help="Process the files in folders given "
                                                         "as IN, and in their subfolders."),
    click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Files to process at once, each in its own worker process."),
    click.option("--threads", type=click.IntRange(min=1), metavar="N",
                 help="Processes coding the tiles of one image at once (and, compressing, "
                      "choosing its orientation and adaptation), when files are coded one at "
                      "a time (the same bytes for any number); default: one per core."),
    click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist."),
    click.option("--skip-existing", is_flag=True,
                 help="Leave out the files whose output exists (a batch run again after a "
                      "stop goes on where it stopped: outputs are written whole or not at "
                      "all)."),
    click.option("-q", "--quiet", is_flag=True,
                 help="Print nothing but errors (and, with several files, how many failed)."),
])
