"""Reading PNG exactly (checked against Pillow), keeping every chunk in its place, refusing
malformed files by name, and other formats through Pillow."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
from PIL import Image, ImageFile, PngImagePlugin

import pixcodec
from pixcodec.errors import UnsupportedImageError
from pixcodec.imageio import (PNG_SIGNATURE, Chunk, PngImage, read_image, read_png,
                              split_chunks, write_png)

SUITE = Path(__file__).parent / "assets" / "pngsuite"
LIMIT = 2**28


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG file made of exactly these chunks (IEND added)."""
    return PNG_SIGNATURE + b"".join(chunk(k, d) for k, d in chunks) + chunk(b"IEND", b"")


def chunks_of(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(c.type, c.data) for c in split_chunks(data)[0]]


GRAY_4x2 = PngImage(np.arange(8, dtype=np.uint8).reshape(2, 4, 1) * 30, 0, 8)


def independent_reader_is_exact(path: Path) -> bool:
    """Pillow, the independent reader at depths other than 8, reduces 16-bit images other than
    gray to 8 bits."""
    image = read_image(path, LIMIT)
    return image.bit_depth < 16 or image.colour_type == 0


@pytest.mark.parametrize("path", [p for p in sorted(SUITE.rglob("*.png"))
                                  if p.parent.name != "crashers" and independent_reader_is_exact(p)],
                         ids=lambda p: p.name)
def test_samples_match_an_independent_reader(path):
    """Each sample as a reader that pixcodec does not use at that depth decodes it: pypng at 8
    bits (which pixcodec reads with Pillow), Pillow at the others (read with pypng)."""
    image = read_image(path, LIMIT)
    samples = image.samples
    if image.bit_depth == 8:
        _, _, values, _ = png.Reader(filename=str(path)).read_flat()
        expected = np.array(values, dtype=np.uint8)
    elif image.colour_type == 0 and image.bit_depth < 8:  # Pillow scales these to 0..255
        scale = 255 // (2 ** image.bit_depth - 1)
        expected = np.asarray(Image.open(path).convert("L")).astype(int) // scale
    else:
        expected = np.asarray(Image.open(path))
    assert np.array_equal(expected.reshape(samples.shape), samples)


def test_chunks_come_back_in_place_and_order(tmp_path):
    """What a camera or an editor writes: ICC profile, EXIF, resolution, text of all kinds,
    plus a private chunk and a text chunk after the image data."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Title", "Ünïcödé ✓ title", lang="fr")
    info.add_text("Comment", "x" * 500, zip=True)       # zTXt
    info.add_text("Author", "someone")                  # tEXt
    info.add(b"prVt", b"private, safe to copy")
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 200, 30)).save(
        buf, format="PNG", pnginfo=info, icc_profile=b"fake icc profile " * 20, dpi=(300, 300),
        exif=exif.tobytes())
    after = (Chunk(b"tEXt", b"Note\0written after IDAT"), Chunk(b"tIME", bytes(7)))
    image = read_png(buf.getvalue(), LIMIT)
    image = PngImage(image.samples, 2, 8, False, image.before_idat, after)
    source = write_png(image)
    types = [t for t, _ in chunks_of(source)]
    assert {b"iCCP", b"eXIf", b"pHYs", b"iTXt", b"zTXt", b"tEXt", b"prVt"} <= set(types)
    assert types[-2:] == [b"tEXt", b"tIME"]
    restored = write_png(pixcodec.decode(pixcodec.compress(source)).image)
    assert [c for c in chunks_of(restored) if c[0] != b"IDAT"] == \
        [c for c in chunks_of(source) if c[0] != b"IDAT"]
    assert read_png(restored, LIMIT) == read_png(source, LIMIT)


def test_strip_keeps_palette_and_transparency():
    image = read_image(SUITE / "testpngs" / "palette-4-sRGB-tRNS.png", LIMIT)
    stripped = pixcodec.decode(pixcodec.compress(write_png(image), strip=True)).image
    assert [c.type for c in stripped.before_idat] == [b"PLTE", b"tRNS"]
    assert stripped == image.stripped() and stripped.after_idat == ()


def gray_with(*, before=(), after=(), ihdr=None, idat=None) -> bytes:
    chunks = chunks_of(write_png(GRAY_4x2))
    ihdr = ihdr or chunks[0][1]
    idat = idat if idat is not None else chunks[1][1]
    return png_of([(b"IHDR", ihdr), *before, (b"IDAT", idat), *after])


IHDR = struct.Struct(">IIBBBBB")


@pytest.mark.parametrize("data,message", [
    (gray_with(before=[(b"PLTE", bytes(6))]), "PLTE chunk in a grayscale"),
    (gray_with(before=[(b"gAMA", bytes(4)), (b"gAMA", bytes(4))]), "more than one gAMA"),
    (gray_with(before=[(b"gAMA", bytes(3))]), "gAMA chunk of 3 bytes"),
    (gray_with(before=[(b"tRNS", bytes(6))]), "tRNS chunk of 6 bytes"),
    (gray_with(before=[(b"hIST", bytes(2))]), "hIST chunk in a gray image without PLTE"),
    (gray_with(before=[(b"bKGD", bytes(6))]), "bKGD chunk of 6 bytes"),
    (gray_with(after=[(b"pHYs", bytes(9))]), "pHYs chunk after the image data"),
    (gray_with(before=[(b"ABCD", b"")]), "unknown critical PNG chunk ABCD"),
    (gray_with(before=[(b"acTL", bytes(8))]), "animated"),
    (gray_with(after=[(b"tEXt", b"a\0b"), (b"IDAT", b"")]), "not consecutive"),
    (gray_with(idat=zlib.compress(bytes(9))), "truncated PNG image data"),
    (gray_with(idat=zlib.compress(bytes(11))), "longer than the image"),
    (gray_with(idat=b"\x78\x9c\xff\xff"), "corrupted PNG image data"),
    (gray_with(idat=zlib.compress(b"\5" + bytes(4) + b"\0" + bytes(4))),
     "corrupted PNG image data"),  # filter type 5
    (gray_with(ihdr=IHDR.pack(4, 2, 8, 2, 0, 0, 0)), "truncated PNG image data"),
    (gray_with(ihdr=IHDR.pack(4, 2, 3, 0, 0, 0, 0)), "bit depth 3 with colour type 0"),
    (gray_with(ihdr=IHDR.pack(4, 2, 8, 0, 0, 0, 2)), "interlace"),
    (gray_with(ihdr=IHDR.pack(4, 2, 8, 3, 0, 0, 0)), "without a PLTE"),
    (gray_with(ihdr=IHDR.pack(0, 2, 8, 0, 0, 0, 0)), "invalid image size 0x2"),
    (gray_with(ihdr=IHDR.pack(2**16 + 1, 1, 8, 0, 0, 0, 0)), "pixels a side"),
    (gray_with(ihdr=IHDR.pack(2**14, 2**14 + 1, 8, 0, 0, 0, 0)), "exceeds the limit"),
    (gray_with() + b"junk", "4 bytes after the PNG's IEND"),
    (gray_with()[:-12], "no IEND"),
    (PNG_SIGNATURE + chunk(b"IEND", b""), "no IHDR"),
    (gray_with()[:50], "truncated or corrupted PNG: chunk IDAT claims"),
], ids=lambda case: case if isinstance(case, str) else "")
def test_malformed_pngs_are_refused_by_name(data, message):
    with pytest.raises(UnsupportedImageError, match=message):
        read_image(data, LIMIT)


def test_an_unknown_filter_type_is_refused_whatever_pillow_is_told(monkeypatch):
    """A host program may tell Pillow to load what it can of a damaged image: the rows after
    an unknown filter type would then come back as zeros, a different image."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for data in (gray_with(idat=zlib.compress(bytes(5) + b"\5" + bytes(4))),
                 gray_with(ihdr=IHDR.pack(4, 2, 8, 0, 0, 0, 1),  # interlaced: 4 passes' rows
                           idat=zlib.compress(bytes([0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0])))):
        with pytest.raises(UnsupportedImageError, match="filter type (5|9)"):
            read_image(data, LIMIT)


def test_palette_rules():
    base = chunks_of(write_png(PngImage(np.zeros((1, 2, 1), np.uint8), 3, 2,
                                        before_idat=(Chunk(b"PLTE", bytes(12)),))))
    ihdr, plte, idat = base

    def refused(chunks, message):
        with pytest.raises(UnsupportedImageError, match=message):
            read_image(png_of(chunks), LIMIT)

    refused([ihdr, (b"PLTE", bytes(15)), idat], "5 palette entries for bit depth 2")
    refused([ihdr, (b"PLTE", bytes(7)), idat], "PLTE chunk of 7 bytes")
    refused([ihdr, plte, (b"tRNS", bytes(5)), idat], "tRNS chunk of 5 bytes")
    refused([ihdr, (b"tRNS", bytes(2)), plte, idat], "tRNS chunk before PLTE")
    refused([ihdr, plte, (b"gAMA", bytes(4)), idat], "gAMA chunk after PLTE")
    refused([ihdr, plte, (b"hIST", bytes(6)), idat], "hIST chunk of 6 bytes")
    assert read_image(png_of([ihdr, plte, (b"hIST", bytes(8)), (b"tRNS", b"\0"), idat]), LIMIT)


def test_other_formats_keep_their_pixels_as_png():
    rng = np.random.default_rng(1)
    cases = [("BMP", Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))),
             ("TIFF", Image.fromarray(rng.integers(0, 2**16, (4, 3), dtype=np.uint16))),
             ("GIF", Image.fromarray(rng.integers(0, 16, (3, 7), dtype=np.uint8)).convert("P")),
             ("WEBP", Image.fromarray(rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)))]
    for fmt, im in cases:
        buf = io.BytesIO()
        im.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        expected = Image.open(io.BytesIO(buf.getvalue()))
        restored = Image.open(io.BytesIO(write_png(pixcodec.decode(
            pixcodec.compress(buf.getvalue())).image)))
        assert restored.mode == expected.mode, fmt
        assert np.array_equal(np.asarray(restored), np.asarray(expected)), fmt


def test_pillow_s_bomb_guard_is_the_host_program_s(monkeypatch):
    """Importing pixcodec leaves Pillow's limit alone; reading a non-PNG lifts it for that read
    only (pixcodec's own --max-pixels applies) and puts the host's value back."""
    assert Image.MAX_IMAGE_PIXELS is not None  # pixcodec is imported above
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 60x60 image is > 2x: a bomb
    buf = io.BytesIO()
    Image.fromarray(np.full((60, 60, 3), 7, dtype=np.uint8)).save(buf, format="BMP")
    image = read_image(buf.getvalue(), 10**6)
    assert image.samples.shape == (60, 60, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(buf.getvalue()))
