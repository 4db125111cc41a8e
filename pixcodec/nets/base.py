"""What a network is to the rest of pixcodec, declared once.

* `CodingNetwork`: what the coding path asks of a network (the loop of ``pixcodec.codec``, the
  encoder's passes, ``pixcodec.likelihood``): its tables, whole images at once or along the
  coding wavefront through a `Stepper`, and the geometry of what a position depends on.
* `PixelNetwork`: a trained torch network, for training and coding alike: ``run(x, arith)``
  is the network's own code, once, in either arithmetic of ``pixcodec.nets.arithmetic``.
* `NetworkConfig`, `check_config`: what every network's configuration shares.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import fixedpoint as fx
from ..coder import TRIMMED, WORDS
from .arithmetic import FLOAT, ExactArithmetic
from ..engine.wavefront import slope_for, wavefront_steps
from .layers import check_levels, check_spatial_width, normalise_pixels, split_logits

COLOURS = (1, 3)  # gray, RGB


class NetworkConfig:
    """What every network's configuration (a frozen dataclass) shares: ``colours`` and
    ``levels``, and its dict (a checkpoint's, a manifest's, a .pxm file's)."""

    def to_dict(self) -> dict:
        return asdict(self)


def check_config(config: NetworkConfig, widths: tuple[int, ...] = ()) -> None:
    """The checks the configurations share: ``colours`` 1 or 3, ``levels`` and
    ``spatial_width`` as ``pixcodec.nets.layers`` allows them, and at least one channel per
    colour in each of `widths` (layers whose channels are grouped by colour)."""
    if config.colours not in COLOURS:
        raise ValueError("colours must be 1 or 3")
    check_levels(config.levels)
    check_spatial_width(config.spatial_width)
    if min(widths, default=config.colours) < config.colours:
        raise ValueError("every layer needs at least one channel per colour")


class Stepper(Protocol):
    """A network run a few positions at a time over a round of tiles, in exact arithmetic, from
    cached features of the positions already coded (``pixcodec.nets.incremental``)::

        stepper = net.stepper(tile_sizes)           # a round of independent tiles, (h, w) each
        for tile, row, col in stepper.steps():      # the positions of each step, in order
            stepper.at(tile, row, col)
            for colour in range(colours):
                table = stepper.table(colour)       # int64 (N, levels)
                stepper.reveal(colour, symbols)     # the values there
    """

    # None, or after `at` a bool tensor marking positions whose values the decoder already
    # has (the multi-scale network's subsampled pixels): their tables are computed, for the
    # features, but they are not coded.
    known: torch.Tensor | None

    def steps(self): ...

    def at(self, tile: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None: ...

    def table(self, colour: int) -> torch.Tensor: ...

    def reveal(self, colour: int, symbols: torch.Tensor) -> None: ...


class CodingNetwork:
    """What the coding path asks of a network. ``config`` holds ``colours`` and ``levels``
    (values per subpixel); the rest is below. The steppers go along a wavefront: position
    (r, c) of every tile at step c + slope * r, the slope the smallest for which nothing a
    position depends on comes at the same step or later."""

    # The encoder takes a large tile's tables from banded exact passes unless the network's
    # stepper is as fast (pixcodec.encoder.encode_tiles).
    band_passes_pay = True
    # The container's coder ids its files may use (pixcodec.coder); the first is written.
    coders = (TRIMMED, WORDS)
    # Whether the encoder may fit it to each image (pixcodec.adapt decides what, if anything).
    per_image_fits = True
    # Whether its coding runs outside Python's lock (compiled code that releases the GIL), so
    # an image's tiles are shared among threads of one process, with no worker process to
    # start (pixcodec.scheduling.in_groups).
    codes_in_threads = False

    def stepper(self, tile_sizes: list[tuple[int, int]]) -> Stepper:
        raise NotImplementedError

    def exact_tables(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols (B, C, H, W) -> the coder's int64 tables (B, C, levels, H, W), every
        position at once: the very tables the stepper gives, read by ``table_weights``."""
        raise NotImplementedError

    @staticmethod
    def table_weights(tables: np.ndarray) -> np.ndarray:
        """int64 tables (N, levels), as ``exact_tables`` and the steppers give them -> the
        coder's float64 integer-valued weights."""
        return fx.probability_weights(tables)

    def dependency_offsets(self) -> set[tuple[int, int]] | None:
        """(dy, dx) of every earlier position a position's tables can depend on; None where
        they reach every row above (the recurrent networks)."""
        return None

    def wavefront_slope(self, width: int) -> int | None:
        """The coding wavefront's slope for tiles of this width; None for a network that is
        not coded along one plain wavefront (multi-scale): the encoder's passes do not serve
        it."""
        offsets = self.dependency_offsets()
        return None if offsets is None else slope_for(offsets)

    def halo_rows(self) -> int | None:
        """Rows above a position that its tables can depend on; None: every row above."""
        offsets = self.dependency_offsets()
        return None if offsets is None else max(-dy for dy, _ in offsets)

    def step_count(self, tile_sizes: list[tuple[int, int]]) -> int:
        """The coding loop's steps over a round of tiles of these sizes (its progress total),
        without building a stepper."""
        return wavefront_steps(tile_sizes, self.wavefront_slope(max(w for _, w in tile_sizes)))

    def cache_channels(self) -> int:
        """Float32 channels the stepper caches per position (sets the size of coding rounds)."""
        raise NotImplementedError


class PixelNetwork(nn.Module, CodingNetwork):
    """A trained torch network: ``run(x, arith)`` maps normalised pixels to output channels
    (the network's own code); these wrap it for training and for the exact tables."""

    # Convolution stacks train faster on CPU with channels-last tensors (measured for the
    # photo networks: -20 % time a step for photo_logistic, -6 % for photo_pixelcnn).
    prefers_channels_last = False

    def run(self, x: torch.Tensor, arith=FLOAT) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols (B, C, H, W) -> float logits (B, C, levels, H, W)."""
        cfg = self.config
        return split_logits(self.run(normalise_pixels(x, cfg.levels)), cfg.colours, cfg.levels)

    def loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Mean NLL in nats per subpixel of symbols x (B, C, H, W) given ``forward(x)``."""
        return F.cross_entropy(out.float().transpose(1, 2), x.long())

    @torch.no_grad()
    def forward_exact(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols (B, C, H, W) -> int64 logits (B, C, levels, H, W) in fixed point."""
        cfg = self.config
        out = self.run(normalise_pixels(x.to(torch.float64), cfg.levels), ExactArithmetic(self))
        return split_logits(fx.integer_logits(out), cfg.colours, cfg.levels)

    def exact_tables(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols (B, C, H, W) -> the coder's int64 tables (B, C, levels, H, W): here integer
        logits, read by ``table_weights``."""
        return self.forward_exact(x)
