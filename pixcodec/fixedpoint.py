"""Fixed-point rules that make the coder's probability tables identical on every machine.

Why this exists: an entropy decoder must see exactly the probability tables the encoder used; a
single differing bit derails the rest of the file. Float32 networks give slightly different
results with another thread count, BLAS, CPU or GPU. So the coding path runs the trained network
in *exact* arithmetic:

* weights are rounded to multiples of 2**-WEIGHT_BITS (|w| < WEIGHT_LIMIT),
* activations are rounded to multiples of 2**-ACT_BITS after every layer (|a| <= ACT_LIMIT),
* every product is then an integer multiple of 2**-(WEIGHT_BITS + ACT_BITS) below 2**40 of those
  units, and a sum of at most MAX_FAN_IN of them stays below 2**53, so float64 holds every
  partial sum exactly: the result does not depend on summation order, blocking or threads;
* logits are rounded to multiples of 2**-LOGIT_BITS nats and turned into integer weights through
  an integer table of exp(-d / 2**LOGIT_BITS), built with integer arithmetic only;
* the LSTMs' sigmoid and tanh are integer tables too, indexed by the activation grid: libm's
  exp and tanh may differ in the last bit between machines, tables built from integers cannot.

The integer weights, passed as float64 (exact below 2**53), are what the entropy coder sees.
"""
from __future__ import annotations

import functools

from typing import TYPE_CHECKING, Union

import numpy as np

from .compiled import kernel

if TYPE_CHECKING:  # torch is imported where a torch tensor comes in: the engine runs without it
    import torch

Array = Union["torch.Tensor", np.ndarray]  # the exact rules below take either

WEIGHT_BITS = 16
WEIGHT_LIMIT = 15.0
ACT_BITS = 12
ACT_LIMIT = 255.0
LOGIT_BITS = 10
# |w| < 2**4 and |a| < 2**8 make each product < 2**40 units of 2**-28; 2**13 of them < 2**53.
MAX_FAN_IN = 2**13

# exp(-d / 1024) in units of 2**-40 for d = 0 .. EXP_TABLE_SIZE-1. Rounding each step of the
# recurrence makes it stop decreasing at 512 units (2**-31) from d = 21,884 (exp(-21.4)): every
# smaller probability ratio is 2**-31, so a table entry costs at most about 39 bits of NLL (the
# coder gives every symbol a floor of its own anyway).
EXP_TABLE_SIZE = 32 * 2**LOGIT_BITS
_EXP_STEP = 1098438410069  # round(exp(-1/1024) * 2**40), computed with 50-digit decimals


def _build_exp_table() -> np.ndarray:
    table = [1 << 40]
    for _ in range(EXP_TABLE_SIZE - 1):
        table.append((table[-1] * _EXP_STEP + (1 << 39)) >> 40)
    return np.asarray(table, dtype=np.int64)


EXP_TABLE = _build_exp_table()

# sigmoid and tanh on the activation grid: inputs are multiples of 2**-ACT_BITS, clamped to
# +-NONLINEAR_LIMIT (beyond it both round to +-1 on the grid anyway: 1 - sigmoid(12) < 2**-17),
# outputs are multiples of 2**-ACT_BITS, rounded half up from exact integer ratios.
NONLINEAR_LIMIT = 12
_GRID_EXP_STEP = 1099243225085  # round(exp(-2**-ACT_BITS) * 2**40), computed with 50 digits


@functools.cache
def _nonlinear_tables() -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid, tanh) tables on the activation grid (int64, in units of 2**-ACT_BITS), built
    on first use."""
    unit, one = 1 << ACT_BITS, 1 << 40
    n = NONLINEAR_LIMIT * unit
    exp = _grid_exponentials(2 * n + 1)  # exp(-k / 2**ACT_BITS) in units of 2**-40
    k = np.arange(n + 1)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:  # round(num / den * unit)
        return (num * unit + den // 2) // den

    sig_pos = ratio(np.full(n + 1, one), one + exp[k])      # sigmoid(k / unit), k >= 0
    tanh_pos = ratio(one - exp[2 * k], one + exp[2 * k])    # tanh(k / unit), k >= 0
    sigmoid = np.concatenate([unit - sig_pos[:0:-1], sig_pos])   # index k + n, k = -n .. n
    tanh = np.concatenate([-tanh_pos[:0:-1], tanh_pos])
    return sigmoid, tanh


@kernel
def _grid_exponentials(count):
    """e[0] = 2**40, e[k + 1] = (e[k] * _GRID_EXP_STEP + 2**39) >> 40, k + 1 < count: exp(-k /
    2**ACT_BITS) in units of 2**-40, each step rounded half up. The 80-bit product is taken in
    int64 halves (compiled: the loop in Python took 0.09 s of every command that codes)."""
    low_bits = 20
    high, low = _GRID_EXP_STEP >> low_bits, _GRID_EXP_STEP & ((1 << low_bits) - 1)
    exp = np.empty(count, np.int64)
    exp[0] = 1 << 40
    for k in range(1, count):
        upper = exp[k - 1] * high  # below 2**60, as the lower product
        rest = ((upper & ((1 << low_bits) - 1)) << low_bits) + exp[k - 1] * low + (1 << 39)
        exp[k] = (upper >> low_bits) + (rest >> 40)
    return exp


@functools.cache
def _float_tables(which: int):
    """A nonlinearity's table as float64 activations (integers below 2**13 over 2**ACT_BITS are
    exact), as a torch tensor."""
    import torch
    return torch.from_numpy(_nonlinear_tables()[which] / float(2**ACT_BITS))


def round_to_grid(x: Array, bits: int, limit: float) -> Array:
    """Round to the nearest multiple of 2**-bits and clamp to [-limit, limit]; exact in float64.
    Ties go to even, in torch and numpy alike (the steppers work in numpy)."""
    scale = float(2**bits)
    if isinstance(x, np.ndarray):
        return np.clip(np.rint(x * scale), -limit * scale, limit * scale) / scale
    return x.mul(scale).round_().clamp_(-limit * scale, limit * scale).div_(scale)


def quantize_weight(w: "torch.Tensor") -> "torch.Tensor":
    return round_to_grid(w.detach().double(), WEIGHT_BITS, WEIGHT_LIMIT)


def quantize_bias(b: "torch.Tensor") -> "torch.Tensor":
    return round_to_grid(b.detach().double(), WEIGHT_BITS + ACT_BITS, WEIGHT_LIMIT)


def quantize_activation(a: Array) -> Array:
    return round_to_grid(a, ACT_BITS, ACT_LIMIT)


def _lookup(which: int, x: Array) -> Array:
    n = NONLINEAR_LIMIT * 2**ACT_BITS
    if isinstance(x, np.ndarray):
        index = np.clip(np.rint(x * float(2**ACT_BITS)), -n, n).astype(np.int64) + n
        return _nonlinear_tables()[which][index] / float(2**ACT_BITS)
    import torch
    index = torch.round(x * float(2**ACT_BITS)).clamp_(-n, n).add_(n).to(torch.int64)
    return _float_tables(which)[index]


def sigmoid(x: Array) -> Array:
    """Exact sigmoid of float64 x (rounded to the activation grid first), on the grid."""
    return _lookup(0, x)


def tanh(x: Array) -> Array:
    """Exact tanh of float64 x (rounded to the activation grid first), on the grid."""
    return _lookup(1, x)


def tanh_table() -> np.ndarray:
    """``tanh``'s table as integers in units of 2**-ACT_BITS, entry i for the input
    i - NONLINEAR_LIMIT * 2**ACT_BITS in the same units (the integer engine reads it)."""
    return _nonlinear_tables()[1]


def integer_logits(logits: Array) -> Array:
    """Exact float64 logits -> int64 logits in units of 2**-LOGIT_BITS nats."""
    if isinstance(logits, np.ndarray):
        return np.rint(logits * float(2**LOGIT_BITS)).astype(np.int64)
    return logits.mul(float(2**LOGIT_BITS)).round_().long()


def probability_weights(int_logits: np.ndarray) -> np.ndarray:
    """(N, K) int64 logits -> (N, K) float64 unnormalised probabilities, each an exact integer:
    EXP_TABLE at each logit's distance below its row's largest."""
    return _probability_weights(np.ascontiguousarray(int_logits, dtype=np.int64), EXP_TABLE)


@kernel(nogil=True)
def _probability_weights(int_logits, table):
    out = np.empty(int_logits.shape)
    for n in range(int_logits.shape[0]):
        top = int_logits[n].max()
        for k in range(int_logits.shape[1]):
            out[n, k] = table[min(top - int_logits[n, k], len(table) - 1)]
    return out


def bits_of(weights: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """Ideal code length in bits of each symbol under its table (the model's NLL)."""
    picked = weights[np.arange(len(symbols)), symbols]
    return np.log2(weights.sum(axis=1)) - np.log2(picked)
