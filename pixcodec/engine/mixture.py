"""The discretized logistic mixture's exact integer arithmetic (PixelCNN++'s output distribution;
``pixcodec.nets.logistic`` has the float loss and the parameter layout).

A mixture's parameters, rounded onto fixed grids, give each subpixel's 256-entry integer table
with integer arithmetic only, so it is the same on every machine: means on a 2**-19 grid,
log-scales on a 2**-8 grid read through an integer table of exp(-log s), the logistic CDF from
an integer table (steps of 2**-8, linear interpolation between entries), each bin a CDF
difference, the components weighted by the integer softmax of ``fixedpoint`` (16 bits in a
table) and summed in int64, plus a floor of 1 for every symbol. A pixel's colours share its
components (as in PixelCNN++'s loss), so G's table weighs them by how well each predicted R, and
B's by R and G: the chain p(R) p(G|R) p(B|R,G) of the training loss.

Numpy and numba only: the integer engine (``pixcodec.engine``) codes without torch.
"""
from __future__ import annotations

import decimal
import functools

import numpy as np

from ..compiled import kernel
from .. import fixedpoint as fx

LOG_SCALE_MIN = -7.0   # scale >= 0.0009, a tenth of a bin: sharper than any photo needs
LOG_SCALE_MAX = 3.0
HALF_BIN = 1.0 / 256

# Fixed-point grids of the exact tables.
MEAN_BITS = 19          # means (and the colour terms, 2**-12 coefficients times 2**-7 pixels)
LOG_SCALE_BITS = 8      # log-scales
INV_SCALE_BITS = 12     # exp(-log s), rounded
CDF_BITS = 30           # the logistic CDF, integers up to 2**30
CDF_STEP_BITS = 8       # the CDF table's step in t
CDF_LIMIT = 16          # |t| beyond this is 0 or 1
POSTERIOR_BITS = 32     # component weights while colours are seen: <= 2**32 (the exp table >> 8)
TABLE_SHIFT = 16        # ... and in a table: >> 16 more, <= 2**16 (at least 1 if alive)
T_BITS = MEAN_BITS + INV_SCALE_BITS  # t = (edge - mean) / scale in units of 2**-31


# --- The exact tables --------------------------------------------------------------------------

_EXP_BITS = 62


@functools.cache
def _exp_units() -> list[int]:
    """exp(-i / 2**CDF_STEP_BITS) in units of 2**-62 for i = 0 .. CDF_LIMIT * 2**CDF_STEP_BITS,
    by repeated integer multiplication from one correctly rounded decimal constant: the same
    integers on every machine."""
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        step = int((decimal.Decimal(-1) / 2**CDF_STEP_BITS).exp() * 2**_EXP_BITS
                   + decimal.Decimal("0.5"))
    units = [1 << _EXP_BITS]
    for _ in range(CDF_LIMIT << CDF_STEP_BITS):
        units.append((units[-1] * step + (1 << (_EXP_BITS - 1))) >> _EXP_BITS)
    return units


def _rounded_ratio(num: int, den: int) -> int:
    return (2 * num + den) // (2 * den)


@functools.cache
def cdf_table() -> np.ndarray:
    """round(sigmoid(t) * 2**CDF_BITS) for t = -CDF_LIMIT + i / 2**CDF_STEP_BITS, built from
    integers only (sigmoid(-t) = 1 - sigmoid(t) exactly), with the last entry repeated so that
    interpolation may read one past the end."""
    e, one = _exp_units(), 1 << _EXP_BITS
    n = CDF_LIMIT << CDF_STEP_BITS
    negative = [_rounded_ratio(e[i] << CDF_BITS, one + e[i]) for i in range(n, 0, -1)]
    half = 1 << (CDF_BITS - 1)
    table = negative + [half] + [(1 << CDF_BITS) - v for v in reversed(negative)]
    table = np.asarray(table + table[-1:], dtype=np.int64)
    table.flags.writeable = False  # the kernels hold their own copy (CDF, below)
    return table


# The kernels read the table as a global, which numba freezes into their code: an argument
# would be passed down through every call of the coder's loops, and was reference-counted at
# each (atomic operations on one count that both decoding threads shared).
CDF = cdf_table()


@functools.cache
def inverse_scale_table() -> np.ndarray:
    """round(exp(-l / 2**LOG_SCALE_BITS) * 2**INV_SCALE_BITS) for l from LOG_SCALE_MIN to
    LOG_SCALE_MAX on the 2**-LOG_SCALE_BITS grid (index: l minus the minimum)."""
    e = _exp_units()
    step = 2**LOG_SCALE_BITS
    lo, hi = int(LOG_SCALE_MIN * step), int(LOG_SCALE_MAX * step)
    table = [_rounded_ratio(e[l] << INV_SCALE_BITS, 1 << _EXP_BITS) if l >= 0
             else _rounded_ratio(1 << (_EXP_BITS + INV_SCALE_BITS), e[-l])
             for l in range(lo, hi + 1)]
    return np.asarray(table, dtype=np.int64)


class QuantizedMixture:
    """A mixture's parameters on the integer grids, for N pixels (int64 numpy arrays):
    ``weights`` (N, K) <= 2**32, ``means`` (N, C, K) in units of 2**-MEAN_BITS without the
    colour terms, ``inv_scales`` (N, C, K) in units of 2**-INV_SCALE_BITS, ``coeffs`` (N, 3, K)
    in units of 2**-ACT_BITS or None."""

    def __init__(self, out: np.ndarray, colours: int, components: int):
        """`out`: exact float64 network outputs (N, channels) (multiples of 2**-28)."""
        out = np.asarray(out, dtype=np.float64)
        k, c = components, colours
        logits = fx.integer_logits(out[:, :k])
        gap = np.minimum(logits.max(axis=1, keepdims=True) - logits, fx.EXP_TABLE_SIZE - 1)
        self.weights = np.ascontiguousarray(fx.EXP_TABLE[gap] >> (40 - POSTERIOR_BITS))
        means = np.clip(fx.quantize_activation(out[:, k:k + c * k]), -4, 4)
        self.means = (means * 2.0**MEAN_BITS).astype(np.int64).reshape(-1, c, k)
        step = 2**LOG_SCALE_BITS
        log_scales = np.clip(np.rint(out[:, k + c * k:k + 2 * c * k] * step),
                             LOG_SCALE_MIN * step, LOG_SCALE_MAX * step).astype(np.int64)
        self.inv_scales = inverse_scale_table()[log_scales - int(LOG_SCALE_MIN * step)] \
            .reshape(-1, c, k)
        self.coeffs = None
        if c == 3:
            coeffs = fx.tanh(out[:, k + 2 * c * k:]) * 2.0**fx.ACT_BITS
            self.coeffs = coeffs.astype(np.int64).reshape(-1, 3, k)

    def means_of(self, colour: int, earlier: np.ndarray | None) -> np.ndarray:
        """(N, K) means of `colour` with the colour terms of `earlier` symbols (N, colour)."""
        means = self.means[:, colour]
        if colour == 0 or self.coeffs is None:
            return means
        x = earlier.astype(np.int64) - 128  # pixels in units of 2**-7
        if colour == 1:
            return means + self.coeffs[:, 0] * x[:, :1]
        return means + self.coeffs[:, 1] * x[:, :1] + self.coeffs[:, 2] * x[:, 1:2]

    def weights_given(self, earlier: np.ndarray | None) -> np.ndarray:
        """(N, K) component weights (<= 2**32) given the earlier colours' symbols
        (N, colour): the components are shared by a pixel's colours, so each colour seen
        reweighs them."""
        weights = self.weights
        for colour in range(0 if earlier is None else earlier.shape[1]):
            weights = _posterior_weights(
                np.ascontiguousarray(self.means_of(colour, earlier[:, :colour])),
                np.ascontiguousarray(self.inv_scales[:, colour]),
                np.ascontiguousarray(earlier[:, colour], dtype=np.int64), weights)
        return weights

    def table(self, colour: int, earlier: np.ndarray | None = None) -> np.ndarray:
        """The coder's int64 table (N, 256) of `colour` given the earlier colours' symbols."""
        means = np.ascontiguousarray(self.means_of(colour, earlier))
        out = np.empty((len(means), 256), dtype=np.int64)
        weights = self.weights_given(earlier)
        weights = np.where(weights > 0, np.maximum(weights >> TABLE_SHIFT, 1), 0)
        _mixture_tables(means, np.ascontiguousarray(self.inv_scales[:, colour]), weights,
                        out)
        return out


class IntegerMixture(QuantizedMixture):
    """``QuantizedMixture`` from the integer outputs (N, channels): logits in units of
    2**-LOGIT_BITS nats, means of 2**-MEAN_BITS, log-scales of 2**-LOG_SCALE_BITS, colour
    terms of 2**-ACT_BITS before their tanh."""

    def __init__(self, out: np.ndarray, colours: int, components: int):
        n, k, c = len(out), components, colours
        self.weights = np.empty((n, k), dtype=np.int64)
        self.means, self.inv_scales = np.empty((2, n, c, k), dtype=np.int64)
        self.coeffs = np.empty((n, 3, k), dtype=np.int64) if c == 3 else None
        parameters_from_outputs(out, fx.EXP_TABLE, inverse_scale_table(), fx.tanh_table(),
                            self.weights, self.means, self.inv_scales, self.coeffs)

    def coder_inputs(self, colour: int, earlier: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(means, inverse scales, weights), each (N, K), of `colour` given the earlier
        colours' symbols (N, colour): what the coder's CDF reads."""
        return (np.ascontiguousarray(self.means_of(colour, earlier)),
                np.ascontiguousarray(self.inv_scales[:, colour]),
                np.ascontiguousarray(self.weights_given(earlier)))

    def table(self, colour: int, earlier: np.ndarray | None = None) -> np.ndarray:
        """The coder's distribution (N, 256) of `colour`: integers summing to 2**24, each at
        least 1 (``coding_cdf``)."""
        means, inv_scales, weights = self.coder_inputs(colour, earlier)
        out = np.empty((len(means), 256), dtype=np.int64)
        coding_table(means, inv_scales, weights, out)
        return out

    def intervals(self, colour: int, symbols: np.ndarray, earlier: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """The coder's (start, size) of each symbol of `colour`."""
        means, inv_scales, weights = self.coder_inputs(colour, earlier)
        starts, sizes = np.empty((2, len(symbols)), dtype=np.int64)
        coding_intervals(np.ascontiguousarray(symbols, dtype=np.int64), means, inv_scales,
                         weights, starts, sizes)
        return starts, sizes


_LOWEST_LOG_SCALE = int(LOG_SCALE_MIN * 2**LOG_SCALE_BITS)
_HIGHEST_LOG_SCALE = int(LOG_SCALE_MAX * 2**LOG_SCALE_BITS)


@kernel(nogil=True)
def parameters_from_outputs(out, exp_table, inverse_scales, tanh, weights, means, inv_scales,
                            coeffs):
    """``IntegerMixture``'s tables from the integer outputs (N, channels): the weights from
    each logit's distance below its row's largest, the means, the inverse scales of the
    clamped log-scales and, where `coeffs` is given, the tanh of the colour terms."""
    n_pixels, colours, k = means.shape
    tanh_limit = len(tanh) // 2
    for n in range(n_pixels):
        top = out[n, 0]
        for j in range(k):
            top = max(top, out[n, j])
        for j in range(k):
            weights[n, j] = exp_table[min(top - out[n, j], len(exp_table) - 1)] >> (
                40 - POSTERIOR_BITS)
        for c in range(colours):
            for j in range(k):
                means[n, c, j] = out[n, k + c * k + j]
                log_scale = out[n, k + (colours + c) * k + j]
                log_scale = min(max(log_scale, _LOWEST_LOG_SCALE), _HIGHEST_LOG_SCALE)
                inv_scales[n, c, j] = inverse_scales[log_scale - _LOWEST_LOG_SCALE]
        if coeffs is not None:
            for t in range(3):
                for j in range(k):
                    term = out[n, k + 2 * colours * k + t * k + j]
                    coeffs[n, t, j] = tanh[min(max(term, -tanh_limit), tanh_limit) + tanh_limit]


EDGE_UNIT = 2**(MEAN_BITS - 8)  # bin edges (2j - 257) / 256 in units of 2**-MEAN_BITS
_INTERP_BITS = T_BITS - CDF_STEP_BITS
_T_LIMIT = CDF_LIMIT << T_BITS


@kernel(nogil=True, inline="always")
def _cdf_at_edge(j, mean, inv_scale):
    """The integer CDF of one component at bin edge j (1..255): the table interpolated at
    t = (edge_j - mean) * inverse scale, in units of 2**-T_BITS."""
    t = ((2 * j - 257) * EDGE_UNIT - mean) * inv_scale
    if t <= -_T_LIMIT:
        return CDF[0]
    if t >= _T_LIMIT:
        return CDF[2 * CDF_LIMIT << CDF_STEP_BITS]
    u = t + _T_LIMIT
    i = u >> _INTERP_BITS
    return CDF[i] + (((CDF[i + 1] - CDF[i]) * (u & ((1 << _INTERP_BITS) - 1))) >> _INTERP_BITS)


@kernel(nogil=True)
def _edge_t(j, mean, inv_scale):
    return ((2 * j - 257) * EDGE_UNIT - mean) * inv_scale


@kernel(nogil=True)
def _live_edges(mean, inv_scale):
    """(lo, hi): the bin edges j in lo..hi are those whose CDF is not saturated (-T_LIMIT < t <
    T_LIMIT); t grows with j, so edges below lo read CDF[0] and edges above hi the last entry.
    Found from a float estimate, then settled with the exact integer test."""
    centre = (mean / EDGE_UNIT + 257) / 2
    half = _T_LIMIT / (2.0 * EDGE_UNIT * inv_scale) + 2
    lo = min(max(int(centre - half), 1), 256)
    while lo > 1 and _edge_t(lo - 1, mean, inv_scale) > -_T_LIMIT:
        lo -= 1
    while lo <= 255 and _edge_t(lo, mean, inv_scale) <= -_T_LIMIT:
        lo += 1
    hi = min(max(int(centre + half), 0), 255)
    while hi < 255 and _edge_t(hi + 1, mean, inv_scale) < _T_LIMIT:
        hi += 1
    while hi >= 1 and _edge_t(hi, mean, inv_scale) >= _T_LIMIT:
        hi -= 1
    return lo, hi


@kernel(nogil=True)
def _mixture_tables(means, inv_scales, weights, out):
    """out[n, j] = 1 + sum_k weights[n, k] * (CDF_k(edge j+1) - CDF_k(edge j)) in int64, with
    CDF(edge 0) = 0 and CDF(edge 256) = 2**CDF_BITS. Only a component's live edges are
    interpolated: a run of saturated edges adds nothing but at its start."""
    n_pixels, n_components = means.shape
    top = 1 << CDF_BITS
    low, high = CDF[0], CDF[2 * CDF_LIMIT << CDF_STEP_BITS]
    for n in range(n_pixels):
        for j in range(256):
            out[n, j] = 1
        for k in range(n_components):
            w = weights[n, k]
            if w == 0:
                continue
            mean, inv_scale = means[n, k], inv_scales[n, k]
            lo, hi = _live_edges(mean, inv_scale)
            prev = 0
            if lo > 1:  # edges 1 .. lo - 1 read CDF[0]
                out[n, 0] += w * low
                prev = low
            for j in range(lo, hi + 1):
                c = _cdf_at_edge(j, mean, inv_scale)
                out[n, j - 1] += w * (c - prev)
                prev = c
            if hi < 255:  # edges hi + 1 .. 255 read the last entry
                out[n, hi] += w * (high - prev)
                prev = high
            out[n, 255] += w * (top - prev)


@kernel(nogil=True)
def _posterior_weights(means, inv_scales, symbols, weights):
    """Component weights (N, K) after seeing `symbols` (N,) (``reweigh``)."""
    out = np.empty_like(weights)
    for n in range(means.shape[0]):
        reweigh(means[n], inv_scales[n], symbols[n], weights[n], out[n])
    return out


@kernel(nogil=True, inline="always")
def reweigh(means, inv_scales, s, weights, out):
    """One pixel's component weights (K,) after seeing symbol s, into out (not weights):
    each weight times its component's integer probability of the symbol (<= 2**62), then
    shifted until the largest lies in (2**(POSTERIOR_BITS - 1), 2**POSTERIOR_BITS], a live
    component kept at 1 at least; unchanged where no component gives the symbol any mass."""
    top = 1 << CDF_BITS
    largest = 0
    for k in range(len(means)):
        upper = top if s == 255 else _cdf_at_edge(s + 1, means[k], inv_scales[k])
        lower = 0 if s == 0 else _cdf_at_edge(s, means[k], inv_scales[k])
        out[k] = weights[k] * (upper - lower)
        largest = max(largest, out[k])
    down, up = 0, 0
    while largest >> down > 1 << POSTERIOR_BITS:
        down += 1
    while 0 < largest << (up + 1) <= 1 << POSTERIOR_BITS:
        up += 1
    for k in range(len(means)):
        if largest == 0:
            out[k] = weights[k]
        elif weights[k] > 0:  # a live component stays alive: a later colour may need it
            out[k] = max(1, (out[k] >> down) << up)


# --- The coding distribution of the integer engine ---------------------------------------------
# The engine's coder (``pixcodec.engine.rans``) reads a subpixel's distribution as a CDF over
# 257 bin edges in units of 2**-CODE_BITS, computed at one edge at a time: the encoder needs it
# at the symbol and the next edge, the decoder bisects for the symbol (eight evaluations), so
# neither builds the 256-entry table (``_mixture_tables``) of the float64 path.
#
#   M(j) = sum_k w_k * CDF_k(edge j)       w: the component weights normalised to sum 2**16
#   F(j) = (((M(j) >> 22) * (2**24 - 256)) >> 24) + j
#
# M(256) = 2**46, so F(0) = 0, F(256) = 2**24, and every symbol keeps F(j + 1) - F(j) >= 1.

CODE_BITS = 24
MIX_BITS = 16
_CODE_TOTAL = 1 << CODE_BITS
_CODE_SPAN = _CODE_TOTAL - 256
_M_SHIFT = MIX_BITS + CDF_BITS - CODE_BITS


@kernel(nogil=True, inline="always")
def normalised_weights(weights, out):
    """Component weights (<= 2**32, as ``weights_given`` gives them) scaled to sum exactly
    2**MIX_BITS: each rounded down, the remainder to the first largest."""
    total = 0
    top = 0
    for k in range(len(weights)):
        total += weights[k]
        if weights[k] > weights[top]:
            top = k
    given = 0
    for k in range(len(weights)):
        out[k] = (weights[k] << MIX_BITS) // total
        given += out[k]
    out[top] += (1 << MIX_BITS) - given


@kernel(nogil=True, inline="always")
def coding_cdf(j, means, inv_scales, weights):
    """F(j) of one subpixel: means, inverse scales and normalised weights (K,)."""
    if j <= 0:
        return 0
    if j >= 256:
        return _CODE_TOTAL
    m = 0
    for k in range(len(weights)):
        if weights[k] != 0:
            m += weights[k] * _cdf_at_edge(j, means[k], inv_scales[k])
    return (((m >> _M_SHIFT) * _CODE_SPAN) >> CODE_BITS) + j


@kernel(nogil=True)
def coding_intervals(symbols, means, inv_scales, weights, starts, sizes):
    """The coder's interval [F(s), F(s + 1)) of each of N subpixels' symbols s (N,), given
    means, inverse scales (N, K) and weights (N, K, <= 2**32)."""
    normalised = np.empty(weights.shape[1], dtype=np.int64)
    for n in range(len(symbols)):
        normalised_weights(weights[n], normalised)
        low = coding_cdf(symbols[n], means[n], inv_scales[n], normalised)
        starts[n] = low
        sizes[n] = coding_cdf(symbols[n] + 1, means[n], inv_scales[n], normalised) - low


@kernel(nogil=True)
def coding_table(means, inv_scales, weights, out):
    """The coder's whole distribution of N subpixels, F(j + 1) - F(j) for j = 0..255 (N, 256):
    what the coded bits measure (``bits_of``), for the benches and the tests."""
    normalised = np.empty(weights.shape[1], dtype=np.int64)
    for n in range(means.shape[0]):
        normalised_weights(weights[n], normalised)
        previous = 0
        for j in range(256):
            upper = coding_cdf(j + 1, means[n], inv_scales[n], normalised)
            out[n, j] = upper - previous
            previous = upper
