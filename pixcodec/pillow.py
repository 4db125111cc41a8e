"""A Pillow plugin for .pxc files: after ``import pixcodec.pillow``::

    Image.open("photo.pxc")                        # decodes (on load, as Pillow does)
    im.save("photo.pxc")                           # encodes with the default model
    im.save("photo.pxc", model="pixelcnn", effort=0, tile=128)

An opened .pxc behaves as the PNG it holds opened with Pillow's own PNG plugin: same mode, size,
pixels and info (palette, transparency, ICC profile, text). Opening reads only the header and
the metadata; the pixels are decoded by ``load()`` (or anything that needs them). A file that is
not a .pxc, or whose header is damaged, makes ``Image.open`` raise ``UnidentifiedImageError``;
damaged pixel data makes ``load()`` raise ``OSError``, as for a broken PNG. Saving goes through
the PNG Pillow writes for the image, so what Pillow can save as PNG can be saved as .pxc.

Pillow has no entry point through which a package can register a format by itself being
installed, so the import is needed.
"""
from __future__ import annotations

import io

from PIL import Image, ImageFile, PngImagePlugin

from . import api, container
from .errors import PixcodecError
from .limits import DEFAULT_EFFORT
from .imageio import png_header_bytes, write_png
from .planes import CHUNKS
from .sections import unpack_chunks

FORMAT = "PXC"


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == container.MAGIC


class PxcImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "pixcodec lossless (PixelCNN)"

    def _open(self) -> None:
        self._pxc = self.fp.read()
        try:
            header, sections = container.unpack(self._pxc)
            before = unpack_chunks(sections[CHUNKS])[0] if CHUNKS in sections else ()
        except PixcodecError as exc:
            raise SyntaxError(f"not a valid pixcodec file: {exc}") from None
        # The PNG header alone tells Pillow's PNG plugin the mode and info the file will have.
        shell = PngImagePlugin.PngImageFile(io.BytesIO(png_header_bytes(header, before)))
        self._mode, self._size = shell.mode, shell.size
        self.info = dict(shell.info)
        if shell.palette is not None:
            self.palette = shell.palette
        self.tile = []

    def load(self):
        if self._pxc is not None:
            try:
                decoded = api.decode(self._pxc).image
            except PixcodecError as exc:
                raise OSError(f"broken pixcodec data: {exc}") from None
            png = Image.open(io.BytesIO(write_png(decoded)))
            png.load()
            self.im, self._mode, self._size = png.im, png.mode, png.size
            self.info.update(png.info)
            if png.palette is not None:
                self.palette = png.palette
            self._pxc = None
        return super().load()


def _save(im: Image.Image, fp, filename) -> None:
    options = im.encoderinfo
    png = io.BytesIO()
    im.save(png, format="PNG")
    try:
        data = api.encode(png.getvalue(), options.get("model"), tile=options.get("tile"),
                          effort=options.get("effort", DEFAULT_EFFORT),
                          strip=bool(options.get("strip", False))).data
    except PixcodecError as exc:
        raise OSError(f"cannot write pixcodec file: {exc}") from None
    fp.write(data)


Image.register_open(FORMAT, PxcImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".pxc")
Image.register_mime(FORMAT, "image/x-pixcodec")

__all__ = ["PxcImageFile", "FORMAT"]
