"""pixcodec: lossless image compression with PixelCNN / PixelRNN models.

    import pixcodec
    data = pixcodec.compress("photo.png")      # or a uint8 array
    pixels = pixcodec.decompress(data)          # numpy array, bit-exact
"""
from .errors import ArgumentError, FormatError, ModelError, PixcodecError, UnsupportedImageError

__version__ = "0.1.0"
__all__ = ["compress", "decompress", "encode", "decode", "encode_many", "decode_many",
           "Compressed", "Decompressed", "PixcodecError", "ArgumentError", "FormatError", "ModelError",
           "UnsupportedImageError"]
_API = ("compress", "decompress", "encode", "decode", "encode_many", "decode_many",
        "Compressed", "Decompressed")


def __getattr__(name: str):
    # The API (and torch behind it) loads on first use, so that `pixcodec --help` and the
    # modules that need no network start fast.
    import importlib
    if name in _API:
        return getattr(importlib.import_module(f"{__name__}.api"), name)
    try:  # pixcodec.api, pixcodec.zoo, ... as attributes, as an eager package would have them
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module 'pixcodec' has no attribute {name!r}")
