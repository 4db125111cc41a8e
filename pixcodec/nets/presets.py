"""Named network configurations: the paper's models (Table 1, §5) and small ones that decode at
a usable speed on a CPU. ``build(name)`` makes an untrained network; ``pixcodec train --model
NAME`` trains one; the shipped, trained models are in ``pixcodec.zoo``.

Counting layers as the paper does: the PixelCNN's "15 layers" are its residual blocks (each with
one 3x3 mask-B convolution), the PixelRNNs' "12 layers" their LSTM layers; the 7x7 mask-A input
layer and the two 1x1 output layers come on top. Output widths: 32 features for MNIST (§5.4),
1024 for CIFAR-10 and ImageNet.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..engine import config as integer
from .arithmetic import check_fan_in
from .logistic_pixelcnn import LogisticPixelCNN, LogisticPixelCNNConfig
from .multiscale import MultiScaleConfig, MultiScalePixelRNN
from .pixelcnn import PixelCNN, PixelCNNConfig
from .pixelrnn import PixelRNN, PixelRNNConfig

# architecture name (as in models/manifest.json) -> (config class, network class)
ARCHITECTURES = {"pixelcnn": (PixelCNNConfig, PixelCNN), "pixelrnn": (PixelRNNConfig, PixelRNN),
                 "multiscale": (MultiScaleConfig, MultiScalePixelRNN),
                 "logistic_pixelcnn": (LogisticPixelCNNConfig, LogisticPixelCNN)}


def _cnn(**config) -> tuple[str, dict]:
    return "pixelcnn", config


def _logistic(**config) -> tuple[str, dict]:
    return "logistic_pixelcnn", config


def _photo_int8(hidden: int) -> tuple[str, dict]:
    """The integer engine's photo network (the logistic-rgb-int8 models) at width `hidden`."""
    return _logistic(colours=3, hidden=hidden, blocks=6, out_features=2 * hidden,
                     edge_predictor=True, gap_predictor=True, quantized=True)


def _rnn(cell: str, **config) -> tuple[str, dict]:
    return "pixelrnn", {"cell": cell, **config}


def _multiscale(small: dict, large: dict, upsample_features: int = 32) -> tuple[str, dict]:
    return "multiscale", {"small": small, "large": large,
                          "upsample_features": upsample_features}


MNIST = dict(colours=1, hidden=16, out_features=32, levels=2)
CIFAR_SMALL = dict(colours=3, hidden=16, out_features=64)

PRESETS: dict[str, tuple[str, dict]] = {
    # Binarized MNIST (Table 4): 7 layers, h = 16, a sigmoid per pixel.
    "mnist_pixelcnn": _cnn(blocks=7, **MNIST),
    "mnist_row_lstm": _rnn("row_lstm", layers=7, **MNIST),
    "mnist_diag_bilstm": _rnn("diag_bilstm", layers=7, **MNIST),
    # The paper's PixelCNN depth (15 blocks, as for CIFAR-10) at twice the width: the 7-block
    # h = 16 network plateaus 8 nats above Table 4 with train and held-out equal (too small).
    "mnist_pixelcnn_large": _cnn(blocks=15, **{**MNIST, "hidden": 32, "out_features": 64}),
    # The same two with 3x7 spatial convolutions in the blocks: a smaller blind spot (not the
    # paper's), at no cost in coding steps.
    "mnist_pixelcnn_3x7": _cnn(blocks=7, spatial_width=7, **MNIST),
    "mnist_pixelcnn_large_3x7": _cnn(blocks=15, spatial_width=7,
                                     **{**MNIST, "hidden": 32, "out_features": 64}),
    # The Row LSTM with k = 5 (§3.1's 1xk convolutions, k >= 3, "the larger k, the broader
    # the context"): a triangle of context twice as wide as k = 3's, whose 7-layer h = 16
    # network plateaus 1.1 nats above Table 4. Coding steps are unchanged (up to k = 7).
    "mnist_row_lstm_1x5": _rnn("row_lstm", layers=7, spatial_width=5, **MNIST),
    # CIFAR-10 (Table 5).
    "cifar_pixelcnn": _cnn(colours=3, hidden=128, blocks=15, out_features=1024),
    "cifar_row_lstm": _rnn("row_lstm", colours=3, hidden=128, layers=12, out_features=1024),
    "cifar_diag_bilstm": _rnn("diag_bilstm", colours=3, hidden=128, layers=12,
                              out_features=1024),
    # The CIFAR-10 ordering of Table 5 at a size a CPU trains in an hour: the three networks at
    # equal depth (4 layers) and width (h = 16); docs/TRAINING.md has the measured ordering.
    "cifar_small_pixelcnn": _cnn(blocks=4, **CIFAR_SMALL),
    "cifar_small_row_lstm": _rnn("row_lstm", layers=4, **CIFAR_SMALL),
    "cifar_small_diag_bilstm": _rnn("diag_bilstm", layers=4, **CIFAR_SMALL),
    # ImageNet (Table 6).
    "imagenet32_row_lstm": _rnn("row_lstm", colours=3, hidden=384, layers=12,
                                out_features=1024),
    "imagenet64_row_lstm": _rnn("row_lstm", colours=3, hidden=512, layers=4, out_features=1024,
                                residual=False),
    # Multi-scale (§3.6): a 32x32 Row LSTM for the subsampled image, and a conditional one.
    "imagenet64_multiscale_row_lstm": _multiscale(
        dict(cell="row_lstm", colours=3, hidden=128, layers=6, out_features=1024),
        dict(cell="row_lstm", colours=3, hidden=128, layers=6, out_features=1024), 64),
    "mnist_multiscale_row_lstm": _multiscale(
        dict(cell="row_lstm", layers=3, **MNIST), dict(cell="row_lstm", layers=4, **MNIST), 16),
    # Small enough to decode photos on a CPU (the shipped defaults are photo_pixelcnn[_gray]).
    "photo_pixelcnn": _cnn(colours=3, hidden=32, blocks=6, out_features=96),
    "photo_pixelcnn_gray": _cnn(colours=1, hidden=32, blocks=6, out_features=64),
    "photo_row_lstm": _rnn("row_lstm", colours=3, hidden=32, layers=3, out_features=96),
    "photo_diag_bilstm": _rnn("diag_bilstm", colours=3, hidden=16, layers=2, out_features=64),
    "photo_multiscale_row_lstm": _multiscale(
        dict(cell="row_lstm", colours=3, hidden=16, layers=2, out_features=64),
        dict(cell="row_lstm", colours=3, hidden=32, layers=2, out_features=96)),
    # Photo models with a logistic-mixture head (PixelCNN++'s): one network pass per pixel.
    "photo_logistic": _logistic(colours=3, hidden=32, blocks=6, out_features=96),
    # Its ablations (docs/TRAINING.md): without the linear predictor, 3x7 spatial convolutions,
    # the median edge detector's guess added to the means, and CALIC's gradient-adjusted
    # prediction besides (also at h = 48).
    "photo_logistic_no_predictor": _logistic(colours=3, hidden=32, blocks=6, out_features=96,
                                             predictor=0),
    "photo_logistic_wide": _logistic(colours=3, hidden=32, blocks=6, out_features=96,
                                     spatial_width=7),
    "photo_logistic_med": _logistic(colours=3, hidden=32, blocks=6, out_features=96,
                                    edge_predictor=True),
    "photo_logistic_gap": _logistic(colours=3, hidden=32, blocks=6, out_features=96,
                                    edge_predictor=True, gap_predictor=True),
    "photo_logistic_gap_h48": _logistic(colours=3, hidden=48, blocks=6, out_features=96,
                                        edge_predictor=True, gap_predictor=True),
    # logistic-rgb-v7's network in the integer engine's arithmetic (8-bit codes and weights;
    # nets/quantized.py), trained from v7 (--init) quantization-aware.
    "photo_logistic_gap_h48_int8": _photo_int8(48),
    # The same network a third wider, for the compression the engine's speed buys (issue 39),
    # trained from the h = 48 one (--init embeds it so that its output is unchanged).
    "photo_logistic_gap_h64_int8": _photo_int8(64),
    # And wider again (issue 39's eleventh run), from the h = 64 one the same way.
    "photo_logistic_gap_h80_int8": _photo_int8(80),
    # And again (issue 39's thirteenth run), from the h = 80 one.
    "photo_logistic_gap_h96_int8": _photo_int8(96),
    "mnist_gray_pixelcnn": _cnn(colours=1, hidden=16, blocks=7, out_features=32),
}


# What a configuration may ask for, checked field by field before anything is built (a model
# file's configuration comes from whoever made the file), then in all on a network of shapes only.
MAX_DEPTH = 64          # residual blocks or recurrent layers
MAX_WIDTH = 4096        # any other count: channels (hidden, out_features...), components
MAX_NAME = 32           # characters of a text field (cell)
MAX_PARAMETERS = 2**27  # weights in all (512 MiB as float32; imagenet32_row_lstm has 79 million)
_BOUNDS = {"blocks": (1, MAX_DEPTH), "layers": (1, MAX_DEPTH), "components": (1, MAX_DEPTH),
           "predictor": (0, 7)}  # any other integer: 1 to MAX_WIDTH
# Configurations inside another's fields: the multi-scale network's two PixelRNNs.
NESTED = {"multiscale": {"small": "pixelrnn", "large": "pixelrnn"}}
# Fields added to a configuration after models were made without them. A configuration that
# lacks one means its default, which is how the network was before the field existed: these
# defaults never change. (Every other field is written out wherever a model is recorded.)
LATER_FIELDS = {"logistic_pixelcnn": {"quantized"}}


def make_config(architecture: str, config: dict, where: str = ""):
    """An architecture's config object from its dict (a checkpoint's, a model file's, the
    manifest's), every field checked for its type and bounds first: a ValueError naming the
    field otherwise."""
    try:
        config_cls, _ = ARCHITECTURES[architecture]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {_shown(architecture)}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{where.rstrip('.') or 'the configuration'} is not a JSON object")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = [k for k in config if k not in fields]
    if unknown:
        raise ValueError(f"unknown field {_shown(where + str(unknown[0]))} of a {architecture} "
                         "configuration")
    missing = [name for name, f in fields.items() if name not in config
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"a {architecture} configuration needs {where + missing[0]!r}")
    nested = NESTED.get(architecture, {})
    checked = {name: normalise_config(nested[name], value, f"{where}{name}.") if name in nested
               else _checked(where + name, fields[name].type, value)
               for name, value in config.items()}
    return config_cls(**checked)


def normalise_config(architecture: str, config: dict, where: str = "") -> dict:
    """Every field of a configuration, the defaults written out (and those of the networks it
    nests), after make_config's checks: what checkpoints, model files and the manifest record,
    so that a later change of a default changes no model. An integer model's is its float
    network's, quantized (checked as the engine checks it)."""
    if architecture == integer.ARCHITECTURE:
        return integer.check_config(normalise_config("logistic_pixelcnn", config, where))
    return dataclasses.asdict(make_config(architecture, config, where))


def _checked(field: str, kind, value):
    kind = getattr(kind, "__name__", kind)  # an annotation: "int", "bool", "str"
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{field} = {_shown(value)} is not true or false")
    elif kind == "int":
        low, high = _BOUNDS.get(field.rpartition(".")[2], (1, MAX_WIDTH))
        if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
            raise ValueError(f"{field} = {_shown(value)} is not an integer from {low} to {high}")
    elif kind == "str":
        if not (isinstance(value, str) and len(value) <= MAX_NAME):
            raise ValueError(f"{field} = {_shown(value)} is not a name")
    else:
        raise ValueError(f"{field}: a field of type {kind} cannot be checked")
    return value


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def skeleton(architecture: str, config: dict) -> nn.Module:
    """The network a configuration describes with shapes only (torch's meta device: no memory,
    no initialisation), after checking its weights in all and the exact arithmetic's bound on
    fan-in: what is known of a network before it is built."""
    config = make_config(architecture, config)
    with torch.device("meta"):
        net = ARCHITECTURES[architecture][1](config)
    weights = parameter_count(net)
    if weights > MAX_PARAMETERS:
        raise ValueError(f"the configuration asks for {weights / 1e6:,.0f} million weights, more "
                         f"than the {MAX_PARAMETERS / 1e6:.0f} million a model may have")
    check_fan_in(net)
    return net


def make_network(architecture: str, config: dict) -> nn.Module:
    """The network of a configuration (checked, its skeleton first), untrained."""
    skeleton(architecture, config)
    return ARCHITECTURES[architecture][1](make_config(architecture, config))


def build(name: str) -> nn.Module:
    """An untrained network of the named preset."""
    try:
        architecture, config = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model configuration {name!r} "
                         f"(known: {', '.join(PRESETS)})") from None
    return make_network(architecture, config)


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
