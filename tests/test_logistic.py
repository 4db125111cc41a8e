"""The logistic-mixture head and its network: integer tables equal to a float reference within
their rounding, identical between the stepper and the parallel pass, never a zero probability,
and files that round-trip."""
import math

import numpy as np
import pytest
import torch

from pixcodec import codec, container, encoder, likelihood
from pixcodec.nets import logistic
from pixcodec.nets.logistic_pixelcnn import (LogisticPixelCNN, LogisticPixelCNNConfig,
                                             gradient_adjusted, median_edge)

from conftest import random_logistic_net
from test_exact import tables_in_coding_order


def random_outputs(n: int, colours: int, components: int, rng, sharp: bool = False,
                   typical: bool = False):
    """Exact-looking network outputs (multiples of 2**-28): spanning the parameter ranges, or
    `typical` ones (every component within CDF_LIMIT scales of every value near the middle)."""
    k, c = components, colours
    logits = rng.normal(0, 3, (n, k))
    means = rng.uniform(-0.3, 0.3, (n, c * k)) if typical else rng.uniform(-1.3, 1.3, (n, c * k))
    low = -3 if typical else -8 if sharp else -6
    log_scales = rng.uniform(low, 0 if typical else 3.5, (n, c * k))
    coeffs = rng.normal(0, 0.1 if typical else 1, (n, 3 * k if c == 3 else 0))
    out = np.concatenate([logits, means, log_scales, coeffs], axis=1)
    return torch.from_numpy(np.round(out * 2**28) / 2**28)


def reference_tables(mixture: logistic.QuantizedMixture, colour: int, earlier) -> np.ndarray:
    """The integer table rebuilt in plain numpy from the quantized parameters (an independent
    reading of the kernel's rule)."""
    means = mixture.means_of(colour, earlier)[:, :, None]            # (N, K, 1)
    inv = mixture.inv_scales[:, colour][:, :, None]
    edges = (2 * np.arange(1, 256) - 257) * logistic.EDGE_UNIT
    t = (edges[None, None, :] - means) * inv
    limit = logistic.CDF_LIMIT << logistic.T_BITS
    u = np.clip(t, -limit, limit) + limit
    shift = logistic.T_BITS - logistic.CDF_STEP_BITS
    table = logistic.cdf_table()
    i = u >> shift
    cdf = table[i] + (((table[i + 1] - table[i]) * (u & ((1 << shift) - 1))) >> shift)
    n, k = means.shape[:2]
    full = np.concatenate([np.zeros((n, k, 1), np.int64), cdf,
                           np.full((n, k, 1), 1 << logistic.CDF_BITS)], axis=2)
    weights = mixture.weights_given(earlier)
    weights = np.where(weights > 0, np.maximum(weights >> logistic.TABLE_SHIFT, 1), 0)
    return 1 + (weights[:, :, None] * np.diff(full, axis=2)).sum(axis=1)


def float_cdf(edges, means, inv_scales):
    t = np.clip((edges - means) * inv_scales, -logistic.CDF_LIMIT, logistic.CDF_LIMIT)
    return 1 / (1 + np.exp(-t))


def float_probabilities(mixture: logistic.QuantizedMixture, colour: int, earlier) -> np.ndarray:
    """The same quantized parameters and rule (components cut at CDF_LIMIT scales, weights
    unchanged by a colour that no component gives mass, a live component kept at 2**-16 of
    the largest at least) through float64 sigmoids, no tables."""
    means = mixture.means_of(colour, earlier)[:, :, None] / 2.0**logistic.MEAN_BITS
    inv = mixture.inv_scales[:, colour][:, :, None] / 2.0**logistic.INV_SCALE_BITS
    edges = (2 * np.arange(1, 256) - 257) / 256
    cdf = float_cdf(edges[None, None, :], means, inv)
    n, k = means.shape[:2]
    full = np.concatenate([np.zeros((n, k, 1)), cdf, np.ones((n, k, 1))], axis=2)
    w = mixture.weights.astype(np.float64)
    for c in range(earlier.shape[1]):  # the posterior over components, in floats
        m = mixture.means_of(c, earlier[:, :c]) / 2.0**logistic.MEAN_BITS
        inv_scale = mixture.inv_scales[:, c] / 2.0**logistic.INV_SCALE_BITS
        x = earlier[:, c:c + 1]
        hi = np.where(x == 255, 1.0, float_cdf((x - 127.5) / 128, m, inv_scale))
        lo = np.where(x == 0, 0.0, float_cdf((x - 128.5) / 128, m, inv_scale))
        posterior = w * (hi - lo)
        largest = posterior.max(axis=1, keepdims=True)
        rescaled = np.where(w > 0, np.maximum(posterior / np.maximum(largest, 1e-300), 2**-32), 0)
        w = np.where(largest > 0, rescaled, w)
    w = w / w.sum(axis=1, keepdims=True)
    return (w[:, :, None] * np.diff(full, axis=2)).sum(axis=1)


def test_cdf_table_is_the_rounded_logistic_cdf():
    table = logistic.cdf_table()
    step = 2**logistic.CDF_STEP_BITS
    t = np.arange(len(table) - 1) / step - logistic.CDF_LIMIT
    expected = np.round(1 / (1 + np.exp(-t)) * 2**logistic.CDF_BITS)
    assert np.abs(table[:-1] - expected).max() <= 1
    assert (np.diff(table) >= 0).all()
    assert table[-1] == table[-2]
    n = len(table) - 2
    assert (table[:n + 1] + table[n::-1] == 2**logistic.CDF_BITS).all()  # sigmoid(-t) = 1 - ...


def test_inverse_scale_table_is_the_rounded_exponential():
    table = logistic.inverse_scale_table()
    step = 2**logistic.LOG_SCALE_BITS
    l = np.arange(int(logistic.LOG_SCALE_MIN * step), int(logistic.LOG_SCALE_MAX * step) + 1)
    expected = np.round(np.exp(-l / step) * 2**logistic.INV_SCALE_BITS)
    assert np.abs(table - expected).max() <= 1
    assert (np.diff(table) <= 0).all() and table[0] > table[-1]


@pytest.mark.parametrize("colours", [1, 3])
@pytest.mark.parametrize("kind", ["typical", "wide", "sharp"])
def test_integer_table_equals_the_rule_and_float_within_rounding(colours, kind, rng):
    components = 4
    out = random_outputs(2000, colours, components, rng, kind == "sharp", kind == "typical")
    mixture = logistic.QuantizedMixture(out, colours, components)
    earlier = rng.integers(88, 168, (2000, colours), dtype=np.int64)
    for colour in range(colours):
        table = mixture.table(colour, earlier[:, :colour])
        assert np.array_equal(table, reference_tables(mixture, colour, earlier[:, :colour]))
        # The rounding: the CDF table's half unit and its interpolation (< 2**-21 a bin), and
        # component weights of 16 bits in a table (each within 2**-16 of the largest).
        if kind == "typical" or colour == 0:
            probabilities = table / table.sum(axis=1, keepdims=True)
            expected = float_probabilities(mixture, colour, earlier[:, :colour])
            assert np.abs(probabilities - expected).max() < components * 2**-16


def test_every_symbol_has_a_nonzero_weight_and_the_total_is_exact(rng):
    # The sharpest components sit on 0, on 255 and between two values: far bins get nothing
    # from the mixture but the floor.
    out = random_outputs(64, 3, 2, rng, sharp=True)
    out[:, 2:8] = torch.tensor([-1.0, 0.9921875, 0.00390625, -1.0, 1.0, 0.5])
    out[:, 8:14] = logistic.LOG_SCALE_MIN - 1
    mixture = logistic.QuantizedMixture(out, 3, 2)
    earlier = rng.integers(0, 256, (64, 3), dtype=np.int64)
    for colour in range(3):
        table = mixture.table(colour, earlier[:, :colour])
        assert table.min() >= 1
        weights = mixture.weights_given(earlier[:, :colour])
        weights = np.where(weights > 0, np.maximum(weights >> logistic.TABLE_SHIFT, 1), 0)
        total = weights.sum(axis=1) * 2**logistic.CDF_BITS + 256
        assert np.array_equal(table.sum(axis=1), total)
        assert table.max() < 2**53  # exact as the coder's float64 weights


def test_float_loss_matches_the_exact_tables(rng):
    """mixture_nll (training) and the coder's tables price pixels alike."""
    colours, components = 3, 3
    out = random_outputs(400, colours, components, rng, typical=True)
    symbols = rng.integers(88, 168, (400, colours), dtype=np.int64)
    tables = logistic.exact_tables(out, torch.from_numpy(symbols), colours, components).numpy()
    picked = np.take_along_axis(tables, symbols[:, :, None], axis=2)[..., 0]
    exact_nats = np.log(tables.sum(axis=2)) - np.log(picked)
    float_nats = logistic.mixture_nll(out.float().T.reshape(1, -1, 400, 1),
                                      torch.from_numpy(symbols.T.reshape(1, colours, 400, 1)),
                                      colours, components)
    assert exact_nats.mean() == pytest.approx(float(float_nats), rel=2e-3)


@pytest.mark.parametrize("colours,spatial_width,edge,gap", [(1, 3, False, False),
                                                           (3, 3, False, True),
                                                           (3, 7, True, False),
                                                           (1, 5, True, True)])
@pytest.mark.parametrize("shape,tile", [((1, 1), 8), ((1, 9), 4), ((13, 1), 5), ((17, 23), 64),
                                        ((17, 23), 6), ((20, 20), 10)])
def test_stepper_equals_parallel_exact_pass(colours, spatial_width, edge, gap, shape, tile, rng):
    net = random_logistic_net(colours, seed=shape[0] + tile, spatial_width=spatial_width,
                              edge_predictor=edge, gap_predictor=gap)
    pixels = rng.integers(0, 256, (*shape, colours), dtype=np.uint8)
    seen = tables_in_coding_order(net, pixels, tile)
    coded = np.zeros(pixels.shape, dtype=int)
    for y, x, h, w in container.tile_grid(*shape, tile):
        part = torch.from_numpy(pixels[y:y + h, x:x + w]).permute(2, 0, 1)[None]
        exact = net.exact_tables(part)[0].numpy()  # (C, 256, h, w)
        for ys, xs, colour, table in seen:
            inside = (ys >= y) & (ys < y + h) & (xs >= x) & (xs < x + w)
            expected = exact[colour, :, ys[inside] - y, xs[inside] - x]
            assert np.array_equal(table[inside], expected.reshape(-1, 256))
            coded[ys[inside], xs[inside], colour] += 1
    assert (coded == 1).all()


@pytest.mark.parametrize("colours,predictor", [(1, 3), (3, 5), (3, 0)])
def test_round_trip_and_exact_nll_near_float(colours, predictor, rng):
    net = random_logistic_net(colours, seed=3, predictor=predictor)
    pixels = np.cumsum(rng.integers(0, 40, (19, 22, colours)), axis=1).astype(np.uint8)
    coded = encoder.encode_pixels(net, pixels, tile=12)
    bits = coded.nll_bits
    assert np.array_equal(codec.decode_pixels(net, coded.streams, 19, 22, tile=12), pixels)
    assert likelihood.coded_nll_bits(net, pixels, tile=12) == pytest.approx(bits, rel=1e-12)
    float_bits = 0.0
    for y, x, h, w in container.tile_grid(19, 22, 12):
        part = torch.from_numpy(pixels[y:y + h, x:x + w]).permute(2, 0, 1)[None]
        with torch.no_grad():
            float_bits += float(net.loss(net(part), part)) * part.numel() / math.log(2)
    assert bits == pytest.approx(float_bits, rel=2e-3)


def test_wide_blocks_see_further_right_above_at_the_same_wavefront_slope():
    narrow, wide = (random_logistic_net(3, spatial_width=w).dependency_offsets() for w in (3, 7))
    assert narrow < wide
    assert (-2, 6) in wide and (-2, 6) not in narrow  # 3 right per row above, per layer
    assert max(dx for dy, dx in wide if dy == -1) == 3
    assert random_logistic_net(3, spatial_width=7).wavefront_slope(64) == 4
    assert random_logistic_net(3, spatial_width=3).wavefront_slope(64) == 4


def calic_gap(w, ww, n, nn, ne, nw, nne) -> float:
    """CALIC's gradient-adjusted prediction as Wu and Memon state it, on grey levels."""
    dh = abs(w - ww) + abs(n - nw) + abs(n - ne)
    dv = abs(w - nw) + abs(n - nn) + abs(ne - nne)
    if dv - dh > 80:
        return w
    if dh - dv > 80:
        return n
    guess = (w + n) / 2 + (ne - nw) / 4
    if dv - dh > 32:
        return (guess + w) / 2
    if dv - dh > 8:
        return (3 * guess + w) / 4
    if dh - dv > 32:
        return (guess + n) / 2
    if dh - dv > 8:
        return (3 * guess + n) / 4
    return guess


def test_gradient_adjusted_prediction_is_calic_s(rng):
    """On normalised pixels (grey level v as (v - 128) / 128), exactly CALIC's rule, on smooth
    neighbourhoods (every branch taken) and random ones."""
    smooth = rng.integers(100, 140, (3000, 7)) + rng.integers(0, 2, (3000, 1)) * \
        rng.integers(-90, 90, (3000, 7))
    levels = np.concatenate([np.clip(smooth, 0, 255), rng.integers(0, 256, (3000, 7))])
    normalised = [(torch.from_numpy(column).double() - 128) / 128 for column in levels.T]
    got = gradient_adjusted(*normalised) * 128 + 128
    expected = torch.tensor([calic_gap(*map(float, row)) for row in levels], dtype=torch.float64)
    assert torch.equal(got, expected)
    w, ww, n, nn, ne, nw, nne = levels.T
    d = (abs(w - nw) + abs(n - nn) + abs(ne - nne)) - (abs(w - ww) + abs(n - nw) + abs(n - ne))
    bounds = [-1000, -80, -32, -8, 8, 32, 80, 1000]  # the rule's seven cases, thresholds included
    assert all(((d > lo) & (d <= hi)).sum() > 10 for lo, hi in zip(bounds, bounds[1:]))


def test_median_edge_detector_is_loco_i_s(rng):
    n, w, nw = (torch.from_numpy(rng.integers(0, 256, 5000)).double() for _ in range(3))
    loco = torch.where(nw >= torch.maximum(n, w), torch.minimum(n, w),
                       torch.where(nw <= torch.minimum(n, w), torch.maximum(n, w), n + w - nw))
    assert torch.equal(median_edge(n, w, nw), loco)


@pytest.mark.parametrize("spatial_width,edge,gap", [(3, False, False), (7, True, False),
                                                    (3, False, True)])
def test_network_sees_only_earlier_pixels(spatial_width, edge, gap, rng):
    """Changing a pixel changes no output at or before it in raster order."""
    net = random_logistic_net(3, seed=1, spatial_width=spatial_width, edge_predictor=edge,
                              gap_predictor=gap)
    x = torch.from_numpy(rng.integers(0, 256, (1, 3, 9, 9), dtype=np.uint8))
    base = net(x)
    for r, c in [(0, 0), (4, 4), (8, 2), (3, 8)]:
        changed = x.clone()
        changed[0, :, r, c] = 255 - changed[0, :, r, c]
        diff = (net(changed) - base).abs().sum(dim=(0, 1))
        flat = diff.flatten()
        assert (flat[:r * 9 + c + 1] == 0).all()
        assert flat[r * 9 + c + 1:].sum() > 0
