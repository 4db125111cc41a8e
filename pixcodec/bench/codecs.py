"""The classic lossless codecs, each an encode and a decode on (H, W, C) pixels: Pillow's PNG and,
through imagecodecs, WebP, JPEG XL, JPEG 2000, JPEG-LS and QOI. WebP falls back to Pillow's own
libwebp (in its wheels) where imagecodecs is absent or lacks it, so that the default install
measures it too."""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Callable

import numpy as np

from PIL import Image

from ..figures import INSTALL_HINT


@dataclass(frozen=True)
class Codec:
    name: str                                     # the row label: codec and setting
    encode: Callable[[np.ndarray, str], bytes]    # (pixels (H, W, C), mode) -> file
    decode: Callable[[bytes, str], np.ndarray]    # (file, mode) -> pixels (H, W, C)
    imagecodecs_name: str | None = None           # what it needs from imagecodecs; None: Pillow
    pillow_feature: str | None = None             # what Pillow codes it with instead, if any


def _imagecodecs():
    try:
        import imagecodecs
    except ImportError:
        raise ImportError(f"imagecodecs is not installed ({INSTALL_HINT})") from None
    return imagecodecs


def _samples(pixels: np.ndarray, mode: str, rgb: bool = False) -> np.ndarray:
    """What an imagecodecs codec is given: (H, W) or (H, W, 3); 1-bit images as 0/1."""
    samples = pixels
    if samples.shape[2] == 1:
        samples = np.repeat(samples, 3, axis=2) if rgb else samples[:, :, 0]
    return np.ascontiguousarray(samples)


def _pixels(samples: np.ndarray, mode: str) -> np.ndarray:
    """The inverse of _samples; anything it cannot invert is left to fail the exactness check."""
    if samples.ndim == 2:
        samples = samples[:, :, None]
    if mode != "RGB" and samples.shape[2] == 3 and (samples == samples[:, :, :1]).all():
        samples = samples[:, :, :1]
    return samples


def pillow_png(pixels: np.ndarray, mode: str, optimize: bool = False) -> bytes:
    """(H, W, C) pixels in `mode` (1-bit as 0/1) -> a PNG written by Pillow. `optimize`:
    zlib level 9 and extra filter search, Pillow's smallest file."""
    if mode == "1":
        im = Image.fromarray(pixels[:, :, 0].astype(bool))
    else:
        im = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels,
                             "L" if pixels.shape[2] == 1 else "RGB")
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=optimize)
    return buf.getvalue()


def _png_encode(pixels, mode, optimize):
    return pillow_png(pixels, mode, optimize=optimize)


def _png_decode(data, mode):
    im = Image.open(io.BytesIO(data))
    if im.mode != mode:
        raise ValueError(f"PNG came back as mode {im.mode}, not {mode}")
    return _pixels(np.asarray(im, dtype=np.uint8), mode)


def _imagecodecs_has(name: str) -> bool:
    try:
        constants = getattr(_imagecodecs(), name, None)
    except ImportError:
        return False
    return constants is not None and getattr(constants, "available", True)


def webp_library() -> str | None:
    """What codes the WebP rows here: imagecodecs (preferred: the library earlier figures were
    measured with), else Pillow's libwebp, else None."""
    import PIL
    from PIL import features
    if _imagecodecs_has("WEBP"):
        return f"imagecodecs {_imagecodecs().__version__}"
    if features.check("webp"):
        return f"pillow {PIL.__version__} (libwebp {features.version('webp')})"
    return None


def _webp_encode(pixels, mode, method, quality):
    """libwebp lossless at `method` (effort, 0-6) and `quality` (0-100: for lossless, how hard
    it searches), the settings cwebp and both bindings name alike."""
    samples = _samples(pixels, mode, rgb=True)
    if _imagecodecs_has("WEBP"):
        return _imagecodecs().webp_encode(samples, lossless=True, level=quality, method=method)
    buf = io.BytesIO()
    Image.fromarray(samples, "RGB").save(buf, format="WEBP", lossless=True, quality=quality,
                                         method=method, exact=True)
    return buf.getvalue()


def _webp_decode(data, mode):
    if _imagecodecs_has("WEBP"):
        return _pixels(_imagecodecs().webp_decode(data), mode)
    return _pixels(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8), mode)


def _jpegxl_encode(pixels, mode, effort):
    return _imagecodecs().jpegxl_encode(_samples(pixels, mode), lossless=True, effort=effort)


def _jpegxl_decode(data, mode):
    return _pixels(_imagecodecs().jpegxl_decode(data), mode)


def _jpeg2k_encode(pixels, mode):
    # level 0 with the reversible wavelet is JPEG 2000's lossless mode; a JP2 file, as users save.
    return _imagecodecs().jpeg2k_encode(_samples(pixels, mode), level=0, reversible=True,
                                        bitspersample=1 if mode == "1" else None)


def _jpeg2k_decode(data, mode):
    return _pixels(_imagecodecs().jpeg2k_decode(data), mode)


def _jpegls_encode(pixels, mode):
    return _imagecodecs().jpegls_encode(_samples(pixels, mode), level=0)  # NEAR = 0: lossless


def _jpegls_decode(data, mode):
    return _pixels(_imagecodecs().jpegls_decode(data), mode)


def _qoi_encode(pixels, mode):
    return _imagecodecs().qoi_encode(_samples(pixels, mode, rgb=True))


def _qoi_decode(data, mode):
    return _pixels(_imagecodecs().qoi_decode(data), mode)


# Each codec at its default and at its strongest setting where it has one. imagecodecs' own
# defaults are not the libraries' (its JPEG XL default is effort 5), so settings are explicit;
# its default thread counts (one) are kept: every codec runs on one thread, as pixcodec's coding.
CLASSIC_CODECS = {codec.name: codec for codec in [
    Codec("png (pillow default)", functools.partial(_png_encode, optimize=False), _png_decode),
    Codec("png (pillow optimize)", functools.partial(_png_encode, optimize=True), _png_decode),
    # libwebp's defaults for lossless are method 4, quality 75; method 6 with quality 100 is
    # its strongest preset (cwebp -z 9). Explicit, as Pillow's default quality is 80.
    Codec("webp lossless (default)", functools.partial(_webp_encode, method=4, quality=75),
          _webp_decode, "WEBP", "webp"),
    Codec("webp lossless (method 6, quality 100)",
          functools.partial(_webp_encode, method=6, quality=100), _webp_decode, "WEBP", "webp"),
    Codec("jpegxl (effort 7)", functools.partial(_jpegxl_encode, effort=7), _jpegxl_decode,
          "JPEGXL"),
    Codec("jpegxl (effort 9)", functools.partial(_jpegxl_encode, effort=9), _jpegxl_decode,
          "JPEGXL"),
    Codec("jpeg2000 lossless", _jpeg2k_encode, _jpeg2k_decode, "JPEG2K"),
    Codec("jpegls", _jpegls_encode, _jpegls_decode, "JPEGLS"),
    Codec("qoi", _qoi_encode, _qoi_decode, "QOI"),
]}


def missing_reason(codec: Codec) -> str | None:
    """Why a codec cannot run here, or None when it can."""
    if codec.imagecodecs_name is None:
        return None  # Pillow is one of pixcodec's own dependencies
    if codec.pillow_feature is not None and not _imagecodecs_has(codec.imagecodecs_name):
        from PIL import features
        if features.check(codec.pillow_feature):
            return None
    try:
        imagecodecs = _imagecodecs()
    except ImportError as exc:
        return str(exc)
    constants = getattr(imagecodecs, codec.imagecodecs_name, None)
    if constants is None or not getattr(constants, "available", True):
        return f"imagecodecs {imagecodecs.__version__} was built without {codec.imagecodecs_name}"
    return None  # an encoder that turns out absent raises ImportError: measure_classic says so
