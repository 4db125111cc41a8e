"""Arguments the Python API does not take raise pixcodec.ArgumentError with a message naming
them, never another exception and never a silent default (issue 38)."""
import math

import numpy as np
import pytest

import pixcodec
from pixcodec.errors import ArgumentError

GRAY = np.arange(12, dtype=np.uint8).reshape(3, 4)


@pytest.fixture(scope="module")
def pxc():
    return pixcodec.compress(GRAY)


@pytest.mark.parametrize("call,fragment", [
    (lambda: pixcodec.encode(GRAY, model=123), "model"),
    (lambda: pixcodec.encode(GRAY, model=b"logistic"), "model"),
    (lambda: pixcodec.compress(GRAY, 3.5), "model"),
    (lambda: pixcodec.encode_many(None), "sources"),
    (lambda: pixcodec.encode_many(GRAY.tobytes()), "sources"),
    (lambda: pixcodec.encode_many("a.png"), "sources"),
    (lambda: pixcodec.decode_many(None), "sources"),
    (lambda: pixcodec.compress(""), "path"),
    (lambda: pixcodec.encode(GRAY, strip="yes"), "strip"),
    (lambda: pixcodec.encode(GRAY, progress=5), "progress"),
])
def test_encoding_arguments(call, fragment):
    with pytest.raises(ArgumentError, match=fragment):
        call()


@pytest.mark.parametrize("limits,fragment", [
    ({"max_pixels": "1e9"}, "max_pixels"),
    ({"max_pixels": float("nan")}, "max_pixels"),
    ({"max_pixels": math.inf}, "max_pixels"),
    ({"max_pixels": 1.5}, "max_pixels"),
    ({"max_pixels": 100.0}, "max_pixels"),
    ({"max_pixels": True}, "max_pixels"),
    ({"max_pixels": -1}, "max_pixels"),
    ({"max_pixels": 0}, "max_pixels"),
    ({"max_metadata": -1}, "max_metadata"),
    ({"max_metadata": float("nan")}, "max_metadata"),
    ({"max_metadata": None}, "max_metadata"),
    ({"models": 7}, "models"),
    ({"models": [None]}, "models"),
])
@pytest.mark.parametrize("decoder", ["decode", "decode_many"])
def test_decoding_limits(pxc, limits, fragment, decoder):
    with pytest.raises(ArgumentError, match=fragment):
        if decoder == "decode":
            pixcodec.decode(pxc, **limits)
        else:
            pixcodec.decode_many([pxc], **limits)


def test_limits_that_are_integers_are_taken(pxc):
    assert pixcodec.decode(pxc, max_pixels=np.int64(12), max_metadata=0).pixels.shape == (3, 4, 1)
    with pytest.raises(pixcodec.PixcodecError, match="exceeds the limit of 11"):
        pixcodec.decode(pxc, max_pixels=11)


@pytest.mark.parametrize("text", [lambda data: data.decode("latin-1"), lambda data: "",
                                  lambda data: "\x00.pxc"])
def test_a_str_is_a_path_not_data(pxc, text):
    with pytest.raises(ArgumentError, match="path"):
        pixcodec.decompress(text(pxc))


def test_readme_python_examples_run_as_written():
    """README's Python block: decode_many takes what encode_many gives (it raised 'not
    Compressed'), decode and decompress too, and compress takes encode's options (effort)."""
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    files = pixcodec.encode_many([GRAY, rgb])
    images = pixcodec.decode_many(files)
    assert np.array_equal(images[0].pixels[:, :, 0], GRAY)
    assert np.array_equal(images[1].pixels, rgb)
    assert np.array_equal(pixcodec.decompress(files[1]), rgb)
    assert np.array_equal(pixcodec.decode(files[0]).pixels[:, :, 0], GRAY)
    plain = pixcodec.compress(rgb, effort=0)
    assert plain == pixcodec.encode(rgb, effort=0).data
    assert np.array_equal(pixcodec.decompress(plain), rgb)
    with pytest.raises(ArgumentError, match="effort"):
        pixcodec.compress(rgb, effort=3)
