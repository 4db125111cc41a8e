"""The integer form of the logistic PixelCNN (issue 36): what it is, and how it is trained.

The coding path of a quantized network uses integers only: every convolution reads unsigned
8-bit codes (ReLU'd activations) or the pixels themselves, multiplies them by 8-bit weights (16
bits for the output layer and the linear predictors, whose precision sets the means), sums in
32-bit integers, and turns the sum into the next layer's codes by an integer multiply and
shift. Every value is then exact in any order on any CPU, and the products run on the integer
SIMD units (or on float32 BLAS: 8 x 8-bit products summed over at most 432 inputs stay below
2**24).

Where the codes sit (the grids the engine in ``pixcodec.engine`` reproduces):

* a convolution's input: ReLU'd activations as ``round(x / step)`` clamped to 0..255, one
  learned ``step`` per layer (LSQ, Esser et al. 2020); pixels as ``value - 128`` (step 1/128);
  the median edge detector's guess likewise; CALIC's guess in steps of 1/2048;
* weights: ``round(w / scale)`` in -127..127 (or -32767..32767), one scale per output channel,
  ``scale = max |w| / 127`` over the channel's live taps;
* the residual stream between blocks: multiples of 2**-12, as in the float64 exact path.

Training sees the same codes through straight-through rounding (``QuantizedTraining``, an
arithmetic of ``pixcodec.nets.arithmetic``'s interface), as values (codes times steps) so that
each convolution keeps its fused bias and the step costs few passes over the activations.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import fixedpoint as fx
from . import logistic
from .layers import MaskedConv2d

CODE_MAX = 255            # unsigned 8-bit activation codes
WEIGHT_MAX = 127          # 8-bit weights: the trunk
FINE_WEIGHT_MAX = 32767   # 16-bit weights: the output layer and the predictors
PIXEL_STEP = 1 / 128      # normalised pixels (and the median edge guess) are codes - 128
GAP_STEP = 1 / 2048       # CALIC's guess is exact in sixteenths of a pixel step
CALIBRATION_QUANTILE = 0.9999  # a fresh step maps this quantile of the activations to 255


def round_straight_through(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity backward (the straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def weight_scales(weight: torch.Tensor, largest: int) -> torch.Tensor:
    """Per output channel, the step of its integer weights: max |w| / largest (not learned)."""
    top = weight.detach().abs().amax(dim=tuple(range(1, weight.dim())))
    return torch.where(top > 0, top, torch.ones_like(top)) / largest


def weight_codes(weight: torch.Tensor, largest: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer-valued weights, per-channel scales): weight ~= codes * scale."""
    scale = weight_scales(weight, largest)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    codes = round_straight_through(weight / scale.view(shape)).clamp(-largest, largest)
    return codes, scale


class _FakeQuantize(torch.autograd.Function):
    """codes * step forward; the gradient passes straight through, except where the clamp at
    255 steps (the calibration's 0.9999 quantile) acted: there the output does not move with
    the input, and a gradient passed through anyway pushed ever more activations past the top
    code, never told that it had stopped paying (docs/TRAINING.md, the sixteenth run: the
    clipped share doubled in each run after the calibration, and the later runs' weights got
    worse). In place after one allocation: the activations are the largest tensors of a
    training step, and each pass over them costs more than the convolution it feeds (measured:
    4x a float step with unfused straight-through rounding)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        # x, not the codes: in bfloat16 (8 significant bits) codes 254 and 255 can be one value,
        # and the ReLU that made x keeps it for its own gradient anyway
        ctx.save_for_backward(x, step)
        return torch.div(x, step).round_().clamp_(0, CODE_MAX).mul_(step)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, step = ctx.saved_tensors
        clamped_from = (CODE_MAX + 0.5) * float(step)  # x / step rounds past the top code
        # grad where -1 < x < clamped_from, else 0: one fused pass (a comparison and a
        # masked_fill were 17 times slower and made a step 1.75 times as long)
        return torch.ops.aten.hardtanh_backward(grad, x, -1.0, clamped_from), None


class InputQuantizer(nn.Module):
    """The unsigned 8-bit codes of a convolution's ReLU'd input: ``round(x / step)`` clamped
    to 0..255. The step is set from data once (``calibrate``), before training, and kept: at 8
    bits a calibrated step loses little, and learning it (LSQ) doubled a step's time here."""

    def __init__(self):
        super().__init__()
        self.register_buffer("step", torch.ones(()))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        sample = x.detach().float().flatten()[::7][:2**24]
        top = float(torch.quantile(sample, CALIBRATION_QUANTILE)) if len(sample) else 1.0
        self.step.fill_(max(top, 1e-3) / CODE_MAX)
        self.calibrated.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU'd activations -> their values on the grid (codes times the step)."""
        if not self.calibrated:
            self.calibrate(x)
        return _FakeQuantize.apply(x, self.step.to(x.dtype))


def quantized_layers(net: nn.Module) -> dict[str, tuple[MaskedConv2d, str | float, int]]:
    """Each convolution of a logistic PixelCNN by name -> (layer, its input: the name of its
    learned step, or a fixed step, its largest weight code)."""
    layers = {"input_conv": (net.input_conv, PIXEL_STEP, WEIGHT_MAX)}
    for i, block in enumerate(net.blocks):
        for part in ("reduce", "spatial", "expand"):
            name = f"blocks_{i}_{part}"
            layers[name] = (getattr(block, part), name, WEIGHT_MAX)
    layers["head"] = (net.head, "head", WEIGHT_MAX)
    layers["params"] = (net.params, "params", FINE_WEIGHT_MAX)
    for name, step in (("predictor", PIXEL_STEP), ("edge", PIXEL_STEP), ("gap", GAP_STEP)):
        if getattr(net, name) is not None:
            layers[name] = (getattr(net, name), step, FINE_WEIGHT_MAX)
    return layers


def input_quantizers(net: nn.Module) -> nn.ModuleDict:
    """The learned input steps a quantized network holds (``net.quantizers``)."""
    return nn.ModuleDict({source: InputQuantizer()
                          for _, source, _ in quantized_layers(net).values()
                          if isinstance(source, str)})


class QuantizedTraining:
    """The arithmetic (``pixcodec.nets.arithmetic``'s interface) of a quantized network in
    training: each convolution reads its input's codes and its integer weights, rescaled after
    the sum; values between convolutions stay float (the stream's 2**-12 grid is fine enough
    not to matter to the gradient)."""

    exact = False

    def __init__(self, net: nn.Module):
        self.quantizers = net.quantizers
        self.layers = {id(layer): (source, largest)
                       for layer, source, largest in quantized_layers(net).values()}

    def conv(self, layer: MaskedConv2d, x: torch.Tensor) -> torch.Tensor:
        source, largest = self.layers[id(layer)]
        if isinstance(source, str):
            x = self.quantizers[source](x)
        # (pixels and the guesses made of them are already on their grids)
        codes, scales = weight_codes(layer.masked_weight(), largest)
        weight = codes * scales.view(-1, 1, 1, 1)
        if largest > WEIGHT_MAX:  # 16-bit weights are not bfloat16 integers: float32
            with torch.autocast(x.device.type, enabled=False):
                return F.conv2d(x.float(), weight, layer.bias, padding=layer.padding)
        return F.conv2d(x, weight, layer.bias, padding=layer.padding)

    @staticmethod
    def act(x: torch.Tensor) -> torch.Tensor:
        return x


@torch.no_grad()
def calibrate(net: nn.Module, x: torch.Tensor) -> None:
    """Set every uncalibrated input step of `net` from one batch of symbols x (B, C, H, W):
    a network started from float weights (``--init``) begins with steps that fit them. A
    network without quantizers is left as it is."""
    quantizers = [m for m in net.modules() if isinstance(m, InputQuantizer)]
    if not quantizers or all(bool(q.calibrated) for q in quantizers):
        return
    was_training = net.training
    net.eval()
    net(x)  # each quantizer calibrates on its first input
    net.train(was_training)


# --- The integer network ---------------------------------------------------------------------

MULTIPLIER_BITS = 30  # requantization multipliers lie in [2**30, 2**31]


def multiplier_and_shift(ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integers (m, s) with m / 2**s the nearest such fraction to each `ratio` (> 0): an
    integer sum times `ratio`, rounded, is then ``(sum * m + 2**(s - 1)) >> s``."""
    ratio = np.asarray(ratio, dtype=np.float64)
    if not np.all((ratio > 0) & (ratio < 2.0**(MULTIPLIER_BITS - 2))):
        raise ValueError("a requantization ratio is out of range")
    shift = MULTIPLIER_BITS - np.floor(np.log2(ratio)).astype(np.int64)
    multiplier = np.rint(np.ldexp(ratio, shift)).astype(np.int64)
    return multiplier, shift


def _mixture_steps(net: nn.Module) -> np.ndarray:
    """The grid of each output-layer channel: logits, means, log-scales, colour coefficients."""
    k, c = net.config.components, net.config.colours
    steps = ([2.0**-fx.LOGIT_BITS] * k + [2.0**-logistic.MEAN_BITS] * (c * k)
             + [2.0**-logistic.LOG_SCALE_BITS] * (c * k) + [2.0**-fx.ACT_BITS] * (3 * k if c == 3 else 0))
    return np.asarray(steps)


@torch.no_grad()
def integer_parameters(net: nn.Module) -> dict[str, np.ndarray]:
    """The integer network a quantized logistic PixelCNN stands for, as the engine reads it
    (``pixcodec.engine.network``): for each convolution NAME, ``NAME.weight`` (its integer
    weights, masked taps zero), ``NAME.bias`` (int64, in units of its sums) and
    ``NAME.multiplier`` / ``NAME.shift`` (int64 per output channel: its sums onto its
    output's grid); and ``NAME.input_multiplier`` / ``NAME.input_shift`` for the layers that
    read the residual stream (the stream's 2**-12 grid onto their codes). Computed once, at
    export, from the trained float weights and steps; the coding path reads only integers."""
    if not getattr(net.config, "quantized", False):
        raise ValueError("only a quantized network has an integer form")
    layers = quantized_layers(net)
    steps = {name: float(q.step) for name, q in net.quantizers.items()}

    def input_step(source) -> float:
        return steps[source] if isinstance(source, str) else source

    stream = 2.0**-fx.ACT_BITS
    blocks = len(net.blocks)
    targets = {"input_conv": stream, "head": steps["params"], "params": _mixture_steps(net)}
    for i in range(blocks):
        targets[f"blocks_{i}_reduce"] = steps[f"blocks_{i}_spatial"]
        targets[f"blocks_{i}_spatial"] = steps[f"blocks_{i}_expand"]
        targets[f"blocks_{i}_expand"] = stream
    out = {}
    for name, (layer, source, largest) in layers.items():
        codes, scales = weight_codes(layer.masked_weight().double(), largest)
        unit = scales.numpy() * input_step(source)  # one step of the layer's integer sums
        out[f"{name}.weight"] = codes.numpy().astype(np.int8 if largest <= WEIGHT_MAX else np.int16)
        out[f"{name}.bias"] = np.rint(layer.bias.double().numpy() / unit).astype(np.int64)
        target = targets.get(name, 2.0**-logistic.MEAN_BITS)  # the predictors add to the means
        out[f"{name}.multiplier"], out[f"{name}.shift"] = multiplier_and_shift(unit / target)
    for name in [f"blocks_{i}_reduce" for i in range(blocks)] + ["head"]:
        m, s = multiplier_and_shift(np.array([stream / steps[name]]))
        out[f"{name}.input_multiplier"], out[f"{name}.input_shift"] = m, s
    return out


def integer_safetensors(net: nn.Module, metadata: dict[str, str] | None = None) -> bytes:
    """The integer network as a safetensors file's bytes: what a shipped integer model holds
    (``pixcodec.engine.network.load`` reads it)."""
    from safetensors.numpy import save

    return save({name: np.ascontiguousarray(value)
                 for name, value in integer_parameters(net).items()}, metadata=metadata)
