"""`pixcodec` command: thin click wrappers over the pixcodec API.

Exit codes and one-line errors: cli/common.py; many files at once: cli/batch.py; sample and
complete: cli/sampling.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from pixcodec.limits import DEFAULT_MAX_METADATA, DEFAULT_MAX_PIXELS, MAX_TILE

from .batch import code_files, many_files
from .common import EXIT_USAGE, ProgressBar, fail, guarded, print_error, read_input
from .info import info, print_version
from .kernels import kernels
from .sampling import complete, sample


class _Commands(click.Group):
    """The `pixcodec` group, whose usage errors are one line, as every other error is (click
    prints four: usage, a hint, a blank line, the error)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            status = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as bare:  # `pixcodec` alone: the help
            click.echo(bare.ctx.get_help())
            sys.exit(EXIT_USAGE)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else prog_name
            print_error(f"{exc.format_message().rstrip('.')} (see {command} --help)")
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except click.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)  # --help, --version: 0


# ------------------------------------------------------------------------------ commands

@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=print_version,
              help="Show pixcodec's version, the libraries' that decide what a file decodes "
                   "to (constriction, torch, numpy, ...) and the shipped models, and exit.")
def main():
    """Lossless image compression with PixelCNN and PixelRNN models.

    \b
    pixcodec compress img.png              # writes img.pxc
    pixcodec compress -r photos/ -j 2      # every .png below photos/, two at a time
    pixcodec decompress img.pxc            # writes img.png
    pixcodec info img.pxc                  # what a file holds (--json), nothing decoded
    pixcodec models                        # the shipped models
    pixcodec bench kodak --data-root DIR   # against the classic lossless codecs
    pixcodec bits img.png -o map.png       # where the model spends its bits (--csv)
    pixcodec sample -n 16 -o grid.png      # images drawn from a model
    pixcodec complete img.png -o grid.png  # the rest of an image, drawn

    Exit codes: 0 success, 1 error (bad input, corrupted file, refused image, existing
    output) for any file, a bench round trip not exact; 2 usage error; 130 interrupted
    (Ctrl-C), 143 terminated (SIGTERM).
    """


@main.command()
@many_files
@click.option("-m", "--model", metavar="NAME|FILE.pxm",
              help="Model for the gray or RGB samples (see `pixcodec models`), or a model file "
                   "of `pixcodec export`; default: the shipped model for the image's colour "
                   "type.")
@click.option("--strip", is_flag=True,
              help="Drop the PNG's metadata (ICC profile, gamma, text, EXIF and every other "
                   "ancillary chunk except tRNS transparency).")
@click.option("--tile", type=click.IntRange(1, MAX_TILE), metavar="N",
              help="Side of the square tiles, coded independently side by side; "
                   "default: the model's (see `pixcodec models`), larger for a photo where "
                   "the online stage gains and a decode stays as fast. Smaller "
                   "tiles code faster and give slightly larger files.")
@click.option("--effort", type=click.IntRange(0, 2), metavar="0-2",
              help="How much of a float logistic-mixture model (-m logistic) is fitted to "
                   "each image and stored in its file: 0 nothing (fastest), 1 the cheapest of "
                   "eight orientations (turned, mirrored) to code the image in, then the output "
                   "biases and the linear predictor, 2 also the whole output layer where that "
                   "saves more (default). A fit is kept only where it saves more than it "
                   "stores. The RGB default, an integer model, adapts as it codes instead, "
                   "and other models ignore it.")
@click.option("--max-metadata", type=click.IntRange(min=0), default=DEFAULT_MAX_METADATA,
              metavar="BYTES", show_default=True,
              help="Refuse images whose PNG metadata (text, ICC profile, EXIF, other chunks) "
                   "takes more bytes than this: decompress refuses the file past its own "
                   "--max-metadata, this default unless it is raised there too.")
@click.option("--allow-jpeg", is_flag=True,
              help="Compress JPEG inputs too (refused by default: their pixels are already "
                   "lossy, and a lossless copy of them is larger than the JPEG).")
@guarded
def compress(inputs, output, recursive, jobs, threads, force, skip_existing, quiet, model, strip,
             tile, effort, max_metadata, allow_jpeg):
    """Compress images IN ('-' for stdin; folders with -r: their .png files) losslessly.

    Every PNG is kept exactly: colour type, bit depth 1-16, palette, transparency, interlacing
    and metadata. Other formats Pillow reads are kept as the PNG of their pixels."""
    code_files("compress", inputs, output, recursive, jobs, threads, force, quiet, skip_existing,
               model=model, strip=strip, tile=tile, effort=effort, max_metadata=max_metadata,
               allow_jpeg=allow_jpeg)


@main.command()
@many_files
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help=f"Refuse files of more pixels than this (default {DEFAULT_MAX_PIXELS}).")
@click.option("--max-metadata", type=click.IntRange(min=0), default=DEFAULT_MAX_METADATA,
              metavar="BYTES", show_default=True,
              help="Refuse files whose PNG metadata (text, ICC profile, EXIF, other chunks) "
                   "takes more bytes than this.")
@click.option("-m", "--model", "models", multiple=True, metavar="FILE.pxm",
              help="A model file (`pixcodec export`) for files coded with a model that is not "
                   "shipped; repeatable.")
@click.option("--model-dir", "model_dirs", multiple=True, metavar="DIR",
              help="A folder of .pxm model files to look in (also $PIXCODEC_MODEL_PATH); "
                   "repeatable.")
@click.option("--png-level", type=click.IntRange(0, 9), metavar="0-9",
              help="zlib level of the PNGs written: lower is faster, larger (default 9, "
                   "measured in docs/BENCHMARKS.md).")
@guarded
def decompress(inputs, output, recursive, jobs, threads, force, skip_existing, quiet, max_pixels,
               max_metadata, models, model_dirs, png_level):
    """Decompress .pxc files IN ('-' for stdin; folders with -r: their .pxc files) to PNG
    images identical to the originals. A file coded with your own model finds it by name and
    hash among -m files, --model-dir folders and $PIXCODEC_MODEL_PATH."""
    code_files("decompress", inputs, output, recursive, jobs, threads, force, quiet,
               skip_existing, max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
               max_metadata=max_metadata, models=(*models, *model_dirs), png_level=png_level)


@main.command()
@click.option("--path", "paths", multiple=True, metavar="FILE.pxm",
              help="Show this model file (from `pixcodec export`) instead; repeatable.")
@guarded
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
              help="The model's name, recorded in every file it codes: 1 to 64 printable ASCII "
                   "characters without spaces (default: the output file's name without .pxm). "
                   "Give other weights another name (files record the weights' hash too, so "
                   "each file still finds its own).")
@click.option("-f", "--force", is_flag=True, help="Overwrite the output.")
@guarded
def export(checkpoint, output, name, force):
    """Turn a `pixcodec train` checkpoint into a model file (.pxm: safetensors weights, the
    network's configuration and what is known of its training; no pickle) for compress -m,
    decompress -m / --model-dir, bench -m, sample -m and `models --path`."""
    from pixcodec import modelfile, zoo
    from pixcodec.errors import ModelError
    from pixcodec.fileio import atomic_write, check_output_path
    check_output_path(output, (modelfile.SUFFIX,), force)
    name = name or Path(output).stem
    if name in zoo.manifest():
        raise click.UsageError(f"{name!r} is a shipped model's name; choose another (--name)")
    try:
        modelfile.check_name(name)  # what a .pxc file can record
    except ModelError as exc:
        raise click.UsageError(f"{exc} (--name)") from None
    atomic_write(output, modelfile.export(checkpoint, name), force)
    click.echo(f"{checkpoint} -> {output}: model {name!r}")


def _benchmark_training(opts, steps: int) -> None:
    from pixcodec.train import measure_throughput
    try:
        speed = measure_throughput(opts, steps)
    except ValueError as exc:
        fail(str(exc))
    click.echo(f"{speed['model']}: {speed['images_per_s']:.1f} images/s, "
               f"{speed['ms_per_step']:.0f} ms a step (median of {steps}; batch {speed['batch']} "
               f"of {speed['side']}x{speed['side']}, {speed['threads']} thread(s), "
               f"{'bfloat16' if speed['bfloat16'] else 'float32'}, {speed['device']})")


@main.command()
@click.option("--model", "preset", required=True, metavar="NAME",
              help="Network configuration to train (see `pixcodec configs`).")
@click.option("--data", multiple=True, metavar="DATA",
              help="binarized-mnist, mnist, cifar10, imagenet32, imagenet64 (under --data-root), "
                   "or a path: an image folder, cifar-10-python.tar.gz, or an npz. Repeat to "
                   "mix sets of one image size (in proportion to their pixels). Required but "
                   "with --benchmark.")
@click.option("--data-root", metavar="DIR", envvar="PIXCODEC_DATA",
              help="Folder holding the named data sets (default: $PIXCODEC_DATA).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), metavar="FILE",
              help="Saved every --save-every steps; an existing one is resumed exactly. The CSV "
                   "log goes next to it. Required but with --benchmark.")
@click.option("--steps", default=20000, show_default=True, help="Total steps (also the lr schedule).")
@click.option("--batch", default=16, show_default=True, help="Images per step (per GPU).")
@click.option("--lr", default=1e-3, show_default=True, help="Peak learning rate.")
@click.option("--optimizer", type=click.Choice(["rmsprop", "adam"]), default="rmsprop",
              show_default=True)
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default="cosine",
              show_default=True)
@click.option("--warmup", default=0, show_default=True, metavar="STEPS",
              help="Ramp the learning rate up from 0 over this many first steps.")
@click.option("--crop", default=32, show_default=True, help="Crop side for image folders.")
@click.option("--heldout", type=click.Choice(["default", "valid", "test", "valid-tail"]),
              default="default",
              help="Binarized MNIST's evaluation split (default: valid). valid-tail: train on "
                   "the training and validation images but the last 2,000, held out.")
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
                   "match (e.g. a network grown by a zero-initialised part), a narrower "
                   "network's embedded so that the output is unchanged; ignored when "
                   "--checkpoint exists and is resumed.")
@click.option("--average", default=0.0, type=click.FloatRange(0, 1, max_open=True),
              metavar="DECAY",
              help="Also keep a running average of the weights (an exponential moving average "
                   "with this decay, e.g. 0.9995: about the last 2,000 steps), evaluated beside "
                   "them; export, --init and sampling take the average. 0: none.")
@click.option("--benchmark", type=click.IntRange(min=1), metavar="STEPS",
              help="Only time this many training steps on random images of --crop a side (no "
                   "data, no checkpoint) and print images/s.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@guarded
def train(preset, data, data_root, checkpoint, steps, batch, lr, optimizer, schedule, warmup, crop,
          heldout, eval_every, eval_images, save_every, seed, device, no_amp, threads, minutes,
          init, average, benchmark, quiet):
    """Train a network, or resume its checkpoint. Several GPUs:
    `torchrun --nproc_per_node N -m pixcodec train ...`."""
    from pixcodec.train import TrainOptions
    from pixcodec.train import train as run_training
    if not benchmark:
        for value, name in ((data, "--data"), (checkpoint, "--checkpoint")):
            if not value:
                raise click.UsageError(f"Missing option '{name}'.")
    opts = TrainOptions(model=preset, data=list(data), data_root=data_root,
                        checkpoint=Path(checkpoint or "unused"), steps=steps, batch=batch, lr=lr,
                        optimizer=optimizer, schedule=schedule, warmup=warmup, crop=crop,
                        heldout=heldout, eval_every=eval_every, eval_images=eval_images,
                        save_every=save_every, seed=seed, device=device, amp=not no_amp,
                        threads=threads, max_minutes=minutes, init=Path(init) if init else None,
                        average=average)
    if benchmark:
        _benchmark_training(opts, benchmark)
        return
    bar = ProgressBar("train", not quiet)

    def progress(step, total, figures):
        bar(step, total)
        if "heldout_bpd" in figures:
            line = (f"step {step}: train {figures['train_bpd']:.4f} bits/dim, held-out "
                    f"{figures['heldout_bpd']:.4f} bits/dim "
                    f"({figures['heldout_nats_per_image']:.2f} nats/image)")
            if "averaged_heldout_bpd" in figures:
                line += f"; averaged weights {figures['averaged_heldout_bpd']:.4f} bits/dim"
            if bar.bar is not None:
                bar.bar.write(line, file=sys.stderr)
            else:
                click.echo(line, err=True)

    try:
        run_training(opts, progress)
    except ValueError as exc:
        fail(str(exc))
    finally:
        bar.close()


@main.command()
def configs():
    """List the network configurations `pixcodec train --model` knows, with parameter counts."""
    from pixcodec.nets.presets import PRESETS, parameter_count, skeleton
    width = max(map(len, PRESETS))
    for name, (architecture, config) in PRESETS.items():
        details = ", ".join(f"{k}={v}" for k, v in config.items())
        # counted on the network's shapes alone (torch's meta device): no weights are made
        weights = parameter_count(skeleton(architecture, config))
        click.echo(f"{name:{width}s} {weights:>12,} parameters  {architecture}: {details}")


main.add_command(info)


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
@click.option("--threads", type=click.IntRange(min=1), metavar="N",
              help="Processes coding the tiles of one image at once, with --jobs 1 (default: "
                   "one per core).")
@click.option("--together", is_flag=True,
              help="Decode each data set's pixcodec files at once, small images side by side "
                   "as tiles (many times faster for digits and CIFAR); an image's decode "
                   "seconds are then its share of the whole.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Time each encode and decode N times and report the fastest.")
@click.option("--per-image", is_flag=True, help="Print a row per image and codec too.")
@click.option("--tile-cost", is_flag=True,
              help="Also price pixcodec's tiles: the extra NLL of coding tiles independently "
                   "rather than the whole image in one piece (float net).")
@click.option("-o", "--out", metavar="FILE", help="Write every figure to FILE (.json or .csv).")
@click.option("--plot", metavar="FILE",
              help="Plot bits/dim against seconds per image to FILE (.png; needs matplotlib, "
                   "in the bench and plots extras).")
@click.option("-f", "--force", is_flag=True, help="Overwrite --out and --plot files.")
@guarded
def bench(datasets, models, data_root, limit, seed, jobs, threads, together, repeat, per_image,
          tile_cost, out, plot, force):
    """Measure pixcodec against the classic lossless codecs on data sets or folders of PNGs.

    \b
    Built-in data sets (under --data-root): kodak, cifar10-heldout (the last 1,000 images of
    cifar10-train-first4000.npz), bsd68-heldout (every 10th photo of bsd68/, the ones
    training holds out), imagenet32-heldout200 and imagenet64-heldout200 (200 photographs
    box-resized whole: stand-ins, not the paper's test sets), binarized-mnist-test, mnist-test.

    For each image and codec: file size in bits/dim, encode and decode seconds and an exact
    round trip check; for pixcodec also the model's NLL (the ideal) and the overhead over it.
    Classic codecs: PNG (Pillow), WebP lossless (through imagecodecs, else Pillow's libwebp),
    JPEG XL, JPEG 2000, JPEG-LS and QOI (through imagecodecs: pip install 'pixcodec[bench]');
    one that is not installed is reported as missing. Exits with 1 if any round trip failed or
    was not exact.
    """
    from pixcodec import bench as bench_lib
    from pixcodec.fileio import atomic_write, check_output_path
    if out:
        check_output_path(out, tuple(bench_lib.SERIALISERS), force)
    if plot:
        check_output_path(plot, (".png",), force)
        bench_lib.require_matplotlib()
    bar = ProgressBar("bench", True, unit="image")
    try:
        result = bench_lib.run_bench(datasets, models or (None,), data_root=data_root,
                                     limit=limit, seed=seed, jobs=jobs, threads=threads,
                                     together=together, tile_cost=tile_cost, repeat=repeat,
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
        fail(f"{len(problems)} round trips failed or were not exact, first {first.dataset} / "
              f"{first.image} / {first.codec} {first.note}".rstrip())


@main.command()
@click.argument("image")
@click.option("-o", "--output", metavar="MAP.png",
              help="The heat map: bits per pixel, a colour bar, the total in the title (needs "
                   "matplotlib: pip install 'pixcodec[plots]').")
@click.option("-m", "--model", metavar="NAME|FILE.pxm",
              help="Model (see `pixcodec models`) or model file; default: the shipped model for "
                   "the image's colour type.")
@click.option("--csv", "csv_path", metavar="FILE",
              help="Write each pixel's bits: y,x,bits (needs nothing optional).")
@click.option("--effort", type=click.IntRange(0, 2), metavar="0-2", default=0, show_default=True,
              help="Map the model as fitted to the image at this effort (see compress).")
@click.option("-f", "--force", is_flag=True, help="Overwrite the outputs.")
@guarded
def bits(image, output, model, csv_path, effort, force):
    """Where the model spends its bits in IMAGE: each pixel's code length (its colours summed),
    exact as coded, as a heat map (-o) and/or numbers (--csv); the map sums to the model's NLL
    of the image."""
    from pixcodec import bits as bits_lib
    from pixcodec.fileio import atomic_write, check_output_path
    from pixcodec.figures import PLOTS_INSTALL_HINT, require_matplotlib
    if not output and not csv_path:
        raise click.UsageError("nothing to write: give -o MAP.png, --csv FILE or both")
    if output:
        check_output_path(output, (".png",), force)
    if csv_path:
        check_output_path(csv_path, (".csv",), force)
    if output:
        require_matplotlib("the heat map", f"{PLOTS_INSTALL_HINT}; or --csv alone")
    result = bits_lib.bits_map(read_input(image), model, effort)
    if output:
        atomic_write(output, bits_lib.heat_map_png(result, Path(image).name), force)
    if csv_path:
        atomic_write(csv_path, bits_lib.to_csv(result), force)
    written = " and ".join(path for path in (output, csv_path) if path)
    click.echo(f"{image}: {result.bits_per_dim:.3f} bits/dim ({result.model}) -> {written}")


main.add_command(sample)
main.add_command(complete)
main.add_command(kernels)


if __name__ == "__main__":
    main()
