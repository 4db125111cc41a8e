"""`pixcodec` command: thin click wrappers over the pixcodec API.

Exit codes: 0 success; 1 some file could not be compressed or decompressed (bad input,
corrupted file, refused image, existing output), a bench round trip failed or was not exact, or
training could not start; 2 usage error; 130 interrupted by Ctrl-C.

Many files: every output name is settled first (collisions are a usage error), then the files
are coded one by one or, with --jobs N, in N worker processes. A failing file is reported on
one line and the others go on; a summary ends the run. Only this process writes files, each
through a temporary file and a rename (pixcodec.fileio), so a failure or Ctrl-C leaves no
partial output; on Ctrl-C the workers, which hold no files, are terminated at once.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from pixcodec.limits import DEFAULT_MAX_PIXELS, MAX_TILE

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Job:
    input: str    # a path, or "-" for stdin
    output: str   # a path, or "-" for stdout


def _message(exc: BaseException) -> str:
    """The one line a user sees for an exception raised while processing a file."""
    from concurrent.futures.process import BrokenProcessPool

    from pixcodec.errors import PixcodecError
    if isinstance(exc, PixcodecError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a directory"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, BrokenProcessPool):
        return "the worker process died (out of memory?)"
    return f"internal error ({type(exc).__name__}: {exc}); please report it"


def _print_error(message: str) -> None:
    """`pixcodec: error: ...` on one line: control characters (a newline in a file name) are
    shown escaped."""
    line = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in message)
    click.echo(f"pixcodec: error: {line}", err=True)


def _guarded(func):
    """Run a command turning Ctrl-C and failures outside any one file into one line."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("pixcodec: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            from pixcodec.errors import PixcodecError
            if not isinstance(exc, (PixcodecError, OSError, MemoryError)):
                raise
            _print_error(_message(exc))
            sys.exit(EXIT_ERROR)
    return wrapper


# ------------------------------------------------------------------------------ planning

def _plan(inputs: tuple[str, ...], output: str | None, recursive: bool, in_suffix: str,
          out_suffix: str) -> list[Job]:
    """Inputs (files, '-', or folders with -r) -> jobs with their output names."""
    if "-" in inputs and len(inputs) > 1:
        raise click.UsageError("'-' (stdin) cannot be combined with other inputs")
    if inputs == ("-",):
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
    jobs = []
    for source, relative in found:
        if output is None:
            target = source.with_suffix(out_suffix)
        elif several or Path(output).is_dir():
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


def _output_problem(job: Job, force: bool) -> str | None:
    if job.output == "-":
        return None
    from pixcodec.fileio import output_problem
    out = Path(job.output)
    if job.input != "-" and out.exists() and out.resolve() == Path(job.input).resolve():
        return f"{job.output} is the input file; pixcodec never overwrites its input"
    return output_problem(out, force)


# ------------------------------------------------------------------------------ the work

def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _compress_file(path: str, model: str | None, strip: bool, tile: int | None = None,
                   effort: int | None = None, progress=None) -> tuple[bytes, str]:
    import pixcodec
    from pixcodec.adapt import DEFAULT_EFFORT
    result = pixcodec.encode(_read_input(path), model, strip=strip, tile=tile,
                             effort=DEFAULT_EFFORT if effort is None else effort,
                             progress=progress)
    h = result.header
    coded_by = (f"model {result.nll_bits / result.dims:.3f}, {result.model}" if result.model
                else "palette indices: LZMA")
    return result.data, (f"{h.width}x{h.height} {h.describe()}, {len(result.data)} bytes, "
                         f"{8 * len(result.data) / result.dims:.3f} bits/dim ({coded_by})")


def _decompress_file(path: str, max_pixels: int, models: tuple = (),
                     progress=None) -> tuple[bytes, str]:
    import pixcodec
    from pixcodec.imageio import write_png
    result = pixcodec.decode(_read_input(path), max_pixels=max_pixels, progress=progress,
                             models=models)
    return write_png(result.image), f"{result.header.width}x{result.header.height} " \
                                    f"{result.header.describe()}"


def _write_output(job: Job, data: bytes, force: bool) -> None:
    from pixcodec.fileio import atomic_write
    if job.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    Path(job.output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(job.output, data, force)


def _worker_init() -> None:
    """One torch thread per worker: the workers already share out the cores."""
    import torch
    torch.set_num_threads(1)


def _start_workers(pool, work, jobs: list[Job]) -> dict:
    """Submit every job. The workers start meanwhile, with Ctrl-C ignored from their first
    instruction (an ignored signal stays ignored across exec): Ctrl-C at a terminal reaches them
    too, and it is this process that stops them."""
    import signal
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return {pool.submit(work, job.input): job for job in jobs}
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_workers(pool) -> None:
    # ProcessPoolExecutor.terminate_workers() arrives in Python 3.14; before, its processes.
    for process in list((pool._processes or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _run(jobs: list[Job], work, workers: int, force: bool, quiet: bool, label: str) -> None:
    """Do `work(input) -> (output bytes, summary)` for every job; report each; exit 1 if any
    failed."""
    failed = 0

    def finished(job: Job, outcome) -> None:
        nonlocal failed
        try:
            data, summary = outcome()
            _write_output(job, data, force)
        except Exception as exc:  # one file's failure never stops the others
            failed += 1
            _print_error(f"{job.input}: {_message(exc)}")
        else:
            if not quiet:
                click.echo(f"{job.input} -> {job.output}: {summary}", err=True)

    runnable = []
    for job in jobs:
        problem = _output_problem(job, force)
        if problem:
            finished(job, functools.partial(_raise, problem))
        else:
            runnable.append(job)
    if workers == 1 or len(runnable) <= 1:
        for job in runnable:
            bar = _Bar(label, enabled=not quiet and len(jobs) == 1)
            try:
                finished(job, functools.partial(work, job.input, progress=bar))
            finally:
                bar.close()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        pool = ProcessPoolExecutor(max_workers=min(workers, len(runnable)),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init)
        try:
            futures = _start_workers(pool, work, runnable)
            for future in as_completed(futures):
                finished(futures[future], future.result)
        except BaseException:
            _stop_workers(pool)
            raise
        pool.shutdown()
    if len(jobs) > 1:
        click.echo(f"pixcodec: {len(jobs) - failed} of {len(jobs)} files {label}ed"
                   + (f", {failed} failed" if failed else ""), err=True)
    if failed:
        sys.exit(EXIT_ERROR)


def _raise(message: str):
    from pixcodec.errors import PixcodecError
    raise PixcodecError(message)


class _Bar:
    """A tqdm progress bar on a terminal, nothing otherwise."""

    def __init__(self, label: str, enabled: bool, unit: str = "step"):
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.unit = unit
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=self.label, unit=self.unit, leave=False,
                            file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_stdout(jobs: list[Job]) -> None:
    if any(job.output == "-" for job in jobs) and sys.stdout.isatty():
        raise click.UsageError("refusing to write binary data to a terminal (use -o FILE)")


# ------------------------------------------------------------------------------ commands

_many_files_options = [
    click.argument("inputs", metavar="IN...", nargs=-1, required=True),
    click.option("-o", "--output", metavar="OUT",
                 help="Output file ('-' for stdout); with several inputs or -r, a folder. "
                      "Default: next to each input."),
    click.option("-r", "--recursive", is_flag=True, help="Process the files in folders given "
                                                         "as IN, and in their subfolders."),
    click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Files to process at once, each in its own worker process."),
    click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist."),
    click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
]


def _many_files(func):
    for option in reversed(_many_files_options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pixcodec", prog_name="pixcodec")
def main():
    """Lossless image compression with PixelCNN and PixelRNN models.

    \b
    pixcodec compress img.png              # writes img.pxc
    pixcodec compress -r photos/ -j 2      # every .png below photos/, two at a time
    pixcodec decompress img.pxc            # writes img.png
    pixcodec models                        # the shipped models
    pixcodec bench kodak --data-root DIR   # against the classic lossless codecs
    pixcodec bits img.png -o map.png       # where the model spends its bits
    pixcodec sample -n 16 -o grid.png      # images drawn from a model
    pixcodec complete img.png -o grid.png  # the rest of an image, drawn

    Exit codes: 0 success, 1 error (bad input, corrupted file, refused image, existing
    output) for any file, a bench round trip not exact; 2 usage error; 130 interrupted.
    """


@main.command()
@_many_files
@click.option("-m", "--model", metavar="NAME|FILE.pxm",
              help="Model for the gray or RGB samples (see `pixcodec models`), or a model file "
                   "of `pixcodec export`; default: the shipped model for the image's colour "
                   "type.")
@click.option("--strip", is_flag=True,
              help="Drop the PNG's metadata (ICC profile, gamma, text, EXIF and every other "
                   "ancillary chunk except tRNS transparency).")
@click.option("--tile", type=click.IntRange(1, MAX_TILE), metavar="N",
              help="Side of the square tiles, coded independently side by side; "
                   "default: the model's (see `pixcodec models`). Smaller tiles code faster "
                   "and give slightly larger files.")
@click.option("--effort", type=click.IntRange(0, 2), metavar="0-2",
              help="How much of a logistic-mixture model (the RGB default) is fitted to each "
                   "image and stored in its file: 0 nothing (fastest), 1 the output biases "
                   "and the linear predictor, 2 also the whole output layer where that saves "
                   "more (default). Kept only where it saves more than it stores.")
@_guarded
def compress(inputs, output, recursive, jobs, force, quiet, model, strip, tile, effort):
    """Compress images IN ('-' for stdin; folders with -r: their .png files) losslessly.

    Every PNG is kept exactly: colour type, bit depth 1-16, palette, transparency, interlacing
    and metadata. Other formats Pillow reads are kept as the PNG of their pixels."""
    plan = _plan(inputs, output, recursive, ".png", ".pxc")
    _check_stdout(plan)
    work = functools.partial(_compress_file, model=model, strip=strip, tile=tile, effort=effort)
    _run(plan, work, jobs, force, quiet, "compress")


@main.command()
@_many_files
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help=f"Refuse files of more pixels than this (default {DEFAULT_MAX_PIXELS}).")
@click.option("-m", "--model", "models", multiple=True, metavar="FILE.pxm",
              help="A model file (`pixcodec export`) for files coded with a model that is not "
                   "shipped; repeatable.")
@click.option("--model-dir", "model_dirs", multiple=True, metavar="DIR",
              help="A folder of .pxm model files to look in (also $PIXCODEC_MODEL_PATH); "
                   "repeatable.")
@_guarded
def decompress(inputs, output, recursive, jobs, force, quiet, max_pixels, models, model_dirs):
    """Decompress .pxc files IN ('-' for stdin; folders with -r: their .pxc files) to PNG
    images identical to the originals. A file coded with your own model finds it by name and
    hash among -m files, --model-dir folders and $PIXCODEC_MODEL_PATH."""
    plan = _plan(inputs, output, recursive, ".pxc", ".png")
    _check_stdout(plan)
    work = functools.partial(_decompress_file, max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
                             models=(*models, *model_dirs))
    _run(plan, work, jobs, force, quiet, "decompress")


@main.command()
@click.option("--path", "paths", multiple=True, metavar="FILE.pxm",
              help="Show this model file (from `pixcodec export`) instead; repeatable.")
@_guarded
def models(paths):
    """List the shipped models with their measured bits/dim."""
    from pixcodec import zoo
    infos = [zoo.model_info(zoo.use_model_file(p)) for p in paths] if paths \
        else zoo.manifest().values()
    for info in infos:
        default = f" (default for {info.default_for})" if info.default_for else ""
        aliases = f", also -m {' / '.join(info.aliases)}" if info.aliases else ""
        tile = f", tiles of {info.coding_tile}"
        measured = ", ".join(f"{k} {v:.3f}" for k, v in info.measured.items()) or "not measured"
        details = ", ".join(f"{k}={v}" for k, v in info.config.items())
        click.echo(f"{info.name}{default}{aliases}: {info.architecture} ({details}){tile}")
        if paths:  # a model file knows only its training log's figure
            click.echo(f"    from {info.weights}, sha256 {info.sha256[:16]}...; {measured}")
        else:
            click.echo(f"    {'nats/image' if info.levels == 2 else 'bits/dim'}: {measured}")


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-o", "--output", metavar="NAME.pxm", required=True,
              help="The model file to write.")
@click.option("--name", metavar="NAME",
              help="The model's name, recorded in every file it codes (default: the output "
                   "file's name without .pxm). Never reuse a name for other weights.")
@click.option("-f", "--force", is_flag=True, help="Overwrite the output.")
@_guarded
def export(checkpoint, output, name, force):
    """Turn a `pixcodec train` checkpoint into a model file (.pxm: safetensors weights, the
    network's configuration and what is known of its training; no pickle) for compress -m,
    decompress -m / --model-dir, bench -m, sample -m and `models --path`."""
    from pixcodec import modelfile, zoo
    from pixcodec.fileio import atomic_write, check_output_path
    check_output_path(output, (modelfile.SUFFIX,), force)
    name = name or Path(output).stem
    if name in zoo.manifest():
        raise click.UsageError(f"{name!r} is a shipped model's name; choose another (--name)")
    atomic_write(output, modelfile.export(checkpoint, name), force)
    click.echo(f"{checkpoint} -> {output}: model {name!r}")


@main.command()
@click.option("--model", "preset", required=True, metavar="NAME",
              help="Network configuration to train (see `pixcodec configs`).")
@click.option("--data", required=True, multiple=True, metavar="DATA",
              help="binarized-mnist, mnist, cifar10, imagenet32, imagenet64 (under --data-root), "
                   "or a path: an image folder, cifar-10-python.tar.gz, or an npz. Repeat to "
                   "mix sets of one image size (in proportion to their pixels).")
@click.option("--data-root", metavar="DIR", envvar="PIXCODEC_DATA",
              help="Folder holding the named data sets (default: $PIXCODEC_DATA).")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Saved every --save-every steps; an existing one is resumed exactly. The CSV "
                   "log goes next to it.")
@click.option("--steps", default=20000, show_default=True, help="Total steps (also the lr schedule).")
@click.option("--batch", default=16, show_default=True, help="Images per step (per GPU).")
@click.option("--lr", default=1e-3, show_default=True, help="Peak learning rate.")
@click.option("--optimizer", type=click.Choice(["rmsprop", "adam"]), default="rmsprop",
              show_default=True)
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default="cosine",
              show_default=True)
@click.option("--crop", default=32, show_default=True, help="Crop side for image folders.")
@click.option("--heldout", type=click.Choice(["default", "valid", "test"]), default="default",
              help="Binarized MNIST's evaluation split (default: valid).")
@click.option("--eval-every", default=500, show_default=True)
@click.option("--eval-images", default=1000, show_default=True,
              help="Held-out images per evaluation; 0: all.")
@click.option("--save-every", default=250, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--no-amp", is_flag=True,
              help="No bfloat16 autocast (used on CUDA and on CPUs with bfloat16 units).")
@click.option("--threads", default=0, help="CPU threads (default: torch's choice).")
@click.option("--minutes", default=0.0, help="Stop (after saving) after this long; 0: no limit.")
@click.option("--init", type=click.Path(exists=True, dir_okay=False), metavar="CHECKPOINT",
              help="Start a new run from another checkpoint's weights where names and shapes "
                   "match (e.g. a network grown by a zero-initialised part); ignored when "
                   "--checkpoint exists and is resumed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_guarded
def train(preset, data, data_root, checkpoint, steps, batch, lr, optimizer, schedule, crop,
          heldout, eval_every, eval_images, save_every, seed, device, no_amp, threads, minutes,
          init, quiet):
    """Train a network, or resume its checkpoint. Several GPUs:
    `torchrun --nproc_per_node N -m pixcodec train ...`."""
    from pixcodec.train import TrainOptions
    from pixcodec.train import train as run_training
    opts = TrainOptions(model=preset, data=list(data), data_root=data_root,
                        checkpoint=Path(checkpoint), steps=steps, batch=batch, lr=lr,
                        optimizer=optimizer, schedule=schedule, crop=crop, heldout=heldout,
                        eval_every=eval_every, eval_images=eval_images, save_every=save_every,
                        seed=seed, device=device, amp=not no_amp, threads=threads,
                        max_minutes=minutes, init=Path(init) if init else None)
    bar = _Bar("train", not quiet)

    def progress(step, total, figures):
        bar(step, total)
        if "heldout_bpd" in figures:
            line = (f"step {step}: train {figures['train_bpd']:.4f} bits/dim, held-out "
                    f"{figures['heldout_bpd']:.4f} bits/dim "
                    f"({figures['heldout_nats_per_image']:.2f} nats/image)")
            if bar.bar is not None:
                bar.bar.write(line, file=sys.stderr)
            else:
                click.echo(line, err=True)

    try:
        run_training(opts, progress)
    except ValueError as exc:
        _raise(str(exc))
    finally:
        bar.close()


@main.command()
def configs():
    """List the network configurations `pixcodec train --model` knows, with parameter counts."""
    from pixcodec.nets.presets import PRESETS, build, parameter_count
    width = max(map(len, PRESETS))
    for name, (architecture, config) in PRESETS.items():
        details = ", ".join(f"{k}={v}" for k, v in config.items())
        click.echo(f"{name:{width}s} {parameter_count(build(name)):>12,} parameters  "
                   f"{architecture}: {details}")


@main.command()
@click.argument("datasets", metavar="DATASET|FOLDER...", nargs=-1, required=True)
@click.option("-m", "--model", "models", metavar="NAME|FILE.pxm", multiple=True,
              help="pixcodec model to measure, by name or model file; repeat for several (one "
                   "row each). Default: the shipped model for each image's colour mode.")
@click.option("--data-root", metavar="DIR", type=click.Path(file_okay=False),
              help="Folder holding the built-in data sets; default $PIXCODEC_DATA.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Bench a random sample of N images of each data set.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --limit sample.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              metavar="N",
              help="Worker processes, one image each at a time (timings then share the CPU).")
@click.option("--per-image", is_flag=True, help="Print a row per image and codec too.")
@click.option("--tile-cost", is_flag=True,
              help="Also price pixcodec's tiles: the extra NLL of coding tiles independently "
                   "rather than the whole image in one piece (float net).")
@click.option("-o", "--out", metavar="FILE", help="Write every figure to FILE (.json or .csv).")
@click.option("--plot", metavar="FILE",
              help="Plot bits/dim against seconds per image to FILE (.png; needs matplotlib).")
@click.option("-f", "--force", is_flag=True, help="Overwrite --out and --plot files.")
@_guarded
def bench(datasets, models, data_root, limit, seed, jobs, per_image, tile_cost, out, plot,
          force):
    """Measure pixcodec against the classic lossless codecs on data sets or folders of PNGs.

    \b
    Built-in data sets (under --data-root): kodak, cifar10-heldout (the last 1,000 images of
    cifar10-train-first4000.npz), bsd68-heldout (every 10th photo of bsd68/, the ones
    training holds out), imagenet32-heldout200 and imagenet64-heldout200 (200 photographs
    box-resized whole: stand-ins, not the paper's test sets), binarized-mnist-test, mnist-test.

    For each image and codec: file size in bits/dim, encode and decode seconds and an exact
    round trip check; for pixcodec also the model's NLL (the ideal) and the overhead over it.
    Classic codecs: PNG (Pillow), WebP lossless, JPEG XL, JPEG 2000, JPEG-LS and QOI (through
    imagecodecs: pip install 'pixcodec[bench]'); one that is not installed is reported as
    missing. Exits with 1 if any round trip failed or was not exact.
    """
    from pixcodec import bench as bench_lib
    from pixcodec.fileio import atomic_write, check_output_path
    if out:
        check_output_path(out, tuple(bench_lib.SERIALISERS), force)
    if plot:
        check_output_path(plot, (".png",), force)
        bench_lib.require_matplotlib()
    bar = _Bar("bench", True, unit="image")
    try:
        result = bench_lib.run_bench(datasets, models or (None,), data_root=data_root,
                                     limit=limit, seed=seed, jobs=jobs, tile_cost=tile_cost,
                                     progress=bar)
    finally:
        bar.close()
    click.echo(bench_lib.format_table(result, per_image))
    if out:
        atomic_write(out, bench_lib.SERIALISERS[Path(out).suffix.lower()](result), force)
    if plot:
        atomic_write(plot, bench_lib.plot_png(result), force)
    problems = result.problems()
    if problems:
        first = problems[0]
        _raise(f"{len(problems)} round trips failed or were not exact, first {first.dataset} / "
              f"{first.image} / {first.codec} {first.note}".rstrip())


@main.command()
@click.argument("image")
@click.option("-o", "--output", metavar="MAP.png", required=True,
              help="The heat map: bits per pixel, a colour bar, the total in the title.")
@click.option("-m", "--model", metavar="NAME|FILE.pxm",
              help="Model (see `pixcodec models`) or model file; default: the shipped model for "
                   "the image's colour type.")
@click.option("--csv", "csv_path", metavar="FILE", help="Also write each pixel's bits: y,x,bits.")
@click.option("--effort", type=click.IntRange(0, 2), metavar="0-2", default=0, show_default=True,
              help="Map the model as fitted to the image at this effort (see compress).")
@click.option("-f", "--force", is_flag=True, help="Overwrite the outputs.")
@_guarded
def bits(image, output, model, csv_path, effort, force):
    """Where the model spends its bits in IMAGE: a heat map of each pixel's code length (its
    colours summed), exact as coded; the map sums to the model's NLL of the image."""
    from pixcodec import bits as bits_lib
    from pixcodec.bench import require_matplotlib
    from pixcodec.fileio import atomic_write, check_output_path
    check_output_path(output, (".png",), force)
    if csv_path:
        check_output_path(csv_path, (".csv",), force)
    require_matplotlib("the heat map")
    result = bits_lib.bits_map(_read_input(image), model, effort)
    atomic_write(output, bits_lib.heat_map_png(result, Path(image).name), force)
    if csv_path:
        atomic_write(csv_path, bits_lib.to_csv(result), force)
    click.echo(f"{image}: {result.bits_per_dim:.3f} bits/dim ({result.model}) -> {output}")


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not HxW, e.g. 32x32") from None
    if not (1 <= height <= 1024 and 1 <= width <= 1024):
        raise click.BadParameter("each side must be 1 to 1024 pixels")
    return height, width


def _sampled_model(model: str | None):
    """A shipped model, or a `pixcodec train` checkpoint, that can be sampled:
    (name, network, levels)."""
    from pixcodec import zoo
    from pixcodec.errors import ModelError
    if model is not None and zoo.is_model_file(model) and model.endswith(".pxm"):
        model = zoo.use_model_file(model)
    elif model is not None and Path(model).is_file():
        from pixcodec.train import network_from_checkpoint
        net = network_from_checkpoint(model)
        if net.__class__.__name__ == "MultiScalePixelRNN":
            raise ModelError(f"{model}: a multi-scale network: sampling it is not supported")
        return Path(model).name, net, net.config.levels
    name = zoo.resolve_model(model, "RGB") if model is None else model
    if name not in zoo.manifest():
        modes = [m for m in ("RGB", "L", "1")
                 if any(model in i.aliases and i.codes(m) for i in zoo.manifest().values())]
        name = zoo.resolve_model(model, modes[0] if modes else "RGB")
    info = zoo.model_info(name)
    if info.architecture == "multiscale":
        raise ModelError(f"model {name!r} is multi-scale: sampling it is not supported")
    return name, zoo.load_model(name), info.levels


_sample_options = [
    click.option("-m", "--model", metavar="NAME|FILE.pxm|CHECKPOINT",
                 help="Model to draw from (see `pixcodec models`), a model file of `pixcodec "
                      "export`, or a checkpoint of `pixcodec train`; default: the RGB default."),
    click.option("-n", "count", type=click.IntRange(min=1), default=None, metavar="N",
                 help="How many images to draw."),
    click.option("--seed", type=int, default=0, show_default=True,
                 help="The same seed draws the same images on every machine."),
    click.option("--scale", type=click.IntRange(1, 16), default=None, metavar="K",
                 help="Show each pixel K times in the grid (default: so that images are at "
                      "least 64 pixels a side)."),
    click.option("-f", "--force", is_flag=True, help="Overwrite the outputs."),
]


def _sample_command(func):
    for option in reversed(_sample_options):
        func = option(func)
    return func


@main.command()
@_sample_command
@click.option("--size", metavar="HxW", help="Image size (default 32x32; 28x28 for binary "
                                            "models).")
@click.option("-o", "--output", metavar="GRID.png", required=True, help="The grid of samples.")
@click.option("--each", is_flag=True, help="Also write each sample: GRID-0.png, GRID-1.png, ...")
@_guarded
def sample(model, count, seed, scale, force, size, output, each):
    """Draw images from a model (the paper's Figure 1) and write them as one grid PNG. Sampling
    uses the exact integer tables of the codec, so a seed gives the same images everywhere."""
    from pixcodec import sampling
    from pixcodec.fileio import atomic_write, check_output_path
    name, net, levels = _sampled_model(model)
    height, width = _size(size) if size else ((28, 28) if levels == 2 else (32, 32))
    count = count or 16
    outputs = [Path(output)] + ([Path(output).with_name(f"{Path(output).stem}-{k}.png")
                                 for k in range(count)] if each else [])
    for path in outputs:
        check_output_path(path, (".png",), force)
    scale = scale or max(1, -(-64 // max(height, width)))
    bar = _Bar("sample", True)
    try:
        images = sampling.sample(net, count, height, width, seed, progress=bar)
    finally:
        bar.close()
    atomic_write(outputs[0], sampling.grid_png(sampling.in_rows(images), levels, scale), force)
    for path, image in zip(outputs[1:], images):
        atomic_write(path, sampling.grid_png([[image]], levels), force)
    click.echo(f"{count} samples of {height}x{width} from {name} (seed {seed}) -> {output}")


@main.command()
@click.argument("image")
@_sample_command
@click.option("--keep-rows", type=click.IntRange(min=0), metavar="K",
              help="Keep the top K rows and draw the rest (default: the top half).")
@click.option("--mask", metavar="MASK.png",
              help="Keep the pixels that are not black in this image of IMAGE's size.")
@click.option("-o", "--output", metavar="GRID.png", required=True,
              help="The original, the occluded input and the completions in a row.")
@_guarded
def complete(image, model, count, seed, scale, force, keep_rows, mask, output):
    """Keep part of IMAGE and draw the rest from a model, N times (the paper's occlusion
    completions, Figure 9); the kept pixels stay exactly as they are."""
    import numpy as np
    from pixcodec import api, sampling, zoo
    from pixcodec.errors import ArgumentError
    from pixcodec.fileio import atomic_write, check_output_path
    if keep_rows is not None and mask:
        raise click.UsageError("give --keep-rows or --mask, not both")
    check_output_path(output, (".png",), force)
    checkpoint = model is not None and Path(model).is_file()
    coded = api.model_input(_read_input(image), None if checkpoint else model)
    if coded is None:
        raise ArgumentError(f"{image}: palette images are not model-coded; nothing to complete")
    name, pixels, _ = coded
    name, net, levels = _sampled_model(model if checkpoint else name)
    read_as = zoo.model_info(coded[0]).levels  # 2: the image was read as 0/1 values
    if pixels.shape[2] != net.config.colours or levels != read_as:
        raise ArgumentError(f"{image}: {name} does not model images like this one "
                            f"({net.config.colours} channel(s), {levels} levels)")
    height, width = pixels.shape[:2]
    keep = np.zeros((height, width), dtype=bool)
    if mask:
        keep_pixels = api.model_input(_read_input(mask), None)
        if keep_pixels is None or keep_pixels[1].shape[:2] != (height, width):
            raise ArgumentError(f"{mask}: the mask must be a gray or RGB image of "
                                f"{width}x{height} pixels, like {image}")
        keep = keep_pixels[1].max(axis=2) > 0
    else:
        keep[:height // 2 if keep_rows is None else min(keep_rows, height)] = True
    count = count or 4
    scale = scale or max(1, -(-64 // max(height, width)))
    bar = _Bar("complete", True)
    try:
        completions = sampling.complete(net, pixels, keep, count, seed, progress=bar)
    finally:
        bar.close()
    row = [pixels, sampling.occluded(pixels, keep, levels), *completions]
    atomic_write(output, sampling.grid_png([row], levels, scale), force)
    click.echo(f"{count} completions of {image} ({int(keep.sum())} of {keep.size} pixels kept) "
               f"from {name} (seed {seed}) -> {output}")


if __name__ == "__main__":
    main()
