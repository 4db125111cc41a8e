"""The eight orientations a model plane can be coded in: the image as it is, mirrored, turned.

A network sees only what lies above and to the left of a pixel, so the same image turned or
mirrored can cost fewer bits: on held-out photos the cheapest of the eight saved 0.2 % on average
and up to 4 % (an image of tall buildings, transposed), the image as it is being the cheapest on
average (docs/TRAINING.md, "Orientation"). The encoder picks one (`adapt.choose_orientation`), the
file records it (COLR's coder byte, docs/FORMAT.md) and the decoder turns the decoded plane back.

Orientation k (0..7) is applied to an (H, W, C) plane in this order: transpose when bit 2 is
set (the plane becomes W × H), then mirror left-right when bit 0 is set, then upside down when
bit 1 is set. 0 is the plane as it is, the only one of files written before 2026-12-03.
"""
from __future__ import annotations

import numpy as np

ORIENTATIONS = range(8)
AS_IS = 0
TRANSPOSED = 4


def oriented(plane: np.ndarray, orientation: int) -> np.ndarray:
    """The (H, W, C) plane as it is coded in `orientation` (a new array unless it is 0)."""
    if orientation == AS_IS:
        return plane
    if orientation & TRANSPOSED:
        plane = plane.transpose(1, 0, 2)
    if orientation & 1:
        plane = plane[:, ::-1]
    if orientation & 2:
        plane = plane[::-1]
    return np.ascontiguousarray(plane)


def restored(plane: np.ndarray, orientation: int) -> np.ndarray:
    """The inverse of `oriented`: the plane as decoded in `orientation`, turned back."""
    if orientation == AS_IS:
        return plane
    if orientation & 2:
        plane = plane[::-1]
    if orientation & 1:
        plane = plane[:, ::-1]
    if orientation & TRANSPOSED:
        plane = plane.transpose(1, 0, 2)
    return np.ascontiguousarray(plane)


def coded_size(height: int, width: int, orientation: int) -> tuple[int, int]:
    """(height, width) of an image's plane as coded in `orientation`."""
    return (width, height) if orientation & TRANSPOSED else (height, width)
