"""synthetic-v1 (issue 37): the same images from the same seeds, a built-in set of `pixcodec
bench` that needs no data root, and pixcodec's files no larger than Pillow's smallest PNG nor
than WebP lossless's on its screenshots, text and charts."""
import io

import numpy as np
import pytest
from PIL import Image

import pixcodec
from pixcodec import synthetic
from pixcodec.bench import CLASSIC_CODECS
from pixcodec.data import BUILTIN_SETS, open_image_set


def test_the_set_is_made_the_same_every_time_and_opens_without_a_data_root():
    assert synthetic.NAME in BUILTIN_SETS
    images = open_image_set(synthetic.NAME)
    assert images.size == len(synthetic.IMAGES) >= 8
    first = [images.read(k) for k in range(images.size)]
    again = [images.read(k) for k in range(images.size)]
    for a, b in zip(first, again):
        assert a.name == b.name and a.mode == b.mode and np.array_equal(a.pixels, b.pixels)
        assert a.pixels.dtype == np.uint8 and a.pixels.shape[2] == (1 if a.mode == "L" else 3)
    assert len({a.pixels.tobytes() for a in first}) == len(first)  # no two alike


@pytest.mark.parametrize("name", ["bar-chart", "pixel-art", "document"])
def test_screenshots_and_charts_code_no_larger_than_png_and_about_webp(name):
    pixels, mode = synthetic.make(name)
    data = pixcodec.encode(pixels, "logistic-rgb-int8-v1").data
    optimized = io.BytesIO()
    Image.fromarray(pixels).save(optimized, format="PNG", optimize=True)
    webp = CLASSIC_CODECS["webp lossless (method 6, quality 100)"].encode(pixels, mode)
    assert len(data) < len(optimized.getvalue())
    assert len(data) <= len(webp) + 64  # WebP's own file, in pixcodec's header and tile table
    assert np.array_equal(pixcodec.decompress(data), pixels)
