"""`pixcodec kernels`: how the integer engine's kernels run here, and `--build` to compile them
ahead of time for this CPU (pixcodec.compiled; the build: pixcodec.build_kernels)."""
from __future__ import annotations

import sys

import click

from .common import EXIT_ERROR


@click.command()
@click.option("--build", is_flag=True,
              help="Compile the kernels ahead of time for this CPU and these sources (about "
                   "40 s; needs a C compiler). `make install` does it.")
def kernels(build):
    """Say how the integer engine's kernels run here: compiled ahead of time (a command starts
    without numba) or by numba's JIT (its cache; 0.25-0.3 s more a command). The same bytes
    either way."""
    if not build:
        from pixcodec import compiled
        click.echo(f"kernels: {compiled.describe()}")
        return
    from pixcodec import build_kernels
    if not build_kernels.main():
        sys.exit(EXIT_ERROR)
