"""The encoder's tile side for the online stage (pixcodec.tilechoice.tile_side): larger tiles
where a two-thread decode stays as fast, chosen from the image's size alone."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pixcodec
from pixcodec import tilechoice
from pixcodec.coder import ENGINE_ONLINE, ENGINE_RANS, TRIMMED
from pixcodec.sections import model_plane_of

ASSETS = Path(__file__).parent / "assets"


@pytest.mark.parametrize("height, width, side", [
    (265, 110, 320), (110, 265, 320),  # one tile of 320 decodes as fast as 256 + 9 rows
    (937, 1250, 384), (897, 1302, 384), (1080, 1920, 512), (4000, 3000, 512),
    (512, 768, 256), (768, 512, 256),  # a Kodak photo: 384 would give 4 of 8 threads work
    (321, 481, 256), (481, 321, 256),  # BSD68's: 384 would leave one thread 123,264 pixels
    (256, 256, 256), (16, 16, 256), (200, 300, 256)])  # one tile: the model's own side
def test_the_online_stage_gets_larger_tiles_where_the_decode_stays_as_fast(height, width,
                                                                           side):
    assert tilechoice.tile_side(height, width, 256, ENGINE_ONLINE) == side


@pytest.mark.parametrize("coder", [ENGINE_RANS, TRIMMED])
def test_coders_without_the_online_stage_keep_the_models_side(coder):
    assert tilechoice.tile_side(512, 768, 256, coder) == 256
    assert tilechoice.tile_side(4000, 3000, 64, coder) == 64


def test_the_busiest_thread_never_gets_much_more_than_at_the_models_side():
    rng = np.random.default_rng(5)
    for height, width in rng.integers(1, 3000, (200, 2)):
        side = tilechoice.tile_side(int(height), int(width), 256, ENGINE_ONLINE)
        assert 256 <= side <= tilechoice.LARGEST_ONLINE_TILE and side % 64 == 0
        for threads in (2, 4, 8):
            assert (tilechoice._busiest_thread_pixels(height, width, side, threads)
                    <= tilechoice.SLOWER_DECODE
                    * tilechoice._busiest_thread_pixels(height, width, 256, threads))


def test_a_model_tile_above_the_largest_is_kept():
    assert tilechoice.tile_side(2000, 3000, 640, ENGINE_ONLINE) == 640


def test_photos_get_the_larger_side_and_screenshots_the_models():
    photo, screenshot = np.zeros((1080, 1920, 3), np.uint8), np.zeros((1080, 1920, 3), np.uint8)
    assert tilechoice.default_tile(photo, 256, ENGINE_ONLINE, photographic=True) == 512
    assert tilechoice.default_tile(screenshot, 256, ENGINE_ONLINE, photographic=False) == 256


def test_a_photo_is_coded_in_the_chosen_tiles_unless_told():
    crop = np.asarray(Image.open(ASSETS / "kodim23-crop.png"))
    photo = np.ascontiguousarray(np.concatenate([crop[:, :110], crop[8::-1, :110]], 0))
    assert photo.shape == (265, 110, 3)
    data = pixcodec.encode(photo, threads=2).data
    assert model_plane_of(data).tile == 320
    assert np.array_equal(pixcodec.decompress(data), photo)
    assert model_plane_of(pixcodec.encode(photo, tile=256).data).tile == 256
