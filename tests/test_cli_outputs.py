"""Where the command line writes and what it prints (issue 38): -q, the -o rules, and what
compress writes decompress reads by default."""
import pytest

from test_cli import make_png, one_line_error, run


def test_quiet_prints_nothing_on_success(tmp_path):
    sources = [make_png(tmp_path / f"{name}.png", (3, 4), seed) for seed, name in enumerate("abc")]
    result = run("compress", *sources, "-q")
    assert result.exit_code == 0 and result.output == "", result.output
    result = run("decompress", *[s.with_suffix(".pxc") for s in sources], "-o",
                 tmp_path / "back", "-q")
    assert result.exit_code == 0 and result.output == "", result.output


# -o: the output's name says what is written; nothing is made but the output (and, with
# several inputs, the folder -o names and the subfolders -r mirrors); every refusal is one line
# before any work, with nothing written.

def _nothing_written(tmp_path, before):
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("output,fragment", [
    ("missing/x.pxc", "missing is not a folder"),
    ("out.webp", "must end in .pxc"),
    ("folder", "is a directory"),
])
def test_one_input_and_an_output_it_cannot_be(tmp_path, output, fragment):
    source = make_png(tmp_path / "a.png")
    (tmp_path / "folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    one_line_error(run("compress", source, "-o", tmp_path / output), fragment)
    _nothing_written(tmp_path, before)


def test_decompress_writes_png_names_only(tmp_path):
    source = make_png(tmp_path / "a.png")
    assert run("compress", source, "-q").exit_code == 0
    before = sorted(tmp_path.rglob("*"))
    one_line_error(run("decompress", tmp_path / "a.pxc", "-o", tmp_path / "out.webp"),
                   "must end in .png")
    _nothing_written(tmp_path, before)
    assert run("decompress", tmp_path / "a.pxc", "-o", tmp_path / "out.PNG", "-q").exit_code == 0
    assert run("decompress", tmp_path / "a.pxc", "-o", "/dev/null", "-q").exit_code == 0


@pytest.mark.parametrize("output,fragment", [
    ("x.pxc", "names a file"),
    ("missing/out", "missing is not a folder"),
])
def test_several_inputs_need_a_folder(tmp_path, output, fragment):
    sources = [make_png(tmp_path / f"{name}.png", (3, 4), seed) for seed, name in enumerate("ab")]
    before = sorted(tmp_path.rglob("*"))
    one_line_error(run("compress", *sources, "-o", tmp_path / output), fragment)
    _nothing_written(tmp_path, before)
    assert run("compress", *sources, "-o", tmp_path / "new", "-q").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["a.pxc", "b.pxc"]


def test_stdin_to_a_named_output_follows_the_same_rules(tmp_path):
    source = make_png(tmp_path / "a.png")
    result = run("compress", "-", "-o", tmp_path / "missing" / "a.pxc", input=source.read_bytes())
    one_line_error(result, "missing is not a folder")
    assert not (tmp_path / "missing").exists()


def _png_with_text(path, text_bytes: int):
    """A 1x1 PNG with a tEXt chunk of `text_bytes` bytes of text, written by hand (Pillow would
    hold the text twice as str)."""
    import io
    import struct
    import zlib

    from PIL import Image
    plain = io.BytesIO()
    Image.new("L", (1, 1)).save(plain, format="PNG")
    data = plain.getvalue()
    body = b"zeros\x00" + b"0" * text_bytes
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body \
        + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    end = data.rindex(b"IEND") - 4
    path.write_bytes(data[:end] + chunk + data[end:])
    return path


def test_compress_refuses_metadata_decompress_would_refuse(tmp_path):
    """What compress writes, decompress reads with its defaults: the --max-metadata limit is
    checked on both sides (a 64 MiB + 1 byte text chunk)."""
    from pixcodec.limits import DEFAULT_MAX_METADATA
    source = _png_with_text(tmp_path / "big.png", DEFAULT_MAX_METADATA)
    one_line_error(run("compress", source, "-o", tmp_path / "big.pxc"), "--max-metadata")
    assert not (tmp_path / "big.pxc").exists()


def test_compress_max_metadata_raises_the_limit_for_both_sides(tmp_path):
    source = _png_with_text(tmp_path / "p.png", 300_000)
    result = run("compress", source, "-o", tmp_path / "p.pxc", "--max-metadata", 100_000)
    one_line_error(result, "over the limit of 100000")
    assert "--max-metadata" in result.output and not (tmp_path / "p.pxc").exists()
    assert run("compress", source, "-o", tmp_path / "p.pxc", "--max-metadata", 400_000,
               "-q").exit_code == 0
    one_line_error(run("decompress", tmp_path / "p.pxc", "-o", tmp_path / "back.png",
                       "--max-metadata", 100_000), "--max-metadata")
    assert run("decompress", tmp_path / "p.pxc", "-o", tmp_path / "back.png", "-q").exit_code == 0


def test_encode_takes_the_metadata_limit(tmp_path):
    import pixcodec
    source = _png_with_text(tmp_path / "p.png", 3_000)
    with pytest.raises(pixcodec.UnsupportedImageError, match="over the limit of 1000"):
        pixcodec.encode(source, max_metadata=1000)
    with pytest.raises(pixcodec.UnsupportedImageError, match="over the limit of 1000"):
        pixcodec.encode_many([source], max_metadata=1000)
    with pytest.raises(pixcodec.ArgumentError, match="max_metadata"):
        pixcodec.encode(source, max_metadata=float("nan"))
    assert pixcodec.encode(source, max_metadata=4000).data


def _allocate_too_much(library: str):
    """What numpy and torch raise when an allocation fails (torch: a RuntimeError)."""
    def allocate(*args, **kwargs):
        if library == "torch":
            import torch
            torch.empty(2**50, dtype=torch.uint8)
        import numpy as np
        np.empty(2**50, dtype=np.uint8)
    return allocate


@pytest.mark.parametrize("library", ["torch", "numpy"])
def test_running_out_of_memory_is_one_line_naming_max_pixels(tmp_path, monkeypatch, library):
    """Under a 3 GB address-space limit a forged file ended in 'internal error (RuntimeError:
    can't allocate memory); please report it': torch's allocator raises a RuntimeError, not a
    MemoryError."""
    import pixcodec
    from pixcodec import bits
    source = make_png(tmp_path / "a.png", (3, 4))
    assert run("compress", source, "-q").exit_code == 0
    monkeypatch.setattr(pixcodec, "decode", _allocate_too_much(library))
    result = run("decompress", tmp_path / "a.pxc", "-o", tmp_path / "b.png")
    one_line_error(result, "out of memory")
    assert "--max-pixels" in result.output and "report" not in result.output
    assert not (tmp_path / "b.png").exists()
    monkeypatch.setattr(bits, "bits_map", _allocate_too_much(library))  # outside a batch
    result = run("bits", source, "--csv", tmp_path / "b.csv")
    one_line_error(result, "out of memory")
    assert "--max-pixels" in result.output and not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("command", [["models"], ["decompress", "IN", "-o", "-"]])
def test_a_reader_that_goes_away_ends_the_command_without_a_word(tmp_path, command):
    """`pixcodec models | head`, `pixcodec decompress f.pxc -o - | head -c 10`: the output's
    reader closes the pipe, and the command ends with status 1, as click ends its own, and no
    message (a listing cut short is not an error to report, as for cat)."""
    import subprocess
    import sys

    source = make_png(tmp_path / "a.png", (6, 5), 3)
    assert run("compress", source, "-o", tmp_path / "a.pxc", "-q").exit_code == 0
    args = [str(tmp_path / "a.pxc") if a == "IN" else a for a in command]
    process = subprocess.Popen([sys.executable, "-m", "pixcodec", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before the command has started: its first write finds no reader
    _, errors = process.communicate(timeout=300)
    assert (process.returncode, errors.decode()) == (1, "")
