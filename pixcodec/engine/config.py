"""An integer network's configuration and the tensors its file must hold, checked before
anything is built: a model file is data from anywhere."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ARCHITECTURE = "integer_logistic_pixelcnn"  # its name in the manifest and in .pxm files
# Each field of its configuration (the logistic PixelCNN's, quantized): the values it may take.
_FIELDS = {"colours": (1, 3), "hidden": range(1, 257), "blocks": range(1, 65),
           "out_features": range(1, 1025), "components": range(1, 33),
           "predictor": (0, 3, 5, 7), "spatial_width": (3, 5, 7),
           "edge_predictor": (False, True), "gap_predictor": (False, True), "levels": (256,),
           "quantized": (True,)}


@dataclass(frozen=True)
class IntegerConfig:
    """An integer network's configuration (the fields of ``check_config``)."""
    colours: int
    hidden: int
    blocks: int
    out_features: int
    components: int
    predictor: int
    spatial_width: int
    edge_predictor: bool
    gap_predictor: bool
    levels: int
    quantized: bool

    def to_dict(self) -> dict:
        return asdict(self)


def check_config(config) -> dict:
    """An integer network's configuration, every field present and in range (a ValueError
    naming the first that is not), before anything is built."""
    if not isinstance(config, dict) or set(config) != set(_FIELDS):
        raise ValueError(f"an integer network's configuration has the fields "
                         f"{', '.join(_FIELDS)}")
    for field, allowed in _FIELDS.items():
        value = config[field]
        if type(value) not in (bool, int) or value not in allowed \
                or isinstance(value, bool) != isinstance(allowed[0], bool):
            raise ValueError(f"bad network configuration: {field} = {value!r}")
    return config


def parameter_shapes(config: dict) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each integer tensor a network of this configuration has: (shape, dtype name)."""
    c, h, k = config["colours"], config["hidden"], config["components"]
    channels = k * (1 + 2 * c + (3 if c == 3 else 0))
    convs = {"input_conv": (2 * h, c, 7, 7, "int8"), "head": (config["out_features"], 2 * h, 1, 1,
                                                              "int8"),
             "params": (channels, config["out_features"], 1, 1, "int16")}
    for i in range(config["blocks"]):
        convs[f"blocks_{i}_reduce"] = (h, 2 * h, 1, 1, "int8")
        convs[f"blocks_{i}_spatial"] = (h, h, 3, config["spatial_width"], "int8")
        convs[f"blocks_{i}_expand"] = (2 * h, h, 1, 1, "int8")
    if config["predictor"]:
        convs["predictor"] = (c * k, c, config["predictor"], config["predictor"], "int16")
    for name in ("edge", "gap"):
        if config[f"{name}_predictor"]:
            convs[name] = (c * k, c, 1, 1, "int16")
    shapes = {}
    for name, (*shape, dtype) in convs.items():
        shapes[f"{name}.weight"] = (tuple(shape), dtype)
        for part in ("bias", "multiplier", "shift"):
            shapes[f"{name}.{part}"] = ((shape[0],), "int64")
        if name.endswith("_reduce") or name == "head":
            shapes[f"{name}.input_multiplier"] = ((1,), "int64")
            shapes[f"{name}.input_shift"] = ((1,), "int64")
    return shapes



def check_parameters(config: dict, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`params` if they are exactly the tensors of the configuration's network (names, shapes,
    dtypes) and keep every requantization in int64; else a ValueError naming the first that
    is not."""
    expected = parameter_shapes(config)
    if set(params) != set(expected):
        raise ValueError("the weights are not those of the configuration's network")
    for name, (shape, dtype) in expected.items():
        if params[name].shape != shape or params[name].dtype.name != dtype:
            raise ValueError(f"the weights' {name} is not {dtype} {shape}")
    for name in expected:
        if name.endswith("shift") and not np.all((params[name] >= 1) & (params[name] <= 62)):
            raise ValueError(f"the weights' {name} is out of range")
        if name.endswith("multiplier") and not np.all((params[name] >= 0)
                                                       & (params[name] <= 2**31)):
            raise ValueError(f"the weights' {name} is out of range")
        if name.endswith("bias") and not np.all(np.abs(params[name]) < 2**40):
            raise ValueError(f"the weights' {name} is out of range")
    return params
