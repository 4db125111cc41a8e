"""The integer engine (pixcodec.engine): a quantized network's integers are the same in the
encoder's parallel pass and the decoder's stepper, and on two kernel paths; they stand for the
network that was trained (its float NLL); no symbol gets zero probability."""
import numpy as np
import pytest
import torch

from pixcodec.engine import coding, vnni
from pixcodec.engine.network import IntegerLogisticPixelCNN
from pixcodec.engine.wavefront import wavefront_steps
from pixcodec.nets.logistic_pixelcnn import LogisticPixelCNN, LogisticPixelCNNConfig
from pixcodec.nets.quantized import calibrate, integer_parameters, multiplier_and_shift

CONFIG = dict(colours=3, hidden=8, blocks=2, out_features=16, components=3, predictor=5,
              edge_predictor=True, gap_predictor=True, quantized=True)


def smooth_images(rng, count: int, height: int, width: int) -> np.ndarray:
    """Images (count, H, W, 3) uint8 with photo-like local correlation and some saturation."""
    noise = rng.normal(0, 1, (count, height + 8, width + 8, 3))
    kernel = np.ones(5) / 5
    for axis in (1, 2):
        noise = np.apply_along_axis(np.convolve, axis, noise, kernel, mode="same")
    images = 128 + 160 * noise[:, 4:-4, 4:-4]
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def quantized_net(seed: int, config: dict = CONFIG) -> LogisticPixelCNN:
    """A quantized network with every part live (the predictors start at zero when built)."""
    torch.manual_seed(seed)
    net = LogisticPixelCNN(LogisticPixelCNNConfig(**config))
    with torch.no_grad():
        for layer in (net.predictor, net.edge, net.gap):
            layer.weight.normal_(0, 0.05)
    rng = np.random.default_rng(seed)
    calibrate(net, torch.from_numpy(smooth_images(rng, 4, 16, 16)).permute(0, 3, 1, 2))
    return net.eval()


def engine_of(net: LogisticPixelCNN, **options) -> IntegerLogisticPixelCNN:
    return IntegerLogisticPixelCNN(net.config.to_dict(), integer_parameters(net), **options)


def stepped_tables(engine: IntegerLogisticPixelCNN, tiles: list[np.ndarray]) -> list[np.ndarray]:
    """Each tile's tables (H, W, C, 256) from the stepper, the tiles side by side in one round
    (as the decoder codes them), the symbols revealed as it goes."""
    stepper = engine.stepper([t.shape[:2] for t in tiles])
    out = [np.zeros(t.shape + (256,), dtype=np.int64) for t in tiles]
    for tile, row, col in stepper.steps():
        stepper.at(tile, row, col)
        for colour in range(engine.colours):
            table = stepper.table(colour)
            symbols = np.array([tiles[t][r, c, colour] for t, r, c in zip(tile, row, col)])
            for n, (t, r, c) in enumerate(zip(tile, row, col)):
                out[t][r, c, colour] = table[n]
            stepper.reveal(colour, symbols)
    return out


def bits_per_subpixel(tables: np.ndarray, image: np.ndarray) -> float:
    weights = tables.reshape(-1, 256).astype(np.float64)
    symbols = image.reshape(-1)
    picked = weights[np.arange(len(symbols)), symbols]
    return float(np.mean(np.log2(weights.sum(axis=1)) - np.log2(picked)))


@pytest.mark.parametrize("seed", [0, 1])
def test_stepper_equals_the_parallel_pass_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    net = quantized_net(seed)
    engine = engine_of(net)
    # a round of tiles of different sizes: the smaller ones' edges read zeros, as alone; then a
    # round of tiles narrower than the wavefront's slope, which leaves steps without positions
    rounds = [[smooth_images(rng, 1, 12, 17)[0], smooth_images(rng, 1, 9, 6)[0],
               smooth_images(rng, 1, 8, 2)[0]],
              [smooth_images(rng, 1, 8, 2)[0], smooth_images(rng, 1, 5, 3)[0]]]
    slope = engine.wavefront_slope()
    assert wavefront_steps([(8, 2), (5, 3)], slope) < 3 + slope * 7  # the span of its steps
    for tiles in rounds:
        stepped = stepped_tables(engine, tiles)
        for tile, tables in zip(tiles, stepped):
            np.testing.assert_array_equal(tables, engine.tables(tile[None])[0])


def test_two_kernel_paths_give_the_same_integers():
    """float32 BLAS (exact below 2**24) and float64 BLAS for every product: the same tables."""
    rng = np.random.default_rng(2)
    net = quantized_net(2)
    image = smooth_images(rng, 2, 10, 11)
    fast = engine_of(net, use_vnni=False)
    wide = engine_of(net, float64_sums=True)
    assert any(layer.matrix.dtype == np.float32 for layer in fast.spatial)
    assert all(layer.matrix.dtype == np.float64 for layer in wide.spatial)
    np.testing.assert_array_equal(fast.tables(image), wide.tables(image))


def test_the_parallel_pass_gives_the_same_integers_whatever_its_bands(monkeypatch):
    """The encoder's pass runs a round band by band of rows (PASS_POSITIONS, a speed setting):
    one row a band, a few, or the whole tile, the same tables."""
    from pixcodec.engine import network
    rng = np.random.default_rng(3)
    engine = engine_of(quantized_net(3))
    tiles = smooth_images(rng, 2, 13, 9)
    by_band = {}
    for positions in (1, 40, 10**6):  # 1 and 2 rows of the two tiles, then all 13 rows
        monkeypatch.setattr(network, "PASS_POSITIONS", positions)
        by_band[positions] = engine.tables(tiles)
    np.testing.assert_array_equal(by_band[1], by_band[10**6])
    np.testing.assert_array_equal(by_band[40], by_band[10**6])


needs_vnni = pytest.mark.skipif(not vnni.AVAILABLE, reason="this CPU has no AVX-512 VNNI")


@needs_vnni
@pytest.mark.parametrize("rows", [1, 3, 4, 9, 13, 21])
@pytest.mark.parametrize("outputs", [16, 32, 48])
def test_the_dot_product_unit_gives_the_exact_sums(rows, outputs):
    """uint8 times int8 on the instruction, against int64 numpy: any number of positions (the
    kernel runs eight at a time, then four, then one) and of blocks of 16 outputs (two at a
    time, then one), the extremes (255 x -128, 255 x 127)."""
    rng = np.random.default_rng(rows)
    x = rng.integers(0, 256, (rows, 40)).astype(np.uint8)
    weights = rng.integers(-128, 128, (40, outputs)).astype(np.int8)
    x[0], weights[:, 0], weights[:, -1] = 255, -128, 127
    out = np.empty((rows, outputs), np.int32)
    vnni.product(x, vnni.pack(weights), outputs, out)
    np.testing.assert_array_equal(out, x.astype(np.int64) @ weights.astype(np.int64))


@needs_vnni
@pytest.mark.parametrize("rows", [1, 3, 4, 9, 13])
def test_the_dot_product_unit_gives_the_exact_wide_sums(rows):
    """8-bit codes as int16 times 16-bit weights on the instruction, against int64 numpy: the
    largest sums the output layer's bound allows (255 x +-32767 over every input), outputs
    padded to blocks of 16, and a layer whose sums could wrap around is not taken."""
    rng = np.random.default_rng(rows)
    x = rng.integers(0, 256, (rows, 96)).astype(np.int16)
    weights = rng.integers(-32767, 32768, (96, 50)).astype(np.float64)
    x[0], weights[:, 0], weights[:, 1] = 255, 32767, -32767
    assert vnni.fits_wide(weights)
    out = np.empty((rows, vnni.padded(50)), np.int32)
    vnni.product_wide(x, vnni.pack_wide(weights), vnni.padded(50), out)
    np.testing.assert_array_equal(out[:, :50], x.astype(np.int64) @ weights.astype(np.int64))
    assert not vnni.fits_wide(np.full((258, 16), 32767.0))  # 258 x 255 x 32767 > 2**31


@needs_vnni
def test_the_dot_product_unit_and_blas_give_the_same_tables():
    """The blocks and the output layer on the CPU's dot-product unit (uint8 codes and caches,
    packed weights) and in BLAS, in the parallel pass and the stepper: the same tables."""
    rng = np.random.default_rng(4)
    net = quantized_net(4, {**CONFIG, "hidden": 16, "out_features": 32})
    on_unit, blas = engine_of(net), engine_of(net, use_vnni=False)
    assert on_unit.code_dtype == np.uint8 and blas.code_dtype == np.float32
    assert on_unit.params_arrays[0].dtype == np.int16  # the output layer there too
    tiles = [smooth_images(rng, 1, 12, 17)[0], smooth_images(rng, 1, 9, 6)[0]]
    for tile, stepped in zip(tiles, stepped_tables(on_unit, tiles)):
        expected = blas.tables(tile[None])[0]
        np.testing.assert_array_equal(on_unit.tables(tile[None])[0], expected)
        np.testing.assert_array_equal(stepped, expected)


def test_the_integers_stand_for_the_trained_network():
    """The engine's NLL is the quantization-aware float network's within rounding (a wrong grid,
    tap or shift anywhere costs far more), and every symbol keeps a nonzero probability."""
    rng = np.random.default_rng(3)
    net = quantized_net(3)
    image = smooth_images(rng, 2, 16, 16)
    tables = engine_of(net).tables(image)
    assert tables.min() >= 1
    x = torch.from_numpy(image).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        float_bits = float(net.loss(net(x), x)) / np.log(2)
    assert bits_per_subpixel(tables, image) == pytest.approx(float_bits, rel=0.01)


def test_requantization_multipliers_are_the_nearest_fractions():
    ratios = np.array([3e-9, 0.0123, 0.5, 1.0, 7.25])
    m, s = multiplier_and_shift(ratios)
    assert np.all((m >= 2**30) & (m <= 2**31))
    np.testing.assert_allclose(m / 2.0**s, ratios, rtol=2**-30)
    with pytest.raises(ValueError):
        multiplier_and_shift(np.array([0.0]))


def test_tiles_round_trip_through_the_engine_coder():
    """Tiles coded alone decode side by side in one round (and alone), exactly; the stream is
    within 0.5 % + 8 bytes of the coder distribution's ideal length, and its tables are what
    the stepper gives; a damaged stream is caught at its end."""
    rng = np.random.default_rng(4)
    engine = engine_of(quantized_net(4))
    tiles = [smooth_images(rng, 1, 13, 19)[0], smooth_images(rng, 1, 7, 5)[0],
             smooth_images(rng, 1, 9, 2)[0]]  # narrower than the slope: alone, steps without it
    coded = [coding.encode_tile(engine, t) for t in tiles]
    for data, bits in coded:
        assert len(data) <= bits / 8 * 1.005 + 8
    decoded, ok = coding.decode_round(engine, [d for d, _ in coded], [t.shape[:2] for t in tiles])
    assert ok.all()
    for tile, back in zip(tiles, decoded):
        np.testing.assert_array_equal(tile, back)
    for k in (1, 2):  # alone, the narrowest tile's round has steps without positions
        alone, ok = coding.decode_round(engine, [coded[k][0]], [tiles[k].shape[:2]])
        np.testing.assert_array_equal(alone[0], tiles[k])
    damaged = bytearray(coded[0][0])
    damaged[len(damaged) // 2] ^= 0x10
    back, ok = coding.decode_round(engine, [bytes(damaged)], [tiles[0].shape[:2]])
    assert not ok[0] or not np.array_equal(back[0], tiles[0])
    # the ideal length is the NLL of the tables the stepper gives
    tables = engine.tables(tiles[0][None])[0]
    assert coded[0][1] == pytest.approx(bits_per_subpixel(tables, tiles[0]) * tiles[0].size)
    assert coded[0][1] == pytest.approx(coding.pixel_bits(engine, tiles[0][None]).sum())


def test_the_decoder_finds_every_symbol_however_far_from_the_mixtures_mean():
    """The decoder's search starts at the heaviest component's mean: symbols at and far from
    it, at 0 and 255, under the sharpest and widest scales and means beyond the edges, decode
    to what was coded, and the stream ends where the encoder began."""
    from pixcodec.engine import mixture, online, rans

    rng = np.random.default_rng(11)
    n, k = 4096, 5
    symbols = np.concatenate([np.arange(256), rng.integers(0, 256, n - 256)]).astype(np.int64)
    means = rng.integers(-2**20, 2**20, (n, k)).astype(np.int64)  # beyond +-1 included
    means[:256, 0] = rng.integers(-2**19, 2**19, 256)
    table = mixture.inverse_scale_table()
    inv_scales = table[rng.choice([0, len(table) - 1, len(table) // 2], (n, k))].astype(np.int64)
    weights = rng.integers(1, 2**32, (n, k)).astype(np.int64)
    weights[:256, 0] = 2**32 - 1  # the first component heaviest, its mean unrelated to the symbol
    starts, sizes = np.empty(n, np.int64), np.empty(n, np.int64)
    mixture.coding_intervals(symbols, means, inv_scales, weights, starts, sizes)
    assert (sizes > 0).all()
    words, offsets, states, positions = rans.start([rans.encode(starts, sizes).tobytes()])
    out = np.zeros((n, 1), np.int64)
    rows, cols = np.zeros((2, n), np.int64)
    rans.decode_pixels(np.zeros(n, np.int64), rows, cols, weights, means[:, None],
                       inv_scales[:, None], None, words, offsets, states, positions,
                       np.zeros((n, 1), np.int64), np.arange(n), online.new_state(0, 1, 1, 1),
                       False, out)
    np.testing.assert_array_equal(out[:, 0], symbols)
    assert rans.finished(offsets, states, positions).all()


@pytest.mark.parametrize("options", [
    dict(colours=1, predictor=0, edge_predictor=False, gap_predictor=False),
    dict(predictor=0, gap_predictor=False)])
def test_networks_without_colour_terms_or_some_predictors_round_trip(options):
    """The compiled tail and decoder without the parts a network lacks: a gray one (no colour
    terms, no predictors) and an RGB one with the median edge guess alone."""
    config = {**CONFIG, **options}
    torch.manual_seed(8)
    net = LogisticPixelCNN(LogisticPixelCNNConfig(**config))
    rng = np.random.default_rng(8)
    images = smooth_images(rng, 5, 16, 16)[..., :config["colours"]].copy()
    calibrate(net, torch.from_numpy(images[:4]).permute(0, 3, 1, 2))
    engine = engine_of(net.eval())
    tiles = [images[4, :11, :9], images[4, 5:, 3:]]
    stepped = stepped_tables(engine, tiles)
    np.testing.assert_array_equal(stepped[0], engine.tables(tiles[0][None])[0])
    coded = [coding.encode_tile(engine, t)[0] for t in tiles]
    decoded, ok = coding.decode_round(engine, coded, [t.shape[:2] for t in tiles])
    assert ok.all()
    for tile, back in zip(tiles, decoded):
        np.testing.assert_array_equal(tile, back)


def test_an_integer_model_file_loads_exactly_and_a_wrong_one_is_refused():
    from pixcodec.engine import network
    from pixcodec.nets.quantized import integer_safetensors
    from safetensors.numpy import load as load_arrays, save

    net = quantized_net(5)
    data = integer_safetensors(net)
    config = net.config.to_dict()
    loaded = network.load(config, data)
    image = smooth_images(np.random.default_rng(5), 1, 9, 9)
    np.testing.assert_array_equal(loaded.tables(image), engine_of(net).tables(image))
    params = load_arrays(data)
    for bad_config in ({**config, "blocks": 10**6}, {**config, "hidden": "8"},
                       {**config, "extra": 1}, {**config, "quantized": False}):
        with pytest.raises(ValueError):
            network.load(bad_config, data)
    for name, value in (("head.shift", np.full_like(params["head.shift"], 70)),
                        ("head.weight", params["head.weight"].astype(np.int16))):
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            network.load(config, save({**params, name: value}))


@pytest.fixture
def integer_zoo(weights_dir):
    """The shipped gray model and a small integer RGB model (``quantized_net``) in the zoo."""
    from conftest import add_model
    from pixcodec.engine.config import ARCHITECTURE
    from pixcodec.nets.quantized import integer_safetensors

    net = quantized_net(6)
    add_model(weights_dir, "integer-test", integer_safetensors(net), architecture=ARCHITECTURE,
              config=net.config.to_dict())
    return weights_dir


def test_files_of_an_integer_model_round_trip_and_refuse_a_foreign_coder(integer_zoo,
                                                                         monkeypatch):
    """compress/decompress with an integer model: several tiles (side by side in a round),
    exact; its files say coder 4 (the online stage's), and a file that pairs its model with the
    float networks' coder, or a float model with coder 3 or 4, is refused in one line."""
    import pixcodec
    import pixcodec.api  # before the patch below: it binds tilechoice's `bounded` by name
    import pixcodec.tilechoice
    from pixcodec.errors import FormatError
    from conftest import model_plane, with_model_plane
    # The untrained network's streams are longer than the samples, which the encoder would
    # store instead (tile modes): its streams are what is tested here. (Patched where the
    # encoder's plane coding reads it; api, imported first, keeps the real one for the tests
    # after this one.)
    monkeypatch.setattr(pixcodec.tilechoice, "bounded", lambda coded, values, tile: coded)

    image = smooth_images(np.random.default_rng(6), 1, 40, 52)[0]
    coded = pixcodec.encode(image, "integer-test", tile=32)
    assert model_plane(coded.data).coder == 4 and len(model_plane(coded.data).streams) == 4
    np.testing.assert_array_equal(pixcodec.decode(coded.data).pixels, image)
    gray = pixcodec.encode(image[:, :, 0], "pixelcnn-gray-v1")
    for data, coder in ((coded.data, 2), (gray.data, 3), (gray.data, 4)):
        forged = with_model_plane(data, coder=coder)
        with pytest.raises(FormatError, match=f"coder {coder} cannot code"):
            pixcodec.decode(forged)


TORCH_FREE_ROUND_TRIP = """
import json, sys
from pathlib import Path
from pixcodec import zoo
folder = Path(sys.argv[1])
zoo._weights_dir = lambda: folder
import numpy as np
import pixcodec
image = np.asarray(json.loads((folder / "image.json").read_text()), dtype=np.uint8)
data = pixcodec.encode(image, "integer-test").data
decoded = pixcodec.decode(data).pixels
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(json.dumps({"exact": bool((decoded == image).all()), "torch": loaded,
                  "scipy.linalg": "scipy.linalg" in sys.modules}))
"""


def test_an_integer_model_codes_without_importing_torch(integer_zoo):
    """compress and decompress with an integer model, in a fresh process: exact, and torch is
    never imported (the manifest read, the model loaded, both coding paths), nor SciPy's
    linear algebra beyond the BLAS table numba's products call (0.15 s of each start)."""
    import json
    import subprocess
    import sys

    image = smooth_images(np.random.default_rng(7), 1, 20, 24)[0]
    (integer_zoo / "image.json").write_text(json.dumps(image.tolist()))
    result = subprocess.run([sys.executable, "-c", TORCH_FREE_ROUND_TRIP, str(integer_zoo)],
                            capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == {"exact": True, "torch": [],
                                                          "scipy.linalg": False}


def test_a_quantized_checkpoint_is_not_exported_to_a_model_file(tmp_path):
    """A .pxm would hold its float weights, which code on the float64 path as another network
    than the integers it was trained to be: export refuses it, in one line."""
    import torch

    from pixcodec import modelfile
    from pixcodec.errors import ModelError

    net = quantized_net(8)
    checkpoint = tmp_path / "q.pt"
    torch.save({"model": "tiny", "architecture": "logistic_pixelcnn",
                "config": net.config.to_dict(), "weights": net.state_dict(), "step": 1},
               checkpoint)
    with pytest.raises(ModelError, match="quantized network cannot be exported to a .pxm"):
        modelfile.export(checkpoint, "q-v1")
