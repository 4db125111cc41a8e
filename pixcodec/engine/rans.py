"""The integer engine's entropy coder: rANS (Duda 2013) with a 63-bit state and 32-bit words,
probabilities in units of 2**-24, compiled (numba).

Each tile's stream is coded on its own. The encoder, which knows every interval beforehand,
codes them last to first; the decoder then reads the stream front to back, finding each
symbol by a search over the subpixel's CDF (``pixcodec.engine.mixture.coding_cdf``) from where
its likeliest component's CDF reaches the state's value: about three CDF evaluations a
subpixel where a table costs 256. Stream layout: 32-bit little-endian words, the final
encoder state's high and low word first. The decoder ends where the encoder started (state
2**31, every word read), which ``finished`` checks.
"""
from __future__ import annotations

import numpy as np

from ..compiled import kernel
from ..coder import ENGINE_RANS
from . import mixture, online

CODER_ID = ENGINE_RANS  # the container's coder id of these streams (docs/FORMAT.md)
PRECISION = mixture.CODE_BITS
LOWER = 1 << 31          # the state lies in [2**31, 2**63) between symbols
WORD_MASK = (1 << 32) - 1


@kernel(nogil=True)
def encode(starts, sizes):
    """The stream (uint32 words, decoding order) of intervals [start, start + size) in units
    of 2**-24, given in decoding order."""
    words = np.empty(len(starts) + 2, dtype=np.uint32)
    count = 0
    x = np.int64(LOWER)
    for n in range(len(starts) - 1, -1, -1):
        size = np.int64(sizes[n])
        if x >= size << (63 - PRECISION):
            words[count] = x & WORD_MASK
            count += 1
            x >>= 32
        x = ((x // size) << PRECISION) + (x % size) + starts[n]
    words[count] = x & WORD_MASK
    words[count + 1] = x >> 32
    return words[:count + 2][::-1].copy()


@kernel(nogil=True)
def decode_pixels(tiles, rows, cols, weights, means, inv_scales, coeffs, words, offsets,
                  states, positions, pixels, index, stage, staged, out):
    """Decode the C colours of N positions (tiles, rows, cols) into out (N, C), colour by
    colour as they were coded, position n from tile tiles[n]'s stream:
    words[offsets[t]:offsets[t + 1]], its state states[t] and next word positions[t] (both
    updated). The mixture's arrays are ``IntegerMixture``'s; each colour decoded adds its
    colour terms (`coeffs`, if given) to the later colours' means, reweighs the components
    (``IntegerMixture.coder_inputs``) and is written to pixels[index[n]] as value - 128, for
    the positions after. With `staged` (coder 4), each distribution is the online stage's
    correction of the mixture (``online.corrected``), `stage` the round's state."""
    components = means.shape[2]
    scratch = np.empty((5, components), dtype=np.int64)
    _decode_pixels(tiles, rows, cols, weights.copy(), means, inv_scales, coeffs, words, offsets,
                   states, positions, pixels, index, stage, staged, out, scratch,
                   np.empty(online.CONTEXT_SIZE, dtype=np.int64))


@kernel(nogil=True, _nrt=False)
def _decode_pixels(tiles, rows, cols, weights, means, inv_scales, coeffs, words, offsets,
                   states, positions, pixels, index, stage, staged, out, scratch, context):
    """``decode_pixels``' loop, its weights its own and its work arrays given (`scratch`: five
    rows of K, `context`). It allocates nothing, so it is compiled without numba's reference
    counts, which cost 15-20 % of a decode: an atomic operation each time an array was passed
    or sliced in the search for a symbol, on counts the two decoding threads shared. Every
    function it passes arrays to is inlined (``inline="always"``): one compiled apart would
    count its own."""
    n_pixels, colours, components = means.shape
    shifted, reweighed, normalised, coded_means, coded_inv = (
        scratch[0], scratch[1], scratch[2], scratch[3], scratch[4])
    for c in range(colours):
        for n in range(n_pixels):
            for k in range(components):
                shifted[k] = means[n, c, k]
                if coeffs is not None:  # means_of's colour terms: (1, 0), (2, 0), (2, 1)
                    for earlier in range(c):
                        shifted[k] += (coeffs[n, c * (c - 1) // 2 + earlier, k]
                                       * (out[n, earlier] - 128))
            mixture.normalised_weights(weights[n], normalised)
            if staged:
                online.corrected(stage, tiles[n], rows[n], cols[n], c, shifted,
                                 inv_scales[n, c], normalised, coded_means, coded_inv, context)
            else:  # the mixture as it is (one call of the search below: it is inlined)
                for k in range(components):
                    coded_means[k] = shifted[k]
                    coded_inv[k] = inv_scales[n, c, k]
            s = _decode_one(tiles[n], coded_means, coded_inv, normalised, words, offsets, states,
                            positions)
            if staged:
                online.observe(stage, tiles[n], rows[n], cols[n], c, s, context)
            out[n, c] = s
            pixels[index[n], c] = s - 128
            if c + 1 < colours:
                mixture.reweigh(shifted, inv_scales[n, c], s, weights[n], reweighed)
                for k in range(components):
                    weights[n, k] = reweighed[k]


@kernel(nogil=True, inline="always")
def _decode_one(t, means, inv_scales, normalised, words, offsets, states, positions):
    """One subpixel's symbol from tile t's stream: the j with F(j) <= v < F(j + 1), searched
    outwards in doubling steps, then by bisection, from where the heaviest component's own
    CDF reaches v. Any start finds the same j, so the start may be a float estimate: every
    bracket is settled by the exact F. This start is the symbol itself for about half of a
    photo's subpixels (a quarter of the reds), and the search takes 3.1 CDF evaluations a
    subpixel on a Kodak tile (4.3 from the component's mean, 8 bisecting 0..256). A stream
    that runs out reads zeros (a damaged file: its tile's checksum fails after)."""
    mask = (1 << PRECISION) - 1
    x = states[t]
    v = x & mask
    heaviest = 0
    for k in range(len(normalised)):
        if normalised[k] > normalised[heaviest]:
            heaviest = k
    # the logistic's inverse: mean + scale * logit(v), the scale in the means' units
    u = (v + 0.5) / (1 << PRECISION)
    at = means[heaviest] + np.log(u / (1.0 - u)) * ((1 << mixture.T_BITS)
                                                     / max(inv_scales[heaviest], 1))
    guess = int(min(max((at / mixture.EDGE_UNIT + 257.0) * 0.5, 1.0), 255.0))
    f = mixture.coding_cdf(guess, means, inv_scales, normalised)
    if f <= v:  # F(0) = 0 <= v < F(256): the bracket [low, high) always holds the symbol
        low, f_low, high, f_high, step = guess, f, 256, mixture.coding_cdf(
            256, means, inv_scales, normalised), 1
        while low + step < 256:
            f = mixture.coding_cdf(low + step, means, inv_scales, normalised)
            if f > v:
                high, f_high = low + step, f
                break
            low, f_low, step = low + step, f, 2 * step
    else:
        low, f_low, high, f_high, step = 0, 0, guess, f, 1
        while high - step > 0:
            f = mixture.coding_cdf(high - step, means, inv_scales, normalised)
            if f <= v:
                low, f_low = high - step, f
                break
            high, f_high, step = high - step, f, 2 * step
    while high - low > 1:
        mid = (low + high) >> 1
        f = mixture.coding_cdf(mid, means, inv_scales, normalised)
        if f <= v:
            low, f_low = mid, f
        else:
            high, f_high = mid, f
    size = f_high - f_low  # F(low + 1) - F(low): both ends were evaluated on the way
    x = size * (x >> PRECISION) + v - f_low
    if x < LOWER:
        word = 0
        if positions[t] < offsets[t + 1]:
            word = np.int64(words[positions[t]])
            positions[t] += 1
        x = (x << 32) | word
    states[t] = x
    return low


def start(streams: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(words, offsets, states, positions) for decoding these streams side by side. A stream
    shorter than its two state words starts from a state of zeros (refused at the end)."""
    arrays = [np.frombuffer(s[:len(s) // 4 * 4], dtype="<u4").astype(np.uint32) for s in streams]
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(a) for a in arrays])
    words = np.concatenate(arrays) if arrays else np.zeros(0, np.uint32)
    states = np.zeros(len(arrays), dtype=np.int64)
    positions = offsets[:-1].copy()
    for t, a in enumerate(arrays):
        if len(a) >= 2:
            states[t] = (np.int64(a[0]) << 32) | np.int64(a[1])
            positions[t] += 2
    return words, offsets, states, positions


def finished(offsets: np.ndarray, states: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Per stream: whether decoding ended where the encoder began (every word read, state
    2**31)."""
    return (states == LOWER) & (positions == offsets[1:])
