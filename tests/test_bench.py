"""`pixcodec bench` on a tiny folder: every figure checked against files sized here."""
import csv
import io
import json
import sys
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import pixcodec
from pixcodec import bench, zoo
from pixcodec.encoder import encode_pixels
from pixcodec.cli.main import main
from pixcodec.data import open_image_set

RGB_DEFAULT = zoo.default_model("RGB")

PNG_CODECS = ["png (pillow default)", "png (pillow optimize)"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two small RGB PNGs: noise (of a narrow range, which the model codes: wider noise would
    be stored) and a smooth gradient."""
    rng = np.random.default_rng(5)
    images = tmp_path_factory.mktemp("bench") / "images"
    images.mkdir()
    noise = rng.integers(96, 160, (8, 12, 3), dtype=np.uint8)
    across, down = np.meshgrid(np.arange(12) * 20, np.arange(8) * 30)
    ramp = np.stack([across, down, np.full((8, 12), 7)], axis=2).astype(np.uint8)
    Image.fromarray(noise).save(images / "a.png")
    Image.fromarray(ramp).save(images / "b.png")
    return images


@pytest.fixture(scope="module")
def measured(folder):
    """pixcodec and Pillow's PNG on the folder (run once: coding takes a moment)."""
    return bench.run_bench([str(folder)], codecs=PNG_CODECS)


def pixels_of(path):
    return np.asarray(Image.open(path))


def png_size(path, **options):
    buf = io.BytesIO()
    Image.open(path).save(buf, format="PNG", **options)
    return len(buf.getvalue())


def run(*args):
    return CliRunner().invoke(main, ["bench", *map(str, args)])


def test_per_image_figures_equal_sizes_measured_here(folder, measured):
    rows = {(r.image, r.codec): r for r in measured.rows}
    assert len(measured.rows) == 2 * 3
    for name in ("a.png", "b.png"):
        path = folder / name
        dims = 8 * 12 * 3
        ours = rows[name, f"pixcodec {RGB_DEFAULT}"]
        encoded = pixcodec.encode(pixels_of(path))
        # Everything but the model's payload, which is coded here on its own.
        payload = b"".join(encode_pixels(zoo.load_model(RGB_DEFAULT), pixels_of(path)).streams)
        header_bits = 8 * (len(encoded.data) - len(payload))
        assert ours.bytes == len(encoded.data) and ours.dims == dims
        assert ours.bits_per_dim == pytest.approx(8 * len(encoded.data) / dims)
        assert ours.nll_bits_per_dim == pytest.approx(encoded.nll_bits / dims)
        assert ours.header_bytes * 8 == header_bits
        assert ours.overhead_pct == pytest.approx(
            100 * (8 * len(encoded.data) / (encoded.nll_bits + header_bits) - 1))
        assert ours.payload_overhead_pct == pytest.approx(
            100 * ((8 * len(encoded.data) - header_bits) / encoded.nll_bits - 1))
        assert ours.exact and ours.encode_s > 0 and ours.decode_s > 0
        optimized = rows[name, "png (pillow optimize)"]
        assert optimized.bytes == png_size(path, optimize=True)
        assert optimized.bits_per_dim == pytest.approx(8 * png_size(path, optimize=True) / dims)
        assert rows[name, "png (pillow default)"].bytes == png_size(path)
        assert optimized.exact and optimized.nll_bits is None and optimized.overhead_pct is None


def test_totals_are_total_bits_over_total_dims(measured):
    result = measured
    assert [t.codec for t in result.totals] == [f"pixcodec {RGB_DEFAULT}", *PNG_CODECS]
    for total in result.totals:
        rows = [r for r in result.rows if r.codec == total.codec]
        assert total.image == bench.TOTAL and total.images == 2 and total.status == "ok"
        assert total.bits_per_dim == pytest.approx(
            8 * sum(r.bytes for r in rows) / sum(r.dims for r in rows))
        assert total.encode_s_per_image == pytest.approx(sum(r.encode_s for r in rows) / 2)
    ours = result.totals[0]
    rows = [r for r in result.rows if r.codec == ours.codec]
    nll = sum(r.nll_bits for r in rows)
    headers = 8 * sum(r.header_bytes for r in rows)
    assert ours.overhead_pct == pytest.approx(
        100 * (8 * sum(r.bytes for r in rows) / (nll + headers) - 1))
    assert f"| pixcodec {RGB_DEFAULT} | 2 |" in bench.format_table(result)


def test_several_models_are_rows_of_their_own(folder):
    result = bench.run_bench([str(folder)], models=["pixelcnn-rgb-v1", "pixelcnn-gray-v1"],
                             codecs=[])
    first, second = result.totals
    assert first.codec == "pixcodec pixelcnn-rgb-v1" and first.status == "ok"
    # The grayscale model cannot code RGB images: reported, and counted as a failure.
    assert second.codec == "pixcodec pixelcnn-gray-v1" and second.status == "error"
    assert "1-channel" in second.note and "RGB" in second.note
    assert len(result.problems()) == 2
    with pytest.raises(pixcodec.ModelError):
        bench.run_bench([str(folder)], models=["nope"])


def test_a_kind_names_the_model_for_each_image_as_compress_takes_it(folder):
    """`-m pixelcnn` as for compress: the shipped PixelCNN of each image's mode."""
    result = bench.run_bench([str(folder)], models=["pixelcnn"], codecs=[])
    assert {r.codec for r in result.rows} == {"pixcodec pixelcnn-rgb-v1"}
    assert not result.problems()


def test_missing_codecs_are_reported_not_dropped(folder, monkeypatch):
    def not_installed():
        raise ImportError("imagecodecs is not installed (pip install 'pixcodec[bench]')")

    # Patched where it is looked up: codecs.py (missing_reason, the adapters) and runner.py
    # (machine(), which records imagecodecs' version).
    monkeypatch.setattr(bench.codecs, "_imagecodecs", not_installed)
    monkeypatch.setattr(bench.runner, "_imagecodecs", not_installed)
    result = bench.run_bench([str(folder)], models=[])
    by_codec = {t.codec: t for t in result.totals}
    assert list(by_codec) == list(bench.CLASSIC_CODECS)
    for name, codec in bench.CLASSIC_CODECS.items():
        expected = "ok" if codec.imagecodecs_name is None or name.startswith("webp") \
            else "missing"  # WebP through Pillow's libwebp
        assert by_codec[name].status == expected
    assert by_codec["qoi"].bits_per_dim is None and "not installed" in by_codec["qoi"].note
    assert not result.problems()
    assert f"missing: {folder} / qoi: imagecodecs is not installed" in bench.format_table(result)


def test_a_codec_failing_at_encode_time(folder, monkeypatch):
    def absent(pixels, mode):
        raise ImportError("imagecodecs: QOI codec is not available")

    def wrong(data, mode):
        return np.zeros((8, 12, 3), dtype=np.uint8)

    png = bench.CLASSIC_CODECS["png (pillow default)"]
    monkeypatch.setitem(bench.CLASSIC_CODECS, "qoi", replace(png, name="qoi", encode=absent))
    monkeypatch.setitem(bench.CLASSIC_CODECS, "png (pillow default)", replace(png, decode=wrong))
    result = bench.run_bench([str(folder)], models=[], codecs=["qoi", "png (pillow default)"])
    by_codec = {t.codec: t for t in result.totals}
    assert by_codec["qoi"].status == "missing" and "not available" in by_codec["qoi"].note
    assert by_codec["png (pillow default)"].exact is False and len(result.problems()) == 2


def test_csv_holds_every_row_then_the_totals(folder, measured, tmp_path):
    rows = list(csv.DictReader(io.StringIO(bench.to_csv(measured).decode())))
    assert len(rows) == len(measured.rows) + len(measured.totals) == 6 + 3
    optimize = [r for r in rows if r["codec"] == "png (pillow optimize)"]
    assert [r["image"] for r in optimize] == ["a.png", "b.png", bench.TOTAL]
    assert int(optimize[0]["bytes"]) == png_size(folder / "a.png", optimize=True)
    assert int(optimize[2]["bytes"]) == int(optimize[0]["bytes"]) + int(optimize[1]["bytes"])
    assert float(optimize[2]["bits_per_dim"]) == pytest.approx(
        8 * int(optimize[2]["bytes"]) / (2 * 8 * 12 * 3))


def test_cli_table_json_and_plot(folder, tmp_path):
    pytest.importorskip("matplotlib")
    out_json, plot = tmp_path / "r.json", tmp_path / "r.png"
    result = run(folder, "--per-image", "--tile-cost", "-o", out_json, "--plot", plot)
    assert result.exit_code == 0, result.output
    assert f"| a.png | 12x8 | pixcodec {RGB_DEFAULT} |" in result.output
    data = json.loads(out_json.read_text())
    assert data["settings"]["seed"] == 0 and data["settings"]["machine"]["cores"] >= 1
    totals = {t["codec"]: t for t in data["totals"]}
    assert set(totals) == {f"pixcodec {RGB_DEFAULT}", *bench.CLASSIC_CODECS}
    ours = [r for r in data["images"] if r["codec"] == f"pixcodec {RGB_DEFAULT}"]
    assert totals[f"pixcodec {RGB_DEFAULT}"]["bytes"] == sum(r["bytes"] for r in ours)
    assert ours[0]["bytes"] == len(pixcodec.compress(folder / "a.png"))
    assert ours[0]["tile_cost_pct"] == 0  # one tile: nothing to pay
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_cli_repeat_reaches_the_bench_and_its_output(folder, tmp_path):
    out_json = tmp_path / "r.json"
    result = run(folder, "--repeat", 2, "-o", out_json)
    assert result.exit_code == 0, result.output
    assert "the fastest of 2 runs" in result.output
    assert json.loads(out_json.read_text())["settings"]["repeat"] == 2
    assert run(folder, "--repeat", 0).exit_code == 2  # usage error


def test_cli_refuses_outputs_before_running(folder, tmp_path):
    existing = tmp_path / "r.json"
    existing.write_text("keep")
    for args, fragment in [(["-o", tmp_path / "r.txt"], "must end in .json or .csv"),
                           (["-o", existing], "already exists"),
                           (["--plot", tmp_path / "r.svg"], "must end in .png")]:
        result = run(folder, *args)
        assert result.exit_code == 1
        assert result.output.strip().splitlines() == [result.output.strip()]
        assert result.output.startswith("pixcodec: error:") and fragment in result.output
    assert existing.read_text() == "keep"
    assert run().exit_code == 2  # no data set: usage error


def test_plot_without_matplotlib_is_one_clear_line(folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    result = run(folder, "--plot", tmp_path / "r.png")
    assert result.exit_code == 1
    assert result.output == "pixcodec: error: --plot needs matplotlib " \
                            "(pip install 'pixcodec[bench]')\n"


def test_cli_exits_1_when_a_round_trip_is_not_exact(folder, monkeypatch):
    def black(data, mode):
        return np.zeros((8, 12, 3), dtype=np.uint8)

    qoi = bench.CLASSIC_CODECS["qoi"]
    monkeypatch.setitem(bench.CLASSIC_CODECS, "qoi",
                        replace(qoi, encode=lambda pixels, mode: b"x", decode=black,
                                imagecodecs_name=None))
    result = run(folder)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("pixcodec: error: 2 round trips")
    assert f"| {folder} | qoi | 2 | {8 * 2 / (2 * 8 * 12 * 3):.3f} |" in result.output
    assert "| NO |" in result.output


@pytest.fixture
def data_root(tmp_path):
    """A data root laid out like the real one, with tiny stand-ins for each set."""
    root = tmp_path / "data"
    (root / "kodak").mkdir(parents=True)
    Image.fromarray(np.full((3, 4, 3), 9, dtype=np.uint8)).save(root / "kodak" / "kodim01.png")
    (root / "bsd68").mkdir()
    for i in range(12):
        Image.fromarray(np.full((2, 3, 3), i, dtype=np.uint8)).save(root / "bsd68" / f"{i:02}.png")
    rng = np.random.default_rng(0)
    np.savez(root / "cifar10-train-first4000.npz",
             x=rng.integers(0, 256, (3004, 2, 3, 3), dtype=np.uint8))
    np.savez(root / "binarized-mnist.npz", test=rng.integers(0, 2, (3, 5, 4), dtype=np.uint8))
    np.savez(root / "mnist.npz", x_test=rng.integers(0, 256, (2, 5, 4), dtype=np.uint8))
    np.savez(root / "imagenet64-heldout200.npz",
             x=rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8),
             names=np.array(["a", "b", "c"]))
    return root


def test_builtin_sets_resolve_under_the_data_root(data_root, monkeypatch):
    monkeypatch.delenv("PIXCODEC_DATA", raising=False)
    kodak = open_image_set("kodak", data_root)
    assert kodak.size == 1 and kodak.read(0).name == "kodim01.png" and kodak.read(0).mode == "RGB"
    cifar = open_image_set("cifar10-heldout", data_root)
    x = np.load(data_root / "cifar10-train-first4000.npz")["x"]
    assert cifar.size == 4 and cifar.read(1).name == "#3001"
    assert np.array_equal(cifar.read(1).pixels, x[3001])
    bsd = open_image_set("bsd68-heldout", data_root)  # the images training holds out
    assert [bsd.read(i).name for i in range(bsd.size)] == ["00.png", "10.png"]
    assert bsd.read(1).pixels.max() == 10
    binary = open_image_set("binarized-mnist-test", data_root).read(2)
    test = np.load(data_root / "binarized-mnist.npz")["test"]
    assert binary.mode == "1" and np.array_equal(binary.pixels[:, :, 0], test[2])
    imagenet = open_image_set("imagenet64-heldout200", data_root)
    x64 = np.load(data_root / "imagenet64-heldout200.npz")["x"]
    assert imagenet.size == 3 and imagenet.read(2).mode == "RGB"
    assert np.array_equal(imagenet.read(2).pixels, x64[2])
    mnist = open_image_set("mnist-test", data_root).read(0)
    assert mnist.mode == "L" and mnist.pixels.shape == (5, 4, 1)
    monkeypatch.setenv("PIXCODEC_DATA", str(data_root))
    assert open_image_set("mnist-test").size == 2


def test_builtin_sets_missing_data_is_one_clear_line(data_root, tmp_path, monkeypatch):
    monkeypatch.delenv("PIXCODEC_DATA", raising=False)
    result = run("kodak")
    assert result.exit_code == 1 and "needs a data root: give --data-root DIR" in result.output
    (data_root / "mnist.npz").unlink()
    result = run("mnist-test", "--data-root", data_root)
    assert result.exit_code == 1 and "mnist.npz, which does not exist" in result.output
    result = run(tmp_path / "nope")
    assert result.exit_code == 1 and "is neither a folder nor a data set" in result.output


def test_one_bit_images_round_trip_as_one_bit(data_root):
    result = bench.run_bench(["binarized-mnist-test"], data_root=data_root, limit=2)
    sample = [f"#{i}" for i in bench.sample_indices(3, 2, seed=0)]
    assert [r.image for r in result.rows[::len(result.totals)]] == sample
    assert not result.problems()
    ours = result.totals[0]
    assert ours.codec.startswith("pixcodec ") and ours.dims == 2 * 5 * 4
    png = next(r for r in result.rows if r.codec == "png (pillow default)")
    image = Image.open(io.BytesIO(bench.CLASSIC_CODECS[png.codec].encode(
        open_image_set("binarized-mnist-test", data_root).read(0).pixels, "1")))
    assert image.mode == "1"  # PNG stores a 1-bit image at 1 bit per pixel


def test_sample_is_seeded_and_reproducible():
    first = bench.sample_indices(1000, 10, seed=0)
    assert first == bench.sample_indices(1000, 10, seed=0) == sorted(set(first))
    assert first != bench.sample_indices(1000, 10, seed=1)
    assert bench.sample_indices(5, 10, seed=0) == [0, 1, 2, 3, 4]
    assert bench.sample_indices(5, None, seed=3) == [0, 1, 2, 3, 4]


def test_tile_cost_sums_the_tiles(folder):
    """`whole` is the image's NLL in bits: the NLL pixcodec codes it with (exact arithmetic, in
    one tile; on this image the float network's figure is within 0.006 % of it), not merely what
    float_nll_bits says; `tiled` sums the NLLs of the hand-cut tiles."""
    net = pixcodec.zoo.load_model("pixelcnn-rgb-v1")
    pixels = pixels_of(folder / "b.png")
    whole, tiled = bench.tile_nll_bits(net, pixels, tile=5)
    pieces = [pixels[y:y + 5, x:x + 5] for y in (0, 5) for x in (0, 5, 10)]
    coded = pixcodec.encode(pixels, "pixelcnn-rgb-v1", tile=256, effort=0)
    assert whole == pytest.approx(coded.nll_bits, rel=1e-3)
    assert tiled == pytest.approx(sum(bench.float_nll_bits(net, p) for p in pieces))
    assert bench.tile_nll_bits(net, pixels, tile=256) == (whole, whole)
    row = bench.Row("d", "i", "c", dims=1, bytes=1, whole_nll_bits=whole, tiled_nll_bits=tiled)
    assert row.tile_cost_pct == pytest.approx(100 * (tiled / whole - 1))


@pytest.mark.slow  # starting worker processes that import torch takes seconds
def test_jobs_give_the_same_sizes(folder):
    one = bench.run_bench([str(folder)], codecs=PNG_CODECS)
    two = bench.run_bench([str(folder)], codecs=PNG_CODECS, jobs=2)
    assert [(r.image, r.codec, r.bytes, r.exact) for r in one.rows] == \
           [(r.image, r.codec, r.bytes, r.exact) for r in two.rows]


def test_together_gives_the_same_files_and_rows_in_the_same_order(folder):
    """--together encodes and decodes each set's images at once: the same files (bytes), exact
    round trips, rows in the same order; the classic codecs as before."""
    one = bench.run_bench([str(folder)], models=["pixelcnn-rgb-v1", None], codecs=PNG_CODECS)
    together = bench.run_bench([str(folder)], models=["pixelcnn-rgb-v1", None],
                               codecs=PNG_CODECS, together=True)
    assert [(r.image, r.codec, r.bytes, r.exact, r.nll_bits) for r in one.rows] == \
           [(r.image, r.codec, r.bytes, r.exact, r.nll_bits) for r in together.rows]
    assert together.settings["together"] and all(r.decode_s > 0 for r in together.rows)


def test_webp_is_coded_by_pillow_without_imagecodecs(folder, monkeypatch):
    """Pillow's wheels hold libwebp: without imagecodecs, the WebP rows are coded through
    Pillow at libwebp's default (method 4, quality 75) and strongest (method 6, quality 100)
    settings, exactly, the stronger no larger."""
    pytest.importorskip("PIL.WebPImagePlugin")
    from PIL import features
    if not features.check("webp"):
        pytest.skip("this Pillow was built without WebP")

    def not_installed():
        raise ImportError("imagecodecs is not installed (pip install 'pixcodec[bench]')")

    monkeypatch.setattr(bench.codecs, "_imagecodecs", not_installed)
    monkeypatch.setattr(bench.runner, "_imagecodecs", not_installed)
    names = ["webp lossless (default)", "webp lossless (method 6, quality 100)"]
    result = bench.run_bench([str(folder)], models=[], codecs=names)
    by_codec = {t.codec: t for t in result.totals}
    assert [by_codec[name].status for name in names] == ["ok", "ok"], result.totals
    assert all(by_codec[name].exact for name in names) and not result.problems()
    assert by_codec[names[1]].bytes <= by_codec[names[0]].bytes
    assert result.settings["machine"]["webp"].startswith("pillow")


def test_repeat_times_each_coding_that_many_times_and_keeps_the_fastest(folder, monkeypatch):
    """--repeat N: each encode and decode runs N times and its row holds the fastest (a fake
    clock that each coding moves on by a scripted number of seconds)."""
    now = [0.0]
    spans = {"encode": iter([9.0, 5.0, 2.0, 3.0] * 2), "decode": iter([9.0, 4.0, 1.0, 7.0] * 2)}
    png = bench.CLASSIC_CODECS["png (pillow default)"]

    def timed(kind, code):
        def run(*args):
            now[0] += next(spans[kind])  # (a codec's first, untimed warm-up takes one too)
            return code(*args)
        return run

    slow = replace(png, name="slow png", encode=timed("encode", png.encode),
                   decode=timed("decode", png.decode))
    monkeypatch.setitem(bench.CLASSIC_CODECS, "slow png", slow)
    monkeypatch.setattr(bench.measure.time, "perf_counter", lambda: now[0])
    result = bench.run_bench([str(folder)], models=[], codecs=["slow png"], repeat=3)
    assert [(r.encode_s, r.decode_s) for r in result.rows] == [(2.0, 1.0), (2.0, 1.0)]
    assert result.settings["repeat"] == 3
    assert "the fastest of 3 runs" in bench.format_table(result, False)
    with pytest.raises(ValueError):
        bench.run_bench([str(folder)], models=[], codecs=["slow png"], repeat=0)
