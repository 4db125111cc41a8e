"""The engine's per-element work, compiled (numba): each is one pass over a layer's outputs,
where numpy would make five (convert, add, multiply, shift, clamp) over int64 temporaries. The
residual block and the network's tail (head to means) are one call each per group of
positions: a wavefront step has ~150 positions, where forty numpy calls cost more than the
arithmetic.

Requantization rounds half up: ``(sum * multiplier + 2**(shift - 1)) >> shift``, in int64
(sums below 2**31 times multipliers up to 2**31). Values are handed on as float32 or float64
holding integers, the form the next product (BLAS) reads.
"""
from __future__ import annotations

import numba
import numpy as np
# numba's np.dot calls SciPy's BLAS. Loaded here, with the kernels, so that it is loaded before
# coding.one_blas_thread holds every loaded BLAS to one thread: loaded later, by the first
# call, it ran two threads beside the coding processes (a decode 3.5x slower).
import scipy.linalg.cython_blas  # noqa: F401

NO_CLAMP = 1 << 62  # a bound no integer of the engine reaches: requantization without a clamp


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


@numba.njit(cache=True, nogil=True)
def add_layer(x, layer, out, first):
    """out[:, first:first + outputs] += the requantized sums of x (N, rows) times a layer
    (matrix, bias, multiplier, shift), unclamped: a predictor's term of the means."""
    matrix, bias, multiplier, shift = layer
    terms = np.empty((x.shape[0], matrix.shape[1]), np.int64)
    requantize(np.dot(x, matrix), bias, multiplier, shift, -NO_CLAMP, NO_CLAMP, terms)
    out[:, first:first + matrix.shape[1]] += terms


@numba.njit(cache=True, nogil=True)
def median_edge(north, west, north_west):
    """LOCO-I's median edge detector (as ``nets.logistic_pixelcnn.median_edge``)."""
    return max(min(north, west), min(max(north, west), north + west - north_west))


@numba.njit(cache=True, nogil=True)
def gradient_adjusted(west, west_west, north, north_north, north_east, north_west,
                      north_north_east):
    """CALIC's gradient-adjusted prediction on integer pixels times 16 (so every halving and
    quartering below is exact): ``nets.logistic_pixelcnn.gradient_adjusted`` times 2048."""
    horizontal = abs(west - west_west) + abs(north - north_west) + abs(north - north_east)
    vertical = (abs(west - north_west) + abs(north - north_north)
                + abs(north_east - north_north_east))
    d = vertical - horizontal
    if d > 1280:
        return west
    if d < -1280:
        return north
    guess = (west + north) // 2 + (north_east - north_west) // 4
    if d > 512:
        return (guess + west) // 2
    if d > 128:
        return (3 * guess + west) // 4
    if d < -512:
        return (guess + north) // 2
    if d < -128:
        return (3 * guess + north) // 4
    return guess


@numba.njit(cache=True, nogil=True)
def network_tail(stream, head, head_codes, params, pixels, index, predictor, predictor_offsets,
                 edge, edge_offsets, gap, gap_offsets, means, mean_limit, out):
    """The network after its residual blocks, at N positions: the head on the stream's codes,
    the output layer into out (N, channels) int64, then the means (columns means[0] to
    means[1]) plus the linear predictor over the earlier pixels, the median edge guess and
    16 times CALIC's guess, each through its layer, clamped to +-mean_limit. Layers are (matrix, bias, multiplier, shift), an absent one without matrix
    rows; `pixels` holds value - 128 at the positions' flat `index` plus the offsets."""
    n, colours = len(index), pixels.shape[1]
    codes = np.empty(stream.shape, head[0].dtype)
    stream_codes(stream, head_codes[0], head_codes[1], codes)
    # the head's outputs are 8-bit codes: exact in the output layer's dtype, whichever it is
    features = np.empty((n, head[0].shape[1]), params[0].dtype)
    requantize(np.dot(codes, head[0]), head[1], head[2], head[3], 0, 255, features)
    requantize(np.dot(features, params[0]), params[1], params[2], params[3], -NO_CLAMP,
               NO_CLAMP, out)
    if predictor[0].shape[0] > 0:
        x = np.empty((n, len(predictor_offsets) * colours), predictor[0].dtype)
        gather(pixels, index, predictor_offsets, x, 0)
        add_layer(x, predictor, out, means[0])
    if edge[0].shape[0] > 0:
        x = np.empty((n, colours), edge[0].dtype)
        for i in range(n):
            for c in range(colours):
                x[i, c] = median_edge(pixels[index[i] + edge_offsets[0], c],
                                      pixels[index[i] + edge_offsets[1], c],
                                      pixels[index[i] + edge_offsets[2], c])
        add_layer(x, edge, out, means[0])
    if gap[0].shape[0] > 0:
        x = np.empty((n, colours), gap[0].dtype)
        around = np.empty(len(gap_offsets), np.int64)
        for i in range(n):
            for c in range(colours):
                for t in range(len(gap_offsets)):
                    around[t] = 16 * np.int64(pixels[index[i] + gap_offsets[t], c])
                x[i, c] = gradient_adjusted(around[0], around[1], around[2], around[3],
                                            around[4], around[5], around[6])
        add_layer(x, gap, out, means[0])
    for i in range(n):
        for o in range(means[0], means[1]):
            out[i, o] = min(max(out[i, o], -mean_limit), mean_limit)
