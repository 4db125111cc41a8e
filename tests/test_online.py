"""The online stage of coder 4 (pixcodec/engine/online.py): the encoder's pass and the decoder's
walk give every symbol the same distribution, in any arrangement of tiles, rounds and
processes; no symbol ever loses its probability, whatever the stage has learned."""
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pixcodec
from pixcodec import codec, zoo
from pixcodec.engine import coding, mixture, online, rans

from conftest import model_plane

ASSETS = Path(__file__).parent / "assets"
MODEL = "logistic-rgb-int8-v1"


@pytest.fixture(scope="module")
def net():
    return zoo.load_model(MODEL)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.array(Image.open(ASSETS / "kodim23-crop.png").convert("RGB"))


def test_tiles_round_trip_through_the_online_stage(net, photo):
    """Tiles coded alone decode side by side in one round and alone, exactly, each stream
    ending where its encoder began; read without the stage (coder 3), they do not."""
    tiles = [photo[:40, :56], photo[100:123, 7:24], photo[50:90, 200:202]]  # the last narrower
    sizes = [t.shape[:2] for t in tiles]                                   # than the slope
    coded = [coding.encode_tile(net, t, online.CODER_ID) for t in tiles]
    for data, bits in coded:
        assert len(data) <= bits / 8 * 1.005 + 8
    decoded, ok = coding.decode_round(net, [d for d, _ in coded], sizes, coder=online.CODER_ID)
    assert ok.all()
    for tile, back in zip(tiles, decoded):
        np.testing.assert_array_equal(back, tile)
    for (data, _), tile in zip(coded, tiles):
        alone, ok = coding.decode_round(net, [data], [tile.shape[:2]], coder=online.CODER_ID)
        assert ok[0]
        np.testing.assert_array_equal(alone[0], tile)
    without, ok = coding.decode_round(net, [d for d, _ in coded], sizes, coder=rans.CODER_ID)
    assert not all(k and np.array_equal(b, t) for k, b, t in zip(ok, without, tiles))


def test_the_stage_makes_a_photo_smaller(net, photo):
    """Its corrections pay on the demo crop (the lever was chosen on held-out photos:
    docs/TRAINING.md, "The online stage")."""
    _, with_stage = coding.encode_tile(net, photo, online.CODER_ID)
    _, without = coding.encode_tile(net, photo, rans.CODER_ID)
    assert with_stage < 0.995 * without


def test_the_encoders_pass_is_what_pixel_bits_and_the_stream_measure(net, photo):
    tile = photo[:48, :40]
    data, bits = coding.encode_tile(net, tile, online.CODER_ID)
    assert coding.pixel_bits(net, tile[None], online.CODER_ID).sum() == pytest.approx(bits)
    assert len(data) <= bits / 8 * 1.005 + 8


def test_every_symbol_keeps_a_probability_whatever_the_stage_has_learned():
    """The state at the bounds its decaying sums can reach (errors of +-255 levels and more
    for 256 subpixels, counts from 0 to their limit, slopes as steep as they come), under the
    sharpest and widest mixtures: every symbol's interval is at least 1 wide, and the CDF
    spans exactly 2**24."""
    rng = np.random.default_rng(3)
    table = mixture.inverse_scale_table()
    k = 5
    errors, bias, slope, scale = state = online.new_state(1, 3, 3, 3)
    biggest = 2**33  # 2**8 subpixels of the largest errors (2**23 beyond the means' clamp)
    out_means, out_inv = np.empty((2, k), np.int64)
    context = np.empty(online.CONTEXT_SIZE, np.int64)
    normalised = np.empty(k, np.int64)
    for trial in range(300):
        errors[...] = rng.choice([-2**23, 0, 2**23], errors.shape)
        bias[..., 0] = rng.choice([-biggest, 0, biggest], bias.shape[:-1])
        bias[..., 1] = rng.choice([0, 1, online.ONE << online.DECAY_SHIFT], bias.shape[:-1])
        scale[..., 0] = rng.choice([0, biggest], scale.shape[:-1])
        scale[..., 1] = rng.choice([0, biggest], scale.shape[:-1])
        slope[..., 0] = rng.choice([-2**38, 0, 2**38], slope.shape[:-1])  # 2**8 products of
        slope[..., 1] = rng.choice([0, 1, 2**38], slope.shape[:-1])       # errors' 2**15 units
        means = rng.choice([-2**22, -2**19, 0, 2**19, 2**22], k).astype(np.int64)
        inv_scales = table[rng.choice([0, len(table) // 2, len(table) - 1], k)]
        if trial % 2:  # one sharp peak: the smallest spread, the steepest slopes
            means[:] = means[0]
            inv_scales[:] = table[0]
        mixture.normalised_weights(rng.integers(0, 2**32, k).astype(np.int64), normalised)
        online.corrected(state, 0, rng.integers(0, 3), rng.integers(0, 3), rng.integers(0, 3),
                         means, inv_scales, normalised, out_means, out_inv, context)
        for mean, inv in zip(out_means.tolist(), out_inv.tolist()):  # the CDF's int64 product
            assert max(abs((2 * j - 257) * mixture.EDGE_UNIT - mean) for j in (1, 255)) * inv \
                < 2**62
        edges = [mixture.coding_cdf(j, out_means, out_inv, normalised) for j in range(257)]
        assert edges[0] == 0 and edges[256] == 1 << mixture.CODE_BITS
        assert min(np.diff(edges)) >= 1


def test_a_file_decodes_the_same_in_one_or_two_processes_and_any_rounds(photo, monkeypatch):
    image = photo[:72, :88]  # 9 tiles of 32, the last column's 24 wide
    data = pixcodec.encode(image, MODEL, tile=32).data
    plane = model_plane(data)
    assert plane.coder == online.CODER_ID and len(plane.streams) == 9
    for threads in (1, 2):
        np.testing.assert_array_equal(pixcodec.decode(data, threads=threads).pixels, image)
    monkeypatch.setattr(codec, "ROUND_PIXELS", 2 * 32 * 32)  # rounds of two tiles
    np.testing.assert_array_equal(pixcodec.decode(data).pixels, image)


def test_the_integer_square_root_is_exact():
    values = [0, 1, 2, 3, 4, 15, 16, 17, 2**36, 2**38 - 1] + list(
        np.random.default_rng(5).integers(0, 2**38, 2000))
    for n in values:
        root = online._isqrt(int(n))
        assert root * root <= n < (root + 1) ** 2


def _stage_as_written(tile, means, inv_scales, weights, order):
    """docs/FORMAT.md's "The online stage", rule by rule, in Python's integers: each symbol's
    corrected (means, inverse scales) in the stream's order."""
    height, width, colours = tile.shape
    errors = {}
    sums = {}  # (table, context) -> [first, second]

    def table(name, context):
        return sums.setdefault((name, context), [0, 0])

    corrected = []
    for y, x, c in zip(*order):
        at = y * width + x
        mu, v = [int(m) for m in means[c, at]], [int(i) for i in inv_scales[c, at]]
        w = [int(n) for n in mixture_weights(weights[c, at])]
        expected = sum(wk * mk for wk, mk in zip(w, mu)) >> 16
        variance = sum(wk * (((mk - expected) >> 6) ** 2 + (((2**25 // vk) ** 2 * 842) >> 8))
                       for wk, mk, vk in zip(w, mu, v) if wk > 0)
        spread = max(math.isqrt(variance >> 16) * 64, 1)
        west, north = errors.get((y, x - 1, c), 0), errors.get((y - 1, x, c), 0)
        activity = abs(west) + abs(north) + ((abs(errors.get((y - 1, x - 1, c), 0))
                                              + abs(errors.get((y - 1, x + 1, c), 0))) >> 1)
        previous = errors.get((y, x, c - 1), 0)
        b = next((k for k in range(8) if spread <= 3 * 2**10 * 2**k), 7)
        a = next((k for k in range(6) if 2 * activity <= spread * 2**k), 5)
        z = 0 if 2 * abs(previous) < spread else (1 if 2 * abs(previous) < 3 * spread else 2)
        bias = table("bias", (c * 8 + b) * 9 + 3 * _sign(west, spread) + _sign(north, spread))
        slope = table("slope", c * 8 + b)
        scale = table("scale", ((c * 8 + b) * 6 + a) * 3 + z)
        shift = (bias[0] * 2**8) // (bias[1] + 128 * 2**8)
        if c > 0:
            p, s = previous >> 8, spread >> 8
            shift += ((p * slope[0]) // (slope[1] + 64 * s * s + 1)) * 2**8
        shift = min(max(shift, -2**20), 2**20)
        r0 = 16 * ((spread * 196) >> 8)
        ratio = min(max(((scale[0] + r0) * 2**8) // (scale[1] + r0), 154), 410)
        u = 2**40 // ratio
        corrected.append(([mk + shift for mk in mu],
                          [max((vk * u) >> 32, 1) if wk > 0 else vk for wk, vk in zip(w, v)]))
        e = (int(tile[y, x, c]) - 128) * 2**12 - expected
        errors[(y, x, c)] = e
        bias[0] += e - (bias[0] >> 8)
        bias[1] += 2**8 - (bias[1] >> 8)
        scale[0] += abs(e) - (scale[0] >> 8)
        scale[1] += ((spread * 196) >> 8) - (scale[1] >> 8)
        if c > 0:
            slope[0] += p * (e >> 8) - (slope[0] >> 8)
            slope[1] += p * p - (slope[1] >> 8)
    return corrected


def _sign(error, spread):
    return 0 if 2 * abs(error) < spread else (1 if error > 0 else 2)


def mixture_weights(weights):
    normalised = np.empty(len(weights), np.int64)
    mixture.normalised_weights(np.ascontiguousarray(weights, dtype=np.int64), normalised)
    return normalised


def test_the_stage_is_what_docs_format_says(net, photo):
    """An independent reading of the format's rules gives every symbol the coder's interval."""
    from pixcodec.engine.wavefront import stream_order

    tile = np.ascontiguousarray(photo[120:140, 30:47])
    height, width, colours = tile.shape
    mix = net.mixture(tile[None])
    pixels = tile.reshape(-1, colours).astype(np.int64)
    inputs = [mix.coder_inputs(c, pixels[:, :c]) for c in range(colours)]
    means, inv_scales, weights = (np.stack(arrays) for arrays in zip(*inputs))
    order = stream_order(height, width, colours, net.wavefront_slope())
    starts, sizes = coding.intervals(net, tile, online.CODER_ID)
    for n, (mu, v) in enumerate(_stage_as_written(tile, means, inv_scales, weights, order)):
        y, x, c = (int(a[n]) for a in order)
        w = mixture_weights(weights[c, y * width + x])
        mu, v = np.array(mu, np.int64), np.array(v, np.int64)
        symbol = int(tile[y, x, c])
        low = mixture.coding_cdf(symbol, mu, v, w)
        assert (low, mixture.coding_cdf(symbol + 1, mu, v, w) - low) == (starts[n], sizes[n])
