"""The compiled pieces of the steppers (pixcodec.nets.kernels) against the torch and numpy rules
they replace, on the cases a whole-network test may never hit: rounding ties, the activation
limits, logit gaps beyond the exp table, every row count around the four-row blocking."""
import numpy as np
import pytest
import torch

from pixcodec import fixedpoint as fx
from pixcodec.nets import kernels
from pixcodec.nets.incremental import FeatureCache, Taps
from pixcodec.nets.layers import MaskedConv2d


def test_rounding_matches_quantize_activation_at_ties_and_limits():
    unit = 2.0**-fx.ACT_BITS
    values = np.concatenate([(np.arange(-20, 21) + 0.5) * unit,        # ties: to even
                             np.arange(-20, 21) * unit * 0.37,
                             [fx.ACT_LIMIT, fx.ACT_LIMIT + unit / 2, 300.0, -300.0, -1e9, 1e9]])
    expected = fx.quantize_activation(torch.from_numpy(values)).numpy()
    assert np.array_equal([kernels._quantize(v) for v in values], expected)


@pytest.mark.parametrize("rows", [1, 3, 4, 5, 9])
def test_neighbour_sums_equal_the_taps_context(rows):
    rng = np.random.default_rng(rows)
    torch.manual_seed(rows)
    layer = MaskedConv2d(8, 6, 3, "B", 1)
    weight, bias = fx.quantize_weight(layer.weight * layer.mask), fx.quantize_bias(layer.bias)
    taps = Taps(layer, weight, bias)
    cache = FeatureCache(2, 5, 7, 8, 1, taps.offsets)
    values = rng.integers(-2**15, 2**15, cache.data.shape) / 2**fx.ACT_BITS
    cache.data.copy_(torch.from_numpy(values))
    tile, row, col = (rng.integers(0, n, rows) for n in (2, 5, 7))
    index = cache.index(tile, row, col)
    expected = taps.context(cache.neighbours(torch.from_numpy(index)))
    got = kernels.neighbour_sums(cache.data.numpy(), index, cache.offsets.numpy(),
                                 taps.context_weight.t().contiguous().numpy(), bias.numpy())
    assert np.array_equal(got, expected.numpy())


def test_probability_weights_follow_the_exp_table():
    rng = np.random.default_rng(1)
    logits = rng.integers(-40_000, 40_000, (7, 256))
    logits[0] = 5  # a flat row
    logits[1, 3] = 10**9  # every other symbol beyond the table
    gap = np.minimum(logits.max(axis=1, keepdims=True) - logits, fx.EXP_TABLE_SIZE - 1)
    assert np.array_equal(fx.probability_weights(logits), fx.EXP_TABLE[gap].astype(np.float64))


def test_grid_exponentials_follow_their_recurrence_in_exact_integers():
    """The compiled table against its definition in Python's unbounded integers: the 80-bit
    products it splits into int64 halves must round as the whole ones do."""
    count = 2 * fx.NONLINEAR_LIMIT * 2**fx.ACT_BITS + 1
    exact = [1 << 40]
    for _ in range(count - 1):
        exact.append((exact[-1] * fx._GRID_EXP_STEP + (1 << 39)) >> 40)
    assert fx._grid_exponentials(count).tolist() == exact
