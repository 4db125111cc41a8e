"""pixcodec: lossless image compression with PixelCNN / PixelRNN models.

    import pixcodec
    data = pixcodec.compress("photo.png")      # or a uint8 array
    pixels = pixcodec.decompress(data)          # numpy array, bit-exact
"""
from .api import Compressed, Decompressed, compress, decode, decompress, encode
from .errors import ArgumentError, FormatError, ModelError, PixcodecError, UnsupportedImageError

__version__ = "0.1.0"
__all__ = ["compress", "decompress", "encode", "decode", "Compressed", "Decompressed",
           "PixcodecError", "ArgumentError", "FormatError", "ModelError", "UnsupportedImageError"]
