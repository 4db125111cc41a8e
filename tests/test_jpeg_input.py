"""JPEG inputs (issue 37): refused by default, in one line that says why and how to go on; the
option codes their decoded pixels exactly."""
import io

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import pixcodec
from pixcodec.cli.main import main
from pixcodec.errors import UnsupportedImageError


def jpeg_bytes() -> bytes:
    rng = np.random.default_rng(37)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def decoded_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_compress_refuses_a_jpeg_in_one_line_and_writes_nothing(tmp_path):
    src = tmp_path / "photo.jpg"
    src.write_bytes(jpeg_bytes())
    result = CliRunner().invoke(main, ["compress", str(src), "-m", "logistic-rgb-int8-v1"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pixcodec: error:")
    assert "lossy" in lines[0] and "--allow-jpeg" in lines[0]
    assert "Traceback" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]


def test_allow_jpeg_compresses_the_decoded_pixels_exactly(tmp_path):
    data = jpeg_bytes()
    src = tmp_path / "photo.jpg"
    src.write_bytes(data)
    out = tmp_path / "photo.pxc"
    result = CliRunner().invoke(main, ["compress", str(src), "--allow-jpeg", "-o", str(out),
                                       "-m", "logistic-rgb-int8-v1"])
    assert result.exit_code == 0, result.output
    assert src.read_bytes() == data
    assert np.array_equal(pixcodec.decompress(out.read_bytes()), decoded_pixels(data))


def test_the_api_refuses_a_jpeg_unless_allowed():
    data = jpeg_bytes()
    with pytest.raises(UnsupportedImageError, match="allow_jpeg=True"):
        pixcodec.encode(data, "logistic-rgb-int8-v1")
    with pytest.raises(UnsupportedImageError, match="lossy"):
        pixcodec.encode_many([data], "logistic-rgb-int8-v1")
    coded = pixcodec.encode(data, "logistic-rgb-int8-v1", allow_jpeg=True)
    assert np.array_equal(pixcodec.decompress(coded.data), decoded_pixels(data))
