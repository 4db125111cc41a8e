"""Per-image adaptation: the encoder fits the last layers of a logistic-mixture model to the image
it codes and stores the change in the file (section ADPT); the decoder adds it to the shipped
weights before decoding. The decoder trains nothing, so the tables stay exact: it only adds
integers times a power of two (2**-7 .. 2**-11), multiples of the weight grid, to the weights.

What is fitted, by effort level (the CLI's ``--effort``, default 2):

* 0: nothing;
* 1: the orientation the image is coded in (pixcodec/orientation.py), then the output layer's
  biases and the linear predictor (about 600 numbers);
* 2: the whole output layer too (about 5,400 numbers), or level 1 where that saves more.

The fit runs on the trunk's features, computed once in float32: the adapted layers are linear in
them, so each step of Adam costs a matrix product over a random sample of pixels, plus a price
on the change's size (_RATE_BITS). The change is stored as integers times 2**-step, with the
step (STEP_CHOICES) that saves the most net of its bytes, and kept only when the float NLL it
saves exceeds what it costs to store. The section's bytes: pixcodec/sections.py (Adaptation).
"""
from __future__ import annotations

import copy
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .errors import FormatError
from .likelihood import float_bits
from .nets import logistic
from .nets.layers import normalise_pixels
from .nets.logistic_pixelcnn import LogisticPixelCNN
from .orientation import AS_IS, ORIENTATIONS, oriented
from .scheduling import coding_threads, in_groups
from .sections import STEP_CHOICES, Adaptation, unpack_adaptation

# The parameters an adaptation of each level (sections.ADAPT_LEVELS) changes, in the order its
# section stores them.
_PARAMETERS = {1: ("params.bias", "predictor.weight", "predictor.bias"),
               2: ("params.weight", "params.bias", "predictor.weight", "predictor.bias")}
# Chosen on held-out photos (bsd68 and unsplash-quarter, never Kodak): a constant 1e-3 made
# the NLL worse on some (level 2 by up to 1.2 bits/dim: Adam's steps do not shrink near the
# optimum); 3e-4 decayed to zero on a cosine gained on every one tried (docs/TRAINING.md).
_ITERATIONS = 200
_SAMPLE = 16384          # pixels per Adam step (consecutive rows of a shuffled image)
_LEARNING_RATE = 3e-4    # the peak; cosine decay to zero over the iterations
# The storage steps are compared on this many pixels of the shuffled image (an unbiased sample;
# the whole of a Kodak photo took 1.2 s a comparison, ten of them per encode).
_GAIN_SAMPLE = 2**16
_SECTION_OVERHEAD = 12   # bytes of an ADPT section besides its body
# What a change costs to store, for the fit: this many bits per 2**-9 of its absolute value, per
# subpixel of the image (an L1 penalty). Changes that save little then stay at zero and pack
# small. Chosen on held-out photos (docs/TRAINING.md); 0 before 2026-12-03.
_RATE_BITS = 1.5
# Below this many subpixels no fit is tried: the smallest section (~500 bytes) would need more
# than the 0.1-0.2 bits/dim the fits saved on photos, and a fit costs ~400 Adam steps.
MIN_SUBPIXELS = 2**15
# The orientation is judged on a window of at most this many pixels in the middle of the image
# (a pass of the network in each of the eight; chosen on held-out photos, docs/TRAINING.md).
ORIENTATION_WINDOW = 2**17


def adaptable(net: torch.nn.Module) -> bool:
    return isinstance(net, LogisticPixelCNN) and net.predictor is not None


def _parameters(net: torch.nn.Module, level: int) -> list[torch.Tensor]:
    named = dict(net.named_parameters())
    return [named[name] for name in _PARAMETERS[level]]


def parameter_shapes(net: torch.nn.Module, level: int) -> list[torch.Size]:
    """The shapes of the deltas an adaptation of `level` holds, in order."""
    return [p.shape for p in _parameters(net, level)]


def unpack(data: bytes, net: torch.nn.Module) -> Adaptation:
    """An ADPT section's body (pixcodec.sections), checked against the model it adapts."""
    if not adaptable(net):
        raise FormatError("ADPT section for a model that cannot be adapted")
    return unpack_adaptation(data, functools.partial(parameter_shapes, net))


def apply(net: torch.nn.Module, adaptation: Adaptation | None) -> torch.nn.Module:
    """A float64 copy of `net` with the deltas added (exact: float64 holds each sum), or `net`
    itself without an adaptation."""
    if adaptation is None:
        return net
    adapted = copy.deepcopy(net).double()
    with torch.no_grad():
        for p, delta in zip(_parameters(adapted, adaptation.level), adaptation.values()):
            p += torch.from_numpy(delta)
    return adapted


def fit_to_image(net: torch.nn.Module, pixels: np.ndarray, effort: int, workers: int = 1
                 ) -> tuple[int, np.ndarray, Adaptation | None]:
    """The encoder's choices for (H, W, C) uint8 `pixels` at `effort`: the orientation, the
    pixels so turned (the plane to code), and the adaptation fitted to them (or None). In up
    to `workers` processes (the fit alone takes seconds, more than a worker's start, which
    the CLI makes early): the same choices for any number."""
    turn = choose_orientation(net, pixels, effort, workers)
    turned = oriented(pixels, turn)
    return turn, turned, fit(net, turned, effort, workers=workers)


def choose_orientation(net: torch.nn.Module, pixels: np.ndarray, effort: int,
                       workers: int = 1) -> int:
    """The orientation in which the float model codes (H, W, C) uint8 `pixels` in the fewest
    bits, judged on their middle window; as they are at effort 0, for a model that cannot be
    adapted, or below MIN_SUBPIXELS. The eight passes are shared among up to `workers`
    processes (each pass on one thread wherever it runs: the same figures)."""
    if effort == 0 or not adaptable(net) or pixels.size < MIN_SUBPIXELS:
        return AS_IS
    window = middle_window(pixels, ORIENTATION_WINDOW)
    bits = in_groups(functools.partial(_orientation_bits, net, window), list(ORIENTATIONS),
                     workers)
    return int(np.argmin(bits))  # the first of equals: as they are


def _orientation_bits(net: torch.nn.Module, window: np.ndarray, turns: list[int],
                      progress=None) -> list[float]:
    with coding_threads():  # one thread, as the fit
        return [float_bits(net, oriented(window, turn)) for turn in turns]


def middle_window(pixels: np.ndarray, area: int) -> np.ndarray:
    """The middle of an (H, W, C) image: at most `area` pixels, as square as the image allows."""
    height, width = pixels.shape[:2]
    side = math.isqrt(area)
    h, w = min(height, side), min(width, side)
    if h < side:
        w = min(width, area // h)
    if w < side:
        h = min(height, area // w)
    top, left = (height - h) // 2, (width - w) // 2
    return pixels[top:top + h, left:left + w]


class _HeadProblem:
    """The network's output as a function of the deltas, per pixel: the unadapted output
    (N, channels), plus what each delta adds, linear in the trunk's features (N, F) and the
    predictor's live neighbourhood (N, T); and the symbols (N, C)."""

    def __init__(self, net: LogisticPixelCNN, pixels: np.ndarray):
        cfg = net.config
        x = torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(2, 0, 1)[None]
        xn = normalise_pixels(x)
        with torch.no_grad():
            features = net.features(xn)
            base = net.mixture_parameters(features, xn)
        k, c = cfg.components, cfg.colours
        self.means = slice(k, k + c * k)
        self.base = base[0].flatten(1).t().contiguous()                    # (N, channels)
        self.features = features[0].flatten(1).t().contiguous()            # (N, F)
        side = cfg.predictor
        self.live = net.predictor.mask[0].flatten() > 0
        patches = F.unfold(xn, side, padding=side // 2)[0].t()            # (N, C*side*side)
        self.patches = patches[:, self.live].contiguous()                  # (N, T)
        self.symbols = x[0].flatten(1).t().contiguous()                    # (N, C)
        self.colours, self.components = c, k

    def shuffle(self, generator: torch.Generator) -> None:
        """Put the pixels in a random order, so that consecutive rows are a random sample."""
        order = torch.randperm(len(self.symbols), generator=generator)
        for name in ("base", "features", "patches", "symbols"):
            setattr(self, name, getattr(self, name)[order])

    def nll_bits(self, deltas: list[torch.Tensor], level: int, rows=None) -> torch.Tensor:
        """Mean float NLL in bits per subpixel of the rows (all by default)."""
        d = dict(zip(_PARAMETERS[level], deltas))
        pick = (lambda t: t) if rows is None else (lambda t: t[rows])
        out = pick(self.base) + d["params.bias"]
        if "params.weight" in d:
            out = out + pick(self.features) @ d["params.weight"][:, :, 0, 0].t()
        guess = pick(self.patches) @ d["predictor.weight"].flatten(1)[:, self.live].t() \
            + d["predictor.bias"]
        out = torch.cat([out[:, :self.means.start], out[:, self.means] + guess,
                         out[:, self.means.stop:]], dim=1)
        n, c = len(out), self.colours
        nats = logistic.mixture_nll(out.t().reshape(1, -1, n, 1),
                                    pick(self.symbols).t().reshape(1, c, n, 1), c,
                                    self.components)
        return nats / math.log(2)


def fit(net: torch.nn.Module, pixels: np.ndarray, effort: int, seed: int = 0,
        workers: int = 1) -> Adaptation | None:
    """The best adaptation of a level up to `effort` for (H, W, C) uint8 `pixels`: the one
    that saves the most bits net of its own bytes, or None when none pays (or the model cannot
    be adapted, or effort is 0). The levels are fitted side by side in up to `workers`
    processes, each making its own copy of the problem (on one thread: the same copy), so the
    same adaptation for any number."""
    if effort == 0 or not adaptable(net) or pixels.size < MIN_SUBPIXELS:
        return None
    fitted = in_groups(functools.partial(_fit_levels, net, pixels, seed),
                       list(range(1, effort + 1)), workers)
    best, best_gain = None, 0.0
    for adaptation, gain in fitted:  # by level: the lower of equal gains
        if gain > best_gain:
            best, best_gain = adaptation, gain
    return best


def _fit_levels(net: LogisticPixelCNN, pixels: np.ndarray, seed: int, levels: list[int],
                progress=None) -> list[tuple[Adaptation, float]]:
    with coding_threads():  # one thread: the same file on any machine of a kind
        with torch.no_grad():
            problem = _HeadProblem(net, pixels)
        problem.shuffle(torch.Generator().manual_seed(seed))
        return [_fit_level(problem, net, level) for level in levels]


def _fit_level(problem: _HeadProblem, net: LogisticPixelCNN,
               level: int) -> tuple[Adaptation, float]:
    """The adaptation of one level, at its best step, and the bits it saves net of its bytes
    (float NLL)."""
    fitted = fit_deltas(problem, net, level)
    rows = slice(0, _GAIN_SAMPLE)
    with torch.no_grad():
        before = float(problem.nll_bits([torch.zeros(d.shape) for d in fitted], level, rows))
    choices = [net_gain(problem, Adaptation.quantize(level, step, fitted), before, rows)
               for step in STEP_CHOICES]
    return max(choices, key=lambda choice: choice[1])


def fit_deltas(problem: _HeadProblem, net: LogisticPixelCNN, level: int) -> list[np.ndarray]:
    """The float changes to the parameters of `level` that Adam finds (float32), minimising the
    NLL plus the price of storing them."""
    deltas = [torch.zeros(s, requires_grad=True) for s in parameter_shapes(net, level)]
    optimizer = _Adam(deltas)
    n = len(problem.symbols)
    sample = min(_SAMPLE, n)
    rate = _RATE_BITS * 2**9 / problem.symbols.numel()
    for step in range(_ITERATIONS):
        start = step * sample % n
        loss = problem.nll_bits(deltas, level, slice(start, min(start + sample, n))) \
            + rate * sum(d.abs().sum() for d in deltas)
        for d in deltas:
            d.grad = None
        loss.backward()
        optimizer.step(_LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * step / _ITERATIONS)))
    return [d.detach().numpy() for d in deltas]


class _Adam:
    """torch.optim.Adam's update as it runs on CPU tensors (its single-tensor path), operation
    for operation, so the very same deltas: constructing a torch optimizer imports
    torch._dynamo, 2 s here, on the critical path of every adapted encode."""

    def __init__(self, params: list[torch.Tensor], betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.betas, self.eps, self.steps = params, betas, eps, 0
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1**self.steps
        bias_correction2_sqrt = (1 - beta2**self.steps)**0.5
        for p, (mean, square) in zip(self.params, self.moments):
            mean.lerp_(p.grad, 1 - beta1)
            square.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denom = (square.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(mean, denom, value=-lr / bias_correction1)


def net_gain(problem: _HeadProblem, adaptation: Adaptation, before: float,
             rows: slice | None = None) -> tuple[Adaptation, float]:
    """`adaptation` and the bits it saves on the image net of its section's bytes: float NLL
    on `rows` (all by default), from `before` bits per subpixel there unadapted."""
    with torch.no_grad():
        after = float(problem.nll_bits([torch.from_numpy(d).float() for d in adaptation.values()],
                                       adaptation.level, rows))
    saved_bits = (before - after) * problem.symbols.numel()
    return adaptation, saved_bits - 8 * (len(adaptation.pack()) + _SECTION_OVERHEAD)
