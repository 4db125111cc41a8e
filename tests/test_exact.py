"""The coding path's tables are exact: stepper == parallel pass, any tiling, any thread count."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import torch

from pixcodec import codec
from pixcodec import fixedpoint as fx

from conftest import ARCHITECTURES, random_net, random_pixelcnn


def tables_in_coding_order(net, pixels, tile):
    """Every (ys, xs, colour, int-logits) the coding loop computes, via its own code path."""
    seen = []
    codec.coding_loop(net, pixels.copy(), tile,
                       lambda ys, xs, colour, weights: pixels[ys, xs, colour].astype(np.int64),
                       observe=lambda ys, xs, colour, logits: seen.append(
                           (ys.copy(), xs.copy(), colour, logits.copy())))
    return seen


def check_stepper_against_parallel(net, pixels, tile):
    """The coding loop's tables equal the exact parallel pass of each tile bit for bit, stay
    close to the float (training) pass, and every subpixel is coded exactly once."""
    shape = pixels.shape[:2]
    seen = tables_in_coding_order(net, pixels, tile)
    coded = np.zeros(pixels.shape, dtype=int)
    for y, x, h, w in codec.tile_grid(*shape, tile):
        part = torch.from_numpy(pixels[y:y + h, x:x + w]).permute(2, 0, 1)[None]
        exact = net.forward_exact(part)[0].numpy()  # (C, levels, h, w)
        with torch.no_grad():
            floating = net(part)[0].numpy()
        assert np.abs(exact / 2**fx.LOGIT_BITS - floating).max() < 0.05
        levels = exact.shape[1]
        for ys, xs, colour, table in seen:
            inside = (ys >= y) & (ys < y + h) & (xs >= x) & (xs < x + w)
            expected = exact[colour, :, ys[inside] - y, xs[inside] - x]
            assert np.array_equal(table[inside], expected.reshape(-1, levels))
            coded[ys[inside], xs[inside], colour] += 1
    assert (coded == 1).all(), "every subpixel is coded exactly once"


@pytest.mark.parametrize("colours", [1, 3])
@pytest.mark.parametrize("shape,tile", [((1, 1), 8), ((1, 9), 4), ((13, 1), 5), ((17, 23), 64),
                                        ((17, 23), 6), ((20, 20), 10)])
def test_stepper_equals_parallel_exact_pass(colours, shape, tile, rng):
    net = random_pixelcnn(colours, seed=shape[0] + tile)
    check_stepper_against_parallel(net, rng.integers(0, 256, (*shape, colours), dtype=np.uint8),
                                   tile)


@pytest.mark.parametrize("architecture", ["row_lstm", "diag_bilstm"])
@pytest.mark.parametrize("colours,levels", [(1, 256), (3, 256), (1, 2), (3, 2)])
@pytest.mark.parametrize("shape,tile", [((1, 1), 8), ((1, 6), 4), ((6, 1), 4), ((7, 9), 16),
                                        ((9, 10), 4), ((6, 5), 3)])
def test_recurrent_steppers_equal_parallel_exact_pass(architecture, colours, levels, shape, tile,
                                                      rng):
    net = random_net(architecture, colours, seed=shape[1] + tile, levels=levels)
    check_stepper_against_parallel(
        net, rng.integers(0, levels, (*shape, colours), dtype=np.uint8), tile)


@pytest.mark.parametrize("cell", ["row_lstm", "diag_bilstm"])
@pytest.mark.parametrize("colours,levels", [(1, 2), (3, 256)])
@pytest.mark.parametrize("shape,tile", [((1, 1), 8), ((1, 6), 4), ((7, 9), 16), ((9, 10), 4)])
def test_multiscale_stepper_equals_parallel_exact_pass(cell, colours, levels, shape, tile, rng):
    """The small image first, then the rest with the even positions known; each subpixel is
    coded once, with the table of the parallel pass (small net's at even positions)."""
    from pixcodec.nets.multiscale import MultiScaleConfig, MultiScalePixelRNN
    layer = dict(cell=cell, colours=colours, hidden=6, layers=2, out_features=9, levels=levels)
    torch.manual_seed(tile)
    net = MultiScalePixelRNN(MultiScaleConfig(layer, layer, 8)).eval()
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    check_stepper_against_parallel(
        net, rng.integers(0, levels, (*shape, colours), dtype=np.uint8), tile)


def test_binary_pixelcnn_stepper_equals_parallel_exact_pass(rng):
    net = random_net("pixelcnn", 1, levels=2)
    check_stepper_against_parallel(net, rng.integers(0, 2, (11, 13, 1), dtype=np.uint8), 8)


def test_wavefront_never_codes_a_dependency_late():
    net = random_pixelcnn(3, blocks=4)
    slope = net.wavefront_slope(64)
    for dy, dx in net.dependency_offsets():
        assert dy < 0 or (dy == 0 and dx < 0)
        assert dx + slope * dy < 0  # coded at a strictly earlier step


def test_bitstream_is_independent_of_thread_count(rng):
    net = random_pixelcnn(3, hidden=12, blocks=2)
    pixels = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, _ = codec.encode_pixels(net, pixels, tile=16)
        torch.set_num_threads(max(2, threads))
        many, _ = codec.encode_pixels(net, pixels, tile=16)
    finally:
        torch.set_num_threads(threads)
    assert one == many
    assert np.array_equal(codec.decode_pixels(net, one, 24, 40, tile=16), pixels)


def test_exp_table_is_a_decreasing_positive_exp():
    assert fx.EXP_TABLE[0] == 2**40 and (np.diff(fx.EXP_TABLE) <= 0).all() and fx.EXP_TABLE[-1] > 0
    d = np.array([0, 1024, 5000, 20000])
    assert np.allclose(fx.EXP_TABLE[d] / 2**40, np.exp(-d / 1024), rtol=1e-6)


def test_real_size_tracks_model_nll(rng):
    net = random_pixelcnn(3, hidden=12)
    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    payload, nll_bits = codec.encode_pixels(net, pixels, tile=32)
    assert 8 * len(payload) <= nll_bits * 1.01 + 64


def test_banded_parallel_nll_equals_coded_nll(rng):
    net = random_pixelcnn(3, hidden=6, blocks=3)
    pixels = rng.integers(0, 256, (23, 9, 3), dtype=np.uint8)
    _, coded_bits = codec.encode_pixels(net, pixels, tile=64)
    assert codec.model_nll_bits(net, pixels[None], rows_per_pass=4) == pytest.approx(coded_bits,
                                                                                     rel=1e-12)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_tiled_parallel_nll_equals_coded_nll(architecture, rng):
    net = random_net(architecture, 3)
    pixels = rng.integers(0, 256, (11, 14, 3), dtype=np.uint8)
    _, coded_bits = codec.encode_pixels(net, pixels, tile=6)
    assert codec.coded_nll_bits(net, pixels, tile=6) == pytest.approx(coded_bits, rel=1e-12)
    assert codec.coded_nll_bits(net, pixels, tile=6) != pytest.approx(
        codec.model_nll_bits(net, pixels[None]), rel=1e-6)  # the tile edges are priced


@settings(max_examples=30, deadline=None)
@given(height=st.integers(1, 20), width=st.integers(1, 20), tile=st.integers(1, 24),
       colours=st.sampled_from([1, 3]), levels=st.sampled_from([2, 256]),
       architecture=st.sampled_from(ARCHITECTURES), seed=st.integers(0, 2**16))
def test_round_trip_any_size_and_tiling(height, width, tile, colours, levels, architecture, seed):
    net = random_net(architecture, colours, seed=seed % 7, levels=levels)
    pixels = np.random.default_rng(seed).integers(0, levels, (height, width, colours),
                                                  dtype=np.uint8)
    payload, _ = codec.encode_pixels(net, pixels, tile=tile)
    assert np.array_equal(codec.decode_pixels(net, payload, height, width, tile=tile), pixels)
