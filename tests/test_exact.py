"""The coding path's tables are exact: stepper == parallel pass, any tiling, any thread count."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import torch

from pixcodec import codec, container, encoder, likelihood, scheduling
from pixcodec import fixedpoint as fx

from conftest import (ARCHITECTURES, random_logistic_net, random_net, random_pixelcnn,
                      random_pixelrnn)


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
    for y, x, h, w in container.tile_grid(*shape, tile):
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


@pytest.mark.parametrize("width", [5, 7])
@pytest.mark.parametrize("colours,levels", [(1, 256), (3, 256), (1, 2)])
@pytest.mark.parametrize("shape,tile", [((1, 6), 4), ((7, 9), 16), ((9, 10), 4), ((6, 5), 3)])
def test_wider_row_lstm_steps_as_the_parallel_pass(width, colours, levels, shape, tile, rng):
    """1xk convolutions wider than 3 (the caches' padding grows with k): the same
    stepper."""
    net = random_pixelrnn("row_lstm", colours, seed=tile, levels=levels, spatial_width=width)
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


@pytest.mark.parametrize("colours,levels", [(1, 256), (3, 256), (1, 2)])
@pytest.mark.parametrize("shape,tile", [((17, 23), 6), ((20, 20), 64)])
def test_wider_spatial_convolutions_step_as_the_parallel_pass(colours, levels, shape, tile, rng):
    """3x7 mask-B convolutions in the blocks (a smaller blind spot): the same stepper."""
    net = random_pixelcnn(colours, seed=tile, levels=levels, spatial_width=7)
    check_stepper_against_parallel(net, rng.integers(0, levels, (*shape, colours),
                                                     dtype=np.uint8), tile)


def test_binary_pixelcnn_stepper_equals_parallel_exact_pass(rng):
    net = random_net("pixelcnn", 1, levels=2)
    check_stepper_against_parallel(net, rng.integers(0, 2, (11, 13, 1), dtype=np.uint8), 8)


def coding_steps(net, shape, tile):
    """(H, W): the loop step at which each position is coded (the tables it sees)."""
    step = np.full(shape, -1)
    count = [0]
    pixels = np.zeros((*shape, net.config.colours), dtype=np.uint8)

    def observe(ys, xs, colour, table):
        if colour == 0:
            step[ys, xs] = count[0]
            count[0] += 1
    codec.coding_loop(net, pixels, tile, lambda ys, xs, colour, weights: pixels[ys, xs, colour]
                      .astype(np.int64), observe=observe)
    return step


@pytest.mark.parametrize("architecture", [*ARCHITECTURES, "logistic"])
@pytest.mark.parametrize("sizes", [[(1, 1)], [(7, 9)], [(5, 12), (9, 4), (2, 2)]])
def test_step_count_is_the_number_of_steps_the_stepper_takes(architecture, sizes):
    """The progress total comes from the network alone (no stepper, no caches built)."""
    net = random_logistic_net(3) if architecture == "logistic" else random_net(architecture, 3)
    assert net.step_count(sizes) == sum(1 for _ in net.stepper(sizes).steps())


@pytest.mark.parametrize("architecture", [*ARCHITECTURES, "logistic", "pixelcnn_3x7",
                                          "row_lstm_1x7"])
def test_no_position_is_coded_before_a_pixel_it_depends_on(architecture, rng):
    """Dependencies found by experiment, not from the offsets that set the wavefront slope:
    changing a pixel changes the exact tables of later positions only (steps of the real
    coding loop), for every architecture."""
    if architecture == "logistic":
        from test_logistic import random_logistic_net
        net = random_logistic_net(3, edge_predictor=True, gap_predictor=True)
    elif architecture == "pixelcnn_3x7":
        net = random_pixelcnn(3, spatial_width=7)
    elif architecture == "row_lstm_1x7":
        net = random_pixelrnn("row_lstm", 3, spatial_width=7)
    else:
        net = random_net(architecture, 3, levels=256)
    shape = (7, 9)
    step = coding_steps(net, shape, tile=64)
    assert (step >= 0).all()
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    tables = lambda im: net.exact_tables(torch.from_numpy(im).permute(2, 0, 1)[None])[0]
    base = tables(pixels)
    for y in range(shape[0]):
        for x in range(shape[1]):
            changed = pixels.copy()
            changed[y, x] = 255 - changed[y, x]
            moved = (tables(changed) != base).flatten(0, 1).any(0).numpy()  # (H, W)
            moved[y, x] = False  # a pixel's later colours see its earlier ones: same step
            assert (step[moved] > step[y, x]).all(), (y, x)


def test_bitstream_is_independent_of_thread_count(rng, monkeypatch):
    net = random_pixelcnn(3, hidden=12, blocks=2)
    pixels = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    one = encoder.encode_pixels(net, pixels, tile=16)
    monkeypatch.setattr(scheduling, "CODING_THREADS", 2)  # the loop sets torch's count from it
    seen = set()
    codec.coding_loop(net, pixels.copy(), 16, lambda ys, xs, colour, weights: seen.add(
        torch.get_num_threads()) or pixels[ys, xs, colour].astype(np.int64))
    assert seen == {2}
    two = encoder.encode_pixels(net, pixels, tile=16)
    assert one == two
    assert np.array_equal(codec.decode_pixels(net, one.streams, 24, 40, tile=16), pixels)


def test_bytes_are_the_same_for_any_number_of_worker_processes(rng, monkeypatch):
    """Tiles split among 1, 2 or 3 processes (really: PARALLEL_MIN_PIXELS lowered; the
    command's own process codes the first share, so N processes need N - 1 workers, and the
    workers of one call serve the next): the same streams, and decoding with any count gives
    the pixels."""
    net = random_pixelcnn(3, hidden=12, blocks=2)
    pixels = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    monkeypatch.setattr(scheduling, "PARALLEL_MIN_PIXELS", 1)
    from pixcodec import workers
    started = []
    real = workers._Worker.__init__
    monkeypatch.setattr(workers._Worker, "__init__", lambda self: started.append(1) or real(self))
    one = encoder.encode_pixels(net, pixels, tile=16, workers=1)
    assert not started
    assert len(one.streams) == 6
    for count in (2, 3):
        assert encoder.encode_pixels(net, pixels, tile=16, workers=count) == one
        assert len(started) == count - 1  # the one of the call before serves again
    for count in (1, 2, 3):
        assert np.array_equal(codec.decode_pixels(net, one.streams, 24, 40, 16,
                                                  checksums=one.checksums, workers=count), pixels)
    assert len(started) == 2 and len(workers._spares) == 2


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_bytes_do_not_depend_on_how_many_tiles_a_round_holds(architecture, rng, monkeypatch):
    """Rounds hold tiles up to ROUND_PIXELS pixels that fit the cache budget; one tile a round,
    or all twenty together, code the same streams (the order is the format's, tile by tile), each
    exact and the whole a round trip."""
    net = random_net(architecture, 3)
    pixels = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    monkeypatch.setattr(codec, "ROUND_PIXELS", 20 * 16)
    together = encoder.encode_pixels(net, pixels, tile=4)
    monkeypatch.setattr(codec, "CACHE_BUDGET_BYTES", 1)  # one tile a round
    assert codec.round_size(13, 17, 4, net) == 1 and container.tile_count(13, 17, 4) == 20
    check_stepper_against_parallel(net, pixels, 4)
    alone = encoder.encode_pixels(net, pixels, tile=4)  # and by the loop: no budget for passes
    assert (alone.streams, alone.checksums) == (together.streams, together.checksums)
    assert alone.nll_bits == pytest.approx(likelihood.coded_nll_bits(net, pixels, tile=4),
                                           rel=1e-12)
    assert np.array_equal(codec.decode_pixels(net, alone.streams, 13, 17, tile=4), pixels)


@pytest.mark.parametrize("architecture", ["pixelcnn", "logistic", "row_lstm", "diag_bilstm"])
def test_encoding_from_parallel_passes_gives_the_loops_bytes(architecture, rng, monkeypatch):
    """The encoder takes its tables from parallel passes where they fit: small tiles many at a
    time, each coded with one coder call; larger ones in bands smaller than the tile (halo rows
    recomputed), dropped as the wavefront leaves them. Both give the streams of the decoder's
    loop."""
    net = random_net(architecture, 3) if architecture != "logistic" else random_logistic_net(3)
    pixels = rng.integers(0, 256, (21, 15, 3), dtype=np.uint8)
    assert encoder._fits_passes(net, 21, 15)
    calls = []
    real = net.exact_tables
    monkeypatch.setattr(net, "exact_tables", lambda x: calls.append(x.shape[0]) or real(x))
    whole_tiles = encoder.encode_pixels(net, pixels, tile=8)
    assert calls == [2, 2, 1, 1]  # tiles of 8x8, 8x7, 5x8, 5x7: one pass for each shape
    monkeypatch.setattr(encoder, "WHOLE_TILE_ENTRIES", 0)
    monkeypatch.setattr(encoder, "PASS_ROWS", 4)
    calls.clear()
    chosen = encoder.encode_pixels(net, pixels, tile=16)  # the PixelCNNs' compiled loop: no pass
    assert bool(calls) == net.band_passes_pay
    monkeypatch.setattr(net, "band_passes_pay", True)
    by_bands = encoder.encode_pixels(net, pixels, tile=16)
    monkeypatch.setattr(encoder, "_fits_passes", lambda *args: False)
    by_loop = encoder.encode_pixels(net, pixels, tile=16)
    assert chosen.streams == by_loop.streams
    assert by_bands.streams == by_loop.streams
    assert by_bands.nll_bits == pytest.approx(by_loop.nll_bits, rel=1e-12)
    assert whole_tiles.streams == encoder.encode_pixels(net, pixels, tile=8).streams  # the loop


def test_version_2_rounds_follow_the_cache_budget_and_huge_grids_cost_one_round():
    """Version 2's interleaved order: as many tiles a round as fit 1 GiB; a file may state
    65536 x 65536 pixels in tiles of one pixel, and the rounds are made as they are coded,
    not 2^32 tuples (tens of GB) first."""
    import tracemalloc
    net = random_pixelcnn(1)
    tracemalloc.start()
    try:
        count, rounds = codec.legacy_rounds(65536, 65536, 1, net)
        first = next(rounds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count * len(first) >= 2**32 and first[1] == (0, 1, 1, 1)
    assert len(first) == codec.CACHE_BUDGET_BYTES // (4 * 4 * 7 * net.cache_channels())
    assert peak < 2**27


def test_the_exact_rules_give_the_same_in_numpy_and_torch(rng):
    """The steppers round in numpy, the parallel pass in torch: ties to even in both."""
    grid = rng.integers(-2**26, 2**26, size=4000) / 2.0**28  # multiples of 2**-28, as sums are
    ties = (rng.integers(-2**14, 2**14, size=1000) + 0.5) / 2.0**fx.ACT_BITS
    x = np.concatenate([grid, ties, ties * 2.0**(fx.ACT_BITS - fx.LOGIT_BITS), [1e6, -1e6]])
    for rule in (fx.quantize_activation, fx.sigmoid, fx.tanh, fx.integer_logits):
        expected = rule(torch.from_numpy(x)).numpy()
        assert np.array_equal(rule(x.copy()), expected), rule.__name__


def test_exp_table_is_a_decreasing_positive_exp():
    assert fx.EXP_TABLE[0] == 2**40 and (np.diff(fx.EXP_TABLE) <= 0).all() and fx.EXP_TABLE[-1] > 0
    # Each step's rounding adds up: relative error 1e-7 by d = 10,000, 0.2 % by 20,000.
    for d, rtol in ((1024, 1e-9), (10000, 2e-7), (15000, 3e-6), (20000, 3e-3)):
        assert fx.EXP_TABLE[d] / 2**40 == pytest.approx(np.exp(-d / 1024), rel=rtol, abs=0)
    # The rounding floor (fixedpoint.py): from d = 21,884 every entry is 512 units, 2**-31.
    floor = np.nonzero(fx.EXP_TABLE == 512)[0]
    assert floor[0] == 21884 and (fx.EXP_TABLE[floor[0]:] == 512).all()


def test_real_size_tracks_model_nll(rng):
    net = random_pixelcnn(3, hidden=12)
    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    coded = encoder.encode_pixels(net, pixels, tile=32)
    assert 8 * len(coded.streams[0]) <= coded.nll_bits * 1.01 + 64


def test_banded_parallel_nll_equals_coded_nll(rng):
    net = random_pixelcnn(3, hidden=6, blocks=3)
    pixels = rng.integers(0, 256, (23, 9, 3), dtype=np.uint8)
    coded_bits = encoder.encode_pixels(net, pixels, tile=64).nll_bits
    assert likelihood.model_nll_bits(net, pixels[None], rows_per_pass=4) == pytest.approx(
        coded_bits, rel=1e-12)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_tiled_parallel_nll_equals_coded_nll(architecture, rng):
    net = random_net(architecture, 3)
    pixels = rng.integers(0, 256, (11, 14, 3), dtype=np.uint8)
    coded_bits = encoder.encode_pixels(net, pixels, tile=6).nll_bits
    assert likelihood.coded_nll_bits(net, pixels, tile=6) == pytest.approx(coded_bits, rel=1e-12)
    assert likelihood.coded_nll_bits(net, pixels, tile=6) != pytest.approx(
        likelihood.model_nll_bits(net, pixels[None]), rel=1e-6)  # the tile edges are priced


@settings(max_examples=30, deadline=None)
@given(height=st.integers(1, 20), width=st.integers(1, 20), tile=st.integers(1, 24),
       colours=st.sampled_from([1, 3]), levels=st.sampled_from([2, 256]),
       architecture=st.sampled_from(ARCHITECTURES), seed=st.integers(0, 2**16))
def test_round_trip_any_size_and_tiling(height, width, tile, colours, levels, architecture, seed):
    net = random_net(architecture, colours, seed=seed % 7, levels=levels)
    pixels = np.random.default_rng(seed).integers(0, levels, (height, width, colours),
                                                  dtype=np.uint8)
    coded = encoder.encode_pixels(net, pixels, tile=tile)
    assert np.array_equal(codec.decode_pixels(net, coded.streams, height, width, tile=tile,
                                              checksums=coded.checksums), pixels)
