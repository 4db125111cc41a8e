"""What pixcodec and its files are, without coding anything: `pixcodec --version` (the versions
that decide what a file decodes to) and `pixcodec info FILE.pxc` (a file's header and sections,
read and checked as decompress reads them, no pixel decoded).
"""
from __future__ import annotations

import json
import sys
from importlib import metadata, resources

import click

from .common import EXIT_ERROR, message_of, print_error, read_input, reported

# The packages whose versions decide what pixcodec writes and reads (the coder's, the float
# networks', the arrays'), shown by --version from their installed metadata: none is imported.
_LIBRARIES = ("constriction", "torch", "numpy", "numba", "Pillow", "click")


def version_text() -> str:
    """`pixcodec --version`: pixcodec's version, the libraries', and the shipped models (read
    from the manifest as it is: no torch or numpy is loaded)."""
    def installed(name: str) -> str:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            return f"{name} not installed"

    models = json.loads(resources.files("pixcodec.weights").joinpath("manifest.json")
                        .read_text())
    defaults = ", ".join(f"{name} ({entry['default_for']})" for name, entry in models.items()
                         if entry.get("default_for"))
    return (f"pixcodec {metadata.version('pixcodec')}\n"
            f"python {'.'.join(map(str, sys.version_info[:3]))}, "
            + ", ".join(map(installed, _LIBRARIES)) + "\n"
            f"{len(models)} shipped models (pixcodec models); defaults: {defaults}")


def print_version(ctx: click.Context, _param, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_text())
        ctx.exit()


_CODERS = {1: "range coder, whole words", 2: "range coder, cut", 3: "integer engine's rANS",
           4: "integer engine's rANS, online stage"}


def _orientation(k: int) -> str:
    """docs/FORMAT.md's orientation k in words (pixcodec/orientation.py applies it)."""
    turns = [word for bit, word in ((4, "transposed"), (1, "mirrored"), (2, "upside down"))
             if k & bit]
    return " then ".join(turns) or "as it is"


def describe(data: bytes) -> dict:
    """What a .pxc file holds, from its header and sections alone (checked as decompress
    checks them; no pixel is decoded, so any size is shown)."""
    from pixcodec import container, zoo
    from pixcodec.errors import ModelError
    from pixcodec.planes import ADAPT, COLOUR, MODEL_CHANNELS
    from pixcodec.sections import unpack_model_plane
    header, sections = container.unpack(data, max_pixels=2**32)
    pixels = header.width * header.height
    summary = {"bytes": len(data), "version": header.version, "width": header.width,
               "height": header.height, "colour_type": header.colour_type,
               "colour": header.describe(), "bit_depth": header.bit_depth,
               "interlaced": header.interlaced,
               "bits_per_dim": 8 * len(data) / (pixels * header.channels),
               "sections": {kind.decode(): len(body) for kind, body in sections.items()},
               "model": None, "adaptation": None}
    if ADAPT in sections and len(sections[ADAPT]) >= 2:  # level and step: docs/FORMAT.md, ADPT
        body = sections[ADAPT]
        summary["adaptation"] = {"level": body[0] & 0x0F, "step": f"2^-{body[1]}"}
    if COLOUR in sections:
        plane = unpack_model_plane(sections[COLOUR], header)
        name = plane.model
        if name is None:
            try:
                name = zoo.model_by_id(plane.model_id)
            except ModelError:
                name = f"shipped model number {plane.model_id} (unknown here)"
        modes = None
        if plane.modes is not None:
            from pixcodec.classic import MODE_NAMES
            modes = {MODE_NAMES.get(m, str(m)): plane.modes.count(m) for m in set(plane.modes)}
        summary["model"] = {
            "name": name, "registry_number": plane.model_id or None,
            "weights_sha256": plane.weights_sha256.hex(), "coder": plane.coder,
            "coder_name": _CODERS.get(plane.coder, "unknown"),
            "channels": MODEL_CHANNELS[header.colour_type],
            "orientation": plane.orientation, "orientation_name": _orientation(plane.orientation),
            "tile": plane.tile, "tiles": container.tile_count(header.height, header.width,
                                                                plane.tile),
            "tile_bytes": [len(s) for s in plane.streams] if plane.version > 2 else None,
            "tile_modes": modes}
    return summary


def _text(path: str, s: dict) -> str:
    lines = [f"{path}: {s['bytes']:,} bytes, format version {s['version']}, "
             f"{s['bits_per_dim']:.3f} bits/dim",
             f"  image: {s['width']}x{s['height']} {s['colour']}"
             + (", interlaced" if s["interlaced"] else ""),
             "  sections: " + ", ".join(f"{k} {v:,} bytes" for k, v in s["sections"].items())]
    m = s["model"]
    if m is not None:
        sha = m["weights_sha256"]
        sha = sha if len(sha) == 64 else f"{sha}... (its first {len(sha) // 2} bytes)"
        lines.append(f"  model: {m['name']}, weights sha256 {sha}, coder {m['coder']} "
                     f"({m['coder_name']})")
        sizes = m["tile_bytes"]
        streams = ("" if sizes is None else f", a stream of {sizes[0]:,} bytes" if len(sizes) == 1
                   else f", streams of {min(sizes):,} to {max(sizes):,} bytes")
        modes = ("" if m["tile_modes"] is None else "; " + ", ".join(
            f"{count} {mode}" for mode, count in sorted(m["tile_modes"].items())))
        lines.append(f"  tiles: {m['tiles']} of {m['tile']}x{m['tile']}{streams}{modes}")
        lines.append(f"  orientation: {m['orientation']} ({m['orientation_name']})")
        a = s["adaptation"]
        lines.append("  adaptation: " + (
            "none (effort 0, or no fit paid for itself)" if a is None else
            f"level {a['level']} (fitted at effort {a['level']} or more), steps of {a['step']}"))
    return "\n".join(lines)


@click.command()
@click.argument("inputs", metavar="FILE.pxc...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list, one object per file (an 'error' key for a file that "
                   "cannot be read), for scripts.")
def info(inputs, as_json):
    """Show what .pxc files hold without decoding them: size, format version, image size and
    colour type, sections, model, coder, tiles, orientation and adaptation (effort). Each file
    is checked as decompress checks it before pixels; a bad one is reported and the others go
    on (exit 1)."""
    failed = 0
    summaries = []
    for path in inputs:
        try:
            summary = describe(read_input(path))
        except Exception as exc:
            if not reported(exc):
                raise
            failed += 1
            if as_json:
                summaries.append({"file": path, "error": message_of(exc)})
            else:
                print_error(f"{path}: {message_of(exc)}")
            continue
        summaries.append({"file": path, **summary})
        if not as_json:
            click.echo(_text(path, summary))
    if as_json:
        click.echo(json.dumps(summaries, indent=1))
    if failed:
        sys.exit(EXIT_ERROR)
