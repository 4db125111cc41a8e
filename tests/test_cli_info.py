"""The command line's own surface (issue 38, item 6): usage errors in one line, --version,
`configs` without building networks, `info` without decoding, --skip-existing, completion."""
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import pixcodec
from pixcodec import zoo
from test_cli import make_png, run

ASSETS = Path(__file__).parent / "assets"
README = Path(__file__).parent.parent / "README.md"


@pytest.mark.parametrize("args,fragment", [
    (["compress"], "Missing argument 'IN...' (see "),
    (["compress", "x.png", "--tile", "0"], "'--tile': 0 is not in the range"),
    (["compress", "x.png", "--no-such-option"], "No such option '--no-such-option' (see "),
    (["nosuch"], "No such command 'nosuch' (see "),
    (["compress", "x.png", "--skip-existing", "-f"], "--skip-existing and --force"),
])
def test_usage_errors_are_one_line(args, fragment):
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pixcodec: error: "), result.output
    assert fragment in lines[0] and lines[0].endswith(" --help)")


def test_version_names_the_libraries_and_the_models():
    result = run("--version")
    assert result.exit_code == 0
    first, libraries, models = result.output.splitlines()
    assert first == f"pixcodec {metadata.version('pixcodec')}"
    for name in ("constriction", "torch", "numpy", "numba"):
        assert f"{name} {metadata.version(name)}" in libraries
    manifest = zoo.manifest()
    assert models.startswith(f"{len(manifest)} shipped models")
    for info in manifest.values():
        assert (f"{info.name} ({info.default_for})" in models) == bool(info.default_for)


def test_configs_builds_no_network(monkeypatch):
    """`configs` counts each configuration's weights on its shapes alone: it took 10-15 s and
    833 MB building (and initialising) every network."""
    from pixcodec.nets import presets

    def refuse(*args):
        raise AssertionError("a network was built")

    monkeypatch.setattr(presets, "make_network", refuse)
    result = run("configs")
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == len(presets.PRESETS)


def _info(*paths, json_output=True):
    result = run("info", *(["--json"] if json_output else []), *paths)
    return result, (json.loads(result.output) if json_output and result.output else None)


def test_info_shows_what_a_file_holds_without_decoding_it(tmp_path, monkeypatch):
    from pixcodec import codec
    coded = pixcodec.encode(ASSETS / "crop-40x56.png", "logistic", tile=16, effort=0)
    (tmp_path / "a.pxc").write_bytes(coded.data)

    def refuse(*args, **kwargs):
        raise AssertionError("info decoded pixels")

    for name in ("decode_pixels", "decode_tiles", "decode_interleaved"):
        monkeypatch.setattr(codec, name, refuse)
    result, [summary] = _info(tmp_path / "a.pxc")
    assert result.exit_code == 0, result.output
    assert (summary["width"], summary["height"], summary["bytes"]) == (56, 40, len(coded.data))
    assert summary["version"] == coded.header.version
    model = summary["model"]
    assert model["name"] == coded.model and model["tile"] == 16 and model["tiles"] == 12
    assert model["orientation"] == 0 and summary["adaptation"] is None
    assert len(model["tile_bytes"]) == 12
    assert sum(model["tile_bytes"]) < summary["sections"]["COLR"]
    # A file turned and adapted at the default effort, and a version 2 file of 12 tiles.
    result, [turned, old] = _info(ASSETS / "turned-rgb-v7.pxc",
                                  ASSETS / "v2" / "pixelcnn-rgb-v1-12-tiles.pxc")
    assert turned["model"]["orientation"] == 7 and turned["adaptation"]["level"] == 2
    assert turned["model"]["orientation_name"] == "transposed then mirrored then upside down"
    assert old["version"] == 2 and old["model"]["name"] == "pixelcnn-rgb-v1"
    assert old["model"]["tiles"] == 12 and old["model"]["tile_bytes"] is None
    text = run("info", ASSETS / "turned-rgb-v7.pxc").output
    assert "orientation: 7 (transposed then mirrored then upside down)" in text
    assert "adaptation: level 2" in text and "model: logistic-rgb-v7" in text


def test_info_reports_a_bad_file_and_goes_on(tmp_path):
    (tmp_path / "bad.pxc").write_bytes(b"\x89PXC\x09 not a file")
    result, summaries = _info(tmp_path / "bad.pxc", ASSETS / "turned-rgb-v7.pxc")
    assert result.exit_code == 1
    assert summaries[0]["error"].startswith("unsupported format version 9")
    assert summaries[1]["model"]["name"] == "logistic-rgb-v7"
    text, _ = _info(tmp_path / "bad.pxc", json_output=False)
    assert text.exit_code == 1 and text.output.splitlines() == [
        f"pixcodec: error: {tmp_path / 'bad.pxc'}: unsupported format version 9 (this pixcodec "
        "reads 2 and 3 and 4)"]


def test_skip_existing_leaves_finished_outputs_alone(tmp_path):
    sources = [make_png(tmp_path / f"{name}.png", (3, 4), seed) for seed, name in enumerate("abc")]
    done = tmp_path / "a.pxc"
    done.write_bytes(b"finished before")
    result = run("compress", *sources, "--skip-existing")
    assert result.exit_code == 0, result.output
    assert done.read_bytes() == b"finished before"
    assert (tmp_path / "b.pxc").exists() and (tmp_path / "c.pxc").exists()
    assert "a.png -> " in result.output and "skipped, the output exists" in result.output
    assert result.output.splitlines()[-1] == ("pixcodec: 2 of 3 files compressed, 1 skipped "
                                              "(their outputs exist)")
    again = run("compress", *sources, "--skip-existing", "-q")
    assert again.exit_code == 0 and again.output == ""
    assert run("compress", *sources).exit_code == 1  # without it: every output exists


def test_shell_completion_works_as_readme_says():
    readme = README.read_text()
    assert 'eval "$(_PIXCODEC_COMPLETE=bash_source pixcodec)"' in readme
    env = {**os.environ, "_PIXCODEC_COMPLETE": "bash_complete", "COMP_WORDS": "pixcodec inf",
           "COMP_CWORD": "1"}
    result = subprocess.run([sys.executable, "-m", "pixcodec"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.split() == ["plain,info"], result
