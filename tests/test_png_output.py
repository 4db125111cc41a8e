"""The PNGs decompress writes (issue 37): every row behind its best filter, deflated at a level
the user may lower; the samples and chunks come back exactly whatever the level."""
import io
from pathlib import Path

import numpy as np
import png
import pytest
from click.testing import CliRunner
from PIL import Image

import pixcodec
from pixcodec import pngdata
from pixcodec.cli.main import main
from pixcodec.imageio import image_from_array, read_image, write_png

SUITE = Path(__file__).parent / "assets" / "pngsuite" / "pngsuite"
LIMIT = 10**7


def screenshot_like() -> np.ndarray:
    """Gradients and flat boxes: what filters are for."""
    y, x = np.mgrid[0:96, 0:128]
    pixels = np.stack([x * 2, y * 2, (x + y) % 256], axis=2).astype(np.uint8)
    pixels[20:60, 30:90] = (240, 240, 250)
    return pixels


def unfiltered_png(pixels: np.ndarray) -> bytes:
    """What pixcodec wrote before: pypng, every row unfiltered, zlib level 9."""
    height, width, channels = pixels.shape
    buf = io.BytesIO()
    png.Writer(width, height, greyscale=channels == 1, compression=9).write(
        buf, (row.tolist() for row in pixels.reshape(height, width * channels)))
    return buf.getvalue()


def test_written_pngs_are_near_pillows_smallest_and_smaller_than_unfiltered():
    """zlib-ng's level 9 makes Kodak's and synthetic-v1's PNGs smaller than Pillow's optimize
    (docs/BENCHMARKS.md); on this small image it is 2 bytes larger."""
    pixels = screenshot_like()
    written = write_png(pixcodec.decode(pixcodec.encode(pixels, "logistic-rgb-int8-v1",
                                                        tile=32).data).image)
    optimized = io.BytesIO()
    Image.fromarray(pixels).save(optimized, format="PNG", optimize=True)
    assert len(written) <= 1.01 * len(optimized.getvalue())
    assert len(written) < len(unfiltered_png(pixels))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(written))), pixels)


@pytest.mark.parametrize("name", ["basn0g01.png", "basn0g02.png", "basn0g04.png",
                                  "basn0g16.png", "basn2c16.png", "basn3p04.png",
                                  "basn4a08.png", "basn6a16.png", "ibasn2c08.png",
                                  "ibasn0g16.png", "ibasn6a16.png", "interlaced/ibasn0g04.png",
                                  "interlaced/ibasn3p02.png", "ftbbn2c16.png"])
@pytest.mark.parametrize("level", [0, 1, 9])
def test_every_kind_of_png_comes_back_exactly_at_any_level(name, level):
    original = read_image(SUITE / name, LIMIT)
    assert original.interlaced == ("ibasn" in name)
    written = write_png(original, level)
    assert read_image(written, LIMIT) == original
    Image.open(io.BytesIO(written)).load()  # another decoder takes it too


def test_rows_filtered_in_blocks_come_back_exactly(monkeypatch):
    monkeypatch.setattr(pngdata, "_BLOCK_BYTES", 3 * 128 * 5)  # blocks of 5 rows of 128 pixels
    monkeypatch.setattr(pngdata, "_MIN_BLOCK_ROWS", 1)
    image = image_from_array(screenshot_like(), LIMIT)
    assert read_image(write_png(image), LIMIT) == image


def test_png_level_option_trades_size_for_speed_and_keeps_the_image(tmp_path):
    source = tmp_path / "img.png"
    Image.fromarray(screenshot_like()).save(source)
    pxc = tmp_path / "img.pxc"
    assert CliRunner().invoke(main, ["compress", str(source), "-o", str(pxc),
                                     "-m", "logistic-rgb-int8-v1", "--tile", "32"]).exit_code == 0
    sizes = {}
    for level in (0, 9):
        out = tmp_path / f"level{level}.png"
        result = CliRunner().invoke(main, ["decompress", str(pxc), "-o", str(out),
                                           "--png-level", str(level)])
        assert result.exit_code == 0, result.output
        assert read_image(out, LIMIT) == read_image(source, LIMIT)
        sizes[level] = out.stat().st_size
    assert sizes[0] > sizes[9]
    refused = CliRunner().invoke(main, ["decompress", str(pxc), "-o", str(tmp_path / "x.png"),
                                        "--png-level", "10"])
    assert refused.exit_code == 2 and not (tmp_path / "x.png").exists()
