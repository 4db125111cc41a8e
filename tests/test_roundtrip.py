"""Bit-exact round trips with the shipped models through the public API."""
import io

import numpy as np
import pytest
from PIL import Image

import pixcodec
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
