"""The command line as users meet it: outputs, refusals, one-line errors, exit codes."""
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pixcodec.cli.main import main


@pytest.fixture
def png(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "img.png"
    Image.fromarray(rng.integers(0, 256, (11, 13, 3), dtype=np.uint8)).save(path)
    return path


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def one_line_error(result, fragment):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pixcodec: error:") and fragment in lines[0]
    assert "Traceback" not in result.output


def test_compress_decompress_default_names(png, tmp_path):
    original = png.read_bytes()
    assert run("compress", png).exit_code == 0
    pxc = tmp_path / "img.pxc"
    assert pxc.exists() and png.read_bytes() == original
    png.rename(tmp_path / "orig.png")
    assert run("decompress", pxc).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(tmp_path / "orig.png")))


def test_refuses_to_overwrite_without_force(png, tmp_path):
    out = tmp_path / "out.pxc"
    out.write_bytes(b"keep me")
    one_line_error(run("compress", png, "-o", out), "already exists")
    assert out.read_bytes() == b"keep me"
    assert run("compress", png, "-o", out, "--force").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PXC")


def test_never_overwrites_its_input(png):
    original = png.read_bytes()
    one_line_error(run("compress", png, "-o", png, "--force"), "is the input file")
    assert png.read_bytes() == original


def test_stdin_stdout(png):
    proc = subprocess.run([sys.executable, "-m", "pixcodec", "compress", "-", "-q"],
                          input=png.read_bytes(), capture_output=True)
    assert proc.returncode == 0 and proc.stdout.startswith(b"\x89PXC")
    back = subprocess.run([sys.executable, "-m", "pixcodec", "decompress", "-", "-q"],
                          input=proc.stdout, capture_output=True)
    assert back.returncode == 0 and back.stdout.startswith(b"\x89PNG")


@pytest.mark.parametrize("make,fragment", [
    (lambda p: Image.new("RGBA", (4, 4)).save(p), "transparency"),
    (lambda p: Image.new("P", (4, 4)).save(p), "palette"),
    (lambda p: Image.new("I;16", (4, 4)).save(p), "16-bit"),
    (lambda p: p.write_bytes(b"not an image"), "cannot read image"),
])
def test_unsupported_images_are_refused(tmp_path, make, fragment):
    src = tmp_path / "bad.png"
    make(src)
    one_line_error(run("compress", src), fragment)
    assert not (tmp_path / "bad.pxc").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.png"]  # no partial output


def test_missing_input_and_corrupted_file(tmp_path, png):
    one_line_error(run("compress", tmp_path / "nope.png"), "no such file")
    bad = tmp_path / "bad.pxc"
    bad.write_bytes(b"\x89PXC\x01junk")
    one_line_error(run("decompress", bad), "truncated")
    assert not (tmp_path / "bad.png").exists()


def test_models_lists_shipped_models():
    result = run("models")
    assert result.exit_code == 0
    assert "pixelcnn-rgb-v1" in result.output and "pixelcnn-gray-v1" in result.output


def test_usage_error_exit_code():
    assert run("compress").exit_code == 2
