"""`pixcodec bits`: per-pixel code lengths that sum to the coded NLL, as a heat map and CSV."""
import io
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import pixcodec
from pixcodec import bits
from pixcodec.cli.main import main
from pixcodec.sections import model_plane_of


def photo_like(rng, shape=(21, 30, 3)) -> np.ndarray:
    base = np.add.outer(np.arange(shape[0]) * 4, np.arange(shape[1]) * 3)[:, :, None]
    return np.clip(base + np.arange(shape[2]) * 30 + rng.normal(0, 5, shape), 0, 255).astype(
        np.uint8)


@pytest.mark.parametrize("colours", [3, 1])
def test_the_map_sums_to_the_coded_nll(colours, rng):
    pixels = photo_like(rng, (21, 30, colours))
    pixels = pixels if colours == 3 else pixels[:, :, 0]
    result = bits.bits_map(pixels)
    coded = pixcodec.encode(pixels, effort=0)
    assert result.bits.shape == pixels.shape[:2]
    assert result.bits.sum() == pytest.approx(coded.nll_bits, rel=1e-12)
    assert result.bits_per_dim == pytest.approx(coded.nll_bits / pixels.size, rel=1e-12)
    assert (result.bits > 0).all() and result.model == coded.model


def test_tiles_are_priced_as_coded(rng, monkeypatch):
    pixels = photo_like(rng)
    whole = bits.bits_map(pixels)
    monkeypatch.setattr("pixcodec.zoo.ModelInfo.coding_tile", property(lambda self: 8))
    tiled = bits.bits_map(pixels)
    assert tiled.bits.sum() == pytest.approx(pixcodec.encode(pixels, tile=8, effort=0).nll_bits,
                                             rel=1e-12)
    assert not np.allclose(tiled.bits, whole.bits)  # the tile edges cost more


def test_the_map_prices_the_tiles_the_encoder_chose(rng):
    """A 265 x 110 photo is coded in one tile of 320 (pixcodec.tilechoice.tile_side), not in
    two of the model's 256: the map follows."""
    pixels = photo_like(rng, (265, 110, 3))
    coded = pixcodec.encode(pixels, effort=0)
    assert model_plane_of(coded.data).tile == 320
    assert bits.bits_map(pixels).bits.sum() == pytest.approx(coded.nll_bits, rel=1e-12)


def test_csv_and_heat_map(rng):
    result = bits.bits_map(photo_like(rng))
    rows = bits.to_csv(result).decode().splitlines()
    assert rows[0] == "y,x,bits" and len(rows) == 1 + 21 * 30
    y, x, value = rows[1 + 2 * 30 + 5].split(",")
    assert (int(y), int(x)) == (2, 5) and float(value) == pytest.approx(result.bits[2, 5], abs=1e-6)
    pytest.importorskip("matplotlib")  # pixcodec[bench]
    png = Image.open(io.BytesIO(bits.heat_map_png(result, "test")))
    assert png.format == "PNG" and png.width > 100


def test_command_without_matplotlib_is_one_clear_line(tmp_path, rng, monkeypatch):
    Image.fromarray(photo_like(rng)).save(tmp_path / "a.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    result = CliRunner().invoke(main, ["bits", str(tmp_path / "a.png"), "-o",
                                       str(tmp_path / "m.png")])
    assert result.exit_code == 1 and "the heat map needs matplotlib" in result.output
    assert not (tmp_path / "m.png").exists()


def test_command_writes_map_and_csv_and_refuses_what_it_cannot_map(tmp_path, rng):
    pytest.importorskip("matplotlib")  # pixcodec[bench]
    Image.fromarray(photo_like(rng)).save(tmp_path / "a.png")
    runner = CliRunner()
    result = runner.invoke(main, ["bits", str(tmp_path / "a.png"), "-o", str(tmp_path / "m.png"),
                                  "--csv", str(tmp_path / "m.csv")])
    assert result.exit_code == 0, result.output
    assert "bits/dim" in result.output and (tmp_path / "m.png").exists()
    assert (tmp_path / "m.csv").read_text().startswith("y,x,bits")
    again = runner.invoke(main, ["bits", str(tmp_path / "a.png"), "-o", str(tmp_path / "m.png")])
    assert again.exit_code == 1 and "already exists" in again.output
    wrong = runner.invoke(main, ["bits", str(tmp_path / "a.png"), "-o", str(tmp_path / "m.jpg")])
    assert wrong.exit_code == 1 and "must end in .png" in wrong.output
    Image.fromarray(photo_like(rng)).convert("P").save(tmp_path / "p.png")
    palette = runner.invoke(main, ["bits", str(tmp_path / "p.png"), "-o", str(tmp_path / "p-map.png")])
    assert palette.exit_code == 1 and "palette images" in palette.output
    assert not (tmp_path / "p-map.png").exists()


def test_csv_alone_needs_neither_a_map_nor_matplotlib(tmp_path, rng, monkeypatch):
    Image.fromarray(photo_like(rng)).save(tmp_path / "a.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as in the default install
    result = CliRunner().invoke(main, ["bits", str(tmp_path / "a.png"), "--csv",
                                       str(tmp_path / "b.csv")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b.csv").read_text().startswith("y,x,bits")
    assert "bits/dim" in result.output and str(tmp_path / "b.csv") in result.output


def test_nothing_to_write_is_a_usage_error(tmp_path, rng):
    Image.fromarray(photo_like(rng)).save(tmp_path / "a.png")
    result = CliRunner().invoke(main, ["bits", str(tmp_path / "a.png")])
    assert result.exit_code == 2 and "-o" in result.output and "--csv" in result.output


def test_the_heat_map_names_the_plots_extra(tmp_path, rng, monkeypatch):
    Image.fromarray(photo_like(rng)).save(tmp_path / "a.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(main, ["bits", str(tmp_path / "a.png"), "-o",
                                       str(tmp_path / "m.png")])
    assert result.output == ("pixcodec: error: the heat map needs matplotlib "
                             "(pip install 'pixcodec[plots]'; or --csv alone)\n")
