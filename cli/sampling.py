"""`pixcodec sample` and `pixcodec complete`: images drawn from a model (pixcodec.sampling)."""
from __future__ import annotations

from pathlib import Path

import click

from .common import ProgressBar, guarded, read_input, with_options


def _grid_scale(height: int, width: int) -> int:
    """Pixels shown per image pixel: images at least 64 pixels a side in the grid."""
    return max(1, -(-64 // max(height, width)))


def _drawn(label: str, draw):
    """draw(progress) under a progress bar on a terminal."""
    bar = ProgressBar(label, True)
    try:
        return draw(bar)
    finally:
        bar.close()


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


_sample_command = with_options([
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
])


@click.command()
@_sample_command
@click.option("--size", metavar="HxW", help="Image size (default 32x32; 28x28 for binary "
                                            "models).")
@click.option("-o", "--output", metavar="GRID.png", required=True, help="The grid of samples.")
@click.option("--each", is_flag=True, help="Also write each sample: GRID-0.png, GRID-1.png, ...")
@guarded
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
    scale = scale or _grid_scale(height, width)
    images = _drawn("sample", lambda bar: sampling.sample(net, count, height, width, seed,
                                                           progress=bar))
    atomic_write(outputs[0], sampling.grid_png(sampling.in_rows(images), levels, scale), force)
    for path, image in zip(outputs[1:], images):
        atomic_write(path, sampling.grid_png([[image]], levels), force)
    click.echo(f"{count} samples of {height}x{width} from {name} (seed {seed}) -> {output}")


@click.command()
@click.argument("image")
@_sample_command
@click.option("--keep-rows", type=click.IntRange(min=0), metavar="K",
              help="Keep the top K rows and draw the rest (default: the top half).")
@click.option("--mask", metavar="MASK.png",
              help="Keep the pixels that are not black in this image of IMAGE's size.")
@click.option("-o", "--output", metavar="GRID.png", required=True,
              help="The original, the occluded input and the completions in a row.")
@guarded
def complete(image, model, count, seed, scale, force, keep_rows, mask, output):
    """Keep part of IMAGE and draw the rest from a model, N times (the paper's occlusion
    completions, Figure 9); the kept pixels stay exactly as they are."""
    import numpy as np
    from pixcodec import api, sampling
    from pixcodec.errors import ArgumentError
    from pixcodec.fileio import atomic_write, check_output_path
    if keep_rows is not None and mask:
        raise click.UsageError("give --keep-rows or --mask, not both")
    check_output_path(output, (".png",), force)
    checkpoint = model is not None and Path(model).is_file()
    coded = api.model_input(read_input(image), None if checkpoint else model)
    if coded is None:
        raise ArgumentError(f"{image}: palette images are not model-coded; nothing to complete")
    read_with, pixels = coded
    name, net, levels = _sampled_model(model if checkpoint else read_with.name)
    read_as = read_with.levels  # 2: the image was read as 0/1 values
    if pixels.shape[2] != net.config.colours or levels != read_as:
        raise ArgumentError(f"{image}: {name} does not model images like this one "
                            f"({net.config.colours} channel(s), {levels} levels)")
    height, width = pixels.shape[:2]
    keep = np.zeros((height, width), dtype=bool)
    if mask:
        keep_pixels = api.model_input(read_input(mask), None)
        if keep_pixels is None or keep_pixels[1].shape[:2] != (height, width):
            raise ArgumentError(f"{mask}: the mask must be a gray or RGB image of "
                                f"{width}x{height} pixels, like {image}")
        keep = keep_pixels[1].max(axis=2) > 0
    else:
        keep[:height // 2 if keep_rows is None else min(keep_rows, height)] = True
    count = count or 4
    scale = scale or _grid_scale(height, width)
    completions = _drawn("complete", lambda bar: sampling.complete(net, pixels, keep, count,
                                                                    seed, progress=bar))
    row = [pixels, sampling.occluded(pixels, keep, levels), *completions]
    atomic_write(output, sampling.grid_png([row], levels, scale), force)
    click.echo(f"{count} completions of {image} ({int(keep.sum())} of {keep.size} pixels kept) "
               f"from {name} (seed {seed}) -> {output}")
