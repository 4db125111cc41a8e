"""The engine's per-element work, compiled (numba): each is one pass over a layer's outputs,
where numpy would make five (convert, add, multiply, shift, clamp) over int64 temporaries.

Requantization rounds half up: ``(sum * multiplier + 2**(shift - 1)) >> shift``, in int64
(sums below 2**31 times multipliers up to 2**31). Values are handed on as float32 or float64
holding integers, the form the next product (BLAS) reads.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def requantize(sums, bias, multiplier, shift, low, high, out):
    """out[n, o] = clamp(((sums[n, o] + bias[o]) * multiplier[o] + half) >> shift[o], low,
    high): a layer's integer sums (float32 or float64 holding integers) onto its output grid."""
    for n in range(sums.shape[0]):
        for o in range(sums.shape[1]):
            s = np.int64(sums[n, o]) + bias[o]
            v = (s * multiplier[o] + (np.int64(1) << (shift[o] - 1))) >> shift[o]
            out[n, o] = min(max(v, low), high)


@numba.njit(cache=True, nogil=True)
def stream_codes(stream, multiplier, shift, out):
    """The 8-bit codes of ReLU(stream) for the next layer: clamp((max(a, 0) * m + half) >>
    shift, 0, 255); the stream holds integers in units of 2**-12."""
    half = np.int64(1) << (shift - 1)
    for n in range(stream.shape[0]):
        for o in range(stream.shape[1]):
            a = np.int64(stream[n, o])
            out[n, o] = min(((a * multiplier + half) >> shift) if a > 0 else 0, 255)


@numba.njit(cache=True, nogil=True)
def add_to_stream(stream, update, limit):
    """stream += update, clamped to +-limit (the residual sum, exact in float32: |values| <
    2**22)."""
    for n in range(stream.shape[0]):
        for o in range(stream.shape[1]):
            stream[n, o] = min(max(stream[n, o] + update[n, o], -limit), limit)


@numba.njit(cache=True, nogil=True)
def gather(cache, centres, offsets, out, first):
    """out[n, first + t * C + c] = cache[centres[n] + offsets[t], c]: the neighbours a
    convolution reads, from a flat-indexed cache of C channels."""
    channels = cache.shape[1]
    for n in range(len(centres)):
        for t in range(len(offsets)):
            row = centres[n] + offsets[t]
            base = first + t * channels
            for c in range(channels):
                out[n, base + c] = cache[row, c]


@numba.njit(cache=True, nogil=True)
def residual_block(stream, cache, index, offsets, reduce_w, reduce_b, reduce_m, reduce_s,
                   input_m, input_s, spatial_w, spatial_b, spatial_m, spatial_s, expand_w,
                   expand_b, expand_m, expand_s, limit):
    """One residual block at N positions, in place on the stream (N, 2h): the 8-bit codes of
    ReLU(stream), the 1x1 reduction (whose codes are written to the block's cache at `index`
    for later positions), the 3xW spatial layer over the cached neighbours and the centre, the
    1x1 expansion added to the stream. Weights are (inputs, outputs) matrices of integers in
    float32 (or float64, for both paths of the tests); products by BLAS (np.dot), exact."""
    n = stream.shape[0]
    hidden = reduce_w.shape[1]
    dtype = reduce_w.dtype
    codes = np.empty(stream.shape, dtype)
    stream_codes(stream, input_m, input_s, codes)
    reduced = np.empty((n, hidden), dtype)
    requantize(np.dot(codes, reduce_w), reduce_b, reduce_m, reduce_s, 0, 255, reduced)
    for i in range(n):
        for c in range(hidden):
            cache[index[i], c] = reduced[i, c]
    taps = len(offsets) * hidden
    x = np.empty((n, taps + hidden), dtype)
    gather(cache, index, offsets, x, 0)
    x[:, taps:] = reduced
    spatial = np.empty((n, hidden), dtype)
    requantize(np.dot(x, spatial_w), spatial_b, spatial_m, spatial_s, 0, 255, spatial)
    update = np.empty(stream.shape, np.float32)
    requantize(np.dot(spatial, expand_w), expand_b, expand_m, expand_s, -limit, limit, update)
    add_to_stream(stream, update, limit)
