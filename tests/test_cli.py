"""The command line as users meet it: outputs, refusals, one-line errors, exit codes, many
files, workers, Ctrl-C."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pixcodec import container
from pixcodec.cli.main import main
from pixcodec.imageio import read_image

from conftest import model_plane

SUITE = Path(__file__).parent / "assets" / "pngsuite"


@pytest.fixture
def png(tmp_path):
    return make_png(tmp_path / "img.png")


def make_png(path: Path, size=(11, 13), seed=3) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def error_lines(result) -> list[str]:
    assert "Traceback" not in result.output
    return [line for line in result.output.splitlines() if line.startswith("pixcodec: error:")]


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
    assert read_image(png, 10**6) == read_image(tmp_path / "orig.png", 10**6)


def test_refuses_to_overwrite_without_force(png, tmp_path):
    out = tmp_path / "out.pxc"
    out.write_bytes(b"keep me")
    one_line_error(run("compress", png, "-o", out), "already exists")
    assert out.read_bytes() == b"keep me"
    assert run("compress", png, "-o", out, "--force").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PXC")


def test_never_overwrites_its_input(png):
    original = png.read_bytes()
    one_line_error(run("compress", png, "-o", png, "--force"), "must end in .pxc")
    assert png.read_bytes() == original
    named_as_output = png.rename(png.with_suffix(".pxc"))  # a PNG whose name passes -o's rule
    one_line_error(run("compress", named_as_output, "-o", named_as_output, "--force"),
                   "is the input file")
    assert named_as_output.read_bytes() == original


def test_stdin_stdout(png):
    proc = subprocess.run([sys.executable, "-m", "pixcodec", "compress", "-", "-q"],
                          input=png.read_bytes(), capture_output=True)
    assert proc.returncode == 0 and proc.stdout.startswith(b"\x89PXC")
    back = subprocess.run([sys.executable, "-m", "pixcodec", "decompress", "-", "-q"],
                          input=proc.stdout, capture_output=True)
    assert back.returncode == 0 and back.stdout.startswith(b"\x89PNG")
    assert read_image(back.stdout, 10**6) == read_image(png, 10**6)


def _animated_gif(path):
    frames = [Image.new("L", (4, 4), v) for v in (0, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:], format="GIF")


@pytest.mark.parametrize("make,fragment", [
    (lambda p: p.write_bytes(b"not an image"), "cannot read image"),
    (lambda p: p.write_bytes((SUITE / "testpngs" / "crashers" / "badcrc.png").read_bytes()), "CRC mismatch"),
    (lambda p: p.write_bytes((SUITE / "pngsuite" / "basn0g08.png").read_bytes()[:100]),
     "truncated"),
    (lambda p: Image.new("CMYK", (4, 4)).save(p, format="JPEG"), "mode CMYK"),
    (_animated_gif, "multi-frame"),
])
def test_unsupported_images_are_refused(tmp_path, make, fragment):
    src = tmp_path / "bad.png"
    make(src)
    one_line_error(run("compress", src), fragment)
    assert [p.name for p in tmp_path.iterdir()] == ["bad.png"]  # no partial output


def test_missing_input_and_corrupted_file(tmp_path, png):
    one_line_error(run("compress", tmp_path / "nope.png"), "no such file")
    bad = tmp_path / "bad.pxc"
    bad.write_bytes(b"\x89PXC\x02junk")
    one_line_error(run("decompress", bad), "truncated")
    assert not (tmp_path / "bad.png").exists()


def test_decompress_pixel_limit(png, tmp_path):
    assert run("compress", png, "-q").exit_code == 0
    one_line_error(run("decompress", tmp_path / "img.pxc", "-o", tmp_path / "a.png",
                       "--max-pixels", 142), "exceeds the limit of 142")
    assert run("decompress", tmp_path / "img.pxc", "-o", tmp_path / "a.png",
               "--max-pixels", 143).exit_code == 0


def test_strip_drops_metadata_but_not_transparency(tmp_path):
    source = SUITE / "testpngs" / "gray-2-sRGB-tRNS.png"
    original = read_image(source, 10**6)
    assert {c.type for c in original.before_idat} >= {b"sRGB", b"tRNS", b"tEXt", b"iTXt"}
    for flags, expected in [((), original), (("--strip",), original.stripped())]:
        pxc, out = tmp_path / "x.pxc", tmp_path / "x.png"
        assert run("compress", source, "-o", pxc, "--force", *flags).exit_code == 0
        assert run("decompress", pxc, "-o", out, "--force").exit_code == 0
        assert read_image(out, 10**6) == expected
    assert [c.type for c in original.stripped().before_idat] == [b"tRNS"]


def test_many_files_report_each_failure_and_go_on(tmp_path):
    good = [make_png(tmp_path / f"{name}.png", (3, 4), seed) for seed, name in enumerate("ab")]
    bad = tmp_path / "c.png"
    bad.write_bytes(b"junk")
    (tmp_path / "b.pxc").write_bytes(b"already here")
    result = run("compress", good[0], bad, good[1], "-q")
    assert result.exit_code == 1
    assert sorted(error_lines(result)) == [
        f"pixcodec: error: {good[1]}: {tmp_path / 'b.pxc'} already exists (use --force to "
        "overwrite)",
        f"pixcodec: error: {bad}: cannot read image: unknown file format"]
    assert result.output.strip().splitlines()[-1] == "pixcodec: 1 of 3 files compressed, 2 failed"
    assert (tmp_path / "a.pxc").read_bytes().startswith(b"\x89PXC")
    assert (tmp_path / "b.pxc").read_bytes() == b"already here"


def test_recursive_into_an_output_folder_with_workers(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    sources = [make_png(src / "a.png", (4, 3), 1), make_png(src / "sub" / "b.PNG", (2, 5), 2),
               make_png(src / "sub" / "c.png", (3, 3), 3)]
    (src / "notes.txt").write_text("not an image")
    result = run("compress", "-r", src, "-o", tmp_path / "out", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "pixcodec: 3 of 3 files compressed"
    made = sorted(p.relative_to(tmp_path / "out").as_posix()
                  for p in (tmp_path / "out").rglob("*"))
    assert made == ["a.pxc", "sub", "sub/b.pxc", "sub/c.pxc"]
    result = run("decompress", "-r", tmp_path / "out", "-o", tmp_path / "back", "-j", "2", "-q")
    assert result.exit_code == 0, result.output
    for source in sources:
        back = tmp_path / "back" / source.relative_to(src).with_suffix(".png")
        assert read_image(back, 10**6) == read_image(source, 10**6)


@pytest.mark.parametrize("args,fragment", [
    (["compress", "{d}"], "use -r"),
    (["compress", "{d}/a.png", "{d}/sub/a.png", "-o", "{d}/out"], "would both be written"),
    (["compress", "{d}/a.png", "{d}/sub/a.png", "-o", "{d}/a.png"], "-o must be a folder"),
    (["compress", "-", "{d}/a.png"], "stdin"),
    (["compress", "-r", "{d}", "-o", "-"], "single input"),
    (["compress", "{d}/a.png", "--jobs", "0"], "--jobs"),
    (["compress", "{d}/a.png", "--tile", "0"], "0 is not in the range 1<=x<=1024"),
    (["compress", "{d}/a.png", "--tile", "1025"], "1025 is not in the range 1<=x<=1024"),
    (["decompress", "-r", "{d}"], "no .pxc files in"),
])
def test_usage_errors(tmp_path, args, fragment):
    (tmp_path / "sub").mkdir()
    make_png(tmp_path / "a.png", (2, 2))
    make_png(tmp_path / "sub" / "a.png", (2, 2))
    result = run(*[a.format(d=tmp_path) for a in args])
    assert result.exit_code == 2 and fragment in result.output, result.output
    assert not list(tmp_path.rglob("*.pxc"))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _default_sigint():
    """A shell that starts a job in the background (`make test &`) makes it ignore SIGINT, and
    children inherit that: Python then installs no KeyboardInterrupt handler. The test is about
    what happens when Ctrl-C arrives, so the child gets the default disposition back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("jobs,everyone,signum", [(1, False, signal.SIGINT),
                                                  (2, False, signal.SIGINT),
                                                  (2, True, signal.SIGINT),
                                                  (2, False, signal.SIGTERM)])
def test_ctrl_c_leaves_no_partial_output_and_no_workers(tmp_path, jobs, everyone, signum):
    """Ctrl-C at a terminal signals every process of the group (`everyone`); `kill -INT`
    signals the main one only. SIGTERM (`kill`) is handled as Ctrl-C is, with exit 143."""
    # one at a time (--jobs 1), files over 64 KiB: small ones would be coded together
    size = (48, 48) if jobs > 1 else (160, 160)
    sources = [make_png(tmp_path / f"{i}.png", size, i) for i in range(4)]
    proc = subprocess.Popen([sys.executable, "-m", "pixcodec", "compress", "--jobs", str(jobs),
                             *map(str, sources)], stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("*.pxc")) and time.monotonic() < deadline:
        time.sleep(0.05)
    # One file is done, so the others are being coded or wait for a worker.
    if everyone:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    assert f"pixcodec: {word}" in stderr and "Traceback" not in stderr
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(proc.pid), "worker processes outlived the interrupted command"
    outputs = [p for p in tmp_path.iterdir() if p.suffix != ".png"]
    assert not [p.name for p in outputs if p.name.endswith(".part")]
    assert 1 <= len(outputs) < len(sources)
    for path in outputs:  # what was finished before Ctrl-C is complete
        container.unpack(path.read_bytes())


def test_models_lists_shipped_models():
    result = run("models")
    assert result.exit_code == 0
    assert "pixelcnn-rgb-v1" in result.output and "pixelcnn-gray-v1" in result.output
    lines = {line.split(":")[0].split(",")[0]: line for line in result.output.splitlines()}
    assert lines["diag-bilstm-rgb-v1"].endswith("spatial_width=3), tiles of 64")  # its own tile


def test_tile_option_sets_the_files_tile(tmp_path):
    # A ramp with a little noise, which every model codes in fewer bytes than its samples
    # (noise would be stored, in a tile of the encoder's choosing: tile modes).
    ramp = np.add.outer(np.arange(11) * 3, np.arange(13) * 2)[:, :, None] + np.array([40, 90, 140])
    png = tmp_path / "ramp.png"
    Image.fromarray((ramp + np.random.default_rng(3).integers(0, 16, (11, 13, 3)))
                    .astype(np.uint8)).save(png)
    small, default = tmp_path / "small.pxc", tmp_path / "default.pxc"
    assert run("compress", png, "-o", small, "--tile", 4, "-q").exit_code == 0
    assert run("compress", png, "-o", default, "-q").exit_code == 0
    assert model_plane(small.read_bytes()).tile == 4
    assert model_plane(default.read_bytes()).tile == 256
    assert run("decompress", small, "-o", tmp_path / "back.png", "-q").exit_code == 0
    assert read_image(tmp_path / "back.png", 10**6) == read_image(png, 10**6)
    # A model's own tile is the default: 64 for the Diagonal BiLSTMs.
    assert run("compress", png, "-o", tmp_path / "d.pxc", "-m", "diag_bilstm", "-q").exit_code == 0
    assert model_plane((tmp_path / "d.pxc").read_bytes()).tile == 64


def test_usage_error_exit_code():
    assert run("compress").exit_code == 2


def test_train_help_names_the_held_out_tail_the_data_module_uses():
    """The CLI keeps torch and numpy out of its start-up, so its help spells the number."""
    from pixcodec.data import BINARIZED_MNIST_TAIL
    assert f"last {BINARIZED_MNIST_TAIL:,}" in " ".join(run("train", "--help").output.split())


def test_configs_lists_the_paper_models_with_parameter_counts():
    from pixcodec.nets.presets import PRESETS, build, parameter_count
    result = run("configs")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(PRESETS)
    for name in ("mnist_diag_bilstm", "cifar_pixelcnn", "imagenet64_row_lstm"):
        line = next(line for line in lines if line.startswith(name + " "))
        assert f"{parameter_count(build(name)):,} parameters" in line


def test_compress_with_a_model_kind(png, tmp_path):
    out = tmp_path / "k.pxc"
    result = run("compress", png, "-o", out, "-m", "pixelcnn", "-q")
    assert result.exit_code == 0, result.output
    assert model_plane(out.read_bytes()).model == "pixelcnn-rgb-v1"
    for kind, model in (("row_lstm", "row-lstm-rgb-v1"), ("diag_bilstm", "diag-bilstm-rgb-v1"),
                        ("logistic", "logistic-rgb-v7")):
        out = tmp_path / f"{kind}.pxc"
        assert run("compress", png, "-o", out, "-m", kind, "-q").exit_code == 0
        assert model_plane(out.read_bytes()).model == model
        assert run("decompress", out, "-o", tmp_path / f"{kind}.png", "-q").exit_code == 0
        assert np.array_equal(np.asarray(Image.open(tmp_path / f"{kind}.png")),
                              np.asarray(Image.open(png)))
    # The PixelRNNs are shipped for RGB and 1-bit images, not for grayscale.
    gray = tmp_path / "gray.png"
    Image.open(png).convert("L").save(gray)
    bad = run("compress", gray, "-o", tmp_path / "b.pxc", "-m", "row_lstm")
    assert bad.exit_code == 1 and "no 'row_lstm' model for L images" in bad.output
    unknown = run("compress", png, "-o", tmp_path / "b.pxc", "-m", "lstm")
    assert unknown.exit_code == 1 and "unknown model 'lstm'" in unknown.output
    assert "kinds: diag_bilstm, logistic, pixelcnn, row_lstm)" in unknown.output
    assert not (tmp_path / "b.pxc").exists()


def test_a_newline_in_a_file_name_keeps_the_error_on_one_line(tmp_path):
    bad = tmp_path / "bad\nname.png"
    bad.write_bytes(b"not an image")
    result = CliRunner().invoke(main, ["compress", str(bad)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "bad\\nname.png" in result.output


@pytest.mark.parametrize("args,status,answer", [
    (["--version"], 0, "constriction "),
    (["--help"], 0, "Usage: "),
    (["compress", "--help"], 0, "Usage: "),
    (["compress", "--tile", "0", "x.png"], 2, "Invalid value for '--tile'"),
])
def test_help_version_and_usage_errors_do_not_load_torch(args, status, answer):
    """They answer (their own exit status and words) before any model is needed: importing
    torch alone takes seconds."""
    code = ("import sys\nfrom pixcodec.cli.main import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit as stop:\n    status = stop.code\n"
            "else:\n    status = 'none (main returned)'\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'loaded'\n"
            "print(f'exit status {status}', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"exit status {status}", result.stderr
    assert answer in result.stdout + result.stderr


def run_command_doing(work: str) -> subprocess.CompletedProcess:
    """`pixcodec` (cli.run, its signal handling) with `work(prog_name)`, defined in the Python
    source `work`, in place of the click command."""
    code = (f"import signal, sys, time, types\n{work}"
            "sys.modules['pixcodec.cli.main'] = types.SimpleNamespace(main=work)\n"
            "from pixcodec import cli\n"
            "cli.run()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20, preexec_fn=_default_sigint)


def test_ctrl_c_inside_a_callback_python_swallows_still_interrupts():
    """A signal handled inside a __del__ or a weakref callback (importlib's module-lock cleanup
    while torch loads: seen once in CI) raises where Python can only print the exception and go
    on; the command must still stop, at once (not when the 30-second sleep ends: the command
    times out first), with one line and exit status 130."""
    result = run_command_doing("class Dies:\n"
                               "    def __del__(self):\n"
                               "        signal.raise_signal(signal.SIGINT)\n"
                               "def work(prog_name):\n"
                               "    Dies()\n"
                               "    time.sleep(30)\n")
    assert (result.returncode, result.stderr) == (130, "pixcodec: interrupted\n")


def test_ctrl_c_whose_exception_is_caught_and_dropped_still_ends_with_130():
    """C code that clears any error it meets, or a library's bare `except`, can drop the
    exception a signal raised, and nothing reports it (seen once: a --jobs 1 batch coded every
    file after Ctrl-C and exited 0). The command must still end with one line and status 130."""
    result = run_command_doing("def work(prog_name):\n"
                               "    try:\n"
                               "        signal.raise_signal(signal.SIGINT)\n"
                               "    except BaseException:\n"
                               "        pass\n"
                               "    sys.exit(0)\n")
    assert (result.returncode, result.stderr) == (130, "pixcodec: interrupted\n")


def test_ctrl_c_while_a_library_loads_is_handled_once_it_has_loaded():
    """A signal raised into a library's module body as it loads can land in its compiled
    start-up: torch's C++ aborted the process (SIGABRT, a C++ message, no output) when Ctrl-C
    came while torch.distributed initialised (seen once in CI). The library must finish loading;
    the command then stops at once, with one line and exit status 130."""
    result = run_command_doing(
        "def work(prog_name):\n"
        "    body = 'import signal\\nsignal.raise_signal(signal.SIGINT)\\nloaded = True\\n'\n"
        "    exec(compile(body, 'library.py', 'exec'), {'__name__': 'library'})\n"
        "    print('loaded', flush=True)\n"
        "    time.sleep(30)\n")
    assert (result.returncode, result.stdout, result.stderr) == (130, "loaded\n",
                                                                 "pixcodec: interrupted\n")


def test_a_dropped_ctrl_c_stops_a_batch_at_the_next_file(tmp_path, monkeypatch):
    import pixcodec.cli as cli_package
    from pixcodec.cli.batch import Job, run_jobs
    coded = []

    def work(path, threads=None, progress=None):
        coded.append(path)
        monkeypatch.setattr(cli_package, "_received", signal.SIGINT)  # handled, then dropped
        return b"x", "done"

    jobs = [Job(str(tmp_path / f"{i}.png"), str(tmp_path / f"{i}.out")) for i in range(3)]
    with pytest.raises(cli_package.Interrupted):
        run_jobs(jobs, work, None, workers=1, threads=1, force=False, quiet=True,
                 label="compress")
    assert coded == [jobs[0].input]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.out"]  # the first file is whole


def test_a_cleanup_failing_after_a_signal_prints_nothing(monkeypatch):
    """A signal can land while a library builds an object (llvmlite's, loading the integer
    engine's kernels), whose __del__ then fails: once a signal has been handled, that error
    prints nothing (the command ends with its one line); before, Python prints it."""
    from types import SimpleNamespace

    import pixcodec.cli as front

    printed = []
    monkeypatch.setattr(sys, "__unraisablehook__", printed.append)
    failure = SimpleNamespace(exc_type=AttributeError, exc_value=AttributeError("_ptr"))
    monkeypatch.setattr(front, "_received", None)
    front._redeliver_swallowed_interrupt(failure)
    assert printed == [failure]
    monkeypatch.setattr(front, "_received", signal.SIGINT)
    front._redeliver_swallowed_interrupt(failure)
    assert printed == [failure]


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8, 1.3, 2.0, 3.0])
def test_ctrl_c_at_any_moment_exits_130_without_a_traceback(tmp_path, delay):
    """From startup (click, numpy and torch loading) to the end of the work: exit 130 and one
    line, the output complete or absent. (Earlier than ~0.1 s, while Python itself starts and
    before pixcodec's first instruction, Python's own handler would still print a traceback;
    after the work, while the interpreter shuts down with its default handlers back, the
    signal ends the process, its output complete.)"""
    source = make_png(tmp_path / "a.png", (40, 40), 1)
    target = tmp_path / "a.pxc"
    proc = subprocess.Popen([sys.executable, "-m", "pixcodec", "compress", str(source), "-o",
                             str(target), "-q"], stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) in (["a.png"], ["a.png", "a.pxc"])
    if target.exists():
        container.unpack(target.read_bytes())  # raises unless the file is whole
    if proc.returncode == 130:
        assert stderr == "pixcodec: interrupted\n", stderr
    else:
        assert target.exists() and proc.returncode in (0, -signal.SIGINT), (proc.returncode,
                                                                             stderr)


def test_metadata_past_the_limit_is_refused_before_it_is_inflated(tmp_path):
    """A ~1 MB .pxc can hold a 1 GB text chunk (zeros deflate 1000 to 1): --max-metadata
    bounds what decompression writes (default 64 MiB)."""
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("zeros", "0" * 300_000)  # tEXt, stored as is in the PNG, deflated in the .pxc
    source = tmp_path / "p.png"
    Image.new("P", (1, 1)).save(source, pnginfo=info)
    packed = tmp_path / "p.pxc"
    assert run("compress", source, "-o", packed, "-q").exit_code == 0
    assert packed.stat().st_size < 2000
    result = run("decompress", packed, "-o", tmp_path / "back.png", "--max-metadata", 100_000)
    assert error_lines(result) == [f"pixcodec: error: {packed}: the image's metadata (PNG chunks) "
                                   "takes 300027 bytes, over the limit of 100000 (raise it "
                                   "with --max-metadata if you trust this file)"]
    assert result.exit_code == 1 and not (tmp_path / "back.png").exists()
    assert run("decompress", packed, "-o", tmp_path / "back.png", "-q").exit_code == 0
    assert read_image(tmp_path / "back.png", 10) == read_image(source, 10)


def test_small_files_are_coded_together_and_a_bad_one_fails_alone(tmp_path, monkeypatch):
    """Several small files go through encode_many / decode_many: the same files as one by one;
    a file that fails makes its batch go file by file, and only it fails."""
    import pixcodec
    calls = []
    real = pixcodec.api.encode_many
    monkeypatch.setattr(pixcodec.api, "encode_many",
                        lambda sources, *a, **k: calls.append(len(sources)) or real(sources, *a, **k))
    folder = tmp_path / "in"
    folder.mkdir()
    sources = [make_png(folder / f"{i}.png", (9, 8), i) for i in range(3)]
    out = tmp_path / "out"
    assert run("compress", *sources, "-o", out, "-q").exit_code == 0
    assert calls == [3]
    for source in sources:
        single = tmp_path / "single.pxc"
        assert run("compress", source, "-o", single, "-q", "-f").exit_code == 0
        assert (out / f"{source.stem}.pxc").read_bytes() == single.read_bytes()
    (folder / "bad.png").write_bytes(b"not a png")
    result = run("compress", *sorted(folder.iterdir()), "-o", tmp_path / "out2", "-q")
    assert result.exit_code == 1 and "bad.png: cannot read image" in result.output
    assert "3 of 4 files compressed, 1 failed" in result.output
    assert len(list((tmp_path / "out2").iterdir())) == 3
    back = tmp_path / "back"
    assert run("decompress", *sorted(out.iterdir()), "-o", back, "-q").exit_code == 0
    for source in sources:
        assert np.array_equal(np.asarray(Image.open(back / f"{source.stem}.png")),
                              np.asarray(Image.open(source)))


@pytest.mark.parametrize("command, given, expected", [
    ("decompress", None, "1"), ("decompress", "3", "3"), ("train", None, "unset")])
def test_the_command_starts_no_openblas_threads_unless_the_user_asks(command, given, expected):
    """numpy's and SciPy's OpenBLAS spin a thread per further core when they load; the command
    holds them to the calling thread before numpy loads, and keeps a user's own setting;
    training keeps its threads (torch may use OpenBLAS)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    code = (f"import os, sys; sys.argv = ['pixcodec', '{command}']; import pixcodec.cli; "
            "print('numpy' in sys.modules, os.environ.get('OPENBLAS_NUM_THREADS', 'unset'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout.split()
    assert out == ["False", expected]
