"""Which model codes an image: defaults per colour mode, aliases, binary models for 1-bit
images, and every architecture through the public API."""
import io

import numpy as np
import pytest
from PIL import Image

import pixcodec
from pixcodec import zoo
from pixcodec.errors import ModelError

from conftest import SHIPPED, add_network, random_net


def one_bit_png(pixels01: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels01 * np.uint8(255)).convert("1", dither=Image.Dither.NONE).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def zoo_with_more(weights_dir):
    """The shipped gray model, a binary PixelCNN (default for 1-bit images), and small Row LSTM
    and Diagonal BiLSTM gray models under the aliases row_lstm and diag_bilstm."""
    add_network(weights_dir, "binary-test", random_net("pixelcnn", 1, levels=2), "pixelcnn",
                default_for="1", aliases=["pixelcnn"])
    for cell in ("row_lstm", "diag_bilstm"):
        add_network(weights_dir, f"{cell}-gray-test", random_net(cell, 1), "pixelrnn",
                    aliases=[cell])
    return weights_dir


def test_one_bit_images_use_the_binary_model(zoo_with_more, rng):
    pixels = rng.integers(0, 2, (9, 11), dtype=np.uint8)
    result = pixcodec.encode(one_bit_png(pixels))
    assert result.model == "binary-test"
    assert np.array_equal(pixcodec.decompress(result.data), pixels)
    # The 8-bit gray model still codes them when asked, on values 0/255.
    gray = pixcodec.encode(one_bit_png(pixels), SHIPPED)
    assert gray.model == SHIPPED and np.array_equal(pixcodec.decompress(gray.data), pixels)


def test_a_binary_model_refuses_8_bit_images(zoo_with_more, rng):
    with pytest.raises(ModelError, match="codes 1-bit images, not L images"):
        pixcodec.compress(rng.integers(0, 256, (4, 4), dtype=np.uint8), "binary-test")


@pytest.mark.parametrize("alias", ["row_lstm", "diag_bilstm"])
def test_aliases_pick_the_model_of_that_kind(zoo_with_more, alias, rng):
    pixels = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    result = pixcodec.encode(pixels, alias)
    assert result.model == f"{alias}-gray-test"
    assert np.array_equal(pixcodec.decompress(result.data), pixels)
    with pytest.raises(ModelError, match=f"no '{alias}' model for RGB images"):
        pixcodec.compress(rng.integers(0, 256, (3, 3, 3), dtype=np.uint8), alias)


def test_an_alias_picks_the_binary_model_for_1_bit_images_before_the_gray_one(zoo_with_more):
    """Both are `pixelcnn`s that code 1-bit images; the gray one comes first in the manifest."""
    assert list(zoo.manifest())[0] == SHIPPED and "pixelcnn" in zoo.model_info(SHIPPED).aliases
    assert zoo.resolve_model("pixelcnn", "1") == "binary-test"
    assert zoo.resolve_model("pixelcnn", "L") == SHIPPED


@pytest.mark.parametrize("entry,message", [
    (dict(default_for="L"), "several default L models"),
    (dict(aliases=["row_lstm"]), "alias 'row_lstm' names several L models")])
def test_a_manifest_that_makes_a_name_ambiguous_is_refused(zoo_with_more, entry, message):
    add_network(zoo_with_more, "another-gray", random_net("pixelcnn", 1), "pixelcnn", **entry)
    zoo.clear_caches()
    with pytest.raises(ModelError, match=message):
        zoo.default_model("L")


def test_a_multi_scale_model_codes_what_its_config_says(weights_dir, rng):
    """A multi-scale config nests its networks' fields: colours and levels come from them."""
    add_network(weights_dir, "multiscale-binary-test", random_net("multiscale", 1, levels=2),
                "multiscale", aliases=["multiscale"])
    info = zoo.model_info("multiscale-binary-test")
    assert (info.colours, info.levels) == (1, 2)
    pixels = rng.integers(0, 2, (6, 5), dtype=np.uint8)
    result = pixcodec.encode(one_bit_png(pixels), "multiscale")
    assert result.model == "multiscale-binary-test"
    assert np.array_equal(pixcodec.decompress(result.data), pixels)


def test_without_a_binary_model_one_bit_images_fall_back_to_gray(weights_dir):
    assert zoo.default_model("1") == SHIPPED


def test_every_network_is_checked_against_the_exact_arithmetic_bound():
    """Every preset fits; a Row LSTM wide enough to overflow float64's exact sums (h = 911
    would, through its input-to-state and state-to-state sum) is refused when it is built."""
    from pixcodec.nets.presets import PRESETS, build, make_network
    for name in PRESETS:
        build(name)
    with pytest.raises(ValueError, match="too wide for the exact arithmetic"):
        make_network("pixelrnn", dict(cell="row_lstm", colours=3, hidden=911, layers=1,
                                      out_features=32))
