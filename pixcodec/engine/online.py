"""The online stage of coder 4: each subpixel's mixture corrected by what the tile's earlier
subpixels got wrong in similar contexts, in integers, the same in the encoder and the decoder.

The network is fixed once trained; an image's own statistics are not. Corrections from the
classic codecs (CALIC's bias cancellation, JPEG-LS's context counts, the SSE stages of the
context-mixing coders, LEA's online least squares), each learned within the tile as it is
coded:

* the means, shifted by the average error of the subpixels coded before in the same context
  (colour, the mixture's spread, the signs of the errors to the west and north);
* G's and B's means, shifted by the error the pixel's previous colour just made, times its
  least-squares slope in the colour's earlier pixels (by colour and spread): how far the
  colours' errors go together beyond the network's own colour terms;
* the scales, stretched by the ratio of the errors' sizes to the spreads the mixture
  predicted for them, in contexts of (colour, spread, the neighbours' error sizes, the size of
  the previous colour's error).

Every sum decays by 2**-DECAY_SHIFT a subpixel and starts from a prior of no correction, so a
context seen a few times changes little. The mixture's weights, and the posterior weights of
a pixel's later colours (``mixture.reweigh``), are the network's own: the stage changes only
the distribution each symbol is coded with. Every value is an int64 (errors in units of
2**-MEAN_BITS, as the means); nothing here is a float.

A tile's state: the errors of its subpixels coded so far (``errors``, a row and two columns of
zeros around the tile) and three tables of context sums (``bias``, ``slope``, ``scale``). The encoder's pass
(``intervals``) and the decoder's walk (``rans.decode_pixels``) call ``corrected`` before and
``observe`` after each symbol, in the stream's order.
"""
from __future__ import annotations

import numpy as np

from ..compiled import kernel
from ..coder import ENGINE_ONLINE
from . import mixture

CODER_ID = ENGINE_ONLINE  # the container's coder id: coder 3's rANS streams with this stage

SPREAD_BUCKETS = 8      # the mixture's spread: below 3/4 of a level, ..., 48 levels and more
ACTIVITY_BUCKETS = 6    # the neighbours' errors against that spread
SIGN_CONTEXTS = 9       # the west and north errors: small, above, below (each)
SIZE_CLASSES = 3        # the previous colour's error: below 1/2, below 3/2 of the spread, more
SPREAD_STEP = 3 << (mixture.MEAN_BITS - 9)  # 3/4 of a level (a level is 2**(MEAN_BITS - 7))
DECAY_SHIFT = 8         # each context's sums lose 2**-8 an observation: about its last 256
ONE = 1 << 8            # an observation in the bias counts
BIAS_PRIOR = 128        # observations' worth of no correction, in every bias context
SCALE_PRIOR = 16        # ... and in every scale context
SLOPE_PRIOR = 64        # ... and of a slope of 0, as errors of the spread's size
SLOPE_SHIFT = 8         # the slope's errors in units of 2**(SLOPE_SHIFT - MEAN_BITS): products
#                         below 2**31, their sums below 2**39
RATIO_BITS = 8          # the scales' stretch, in units of 2**-8,
RATIO_LOW, RATIO_HIGH = 154, 410  # ... held within 0.6 .. 1.6
SHIFT_LIMIT = 1 << (mixture.MEAN_BITS + 1)  # the means' shift, held within +-256 levels: the
#                                             coder's CDF then stays far from int64's limits
# The spread is the mixture's standard deviation, computed in units of 2**-(MEAN_BITS - _COARSE):
# a logistic of inverse scale v (units of 2**-INV_SCALE_BITS of the means' unit) has scale
# _SCALE_NUMERATOR / v there and variance pi**2 / 3 times its square (_PI2_3 / 2**8).
_COARSE = 6
_SCALE_NUMERATOR = 1 << (mixture.INV_SCALE_BITS + mixture.MEAN_BITS - _COARSE)
_PI2_3 = 842
# The mean absolute deviation of a logistic is 0.764 times its standard deviation (2 ln 2 s
# against pi s / sqrt 3): the size the errors would have if the spread were right.
_MAD_OF_SPREAD = 196    # / 2**8
_ROOT_BITS = 19         # the variance over 2**MIX_BITS is below 2**38

# The context a subpixel was coded in, between ``corrected`` and ``observe``.
EXPECTED, SPREAD, BIAS_CONTEXT, SCALE_CONTEXT, SLOPE_CONTEXT, PREVIOUS = range(6)
CONTEXT_SIZE = 6


def new_state(tiles: int, height: int, width: int, colours: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(errors, bias, slope, scale) of a round of tiles, each tile's stage at its start."""
    spread_contexts = colours * SPREAD_BUCKETS
    return (np.zeros((tiles, height + 1, width + 2, colours), np.int32),
            np.zeros((tiles, spread_contexts * SIGN_CONTEXTS, 2), np.int64),
            np.zeros((tiles, spread_contexts, 2), np.int64),
            np.zeros((tiles, spread_contexts * ACTIVITY_BUCKETS * SIZE_CLASSES, 2), np.int64))


@kernel(nogil=True, inline="always")
def corrected(state, t, row, col, colour, means, inv_scales, weights, out_means, out_inv,
              context):
    """The stage's distribution of tile t's subpixel (row, col, colour): the mixture's means
    and inverse scales (K,) with normalised weights (K,, summing to 2**MIX_BITS) corrected
    into out_means and out_inv; its context (CONTEXT_SIZE,) kept for ``observe``."""
    errors, bias, slope, scale = state
    expected = 0
    for k in range(len(weights)):
        expected += weights[k] * means[k]
    expected >>= mixture.MIX_BITS
    variance = 0  # below 2**54 for any weights, means and scales
    for k in range(len(weights)):
        if weights[k] == 0:  # a component the coder's CDF leaves out
            continue
        distance = (means[k] - expected) >> _COARSE
        width = _SCALE_NUMERATOR // inv_scales[k]
        variance += weights[k] * (distance * distance + ((width * width * _PI2_3) >> 8))
    spread = max(_isqrt(variance >> mixture.MIX_BITS) << _COARSE, 1)
    west = errors[t, row + 1, col, colour]
    north = errors[t, row, col + 1, colour]
    activity = (abs(west) + abs(north)
                + ((abs(errors[t, row, col, colour]) + abs(errors[t, row, col + 2, colour])) >> 1))
    bucket = 0
    while bucket < SPREAD_BUCKETS - 1 and spread > SPREAD_STEP << bucket:
        bucket += 1
    busy = 0
    while busy < ACTIVITY_BUCKETS - 1 and 2 * activity > spread << busy:
        busy += 1
    signs = 3 * _sign_class(west, spread) + _sign_class(north, spread)
    previous = errors[t, row + 1, col + 1, colour - 1] if colour > 0 else 0
    size = 0 if 2 * abs(previous) < spread else (1 if 2 * abs(previous) < 3 * spread else 2)
    spread_context = colour * SPREAD_BUCKETS + bucket
    bias_context = spread_context * SIGN_CONTEXTS + signs
    scale_context = (spread_context * ACTIVITY_BUCKETS + busy) * SIZE_CLASSES + size
    shift = (bias[t, bias_context, 0] << 8) // (bias[t, bias_context, 1] + BIAS_PRIOR * ONE)
    if colour > 0:
        coarse = spread >> SLOPE_SHIFT
        shift += (((previous >> SLOPE_SHIFT) * slope[t, spread_context, 0])
                  // (slope[t, spread_context, 1] + SLOPE_PRIOR * coarse * coarse + 1)
                  ) << SLOPE_SHIFT
    shift = min(max(shift, -SHIFT_LIMIT), SHIFT_LIMIT)
    prior = SCALE_PRIOR * ((spread * _MAD_OF_SPREAD) >> 8)
    ratio = ((scale[t, scale_context, 0] + prior) << RATIO_BITS) // (
        scale[t, scale_context, 1] + prior)
    ratio = min(max(ratio, RATIO_LOW), RATIO_HIGH)
    stretch = (1 << (RATIO_BITS + 32)) // ratio  # 1 / ratio in units of 2**-32
    for k in range(len(means)):
        out_means[k] = means[k] + shift
        out_inv[k] = max((inv_scales[k] * stretch) >> 32, 1) if weights[k] != 0 else \
            inv_scales[k]
    context[EXPECTED] = expected
    context[SPREAD] = spread
    context[BIAS_CONTEXT] = bias_context
    context[SCALE_CONTEXT] = scale_context
    context[SLOPE_CONTEXT] = spread_context
    context[PREVIOUS] = previous >> SLOPE_SHIFT


@kernel(nogil=True)
def _isqrt(n):
    """floor(sqrt(n)) of an integer 0 <= n < 2**(2 * _ROOT_BITS), bit by bit, without branches
    (whether each bit is set is as good as random: a branch would be mispredicted half the
    time)."""
    root = 0
    bit = 1 << (2 * _ROOT_BITS - 2)
    for _ in range(_ROOT_BITS):
        trial = root + bit
        taken = np.int64(n >= trial)
        n -= trial * taken
        root = (root >> 1) + bit * taken
        bit >>= 2
    return root


@kernel(nogil=True)
def _sign_class(error, spread):
    if 2 * abs(error) < spread:
        return 0
    return 1 if error > 0 else 2


@kernel(nogil=True, inline="always")
def observe(state, t, row, col, colour, symbol, context):
    """Tile t's subpixel (row, col, colour) was `symbol`, coded in `context` (``corrected``):
    its error kept for its neighbours, and its context's sums moved by it."""
    errors, bias, slope, scale = state
    error = ((symbol - 128) << (mixture.MEAN_BITS - 7)) - context[EXPECTED]
    errors[t, row + 1, col + 1, colour] = error
    b, s = context[BIAS_CONTEXT], context[SCALE_CONTEXT]
    bias[t, b, 0] += error - (bias[t, b, 0] >> DECAY_SHIFT)
    bias[t, b, 1] += ONE - (bias[t, b, 1] >> DECAY_SHIFT)
    if colour > 0:
        g, previous = context[SLOPE_CONTEXT], context[PREVIOUS]
        slope[t, g, 0] += previous * (error >> SLOPE_SHIFT) - (slope[t, g, 0] >> DECAY_SHIFT)
        slope[t, g, 1] += previous * previous - (slope[t, g, 1] >> DECAY_SHIFT)
    scale[t, s, 0] += abs(error) - (scale[t, s, 0] >> DECAY_SHIFT)
    scale[t, s, 1] += ((context[SPREAD] * _MAD_OF_SPREAD) >> 8) - (scale[t, s, 1] >> DECAY_SHIFT)


@kernel(nogil=True)
def intervals(symbols, rows, cols, colours, means, inv_scales, weights, state, starts,
              sizes):
    """The encoder's pass over one tile's subpixels in their stream's order: N symbols at
    (rows, cols, colours), each colour's mixture (``IntegerMixture.coder_inputs``: means,
    inverse scales and weights (C, H*W, K), indexed by row * width + col) corrected as the
    decoder will (``corrected``), then its interval [F(s), F(s + 1)) in starts, sizes."""
    _intervals(symbols, rows, cols, colours, means, inv_scales, weights, state, starts, sizes,
               np.empty((3, weights.shape[2]), np.int64), np.empty(CONTEXT_SIZE, np.int64))


@kernel(nogil=True, _nrt=False)
def _intervals(symbols, rows, cols, colours, means, inv_scales, weights, state, starts, sizes,
               scratch, context):
    """``intervals``' loop, its work arrays given (`scratch`: three rows of K, `context`):
    compiled without reference counts, as the decoder's loop is (``rans._decode_pixels``)."""
    width = state[0].shape[2] - 2
    normalised, out_means, out_inv = scratch[0], scratch[1], scratch[2]
    for n in range(len(symbols)):
        c, at = colours[n], rows[n] * width + cols[n]
        mixture.normalised_weights(weights[c, at], normalised)
        corrected(state, 0, rows[n], cols[n], c, means[c, at], inv_scales[c, at], normalised,
                  out_means, out_inv, context)
        low = mixture.coding_cdf(symbols[n], out_means, out_inv, normalised)
        starts[n] = low
        sizes[n] = mixture.coding_cdf(symbols[n] + 1, out_means, out_inv, normalised) - low
        observe(state, 0, rows[n], cols[n], c, symbols[n], context)
