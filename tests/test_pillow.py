"""The Pillow plugin: .pxc files open and save like any other image, exactly."""
import dataclasses
import io

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import pixcodec.pillow  # noqa: F401  (registers the format)
from pixcodec import container, zoo
from pixcodec.sections import model_plane_of, pack_model_plane

CROP = "tests/assets/kodim23-crop.png"


def photo() -> Image.Image:
    return Image.open(CROP).convert("RGB").crop((60, 100, 100, 130))


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "1"])
def test_round_trip_through_pillow_is_exact(mode, tmp_path):
    original = photo().convert(mode)
    original.save(tmp_path / "a.pxc", effort=0)
    reference = io.BytesIO()
    original.save(reference, format="PNG")
    as_png = Image.open(reference)
    back = Image.open(tmp_path / "a.pxc")
    assert back.format == "PXC" and back.mode == as_png.mode and back.size == original.size
    assert np.array_equal(np.asarray(back), np.asarray(as_png))
    if mode == "P":
        assert back.getpalette() == as_png.getpalette()


def test_save_options_reach_the_encoder(tmp_path):
    photo().save(tmp_path / "a.pxc", model="pixelcnn", tile=16, effort=0)
    data = (tmp_path / "a.pxc").read_bytes()
    plane = model_plane_of(data)
    assert zoo.model_by_id(plane.model_id) == "pixelcnn-rgb-v1" and plane.tile == 16
    with pytest.raises(OSError, match="unknown model"):
        photo().save(tmp_path / "b.pxc", model="nope")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.pxc")), np.asarray(photo()))


def test_opening_reads_the_header_only_and_damage_raises_pillows_errors(tmp_path):
    photo().save(tmp_path / "a.pxc", effort=0)
    data = (tmp_path / "a.pxc").read_bytes()
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(b"\x89PXC" + bytes(40)))
    flipped = bytearray(data)
    flipped[-5] ^= 0x40  # caught by the file's CRC when the file is opened
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(bytes(flipped)))
    # A forged payload with valid CRCs: the header reads, the pixels fail their checksum.
    header, sections = container.unpack(data)
    plane = model_plane_of(data)
    forged = pack_model_plane(dataclasses.replace(
        plane, streams=(plane.payload[:-8] + bytes(8),)))
    lazy = Image.open(io.BytesIO(container.pack(header, {**sections, container.COLOUR: forged})))
    assert lazy.size == (40, 30) and lazy.mode == "RGB"
    with pytest.raises(OSError, match="broken pixcodec data"):
        lazy.load()
