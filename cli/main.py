"""`pixcodec` command: thin click wrappers over the pixcodec API.

Exit codes: 0 success; 1 a file could not be compressed or decompressed (bad input, corrupted
file, refused image, existing output), or a bench round trip failed or was not exact; 2 usage
error; 130 interrupted by Ctrl-C.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _fail(message: str) -> None:
    click.echo(f"pixcodec: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _guarded(func):
    """Run a command turning every expected failure into one line and an exit code."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from pixcodec.errors import PixcodecError
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("pixcodec: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except PixcodecError as exc:
            _fail(str(exc))
        except FileNotFoundError as exc:
            _fail(f"no such file: {exc.filename}")
        except IsADirectoryError as exc:
            _fail(f"{exc.filename} is a directory")
        except PermissionError as exc:
            _fail(f"permission denied: {exc.filename}")
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        except MemoryError:
            _fail("out of memory")
    return wrapper


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _write_output(path: str, data: bytes, force: bool) -> None:
    from pixcodec.fileio import atomic_write
    if path == "-":
        if sys.stdout.isatty():
            _fail("refusing to write binary data to a terminal (use -o FILE)")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic_write(path, data, force)


def _check_output(input: str, output: str, force: bool) -> None:
    if output == "-":
        return
    out = Path(output)
    if input != "-" and out.exists() and out.resolve() == Path(input).resolve():
        _fail(f"{output} is the input file; pixcodec never overwrites its input")
    if out.exists() and not force:
        _fail(f"{output} already exists (use --force to overwrite)")


def _default_output(path: str, suffix: str) -> str:
    if path == "-":
        return "-"
    return str(Path(path).with_suffix(suffix))


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


def _with_bar(label: str, quiet: bool, func, *args, **kwargs):
    bar = _Bar(label, not quiet)
    try:
        return func(*args, progress=bar, **kwargs)
    finally:
        bar.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pixcodec", prog_name="pixcodec")
def main():
    """Lossless image compression with PixelCNN models.

    \b
    pixcodec compress img.png              # writes img.pxc
    pixcodec decompress img.pxc            # writes img.png
    pixcodec models                        # the shipped models
    pixcodec bench kodak --data-root DIR   # against the classic lossless codecs

    Exit codes: 0 success, 1 error (bad input, corrupted file, refused image, existing
    output, a bench round trip not exact), 2 usage error, 130 interrupted.
    """


@main.command()
@click.argument("input", metavar="IN")
@click.option("-o", "--output", metavar="OUT",
              help="Output file; default IN with suffix .pxc; '-' for stdout.")
@click.option("-m", "--model", metavar="NAME",
              help="Model to use (see `pixcodec models`); default: the shipped model for the "
                   "image's colour mode.")
@click.option("-f", "--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@_guarded
def compress(input, output, model, force, quiet):
    """Compress the image IN (8-bit grayscale or RGB PNG; '-' for stdin) losslessly."""
    import pixcodec
    output = output or _default_output(input, ".pxc")
    _check_output(input, output, force)
    result = _with_bar("compress", quiet, pixcodec.encode, _read_input(input), model)
    _write_output(output, result.data, force)
    if not quiet:
        h = result.header
        click.echo(f"{input} -> {output}: {h.width}x{h.height} {h.mode}, {len(result.data)} "
                   f"bytes, {8 * len(result.data) / result.dims:.3f} bits/dim "
                   f"(model {result.nll_bits / result.dims:.3f}, {h.model})", err=True)


@main.command()
@click.argument("input", metavar="IN")
@click.option("-o", "--output", metavar="OUT",
              help="Output PNG; default IN with suffix .png; '-' for stdout.")
@click.option("-f", "--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse files of more pixels than this (default 268435456).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@_guarded
def decompress(input, output, force, max_pixels, quiet):
    """Decompress the .pxc file IN ('-' for stdin) to a PNG identical to the original."""
    import pixcodec
    from pixcodec.container import DEFAULT_MAX_PIXELS
    from pixcodec.imageio import encode_png
    output = output or _default_output(input, ".png")
    _check_output(input, output, force)
    result = _with_bar("decompress", quiet, pixcodec.decode, _read_input(input),
                       max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    _write_output(output, encode_png(result.pixels, result.header.mode), force)
    if not quiet:
        h = result.header
        click.echo(f"{input} -> {output}: {h.width}x{h.height} {h.mode}", err=True)


@main.command()
@_guarded
def models():
    """List the shipped models with their measured bits/dim."""
    from pixcodec import zoo
    for info in zoo.manifest().values():
        default = f" (default for {info.default_for})" if info.default_for else ""
        measured = ", ".join(f"{k} {v:.3f}" for k, v in info.measured.items())
        click.echo(f"{info.name}{default}: {info.architecture} {info.config}")
        click.echo(f"    bits/dim: {measured}")


@main.command()
@click.option("--model", "preset", required=True, metavar="NAME",
              help="Network configuration to train (see `pixcodec configs`).")
@click.option("--data", required=True, metavar="DATA",
              help="binarized-mnist, mnist, cifar10, imagenet32, imagenet64 (under --data-root), "
                   "or a path: an image folder, cifar-10-python.tar.gz, or an npz.")
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
@click.option("--no-amp", is_flag=True, help="No bfloat16 autocast on CUDA.")
@click.option("--threads", default=0, help="CPU threads (default: torch's choice).")
@click.option("--minutes", default=0.0, help="Stop (after saving) after this long; 0: no limit.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_guarded
def train(preset, data, data_root, checkpoint, steps, batch, lr, optimizer, schedule, crop,
          heldout, eval_every, eval_images, save_every, seed, device, no_amp, threads, minutes,
          quiet):
    """Train a network, or resume its checkpoint. Several GPUs:
    `torchrun --nproc_per_node N -m pixcodec train ...`."""
    from pixcodec.train import TrainOptions
    from pixcodec.train import train as run_training
    opts = TrainOptions(model=preset, data=data, data_root=data_root,
                        checkpoint=Path(checkpoint), steps=steps, batch=batch, lr=lr,
                        optimizer=optimizer, schedule=schedule, crop=crop, heldout=heldout,
                        eval_every=eval_every, eval_images=eval_images, save_every=save_every,
                        seed=seed, device=device, amp=not no_amp, threads=threads,
                        max_minutes=minutes)
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
        _fail(str(exc))
    finally:
        bar.close()


@main.command()
def configs():
    """List the network configurations `pixcodec train --model` knows, with parameter counts."""
    from pixcodec.nets.presets import PRESETS, build, parameter_count
    for name, (architecture, config) in PRESETS.items():
        details = ", ".join(f"{k}={v}" for k, v in config.items())
        click.echo(f"{name:22s} {parameter_count(build(name)):>12,} parameters  "
                   f"{architecture}: {details}")


@main.command()
@click.argument("datasets", metavar="DATASET|FOLDER...", nargs=-1, required=True)
@click.option("-m", "--model", "models", metavar="NAME", multiple=True,
              help="pixcodec model to measure; repeat for several (one row each). Default: the "
                   "shipped model for each image's colour mode.")
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
    cifar10-train-first4000.npz), binarized-mnist-test, mnist-test.

    For each image and codec: file size in bits/dim, encode and decode seconds and an exact
    round trip check; for pixcodec also the model's NLL (the ideal) and the overhead over it.
    Classic codecs: PNG (Pillow), WebP lossless, JPEG XL, JPEG 2000, JPEG-LS and QOI (through
    imagecodecs: pip install 'pixcodec[bench]'); one that is not installed is reported as
    missing. Exits with 1 if any round trip failed or was not exact.
    """
    from pixcodec import bench as bench_lib
    from pixcodec.fileio import atomic_write
    if out:
        bench_lib.check_output_path(out, tuple(bench_lib.SERIALISERS), force)
    if plot:
        bench_lib.check_output_path(plot, (".png",), force)
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
        _fail(f"{len(problems)} round trips failed or were not exact, first {first.dataset} / "
              f"{first.image} / {first.codec} {first.note}".rstrip())


if __name__ == "__main__":
    main()
