"""The residual PixelCNNs' per-position arithmetic in one compiled call (numba).

A decoding step runs every layer at a few hundred positions. As torch operations that is about
two hundred calls per colour, and their fixed cost, not the arithmetic, made most of the
decoder's time. Here one call computes, for one colour, the input layer's centre tap, the
residual blocks and the head, exactly as the exact parallel pass (``PixelCNN.run`` in
``ExactArithmetic``) computes them at those positions.

Only the colour's own channel group of each layer is computed: under mask B the group reads
the groups before it, which earlier colours' calls already finished. So the three colours of a
position cost one pass, not three.

Exactness: every product is exact in float64 and every partial sum too (pixcodec.fixedpoint),
so the order of the sums does not matter; ``reassoc`` and ``contract`` (fused multiply-add, its
product exact) let LLVM vectorise them without changing a bit.
"""
from __future__ import annotations

import numpy as np

from ..compiled import kernel
from .. import fixedpoint as fx

EXACT_SUMS = {"reassoc", "contract"}
_SCALE = float(2**fx.ACT_BITS)
_LIMIT = fx.ACT_LIMIT * _SCALE


@kernel(nogil=True, inline="always")
def _quantize(v):
    """fixedpoint.quantize_activation of one value (rint: ties to even, as torch.round)."""
    return min(max(np.rint(v * _SCALE), -_LIMIT), _LIMIT) / _SCALE


@kernel(nogil=True, fastmath=EXACT_SUMS)
def _products(x, inputs, weight, lo, hi, out):
    """out[n, o] = sum over i below `inputs` of x[n, i] * weight[o, i], for o in lo..hi-1.
    Four rows by two outputs at a time: each load serves two or four sums (eight vector
    accumulators fit AVX2's registers; 1.15x faster than four rows by one output here, 1.7x
    than one by one)."""
    rows = x.shape[0]
    n = 0
    while n + 4 <= rows:
        o = lo
        while o + 2 <= hi:
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
            for i in range(inputs):
                w, v = weight[o, i], weight[o + 1, i]
                x0, x1, x2, x3 = x[n, i], x[n + 1, i], x[n + 2, i], x[n + 3, i]
                a0 += x0 * w
                a1 += x1 * w
                a2 += x2 * w
                a3 += x3 * w
                b0 += x0 * v
                b1 += x1 * v
                b2 += x2 * v
                b3 += x3 * v
            out[n, o], out[n + 1, o], out[n + 2, o], out[n + 3, o] = a0, a1, a2, a3
            out[n, o + 1], out[n + 1, o + 1], out[n + 2, o + 1], out[n + 3, o + 1] = b0, b1, b2, b3
            o += 2
        if o < hi:
            _dot_rows(x, inputs, weight, n, n + 4, o, hi, out)
        n += 4
    _dot_rows(x, inputs, weight, n, rows, lo, hi, out)


@kernel(nogil=True, fastmath=EXACT_SUMS)
def _dot_rows(x, inputs, weight, first, stop, lo, hi, out):
    """_products of rows first..stop-1 one sum at a time (the edges of the blocked loop)."""
    for m in range(first, stop):
        for o in range(lo, hi):
            acc = 0.0
            for i in range(inputs):
                acc += x[m, i] * weight[o, i]
            out[m, o] = acc


@kernel(nogil=True, fastmath=EXACT_SUMS)
def _affine(x, inputs, weight, base, per_row, lo, hi, relu_in, relu_out, out):
    """out[n, o] = q(base + sum_i relu?(x[n, i]) * weight[o, i]) for o in lo..hi-1 and i below
    `inputs`, ReLU after rounding if asked; `base` is (N, out) when `per_row`, else (1, out)."""
    _products(np.maximum(x[:, :inputs], 0.0) if relu_in else x, inputs, weight, lo, hi, out)
    for n in range(x.shape[0]):
        b = n if per_row else 0
        for o in range(lo, hi):
            r = _quantize(base[b, o] + out[n, o])
            out[n, o] = max(r, 0.0) if relu_out else r


@kernel(nogil=True, fastmath=EXACT_SUMS)
def residual_colour(colour, pixels, input_context, input_centre, reduce_w, reduce_b,
                    spatial_context, spatial_centre, expand_w, expand_b, head_w, head_b,
                    stream_groups, hidden_groups, head_groups, stream, reduced, spatial, features):
    """Channel group `colour` of every layer at N positions, the earlier groups read as left by
    the earlier colours' calls.

    pixels (N, C): the centre's revealed colours (zero beyond); input_context (N, 2h): the input
    layer's bias and non-centre taps; spatial_context (blocks, N, h) likewise for each block's
    spatial layer. Weights are (out, in) centre taps, biases (1, out); *_groups are each
    width's group bounds (C + 1,). Filled in place: stream (blocks + 1, N, 2h), the residual
    stream into each block and out of the last; reduced (blocks, N, h), the spatial layers'
    inputs (what the stepper caches); spatial (blocks, N, h); features (N, F), the head's output
    after its ReLU."""
    s_lo, s_hi = stream_groups[colour], stream_groups[colour + 1]
    h_lo, h_hi = hidden_groups[colour], hidden_groups[colour + 1]
    _affine(pixels, pixels.shape[1], input_centre, input_context, True, s_lo, s_hi, False,
            False, stream[0])
    for b in range(reduce_w.shape[0]):
        _affine(stream[b], s_hi, reduce_w[b], reduce_b[b], False, h_lo, h_hi, True, True,
                reduced[b])
        _affine(reduced[b], h_hi, spatial_centre[b], spatial_context[b], True, h_lo, h_hi,
                False, False, spatial[b])
        # the residual sum: expand into stream[b + 1], then add the block's input and round
        _affine(spatial[b], h_hi, expand_w[b], expand_b[b], False, s_lo, s_hi, True, False,
                stream[b + 1])
        for n in range(stream.shape[1]):
            for o in range(s_lo, s_hi):
                stream[b + 1, n, o] = _quantize(stream[b, n, o] + stream[b + 1, n, o])
    last = stream[reduce_w.shape[0]]
    _affine(last, s_hi, head_w, head_b, False, head_groups[colour], head_groups[colour + 1],
            True, True, features)


@kernel(nogil=True, fastmath=EXACT_SUMS)
def integer_logits(features, inputs, weight, bias, lo, hi):
    """fixedpoint.integer_logits of the output layer's channels lo..hi-1 (ReLU'd features, the
    first `inputs` read): int64 (N, hi - lo)."""
    sums = np.empty((features.shape[0], hi))  # columns below lo stay unused
    _products(features, inputs, weight, lo, hi, sums)
    out = np.empty((features.shape[0], hi - lo), dtype=np.int64)
    scale = float(2**fx.LOGIT_BITS)
    for n in range(features.shape[0]):
        for o in range(lo, hi):
            out[n, o - lo] = np.int64(np.rint((bias[0, o] + sums[n, o]) * scale))
    return out


@kernel(nogil=True, fastmath=EXACT_SUMS)
def linear(x, weight, bias):
    """bias + x @ weight.T, unrounded: x (N, in), weight (out, in), bias (out,) -> (N, out).
    (Not numpy's matmul: its BLAS may start threads of its own beside the coding processes.)"""
    out = np.empty((x.shape[0], weight.shape[0]))
    _products(np.ascontiguousarray(x), x.shape[1], weight, 0, weight.shape[0], out)
    for n in range(x.shape[0]):
        for o in range(weight.shape[0]):
            out[n, o] += bias[o]
    return out


@kernel(nogil=True, fastmath=EXACT_SUMS)
def neighbour_sums(cache, centres, offsets, weight, bias):
    """A convolution's bias and non-centre taps at N positions of a feature cache (rows of
    float32 channels, flat-indexed): float64 (N, out), out[n, o] = bias[o] + sum over taps t
    and channels i of cache[centres[n] + offsets[t], i] * weight[o, t * channels + i]."""
    return stacked_neighbour_sums(cache, centres, offsets, weight.reshape((1,) + weight.shape),
                                  bias.reshape((1,) + bias.shape))[0]


@kernel(nogil=True, fastmath=EXACT_SUMS)
def stacked_neighbour_sums(cache, centres, offsets, weights, biases):
    """``neighbour_sums`` of B convolutions whose inputs share a cache, convolution b's in its
    channels b * C .. (b + 1) * C: weights (B, out, taps * C), biases (B, out) -> (B, N, out)."""
    layers, outputs, width = weights.shape
    channels = width // len(offsets)
    gathered = np.empty((len(centres), width))
    out = np.empty((layers, len(centres), outputs))
    for b in range(layers):
        first = b * channels
        for n in range(len(centres)):
            for t in range(len(offsets)):
                row = centres[n] + offsets[t]
                for i in range(channels):
                    gathered[n, t * channels + i] = cache[row, first + i]
        _products(gathered, width, weights[b], 0, outputs, out[b])
        for n in range(len(centres)):
            for o in range(outputs):
                out[b, n, o] += biases[b, o]
    return out
