"""The discretized logistic mixture of PixelCNN++ (Salimans, Karpathy, Chen & Kingma 2017), with
the within-pixel colour dependence: G's means are linear in R, B's in R and G.

A network predicts, per pixel, ``mixture_channels(colours, k)`` numbers laid out as::

    [k mixture logits | colours*k means | colours*k log-scales | 3k coefficients (RGB only)]

Pixel values are normalised as everywhere in pixcodec: symbol i is x_i = (i - 128) / 128, so
bins are 1/128 wide and the bin of i spans x_i +- 1/256; the bins of 0 and 255 reach to -+inf.

Two ways to read the same parameters:
* ``mixture_nll``: float, the training loss (nats per subpixel);
* ``exact_tables``: the coder's 256-entry integer table per subpixel, built with integer
  arithmetic only (``pixcodec.engine.mixture``, which the torch-free engine shares), so it is
  the same on every machine.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..engine.mixture import (  # noqa: F401 (the exact arithmetic, re-exported)
    CDF_BITS, CDF_LIMIT, CDF_STEP_BITS, EDGE_UNIT, HALF_BIN, INV_SCALE_BITS, LOG_SCALE_BITS,
    LOG_SCALE_MAX, LOG_SCALE_MIN, MEAN_BITS, POSTERIOR_BITS, T_BITS, TABLE_SHIFT,
    QuantizedMixture, cdf_table, inverse_scale_table)


def mixture_channels(colours: int, components: int) -> int:
    return components * (1 + 2 * colours + (3 if colours == 3 else 0))


def split_parameters(out: torch.Tensor, colours: int, components: int):
    """(B, channels, H, W) -> logits (B, K, H, W), means and log-scales (B, C, K, H, W),
    coefficients (B, 3, K, H, W) or None."""
    k, c = components, colours
    b, _, h, w = out.shape
    # split, not slices: its gradient is one concatenation, where each slice's is a
    # zero-filled copy of the whole output (the profiler's fill_: 9 % of a step before).
    parts = out.split([k, c * k, c * k] + ([3 * k] if c == 3 else []), dim=1)
    logits = parts[0]
    means = parts[1].reshape(b, c, k, h, w)
    log_scales = parts[2].reshape(b, c, k, h, w)
    coeffs = parts[3].reshape(b, 3, k, h, w) if c == 3 else None
    return logits, means, log_scales, coeffs


def _conditioned_means(means: torch.Tensor, coeffs, x: torch.Tensor) -> torch.Tensor:
    """Means with the colour terms: G += a R, B += b R + c G (x: (B, C, H, W) normalised)."""
    if coeffs is None:
        return means
    r, g = x[:, 0:1], x[:, 1:2]
    return torch.stack([means[:, 0],
                        means[:, 1] + coeffs[:, 0] * r,
                        means[:, 2] + coeffs[:, 1] * r + coeffs[:, 2] * g], dim=1)


def mixture_nll(out: torch.Tensor, symbols: torch.Tensor, colours: int,
                components: int) -> torch.Tensor:
    """Mean NLL in nats per subpixel of uint8 `symbols` (B, C, H, W) under the mixture `out`."""
    logits, means, log_scales, coeffs = split_parameters(out.float(), colours, components)
    x = (symbols.float() - 128) / 128
    coeffs = None if coeffs is None else torch.tanh(coeffs)
    means = _conditioned_means(means, coeffs, x)
    log_scales = log_scales.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)
    inv = torch.exp(-log_scales)
    centred = x[:, :, None] - means                                 # (B, C, K, H, W)
    upper = inv * (centred + HALF_BIN)
    lower = inv * (centred - HALF_BIN)
    # sigmoid(u) - sigmoid(l) = sigmoid(u) (1 - sigmoid(l)) (1 - exp(l - u)): stable in both
    # tails, where a plain difference of CDFs loses every digit.
    log_cdf_upper = -F.softplus(-upper)                             # log sigmoid(u)
    log_survive_lower = -F.softplus(lower)                          # log (1 - sigmoid(l))
    log_prob_mid = log_cdf_upper + log_survive_lower + torch.log(-torch.expm1(lower - upper))
    first = symbols[:, :, None] == 0
    last = symbols[:, :, None] == 255
    log_prob = torch.where(first, log_cdf_upper, torch.where(last, log_survive_lower,
                                                             log_prob_mid))
    log_mix = torch.log_softmax(logits, dim=1)                      # (B, K, H, W)
    total = torch.logsumexp(log_prob.sum(dim=1) + log_mix, dim=1)   # over components
    return -total.mean() / colours


def exact_tables(out: torch.Tensor, symbols: torch.Tensor, colours: int,
                 components: int) -> torch.Tensor:
    """Exact outputs (N, channels) and the pixels' symbols (N, C) -> int64 tables (N, C, 256)."""
    mixture = QuantizedMixture(out, colours, components)
    pixels = symbols.numpy()
    return torch.from_numpy(np.stack([mixture.table(c, pixels[:, :c]) for c in range(colours)],
                                     axis=1))


