"""The engine's per-element work, compiled (numba): each is one pass over a layer's outputs,
where numpy would make five (convert, add, multiply, shift, clamp) over int64 temporaries. The
residual block and the network's tail (head to means) are one call each per group of
positions: a wavefront step has ~150 positions, where forty numpy calls cost more than the
arithmetic.

Requantization rounds half up: ``(sum * multiplier + 2**(shift - 1)) >> shift``
(``requantized``, the one place of that rule), in int64
(sums below 2**31 times multipliers up to 2**31). Values are handed on as float32 or float64
holding integers, the form the next product (BLAS) reads.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import numpy as np
import scipy

from ..compiled import kernel, setup
from . import vnni


def _load_scipy_blas() -> None:
    """numba's np.dot calls SciPy's BLAS, which it finds by importing scipy.linalg.cython_blas.
    Loaded here, with the kernels, so that it is loaded before scheduling.one_blas_thread holds
    every loaded BLAS to one thread: loaded later, by the first call, it ran two threads beside
    the coding processes (a decode 3.5x slower). Loaded alone, without running scipy.linalg's
    __init__, which imports all of SciPy's linear algebra (and numpy.f2py): 0.15 s of every
    command's start here, for one table of function pointers. Imported as usual where the
    file is not found where SciPy keeps it."""
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return
    folder = Path(scipy.__file__).parent / "linalg"
    found = [folder / f"cython_blas{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES
             if (folder / f"cython_blas{suffix}").is_file()]
    spec = importlib.util.spec_from_file_location(name, found[0]) if found else None
    if spec is None or spec.loader is None:
        importlib.import_module(name)
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


_load_scipy_blas()

NO_CLAMP = 1 << 62  # a bound no integer of the engine reaches: requantization without a clamp


@kernel(nogil=True, inline="always")
def requantized(total, multiplier, shift):
    """(total * multiplier + half) >> shift: the rounding (half up) of every requantization."""
    return (total * multiplier + (np.int64(1) << (shift - 1))) >> shift


@kernel(nogil=True)
def requantize(sums, bias, multiplier, shift, low, high, out):
    """out[n, o] = clamp(requantized(sums[n, o] + bias[o], multiplier[o], shift[o]), low,
    high): a layer's integer sums (float32 or float64 holding integers) onto its output grid."""
    for n in range(sums.shape[0]):
        for o in range(sums.shape[1]):
            v = requantized(np.int64(sums[n, o]) + bias[o], multiplier[o], shift[o])
            out[n, o] = min(max(v, low), high)


@kernel(nogil=True)
def stream_codes(stream, multiplier, shift, out):
    """The 8-bit codes of ReLU(stream) for the next layer: clamp((max(a, 0) * m + half) >>
    shift, 0, 255); the stream holds integers in units of 2**-12."""
    for n in range(stream.shape[0]):
        for o in range(stream.shape[1]):
            a = np.int64(stream[n, o])
            out[n, o] = min(requantized(a, multiplier, shift) if a > 0 else 0, 255)


@kernel(nogil=True)
def add_to_stream(sums, bias, multiplier, shift, limit, stream):
    """stream += the requantized sums (clamped to +-limit, as ``requantize``), clamped to
    +-limit again: a block's update added to the residual stream (exact in float32: |values| <
    2**22) in the pass that requantizes it, where a pass of its own cost 4 % of a block."""
    for n in range(sums.shape[0]):
        for o in range(sums.shape[1]):
            v = requantized(np.int64(sums[n, o]) + bias[o], multiplier[o], shift[o])
            v = min(max(v, -limit), limit)
            stream[n, o] = min(max(stream[n, o] + v, -limit), limit)


@kernel(nogil=True)
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


@kernel(nogil=True)
def gather_values(pixels, centres, offsets, out):
    """out[n, t * C + c] = pixels[centres[n] + offsets[t], c] + 128: the pixels a convolution
    reads (the cache holds value - 128) as values 0 to 255, in out's dtype."""
    colours = pixels.shape[1]
    for n in range(len(centres)):
        for t in range(len(offsets)):
            row = centres[n] + offsets[t]
            for c in range(colours):
                out[n, t * colours + c] = pixels[row, c] + 128


def product(x, weights, outputs):
    """x (N, inputs) times a layer's weights -> (N, outputs) integer sums, exact: for uint8 x,
    packed 8-bit weights (``vnni.pack``) on the dot-product unit, int32; for int16 x, packed
    16-bit weights (``vnni.pack_wide``) there; for float32 (or float64) x, a matrix of the same
    dtype by BLAS (np.dot). Chosen by x's dtype when numba compiles the caller, so each caller
    is compiled for one of them."""


@setup
def _define_product() -> None:
    from numba import types
    from numba.extending import overload

    @overload(product)
    def _product(x, weights, outputs):
        if x.dtype == types.uint8:
            def on_dot_product_unit(x, weights, outputs):
                out = np.empty((x.shape[0], outputs), np.int32)
                vnni.product(x, weights, outputs, out)
                return out
            return on_dot_product_unit
        if x.dtype == types.int16:
            def on_dot_product_unit_wide(x, weights, outputs):
                lanes = vnni.padded(outputs)
                out = np.empty((x.shape[0], lanes), np.int32)
                vnni.product_wide(x, weights, lanes, out)
                return out[:, :outputs]
            return on_dot_product_unit_wide
        return lambda x, weights, outputs: np.dot(x, weights)


@kernel(nogil=True)
def network_trunk(pixels, index, input_offsets, input_layer, caches, cache_index, block_offsets,
                  blocks, block_codes, limit, codes_like):
    """The residual stream (N, 2h) float32 at N positions after the input layer and every
    residual block, in one call (a wavefront step's Python work between compiled calls held
    the GIL that the other coding threads wait for): the input layer (matrix, bias,
    multiplier, shift, outputs, an array of its inputs' dtype) over the pixels' values at the
    offsets (`pixels` holds value - 128, the positions at `index`), then ``residual_block``
    for each of `blocks`, with its cache (the positions at `cache_index`, their neighbours at
    `block_offsets` from them) and its input codes' (multiplier, shift) from `block_codes`."""
    n = len(index)
    matrix, bias, multiplier, shift, outputs, like = input_layer
    x = np.empty((n, len(input_offsets) * pixels.shape[1]), like.dtype)
    gather_values(pixels, index, input_offsets, x)
    stream = np.empty((n, outputs), np.float32)
    requantize(product(x, matrix, outputs), bias, multiplier, shift, -limit, limit, stream)
    for b in range(len(blocks)):
        reduce, spatial, expand = blocks[b]
        residual_block(stream, caches[b], cache_index, block_offsets, reduce, spatial, expand,
                       block_codes[b][0], block_codes[b][1], limit, codes_like)
    return stream


@kernel(nogil=True)
def network_outputs(pixels, index, input_offsets, input_layer, caches, cache_index,
                    block_offsets, blocks, block_codes, limit, codes_like, head, head_codes,
                    head_codes_like, params, predictor, predictor_offsets, edge, edge_offsets,
                    gap, gap_offsets, means, mean_limit, out):
    """The network's integer outputs (N, channels) into `out` at N positions, in one call:
    ``network_trunk`` then ``network_tail`` (their arguments, in order)."""
    stream = network_trunk(pixels, index, input_offsets, input_layer, caches, cache_index,
                           block_offsets, blocks, block_codes, limit, codes_like)
    network_tail(stream, head, head_codes, head_codes_like, params, pixels, index, predictor,
                 predictor_offsets, edge, edge_offsets, gap, gap_offsets, means, mean_limit,
                 out)


@kernel(nogil=True)
def residual_block(stream, cache, index, offsets, reduce, spatial, expand, input_m, input_s,
                   limit, codes_like):
    """One residual block at N positions, in place on the stream (N, 2h): the 8-bit codes of
    ReLU(stream), the 1x1 reduction (whose codes are written to the block's cache at `index`
    for later positions), the 3xW spatial layer over the cached neighbours and the centre, the
    1x1 expansion added to the stream. Each layer is (weights, bias, multiplier, shift,
    outputs); codes are held in `codes_like`'s dtype, which chooses the ``product``."""
    n = stream.shape[0]
    hidden = reduce[4]
    dtype = codes_like.dtype
    codes = np.empty(stream.shape, dtype)
    stream_codes(stream, input_m, input_s, codes)
    reduced = np.empty((n, hidden), dtype)
    requantize(product(codes, reduce[0], hidden), reduce[1], reduce[2], reduce[3], 0, 255,
               reduced)
    for i in range(n):
        for c in range(hidden):
            cache[index[i], c] = reduced[i, c]
    taps = len(offsets) * hidden
    x = np.empty((n, taps + hidden), dtype)
    if cache.itemsize == x.itemsize and hidden * x.itemsize % 8 == 0:
        # 8 bytes a copy: a position's 48 uint8 codes are 6 moves, not 48
        gather(cache.view(np.uint64), index, offsets, x.view(np.uint64), 0)
    else:
        gather(cache, index, offsets, x, 0)
    for i in range(n):
        for c in range(hidden):
            x[i, taps + c] = reduced[i, c]
    spatial_codes = np.empty((n, hidden), dtype)
    requantize(product(x, spatial[0], hidden), spatial[1], spatial[2], spatial[3], 0, 255,
               spatial_codes)
    add_to_stream(product(spatial_codes, expand[0], expand[4]), expand[1], expand[2], expand[3],
                  limit, stream)


@kernel(nogil=True)
def add_layer(x, layer, out, first):
    """out[:, first:first + outputs] += the requantized sums of x (N, rows) times a layer
    (matrix, bias, multiplier, shift), unclamped: a predictor's term of the means."""
    matrix, bias, multiplier, shift = layer
    terms = np.empty((x.shape[0], matrix.shape[1]), np.int64)
    requantize(np.dot(x, matrix), bias, multiplier, shift, -NO_CLAMP, NO_CLAMP, terms)
    for n in range(x.shape[0]):
        for o in range(matrix.shape[1]):
            out[n, first + o] += terms[n, o]


@kernel(nogil=True)
def median_edge(north, west, north_west):
    """LOCO-I's median edge detector (as ``nets.logistic_pixelcnn.median_edge``)."""
    return max(min(north, west), min(max(north, west), north + west - north_west))


@kernel(nogil=True)
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


@kernel(nogil=True)
def network_tail(stream, head, head_codes, codes_like, params, pixels, index, predictor,
                 predictor_offsets, edge, edge_offsets, gap, gap_offsets, means, mean_limit,
                 out):
    """The network after its residual blocks, at N positions: the head on the stream's codes,
    the output layer into out (N, channels) int64, then the means (columns means[0] to
    means[1]) plus the linear predictor over the earlier pixels, the median edge guess and
    16 times CALIC's guess, each through its layer, clamped to +-mean_limit. Layers are
    (matrix, bias, multiplier, shift), an absent one without matrix rows; the head's also
    has its outputs, and its weights are for the ``product`` of codes in `codes_like`'s
    dtype; `pixels` holds value - 128 at the positions' flat `index` plus the offsets."""
    n, colours = len(index), pixels.shape[1]
    codes = np.empty(stream.shape, codes_like.dtype)
    stream_codes(stream, head_codes[0], head_codes[1], codes)
    # the head's outputs are 8-bit codes: exact in the output layer's dtype, whichever it is
    features = np.empty((n, head[4]), params[0].dtype)
    requantize(product(codes, head[0], head[4]), head[1], head[2], head[3], 0, 255, features)
    requantize(product(features, params[0], len(params[1])), params[1], params[2], params[3],
               -NO_CLAMP, NO_CLAMP, out)
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
