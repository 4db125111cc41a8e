"""The orientation a plane is coded in: the encoder picks the cheapest of eight, the file records
it, every one of them decodes exactly (one tile or many, alone or beside other files)."""
import numpy as np
import pytest
import torch

import pixcodec
from pixcodec import adapt, bits, container, orientation, zoo
from pixcodec.errors import FormatError
from pixcodec.likelihood import coded_pixel_bits
from pixcodec.scheduling import coding_threads
from pixcodec.sections import ModelPlane, pack_model_plane, pack_model_plane_v2

from conftest import model_plane, photo_pixels


# docs/FORMAT.md's rule worked by hand on [[1, 2, 3], [4, 5, 6]]: transpose (bit 2), then
# mirror left-right (bit 0), then upside down (bit 1).
BY_HAND = {0: [[1, 2, 3], [4, 5, 6]], 1: [[3, 2, 1], [6, 5, 4]], 2: [[4, 5, 6], [1, 2, 3]],
           3: [[6, 5, 4], [3, 2, 1]], 4: [[1, 4], [2, 5], [3, 6]], 5: [[4, 1], [5, 2], [6, 3]],
           6: [[3, 6], [2, 5], [1, 4]], 7: [[6, 3], [5, 2], [4, 1]]}


def test_each_orientation_is_the_format_s_and_restored_undoes_it(rng):
    small = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)[:, :, None]
    for turn, expected in BY_HAND.items():
        assert orientation.oriented(small, turn)[:, :, 0].tolist() == expected
    plane = rng.integers(0, 256, (3, 5, 2), dtype=np.uint8)
    for turn in orientation.ORIENTATIONS:
        coded = orientation.oriented(plane, turn)
        assert coded.shape[:2] == orientation.coded_size(3, 5, turn)
        assert np.array_equal(orientation.restored(coded, turn), plane)


def test_the_encoder_codes_in_the_orientation_the_float_model_finds_cheapest(logistic_zoo):
    pixels = photo_pixels()
    net = zoo.load_model("logistic-test")
    with coding_threads(), torch.no_grad():  # as the encoder judges them
        costs = []
        for turn in orientation.ORIENTATIONS:
            x = torch.from_numpy(orientation.oriented(pixels, turn).copy()).permute(2, 0, 1)[None]
            costs.append(float(net.loss(net(x), x)))
    assert len(set(costs)) == 8  # a real choice
    cheapest = int(np.argmin(costs))
    assert adapt.choose_orientation(net, pixels, 1) == cheapest
    assert adapt.choose_orientation(net, pixels, 0) == orientation.AS_IS
    coded = pixcodec.encode(pixels, "logistic-test", effort=1)
    assert model_plane(coded.data).orientation == cheapest
    assert np.array_equal(pixcodec.decompress(coded.data), pixels)
    assert model_plane(pixcodec.encode(pixels, "logistic-test", effort=0).data).orientation == 0


def test_the_orientation_is_judged_on_the_middle_window(logistic_zoo, monkeypatch):
    pixels = photo_pixels()                                   # 32 x 40
    window = adapt.middle_window(pixels, 20 * 20)
    assert np.array_equal(window, pixels[6:26, 10:30])
    assert adapt.middle_window(pixels, 1000).shape[:2] == (31, 31)
    assert adapt.middle_window(pixels, 1200).shape[:2] == (32, 37)  # as square as it goes
    net = zoo.load_model("logistic-test")
    monkeypatch.setattr(adapt, "ORIENTATION_WINDOW", 20 * 20)
    seen = []
    monkeypatch.setattr(adapt, "oriented", lambda plane, turn: seen.append(plane.shape)
                        or orientation.oriented(plane, turn))
    adapt.choose_orientation(net, pixels, 2)
    assert seen == [(20, 20, 3)] * 8


@pytest.mark.parametrize("tile", [None, 16])
def test_every_orientation_decodes_exactly(logistic_zoo, monkeypatch, tile):
    pixels = photo_pixels()
    files = []
    for turn in orientation.ORIENTATIONS:
        monkeypatch.setattr(adapt, "choose_orientation",
                            lambda net, values, effort, workers=1: turn)
        coded = pixcodec.encode(pixels, "logistic-test", tile=tile, effort=2)
        plane = model_plane(coded.data)
        assert plane.orientation == turn
        assert len(plane.streams) == (1 if tile is None else 6)  # 32 x 40 in tiles of 16
        assert np.array_equal(pixcodec.decompress(coded.data), pixels)
        files.append(plane.streams)
    assert len(set(files)) == 8  # eight different codings of the same pixels


def test_oriented_files_decode_side_by_side(logistic_zoo, monkeypatch):
    pixels = photo_pixels()
    files = []
    for turn in (0, 4, 5, 3):
        monkeypatch.setattr(adapt, "choose_orientation",
                            lambda net, values, effort, workers=1: turn)
        files.append(pixcodec.encode(pixels[:, :24 + turn], "logistic-test", tile=16,
                                     effort=0).data)
    results = pixcodec.decode_many(files)
    for turn, result in zip((0, 4, 5, 3), results):
        assert np.array_equal(result.pixels, pixels[:, :24 + turn])


def test_the_bits_map_is_drawn_as_the_image_stands(logistic_zoo, monkeypatch):
    pixels = photo_pixels()
    monkeypatch.setattr(adapt, "choose_orientation", lambda net, values, effort, workers=1: 5)
    result = bits.bits_map(pixels, "logistic-test", effort=1)
    coded = pixcodec.encode(pixels, "logistic-test", effort=1)
    assert model_plane(coded.data).orientation == 5
    assert result.bits.sum() == pytest.approx(coded.nll_bits, rel=1e-12)
    # orientation 5 by hand: transposed, then mirrored left-right; so its map is turned back
    # by mirroring left-right, then transposing
    monkeypatch.setattr(adapt, "fit", lambda net, values, effort, workers=1: None)
    turned = pixels.transpose(1, 0, 2)[:, ::-1]
    as_coded = coded_pixel_bits(zoo.load_model("logistic-test"), np.ascontiguousarray(turned),
                                zoo.model_info("logistic-test").coding_tile)
    assert np.array_equal(bits.bits_map(pixels, "logistic-test", effort=1).bits,
                          as_coded[:, ::-1].T)


def test_turned_images_encode_together_as_one_by_one(logistic_zoo, monkeypatch):
    photo = photo_pixels()
    images = [photo[:, :24 + k] for k in range(4)]
    monkeypatch.setattr(adapt, "choose_orientation",
                        lambda net, values, effort, workers=1: (0, 4, 5, 3)[values.shape[1] - 24])
    together = pixcodec.encode_many(images, "logistic-test", tile=16, effort=0)
    assert [model_plane(c.data).orientation for c in together] == [0, 4, 5, 3]
    assert [c.data for c in together] == [pixcodec.encode(image, "logistic-test", tile=16,
                                                          effort=0).data for image in images]


def test_a_coder_byte_with_bit_7_set_is_refused(logistic_zoo, monkeypatch):
    pixels = photo_pixels()
    colours = []
    for turn in (0, 6):
        monkeypatch.setattr(adapt, "choose_orientation",
                            lambda net, values, effort, workers=1: turn)
        header, sections = container.unpack(pixcodec.encode(pixels, "logistic-test",
                                                            effort=0).data)
        colours.append(sections[container.COLOUR])
    at = next(k for k, (a, b) in enumerate(zip(*colours)) if a != b)
    assert (colours[0][at], colours[1][at]) == (0x02, 0x62)  # coder 2; orientation 0 and 6
    for byte, message in [(0x80 | 0x62, "invalid coder byte"), (0x65, "unknown entropy coder")]:
        damaged = dict(sections)
        damaged[container.COLOUR] = colours[1][:at] + bytes([byte]) + colours[1][at + 1:]
        with pytest.raises(FormatError, match=message):
            pixcodec.decompress(container.pack(header, damaged))


def test_the_writer_refuses_what_the_byte_cannot_hold():
    plane = ModelPlane("m", bytes(32), 2, 16, (b"",), orientation=8)
    with pytest.raises(ValueError):
        pack_model_plane(plane)
    with pytest.raises(ValueError):
        pack_model_plane_v2(ModelPlane("m", bytes(32), 2, 16, (b"",),
                                                           orientation=1))
