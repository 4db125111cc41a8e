"""A quantized logistic PixelCNN (``pixcodec.nets.quantized``) as integers: the parallel pass of
the encoder and the stepper of the decoder, one code path for both.

The network, at each position, with every value an integer (``pixcodec.nets.quantized`` says
where each grid comes from)::

    p = pixel - 128 at the 24 earlier positions of a 7x7 window (0 beyond the tile)
    a = rq(input_conv . p)                               the residual stream, units of 2**-12
    per block:  r = rq(reduce . codes(a))                8-bit codes, ReLU in the clamp
                s = rq(spatial . (r here and at its 3xW mask-B neighbours))
                a = clamp(a + rq(expand . s))
    f = rq(head . codes(a))
    out = rq(params . f)                                 logits, means, log-scales, colour terms
    means += rq(predictor . p) + rq(edge . MED(p)) + rq(gap . 16 GAP(p))

``rq`` adds the layer's integer bias to its integer sum and requantizes (``kernels``);
``codes(a)`` is ``stream_codes``. The mixture's tables follow from the integers exactly as for
the float64 networks (``pixcodec.engine.mixture.QuantizedMixture``).

Both passes walk positions in groups: the parallel pass takes all positions of a round of tiles
at once, layer by layer; the stepper one wavefront step at a time. Each layer at a group of
positions is the same call either way, reading the neighbours' spatial inputs from a cache that
earlier groups (or, in the parallel pass, the same layer a moment before) filled: the parallel
pass's covers whole tiles, the stepper's the last few steps (``ring``: a slot it does not fill
reads zero, as the whole-tile cache's padding does), and the tests check that the two give
the same integers bit for bit.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..compiled import kernel
from .. import fixedpoint as fx
from . import kernels, mixture, online, rans, vnni
from .config import IntegerConfig, check_config, check_parameters
from .mixture import IntegerMixture
from .ring import Ring, ring_step
from .wavefront import reach, slope_for, wavefront, wavefront_steps

STREAM_LIMIT = int(fx.ACT_LIMIT) << fx.ACT_BITS  # the stream's clamp, as in the float64 path
MEAN_LIMIT = 4 << mixture.MEAN_BITS
# Positions a band of the parallel pass holds: any value gives the same integers. At 2048 the
# h = 80 network's band arrays went back to the system and were faulted in again band after
# band (five times the page faults, 15 % of a photo's encode); at 1024 they stay in the heap.
PASS_POSITIONS = 1024
PIXEL_PAD = 3  # the input layer's 7x7 window, the predictors' 5x5 and CALIC's reach
EDGE_OFFSETS = [(-1, 0), (0, -1), (-1, -1)]  # N, W, NW: the median edge detector's inputs
# W, WW, N, NN, NE, NW, NNE: CALIC's gradient-adjusted prediction's inputs
GAP_OFFSETS = [(0, -1), (0, -2), (-1, 0), (-2, 0), (-1, 1), (-1, -1), (-2, 1)]


def load(config: dict, data: bytes) -> "IntegerLogisticPixelCNN":
    """The integer network of a safetensors file's bytes (tensors only: reading it runs no
    code), checked first (``config.check_parameters``; a ValueError names what is wrong)."""
    from safetensors.numpy import load as load_arrays

    params = load_arrays(data)
    return IntegerLogisticPixelCNN(config, check_parameters(check_config(config), params))


def causal_offsets(height: int, width: int) -> list[tuple[int, int]]:
    """(dy, dx) of a kernel's live taps before its centre (every row above, the left part of
    its own row): the taps of mask A, and of mask B besides the centre, with one colour group."""
    ph, pw = height // 2, width // 2
    return ([(dy, dx) for dy in range(-ph, 0) for dx in range(-pw, width - pw)]
            + [(0, dx) for dx in range(-pw, 0)])


class Layer:
    """A convolution as the engine runs it: a (taps * in [+ in], out) matrix over the gathered
    neighbours (and the centre, for mask B), in float32 (8-bit weights) or float64, and the
    integer bias and requantization of its sums."""

    def __init__(self, params: dict[str, np.ndarray], name: str, mask: str,
                 float64_sums: bool = False):
        weight = params[f"{name}.weight"]
        out, inputs, kh, kw = weight.shape
        self.offsets = causal_offsets(kh, kw)
        taps = [(dy + kh // 2, dx + kw // 2) for dy, dx in self.offsets]
        if mask == "B":
            taps.append((kh // 2, kw // 2))
        rows = np.stack([weight[:, :, i, j] for i, j in taps])  # (T, out, in)
        # float32 adds integers exactly below 2**24: 8-bit codes (or pixels) times 8-bit
        # weights, few enough of them; else float64 (below 2**53)
        bound = len(rows) * inputs * 255 * int(np.abs(weight).max(initial=0))
        dtype = np.float32 if bound < 2**24 and not float64_sums else np.float64
        self.matrix = np.ascontiguousarray(rows.transpose(0, 2, 1).reshape(-1, out), dtype=dtype)
        self.outputs = out
        self.bias = params[f"{name}.bias"].astype(np.int64)
        self.multiplier = params[f"{name}.multiplier"].astype(np.int64)
        self.shift = params[f"{name}.shift"].astype(np.int64)
        self.arrays = (self.matrix, self.bias, self.multiplier, self.shift)
        if f"{name}.input_multiplier" in params:
            self.input_multiplier = int(params[f"{name}.input_multiplier"][0])
            self.input_shift = int(params[f"{name}.input_shift"][0])


def layer_arrays(layer: Layer | None) -> tuple:
    """A layer's arrays as the compiled kernels take them; an absent layer's matrix has no
    rows."""
    if layer is None:
        return np.zeros((0, 0)), *np.zeros((3, 0), dtype=np.int64)
    return layer.arrays


class Cache:
    """Channels-last values of a round of tiles of at most height x width, flat-indexed, with
    `pad` rows above and `pad` columns either side: zero unless written (a convolution's zero
    padding, also beyond the edge of a tile smaller than the largest)."""

    def __init__(self, tiles: int, height: int, width: int, channels: int, pad: int,
                 offsets: list[tuple[int, int]], dtype=np.float32):
        self.pad, self.row_len = pad, width + 2 * pad
        self.tile_len = (height + pad) * self.row_len
        self.array = np.zeros((tiles * self.tile_len, channels), dtype=dtype)
        self.offsets = self.flat(offsets)

    def flat(self, offsets: list[tuple[int, int]]) -> np.ndarray:
        return np.asarray([dy * self.row_len + dx for dy, dx in offsets], dtype=np.int64)

    def index(self, tile: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        return tile * self.tile_len + (row + self.pad) * self.row_len + (col + self.pad)


class IntegerLogisticPixelCNN:
    """The integer network of a quantized logistic PixelCNN: `config` as in its manifest entry,
    `params` as ``nets.quantized.integer_parameters`` gives them (a safetensors file's
    tensors). The residual blocks' products run on the CPU's 8-bit dot-product unit where it
    has one (``vnni``), else in float32 BLAS. Other kernel paths, for the tests (the integers
    must not change): `use_vnni=False`, BLAS; `float64_sums`, every product in float64 BLAS."""

    levels = 256
    band_passes_pay = False
    # The container's coder ids its files use (the first: written): the online stage's, and
    # coder 3's streams of the files written before it (2026-12-06).
    coders = (online.CODER_ID, rans.CODER_ID)
    per_image_fits = False  # no ADPT section: the encoder fits nothing to the image (yet)
    codes_in_threads = True  # its kernels release the GIL (numba's nogil)

    def __init__(self, config: dict, params: dict[str, np.ndarray], float64_sums: bool = False,
                 use_vnni: bool | None = None):
        self.config = IntegerConfig(**check_config(config))
        self.colours, self.components = config["colours"], config["components"]
        self.blocks = config["blocks"]

        def layer(name: str, mask: str) -> Layer:
            return Layer(params, name, mask, float64_sums)

        self.input_conv = layer("input_conv", "A")
        self.reduce = [layer(f"blocks_{i}_reduce", "B") for i in range(self.blocks)]
        self.spatial = [layer(f"blocks_{i}_spatial", "B") for i in range(self.blocks)]
        self.expand = [layer(f"blocks_{i}_expand", "B") for i in range(self.blocks)]
        self.head = layer("head", "B")
        self.params = layer("params", "B")
        self.predictor = layer("predictor", "A") if config.get("predictor") else None
        self.edge = layer("edge", "B") if config.get("edge_predictor") else None
        self.gap = layer("gap", "B") if config.get("gap_predictor") else None
        unit_layers = self.reduce + self.spatial + self.expand + [self.head]
        if use_vnni is None:
            use_vnni = (vnni.AVAILABLE and not float64_sums
                        and all(vnni.fits(layer.matrix) for layer in unit_layers))
        if use_vnni:  # codes and caches as uint8, weights packed for the instruction
            self.code_dtype = np.uint8
            blocks = [(vnni.pack(l.matrix), *l.arrays[1:], l.outputs)
                      for l in unit_layers]
        else:
            self.code_dtype = np.float32  # the block caches' dtype
            blocks = [(*l.arrays, l.outputs) for l in unit_layers]
        b = self.blocks
        self.block_arrays = tuple(zip(blocks[:b], blocks[b:2 * b], blocks[2 * b:3 * b]))
        self.block_codes = tuple((layer.input_multiplier, layer.input_shift)
                                 for layer in self.reduce)
        self.codes_like = np.empty(0, np.uint8 if use_vnni else self.reduce[0].matrix.dtype)
        self.head_arrays = blocks[-1]
        self.head_codes_like = np.empty(0, np.uint8 if use_vnni else self.head.matrix.dtype)
        # the output layer's 16-bit weights on the unit too, where its sums stay in int32
        self.params_arrays = ((vnni.pack_wide(self.params.matrix), *self.params.arrays[1:])
                              if use_vnni and vnni.fits_wide(self.params.matrix)
                              else self.params.arrays)
        # the input layer reads the pixels' values (0 to 255, as the codes are), its bias
        # taking back 128 times each output's weights: the sums of the pixels less 128, on the
        # unit too where it fits
        weights = self.input_conv.matrix
        bias = self.input_conv.bias - 128 * np.rint(weights).astype(np.int64).sum(axis=0)
        on_unit = use_vnni and vnni.fits(weights)
        self.input_arrays = (vnni.pack(weights) if on_unit else weights, bias,
                             *self.input_conv.arrays[2:], self.input_conv.outputs,
                             np.empty(0, np.uint8 if on_unit else weights.dtype))

    # --- what the coding loop asks of a network --------------------------------------------

    def dependency_offsets(self) -> set[tuple[int, int]]:
        reached = reach([layer.offsets for layer in [self.input_conv] + self.spatial])
        if self.predictor is not None:
            reached |= set(self.predictor.offsets)
        for layer, offsets in ((self.edge, EDGE_OFFSETS), (self.gap, GAP_OFFSETS)):
            if layer is not None:
                reached |= set(offsets)
        return reached

    def wavefront_slope(self, width: int = 0) -> int:
        return slope_for(self.dependency_offsets())

    def halo_rows(self) -> int:
        return max(-dy for dy, _ in self.dependency_offsets())

    def cache_channels(self) -> int:
        """Channels the stepper caches per position (sets the size of coding rounds)."""
        return self.colours + self.blocks * self.spatial[0].matrix.shape[1]

    def step_count(self, tile_sizes: list[tuple[int, int]]) -> int:
        return wavefront_steps(tile_sizes, self.wavefront_slope())

    def stepper(self, tile_sizes: list[tuple[int, int]]) -> "IntegerStepper":
        return IntegerStepper(self, tile_sizes)

    def mixture(self, tiles: np.ndarray) -> "IntegerMixture":
        """The parallel pass: every position of a round of tiles (T, H, W, C) uint8, all of
        the same size, in raster order within each tile. Band by band of rows, each layer at
        a whole band at once: a band's positions depend only on rows above and positions to
        their left, and its work arrays stay a few MB whatever the tile."""
        t, h, w, _ = tiles.shape
        state = _RoundState(self, [(h, w)] * t)
        tile, row, col = (a.ravel() for a in np.meshgrid(np.arange(t), np.arange(h),
                                                          np.arange(w), indexing="ij"))
        index = state.pixels.index(tile, row, col)
        state.pixels.array[index] = tiles.reshape(-1, self.colours).astype(np.float32) - 128
        rows_per_band = max(1, PASS_POSITIONS // (t * w))
        bands = [np.flatnonzero((row >= top) & (row < top + rows_per_band))
                 for top in range(0, h, rows_per_band)]
        out = np.empty((len(tile), self.params.matrix.shape[1]), dtype=np.int64)
        for band in bands:
            out[band] = state.outputs(index[band], index[band], state.block_offsets)
        return IntegerMixture(out, self.colours, self.components)

    def tables(self, tiles: np.ndarray) -> np.ndarray:
        """The coder's distributions (T, H, W, C, 256) of a round of tiles (T, H, W, C)
        uint8: integers summing to 2**24, each at least 1 (for the tests and measurements;
        the coder itself never builds them)."""
        t, h, w, c = tiles.shape
        mix = self.mixture(tiles)
        pixels = tiles.reshape(-1, c).astype(np.int64)
        tables = np.stack([mix.table(k, pixels[:, :k]) for k in range(c)], axis=1)
        return tables.reshape(t, h, w, c, 256)

    @staticmethod
    def table_weights(tables: np.ndarray) -> np.ndarray:
        return tables.astype(np.float64)  # below 2**50: exact


class _RoundState:
    """The caches of a round of tiles: the pixels (as value - 128) and each block's spatial
    inputs, which later positions read. The pixels, and the blocks' inputs in the parallel
    pass, share one whole-tile layout (the widest padding), so a position has one flat index
    in every cache; for the decoder's walk (`slope` given) the blocks' inputs are rings."""

    def __init__(self, net: IntegerLogisticPixelCNN, tile_sizes: list[tuple[int, int]],
                 slope: int | None = None):
        self.net = net
        tiles = len(tile_sizes)
        height, width = (max(size) for size in zip(*tile_sizes))
        spatial = net.spatial[0]
        channels = spatial.matrix.shape[1]
        pad = max([PIXEL_PAD] + [max(-dy, abs(dx)) for dy, dx in spatial.offsets])
        self.pixels = Cache(tiles, height, width, net.colours, pad, net.input_conv.offsets)
        if slope is None:
            self.ring = None
            block_inputs = [Cache(tiles, height, width, channels, pad, spatial.offsets,
                                  net.code_dtype) for _ in net.spatial]
            self.block_caches = tuple(cache.array for cache in block_inputs)
            self.block_offsets = block_inputs[0].offsets
        else:
            self.ring = Ring(tiles, height, pad, spatial.offsets, slope)
            self.block_caches = tuple(self.ring.arrays(channels, net.code_dtype)
                                      for _ in net.spatial)
        self.head_codes = (net.head.input_multiplier, net.head.input_shift)
        self.predictor = layer_arrays(net.predictor)
        self.predictor_offsets = self.pixels.flat(
            net.predictor.offsets if net.predictor is not None else [])
        self.edge, self.gap = layer_arrays(net.edge), layer_arrays(net.gap)
        self.edge_offsets = self.pixels.flat(EDGE_OFFSETS)
        self.gap_offsets = self.pixels.flat(GAP_OFFSETS)
        k = net.components
        self.means = (k, k + net.colours * k)

    def run(self, index: np.ndarray, cache_index: np.ndarray, cache_offsets: np.ndarray
            ) -> "IntegerMixture":
        """The mixture at these positions (see ``outputs``)."""
        return IntegerMixture(self.outputs(index, cache_index, cache_offsets),
                              self.net.colours, self.net.components)

    def network_arguments(self) -> tuple:
        """``kernels.network_outputs``'s arguments after the blocks' neighbours, before `out`."""
        net = self.net
        return (net.block_arrays, net.block_codes, STREAM_LIMIT, net.codes_like,
                net.head_arrays, self.head_codes, net.head_codes_like, net.params_arrays,
                self.predictor, self.predictor_offsets, self.edge, self.edge_offsets, self.gap,
                self.gap_offsets, self.means, MEAN_LIMIT)

    def outputs(self, index: np.ndarray, cache_index: np.ndarray, cache_offsets: np.ndarray
                ) -> np.ndarray:
        """The network's integer outputs (N, channels) at positions whose neighbours are in
        the caches: at `index` in the pixels' cache, at `cache_index` in the blocks' (their
        neighbours `cache_offsets` away), where their spatial inputs are written for later
        positions."""
        out = np.empty((len(index), self.net.params.matrix.shape[1]), dtype=np.int64)
        kernels.network_outputs(self.pixels.array, index, self.pixels.offsets,
                                self.net.input_arrays, self.block_caches, cache_index,
                                cache_offsets, *self.network_arguments(), out)
        return out


class IntegerStepper:
    """The decoder's walk (``pixcodec.nets.incremental``'s stepper interface): the network runs
    once per position, at the first colour; each colour's table then needs only the mixture
    and the colours revealed before it. ``decode_round`` is the same walk compiled whole."""

    known = None

    def __init__(self, net: IntegerLogisticPixelCNN, tile_sizes: list[tuple[int, int]]):
        self.net, self.tile_sizes = net, tile_sizes
        self.slope = net.wavefront_slope()
        self.state = _RoundState(net, tile_sizes, self.slope)

    def steps(self):
        return wavefront(self.tile_sizes, self.slope)

    def decode_round(self, words: np.ndarray, offsets: np.ndarray, states: np.ndarray,
                     positions: np.ndarray, canvas: np.ndarray, staged: bool = False
                     ) -> Iterator[int]:
        """Every step of the round decoded into canvas (T, H, W, C) uint8 from the round's
        rANS streams (``rans.start``'s arrays, updated), as ``at``, ``table`` and ``reveal``
        at each step would (`staged`: through the online stage of coder 4), in compiled calls
        of STEPS_A_CALL steps: yields the steps each call did (for a progress bar)."""
        steps = list(self.steps())
        bounds = np.cumsum([0] + [part.shape[1] for part in steps])
        tile, row, col = np.concatenate(steps, axis=1)
        del steps  # the round's positions are held once
        state, net = self.state, self.net
        walk = (tile, row, col, state.pixels.index(tile, row, col), self.slope,
                state.ring.layout())
        network = (state.pixels.array, state.pixels.offsets, net.input_arrays,
                   state.block_caches, state.network_arguments())
        tables = (fx.EXP_TABLE, mixture.inverse_scale_table(), fx.tanh_table())
        stage = online.new_state(len(self.tile_sizes) if staged else 0, *canvas.shape[1:])
        for first in range(0, len(bounds) - 1, STEPS_A_CALL):
            last = min(first + STEPS_A_CALL, len(bounds) - 1)
            _decode_steps(bounds[first:last + 1], walk, network, net.params.matrix.shape[1],
                          net.colours, net.components, tables, words, offsets, states,
                          positions, stage, staged, canvas)
            yield last - first

    def at(self, tile, row, col) -> None:
        self.tile = np.asarray(tile, dtype=np.int64)
        row, col = np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)
        self.index = self.state.pixels.index(self.tile, row, col)
        step = int(col[0] + self.slope * row[0])
        self.slots = np.empty(len(row), dtype=np.int64)
        self.neighbours = np.empty(len(self.state.ring.back), dtype=np.int64)
        ring_step(self.state.block_caches, step, self.state.ring.layout(), self.tile, row,
                  self.slots, self.neighbours)
        self.mixture = None
        self.revealed = np.zeros((len(self.index), self.net.colours), dtype=np.int64)

    def mixture_here(self) -> IntegerMixture:
        """The mixture at the current positions (the network runs once, at the first call)."""
        if self.mixture is None:
            self.mixture = self.state.run(self.index, self.slots, self.neighbours)
        return self.mixture

    def table(self, colour: int) -> np.ndarray:
        """The coder's distribution (N, 256) of `colour` at the current positions."""
        return self.mixture_here().table(colour, self.revealed[:, :colour])

    def reveal(self, colour: int, symbols) -> None:
        symbols = np.asarray(symbols, dtype=np.int64)
        self.revealed[:, colour] = symbols
        self.state.pixels.array[self.index, colour] = symbols - 128


STEPS_A_CALL = 64  # wavefront steps a compiled call decodes: the progress bar's grain


@kernel(nogil=True)
def _decode_steps(bounds, walk, network, channels, colours, components, tables, words, offsets,
                  states, positions, stage, staged, canvas):
    """The steps whose positions are bounds[s]:bounds[s + 1] of the walk's (tile, row, col,
    pixel index), one after the other, decoded into canvas: the ring made ready
    (``ring_step``), the network's outputs (``kernels.network_outputs``), their mixture
    (``mixture.parameters_from_outputs`` with `tables`) and the symbols
    (``rans.decode_pixels``, through the online stage with `staged`), as
    ``IntegerStepper.at``, ``table`` and ``reveal`` do (without the stage); compiled
    whole, so that a step costs no Python (a fifth of a decode) and the other coding thread
    never waits for the GIL."""
    tile, row, col, index, slope, layout = walk
    pixels, pixel_offsets, input_layer, caches, rest = network
    exp_table, inverse_scales, tanh = tables
    slots = np.empty(np.max(bounds[1:] - bounds[:-1]), np.int64)  # a step's positions at most
    neighbours = np.empty(len(layout[4]), np.int64)
    for s in range(len(bounds) - 1):
        first, last = bounds[s], bounds[s + 1]
        n = last - first
        step = col[first] + slope * row[first]
        ring_step(caches, step, layout, tile[first:last], row[first:last], slots, neighbours)
        here = index[first:last]
        out = np.empty((n, channels), np.int64)
        kernels.network_outputs(pixels, here, pixel_offsets, input_layer, caches, slots[:n],
                                neighbours, *rest, out)
        weights = np.empty((n, components), np.int64)
        means = np.empty((n, colours, components), np.int64)
        inv_scales = np.empty((n, colours, components), np.int64)
        coeffs = np.empty((n, 3, components), np.int64) if colours == 3 else None
        mixture.parameters_from_outputs(out, exp_table, inverse_scales, tanh, weights, means,
                                        inv_scales, coeffs)
        symbols = np.empty((n, colours), np.int64)
        rans.decode_pixels(tile[first:last], row[first:last], col[first:last], weights, means,
                           inv_scales, coeffs, words, offsets, states, positions, pixels,
                           here, stage, staged, symbols)
        for i in range(n):
            for c in range(colours):
                canvas[tile[first + i], row[first + i], col[first + i], c] = symbols[i, c]
