"""Tile modes (format version 4, issue 37): each tile coded by the model, as a lossless WebP or
stored, as the encoder chooses; each mode round-trips exactly, no image codes to more than its
samples plus a small header, photos are coded as before, and forged modes or classic tiles of
the wrong size are refused in one line."""
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import pixcodec
from pixcodec import api, classic, container, synthetic, tilechoice
from pixcodec.classic import MODEL, STORED, WEBP
from pixcodec.container import COLOUR
from pixcodec.errors import FormatError
from pixcodec.limits import DEFAULT_MAX_METADATA
from pixcodec.cli.main import main
from pixcodec.sections import model_plane_of, unpack_model_plane

ASSETS = Path(__file__).parent / "assets"
INT8 = "logistic-rgb-int8-v1"  # the fast model: these tests are about the tiles, not the model


def flat_shapes(height=32, width=48) -> np.ndarray:
    """Flat boxes on a flat ground: WebP's ground, the model's worst."""
    pixels = np.full((height, width, 3), (240, 240, 245), dtype=np.uint8)
    pixels[4:20, 6:30] = (200, 30, 30)
    pixels[10:28, 24:44] = (20, 90, 200)
    return pixels


def noise(shape, seed=37) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def forced_file(pixels: np.ndarray, modes, tile: int, model=INT8) -> bytes:
    """The file of `pixels` with each tile in the mode given, whatever the encoder would
    choose."""
    prepared = api._Prepared.of(pixels, model, tile, False, 0, DEFAULT_MAX_METADATA)
    tiles = tilechoice._tiles(prepared.values, tile)
    chosen = []
    for mode, symbols in zip(modes, tiles):
        if mode == MODEL:
            stream, bits = pixcodec.encoder.encode_tiles(prepared.net, [symbols], tile)[0]
            chosen.append((MODEL, stream, bits))
        else:
            chosen.append((mode, classic.encode_tile(mode, symbols), 0.0))
    return prepared.finish(tilechoice._coded(tiles, chosen, tile)).data


def with_colr(data: bytes, change) -> bytes:
    """The file with its COLR section changed by change(bytearray, position of the modes)."""
    header, sections = container.unpack(data)
    plane = unpack_model_plane(sections[COLOUR], header)
    body = bytearray(sections[COLOUR])
    at = len(container.varint(plane.model_id)) + 2 + 1 + len(container.varint(plane.tile))
    change(body, at)
    sections[COLOUR] = bytes(body)
    return container.pack(header, sections)


@pytest.mark.parametrize("modes", [(MODEL, WEBP, STORED), (WEBP, WEBP, WEBP),
                                   (STORED, MODEL, MODEL)])
def test_every_mode_round_trips_exactly_in_one_file(modes):
    pixels = np.concatenate([flat_shapes(16, 16), noise((16, 16, 3)), flat_shapes(16, 16)], 1)
    data = forced_file(pixels, modes, 16)
    assert data[4] == 4 and model_plane_of(data).modes == modes
    assert np.array_equal(pixcodec.decompress(data), pixels)
    assert np.array_equal(pixcodec.decode_many([data, data])[1].pixels, pixels)


def test_gray_tiles_round_trip_through_webp():
    gray = flat_shapes()[:, :, :1]
    data = forced_file(gray[:, :, 0], (WEBP,), 64, model=None)
    assert np.array_equal(pixcodec.decompress(data), gray[:, :, 0])


def test_screenshots_get_webp_and_photos_the_model_as_before():
    screenshot, _ = synthetic.make("bar-chart")
    assert not tilechoice.looks_photographic(screenshot)
    coded = pixcodec.encode(screenshot, INT8)
    assert coded.data[4] == 4 and model_plane_of(coded.data).modes == (WEBP,)
    assert np.array_equal(pixcodec.decompress(coded.data), screenshot)
    photo = np.asarray(Image.open(ASSETS / "kodim23-crop.png"))
    assert tilechoice.looks_photographic(photo)


def test_a_large_photo_with_few_colours_for_its_size_is_still_a_photo():
    """A photo's distinct colours grow far slower than its pixels: the demo crop repeated 8 x 8
    (4 megapixels; a 25-megapixel mosaic of the Kodak photos alike) has fewer than 1/64 as
    many colours as pixels, and was sent to the classic modes (WebP's slowest search on every
    tile, an hour for the mosaic). Colours are counted in windows."""
    photo = np.asarray(Image.open(ASSETS / "kodim23-crop.png"))
    mosaic = np.tile(photo, (8, 8, 1))
    assert len(np.unique(mosaic.reshape(-1, 3), axis=0)) < mosaic.shape[0] * mosaic.shape[1] / 64
    assert tilechoice.looks_photographic(mosaic)


def test_the_model_is_kept_where_it_codes_a_tile_smaller(monkeypatch):
    monkeypatch.setattr(tilechoice, "MIN_PIXELS", 0)
    monkeypatch.setattr(tilechoice, "MODEL_TRIAL_BITS", 0.0)  # try it on every tile
    smooth = np.clip(np.add.outer(np.arange(16), np.arange(16))[:, :, None] * 6
                     + noise((16, 16, 3)) // 16, 0, 255).astype(np.uint8)
    pixels = np.concatenate([flat_shapes(16, 32), smooth], 1)
    assert not tilechoice.looks_photographic(pixels)
    data = pixcodec.encode(pixels, INT8, tile=16).data
    modes = model_plane_of(data).modes
    assert modes[-1] == MODEL and WEBP in modes
    assert np.array_equal(pixcodec.decompress(data), pixels)


@pytest.mark.parametrize("shape", [(1, 1, 3), (16, 16, 3), (40, 56, 3), (20, 30, 1)])
def test_noise_codes_to_at_most_its_samples_plus_a_small_header(shape):
    pixels = noise(shape)
    data = pixcodec.encode(pixels[:, :, 0] if shape[2] == 1 else pixels,
                           INT8 if shape[2] == 3 else None, tile=16).data
    assert len(data) <= pixels.size + 64
    assert STORED in model_plane_of(data).modes
    assert np.array_equal(pixcodec.decompress(data).reshape(shape), pixels)


def test_encode_many_writes_the_files_encode_writes(monkeypatch):
    monkeypatch.setattr(tilechoice, "MIN_PIXELS", 0)
    images = [flat_shapes(), noise((16, 16, 3)), np.asarray(
        Image.open(ASSETS / "crop-40x56.png"))[:16, :16]]
    together = [c.data for c in pixcodec.encode_many(images, INT8, tile=16)]
    assert together == [pixcodec.encode(i, INT8, tile=16).data for i in images]
    assert together[2][4] == 3  # the photo's file is version 3's, as before


def test_a_forged_mode_byte_is_refused_in_one_line(tmp_path):
    data = forced_file(flat_shapes(), (WEBP,), 64)
    forged = with_colr(data, lambda body, at: body.__setitem__(at, 9))
    with pytest.raises(FormatError, match="tile 1 has unknown coding mode 9"):
        pixcodec.decode(forged)
    path = tmp_path / "forged.pxc"
    path.write_bytes(forged)
    result = CliRunner().invoke(main, ["decompress", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"pixcodec: error: {path}: tile 1 has unknown coding mode 9"]
    assert not (tmp_path / "forged.png").exists()


def webp_of(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="WEBP", lossless=True)
    return buf.getvalue()


@pytest.mark.parametrize("mode,stream,fragment", [
    (WEBP, webp_of(flat_shapes(16, 16)), "decodes to 16x16 pixels, not 48x32"),
    (WEBP, b"RIFF\x10\x00\x00\x00WEBPVP8L" + bytes(8), "corrupted tile 1 (WebP lossless)"),
    (STORED, bytes(100), "holds 100 bytes, not the 4608 of a 48x32 tile"),
])
def test_a_classic_tile_of_the_wrong_size_is_refused(mode, stream, fragment):
    data = forced_file(flat_shapes(), (mode,), 64)

    def replace_stream(body, at):
        body[at] = mode
        del body[at + 1:]
        body.extend(stream)

    with pytest.raises(FormatError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        pixcodec.decode(with_colr(data, replace_stream))


def test_a_classic_tile_is_checked_against_its_checksum():
    pixels = np.concatenate([flat_shapes(16, 16), flat_shapes(16, 16)], 1)
    data = forced_file(pixels, (STORED, STORED), 16)
    plane = model_plane_of(data)
    at = len(container.varint(plane.model_id)) + 2 + 1 + len(container.varint(plane.tile)) + 2
    at += len(container.varint(len(plane.streams[0]))) + 8  # past the tile table

    def flip(body, _):
        body[at] ^= 1
    with pytest.raises(FormatError, match="tile 1 fails its checksum"):
        pixcodec.decode(with_colr(data, flip))


# Version 4 files as the encoder of 2026-12-06 wrote them (the first three with their modes
# forced, forced_file): they must decode for ever. The pixels are those of the functions above.
GOLDEN_V4 = {
    "int8-model-webp-stored.pxc":
        ("b0fd214d6f12ea808ee574c4cab4b521161681bdd01a4d6565c01d9195828f9f", (MODEL, WEBP, STORED)),
    "logistic-rgb-v7-model-webp-stored.pxc":
        ("53695ad0aca321db7318659aa3cae3ec408c4db60f2d0f28f50b6c0db00955c4", (MODEL, WEBP, STORED)),
    "gray-webp.pxc":
        ("c348f0f346bfd57e02f373398ebe1fd146b78346e2f99bdfcf73679f7d65d27e", (WEBP,)),
    "noise-stored.pxc":
        ("995773828a128fb5b8c1d4021372d4807e9e66cf8dcd116507d688fe4745f479", (STORED,)),
}


def golden_pixels(name: str) -> np.ndarray:
    if name.startswith("gray"):
        return flat_shapes()[:, :, 0]
    if name.startswith("noise"):
        return noise((16, 16, 3))
    return np.concatenate([flat_shapes(16, 16), noise((16, 16, 3)), flat_shapes(16, 16)], 1)


@pytest.mark.parametrize("name", sorted(GOLDEN_V4))
def test_golden_version_4_files_decode_for_ever(name):
    data = (ASSETS / "v4" / name).read_bytes()
    sha256, modes = GOLDEN_V4[name]
    assert hashlib.sha256(data).hexdigest() == sha256
    assert data[4] == 4 and model_plane_of(data).modes == modes
    assert np.array_equal(pixcodec.decompress(data), golden_pixels(name))


def test_a_file_without_model_tiles_decodes_without_loading_the_model(tmp_path):
    """A chart coded with the default (float) model has only WebP tiles: decoding it must not
    load the network, nor import torch (3.5 s of CPU for a 320 x 240 chart)."""
    import subprocess
    import sys

    chart, _ = synthetic.make("bar-chart")
    coded = pixcodec.encode(chart)
    assert MODEL not in model_plane_of(coded.data).modes
    path = tmp_path / "chart.pxc"
    path.write_bytes(coded.data)
    code = ("import sys, numpy as np, pixcodec\n"
            f"pixels = pixcodec.decompress({str(path)!r})\n"
            "print(pixels.shape, 'torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split() == ["(240,", "320,", "3)", "False"], result.stderr
