"""The two arithmetics every network runs in, so that one forward pass serves training and coding.

* ``FLOAT``: the layers as they are, float32 (training).
* ``ExactArithmetic(net)``: weights and activations on the fixed-point grids of
  ``pixcodec.fixedpoint``, float64 holding only exact values, table sigmoid and tanh: the
  arithmetic of the coding path, identical on every machine.

A network writes its forward pass once against this interface: ``conv(layer, x)`` for every
convolution, ``act(x)`` wherever a value is stored (the rounding points), ``sigmoid`` / ``tanh``
and ``param(p)`` for parameters used directly (learned initial states).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import fixedpoint as fx
from .layers import MaskedConv2d


def conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
           padding: int) -> torch.Tensor:
    """F.conv1d as one matrix product over the stacked shifted inputs. The LSTMs' state-to-state
    convolutions run once per row or column on tiny maps, where the convolution routines cost
    many times more (forward and backward) than the arithmetic."""
    out_channels, in_channels, taps = weight.shape
    x = F.pad(x, (padding, padding))
    length = x.shape[2] - taps + 1
    stacked = torch.cat([x[:, :, k:k + length] for k in range(taps)], dim=1)
    return torch.matmul(weight.permute(0, 2, 1).reshape(out_channels, taps * in_channels),
                        stacked) + bias[:, None]


class FloatArithmetic:
    exact = False

    @staticmethod
    def conv(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if isinstance(layer, nn.Conv1d):
            return conv1d(x, layer.weight, layer.bias, layer.padding[0])
        return layer(x)

    @staticmethod
    def act(x: torch.Tensor) -> torch.Tensor:
        return x

    sigmoid = staticmethod(torch.sigmoid)
    tanh = staticmethod(torch.tanh)

    @staticmethod
    def param(p: torch.Tensor) -> torch.Tensor:
        return p


FLOAT = FloatArithmetic()


def layer_weight(layer: nn.Module) -> torch.Tensor:
    return layer.masked_weight() if isinstance(layer, MaskedConv2d) else layer.weight


def exact_parameters(net: nn.Module) -> dict:
    """Each convolution of `net` -> (weight, bias) rounded to the fixed-point grid, float64."""
    return {m: (fx.quantize_weight(layer_weight(m)), fx.quantize_bias(m.bias))
            for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d))}


# The most products any rounded value of a network sums, counted generically: two
# convolutions (an LSTM's input-to-state and state-to-state parts; the logistic head's output
# layer and its predictors) plus a few already-rounded terms (biases, the multi-scale gates).
_SUMMED_LAYERS, _SUMMED_EXTRA = 2, 128


def largest_fan_in(net: nn.Module) -> int:
    """The most products of one output of any convolution of `net` (whole kernels, masks
    ignored: a bound)."""
    fan_ins = [m.weight[0].numel() if not isinstance(m, nn.ConvTranspose2d)
               else m.weight[:, 0].numel()
               for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d))]
    return max(fan_ins, default=0)


def check_fan_in(net: nn.Module) -> None:
    """Refuse a network whose exact sums could leave float64's exact range (fixedpoint.py),
    with the reason: the one bound on fan-in, for every architecture."""
    largest = largest_fan_in(net)
    if _SUMMED_LAYERS * largest + _SUMMED_EXTRA > fx.MAX_FAN_IN:
        raise ValueError(f"a convolution with {largest} inputs per output is too wide for the "
                         f"exact arithmetic: sums of two such layers could exceed "
                         f"{fx.MAX_FAN_IN} products and lose exactness")


class ExactArithmetic:
    exact = True

    def __init__(self, net: nn.Module):
        self.params = exact_parameters(net)

    def conv(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        w, b = self.params[layer]
        if isinstance(layer, nn.ConvTranspose2d):
            return F.conv_transpose2d(x, w, b, stride=layer.stride, padding=layer.padding,
                                      output_padding=layer.output_padding)
        if isinstance(layer, nn.Conv1d):
            return conv1d(x, w, b, layer.padding[0])
        return F.conv2d(x, w, b, stride=layer.stride, padding=layer.padding)

    act = staticmethod(fx.quantize_activation)
    sigmoid = staticmethod(fx.sigmoid)
    tanh = staticmethod(fx.tanh)

    @staticmethod
    def param(p: torch.Tensor) -> torch.Tensor:
        return fx.quantize_activation(p.detach().to(torch.float64))
