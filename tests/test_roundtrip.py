"""Bit-exact round trips with the shipped models through the public API."""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pixcodec
from pixcodec import container
from pixcodec.imageio import write_png

from conftest import model_plane


def image(kind: str, shape: tuple, rng) -> np.ndarray:
    if kind == "random":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "constant":
        return np.full(shape, 200, dtype=np.uint8)
    # noisy: a smooth gradient plus noise, like a photo
    h, w = shape[:2]
    base = np.add.outer(np.arange(h) * 3, np.arange(w) * 2)
    if len(shape) == 3:
        base = base[:, :, None] + np.arange(shape[2]) * 40
    return np.clip(base + rng.normal(0, 6, shape), 0, 255).astype(np.uint8)


SHAPES = [(1, 1), (1, 37), (29, 1), (17, 33)]


@pytest.mark.parametrize("colours", [1, 3])
@pytest.mark.parametrize("kind", ["random", "constant", "noisy"])
@pytest.mark.parametrize("hw", SHAPES)
def test_round_trip_small(colours, kind, hw, rng):
    pixels = image(kind, (*hw, colours) if colours == 3 else hw, rng)
    data = pixcodec.compress(pixels)
    assert np.array_equal(pixcodec.decompress(data), pixels)


@pytest.mark.slow
@pytest.mark.parametrize("colours", [1, 3])
def test_round_trip_256(colours, rng):
    shape = (256, 256, 3) if colours == 3 else (256, 256)
    pixels = image("noisy", shape, rng)
    result = pixcodec.encode(pixels)
    assert np.array_equal(pixcodec.decompress(result.data), pixels)
    payload = model_plane(result.data).payload
    assert 8 * len(payload) <= 1.01 * result.nll_bits + 64


@pytest.mark.slow
def test_round_trip_more_than_one_tile_with_ragged_edges(rng):
    pixels = image("noisy", (70, 300, 3), rng)
    result = pixcodec.encode(pixels)
    assert np.array_equal(pixcodec.decompress(result.data), pixels)


def test_pillow_made_png_files_round_trip_exactly(tmp_path, rng):
    for mode, arr in [("RGB", image("noisy", (9, 14, 3), rng)), ("L", image("noisy", (9, 14), rng)),
                      ("1", (image("random", (9, 14), rng) > 127).astype(np.uint8) * 255)]:
        path = tmp_path / f"{mode}.png"
        Image.fromarray(arr).convert(mode).save(path)
        before = path.read_bytes()
        back = Image.open(io.BytesIO(write_png(pixcodec.decode(pixcodec.compress(path)).image)))
        assert back.mode == mode
        assert np.array_equal(np.asarray(back), np.asarray(Image.open(path)))
        assert path.read_bytes() == before  # the input is never modified


@pytest.mark.parametrize("shape,dtype", [((3, 4), np.uint8), ((3, 4, 1), np.uint8),
                                         ((2, 5, 2), np.uint8), ((4, 3, 4), np.uint16),
                                         ((3, 2, 3), np.uint16)])
def test_arrays_of_every_layout_round_trip(shape, dtype, rng):
    pixels = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    back = pixcodec.decompress(pixcodec.compress(pixels))
    assert back.dtype == dtype and np.array_equal(back, pixels.reshape(back.shape))
    assert back.shape == (shape[:2] if len(shape) == 2 or shape[2] == 1 else shape)


def test_array_and_model_errors():
    arr = np.zeros((3, 4, 1), dtype=np.uint8)
    with pytest.raises(pixcodec.UnsupportedImageError, match="uint8 or uint16"):
        pixcodec.compress(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(pixcodec.UnsupportedImageError, match="must be"):
        pixcodec.compress(np.zeros((3, 4, 5), dtype=np.uint8))
    with pytest.raises(pixcodec.UnsupportedImageError, match="must be"):
        pixcodec.compress(np.zeros((0, 4), dtype=np.uint8))
    with pytest.raises(pixcodec.ModelError, match="unknown model"):
        pixcodec.compress(arr, model="nope")
    with pytest.raises(pixcodec.ModelError, match="3-channel"):
        pixcodec.compress(arr, model="pixelcnn-rgb-v1")


def test_every_kind_of_source_is_taken_on_both_sides(tmp_path, rng):
    pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    data = pixcodec.compress(pixels)
    path = tmp_path / "a.pxc"
    path.write_bytes(data)
    for source in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8),
                   io.BytesIO(data), str(path), path):
        assert np.array_equal(pixcodec.decompress(source), pixels)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    for source in (bytearray(png.getvalue()), memoryview(png.getvalue()), io.BytesIO(png.getvalue())):
        assert pixcodec.compress(source) == data
    wide = pixels.astype(np.uint16) * 257
    assert np.array_equal(pixcodec.decompress(pixcodec.compress(wide.astype(">u2"))), wide)


@pytest.mark.parametrize("call,message", [
    (lambda x: pixcodec.decompress(3.5), "must be a path, bytes or a binary file"),
    (lambda x: pixcodec.decompress(io.StringIO("PXC")), "open it in binary mode"),
    (lambda x: pixcodec.decompress(np.zeros(4, np.uint16)), "single contiguous bytes"),
    (lambda x: pixcodec.compress(np.ma.masked_array(x)), "masked arrays"),
    (lambda x: pixcodec.api.encode(x, tile=True), "tile must be an integer"),
    (lambda x: pixcodec.api.encode(x, tile="8"), "tile must be an integer"),
    (lambda x: pixcodec.api.encode(x, tile=0), "between 1 and"),
    (lambda x: pixcodec.api.encode(x, effort=True), "effort must be one of"),
])
def test_arguments_pixcodec_does_not_take_are_its_own_errors(call, message):
    """A PixcodecError (so the CLI's one line), also a ValueError and TypeError for callers."""
    with pytest.raises(pixcodec.PixcodecError, match=message) as caught:
        call(np.zeros((3, 4), dtype=np.uint8))
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)


def test_threads_of_a_host_program_can_code_at_once(rng):
    """Coding from several threads gives each the same bytes and leaves the host's torch
    thread count as it was (the count is global: calls take turns)."""
    import threading
    import torch
    pixels = [rng.integers(0, 256, (9, 11, 3), dtype=np.uint8) for _ in range(4)]
    expected = [pixcodec.compress(p) for p in pixels]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        results, restored, errors = [None] * 4, [None] * 4, []

        def work(k):
            # An exception (an assert included) raised in a thread only becomes a warning: each
            # thread keeps what it got, and the test's own thread checks it below.
            try:
                results[k] = pixcodec.compress(pixels[k])
                restored[k] = pixcodec.decompress(results[k])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a coding thread did not finish"
        if errors:
            raise errors[0]
        assert results == expected and torch.get_num_threads() == 2
        for k in range(4):
            assert np.array_equal(restored[k], pixels[k]), f"thread {k}'s round trip"
    finally:
        torch.set_num_threads(before)


def test_many_images_at_once_give_each_its_own_file_and_pixels(rng, tmp_path):
    """encode_many / decode_many: the very files encode writes, the pixels decode gives, for a
    mix of sizes, models, colour types, an adapted image, a palette image and a version 2
    file; small images of one model are coded together."""
    from pixcodec import codec
    photo = np.asarray(Image.open(Path(__file__).parent / "assets" / "kodim23-crop.png")
                       .convert("RGB"))[:48, :40]
    palette = tmp_path / "p.png"
    Image.fromarray(rng.integers(0, 4, (5, 6), dtype=np.uint8), "P").save(palette)
    # Noise of a narrow range, which the model codes in fewer bytes than the samples take
    # (wider noise would be stored: tile modes, test_tile_modes).
    sources = [rng.integers(112, 144, (9, 7, 3), dtype=np.uint8) for _ in range(3)] + [
        rng.integers(112, 144, (6, 5), dtype=np.uint8), photo, palette,
        rng.integers(112, 144, (20, 17, 3), dtype=np.uint8)]
    models = [None, None, "pixelcnn-rgb-v1", None, "logistic-rgb-v7", None, "pixelcnn-rgb-v1"]
    from pixcodec import adapt
    real_fit = adapt.fit

    def fit(net, values, effort, workers=1):  # the photo's fit forced in: too small to pay
        if values.shape[:2] != photo.shape[:2]:
            return real_fit(net, values, effort, workers=workers)
        return adapt.Adaptation(1, 10, tuple(np.ones(s, np.int16)
                                             for s in adapt.parameter_shapes(net, 1)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(adapt, "fit", fit)
        one_by_one = [pixcodec.encode(s, m, tile=8 if k == 6 else None, effort=1)
                      for k, (s, m) in enumerate(zip(sources, models))]
        for model in set(models):
            picked = [k for k, m in enumerate(models) if m == model and k != 6]
            together = pixcodec.encode_many([sources[k] for k in picked], model, effort=1)
            assert [c.data for c in together] == [one_by_one[k].data for k in picked]
    assert container.ADAPT in container.unpack(one_by_one[4].data)[1]
    files = [c.data for c in one_by_one] + [
        (Path(__file__).parent / "assets" / "v2" / "pixelcnn-rgb-v1.pxc").read_bytes()]
    calls = []
    real = codec.decode_tiles
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pixcodec.api, "decode_tiles",
                      lambda net, jobs, *a, **k: calls.append(len(jobs)) or real(net, jobs, *a, **k))
        decoded = pixcodec.decode_many(files)
    assert max(calls) >= 3  # the small RGB files' tiles in one call, side by side
    for data, out in zip(files, decoded):
        assert out.image == pixcodec.decode(data).image
