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
the float64 networks (``pixcodec.nets.mixture.QuantizedMixture``).

Both passes walk positions in groups: the parallel pass takes all positions of a round of tiles
at once, layer by layer; the stepper one wavefront step at a time. Each layer at a group of
positions is the same call either way, reading the neighbours' spatial inputs from a cache that
earlier groups (or, in the parallel pass, the same layer a moment before) filled, so the two
give the same integers by construction; the tests check it bit for bit.
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint as fx
from . import kernels, mixture, rans
from .config import IntegerConfig, check_config, check_parameters
from .mixture import IntegerMixture
from .wavefront import reach, slope_for, wavefront, wavefront_steps

STREAM_LIMIT = int(fx.ACT_LIMIT) << fx.ACT_BITS  # the stream's clamp, as in the float64 path
MEAN_LIMIT = 4 << mixture.MEAN_BITS
NO_CLAMP = 1 << 62
PASS_POSITIONS = 2048  # positions a band of the parallel pass holds: any value, the same integers
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
        self.bias = params[f"{name}.bias"].astype(np.int64)
        self.multiplier = params[f"{name}.multiplier"].astype(np.int64)
        self.shift = params[f"{name}.shift"].astype(np.int64)
        if f"{name}.input_multiplier" in params:
            self.input_multiplier = int(params[f"{name}.input_multiplier"][0])
            self.input_shift = int(params[f"{name}.input_shift"][0])

    def apply(self, x: np.ndarray, low: int, high: int, out: np.ndarray | None = None,
              dtype=np.float32) -> np.ndarray:
        """The requantized outputs (N, out) for its inputs x (N, rows)."""
        sums = x.astype(self.matrix.dtype, copy=False) @ self.matrix
        if out is None:
            out = np.empty(sums.shape, dtype=dtype)
        kernels.requantize(sums, self.bias, self.multiplier, self.shift, low, high, out)
        return out

    def codes_of(self, stream: np.ndarray) -> np.ndarray:
        """Its 8-bit input codes of ReLU(stream)."""
        out = np.empty(stream.shape, dtype=np.float32)
        kernels.stream_codes(stream, self.input_multiplier, self.input_shift, out)
        return out


class Cache:
    """Channels-last values of a round of tiles of at most height x width, flat-indexed, with
    `pad` rows above and `pad` columns either side: zero unless written (a convolution's zero
    padding, also beyond the edge of a tile smaller than the largest)."""

    def __init__(self, tiles: int, height: int, width: int, channels: int, pad: int,
                 offsets: list[tuple[int, int]]):
        self.pad, self.row_len = pad, width + 2 * pad
        self.tile_len = (height + pad) * self.row_len
        self.array = np.zeros((tiles * self.tile_len, channels), dtype=np.float32)
        self.offsets = self.flat(offsets)

    def flat(self, offsets: list[tuple[int, int]]) -> np.ndarray:
        return np.asarray([dy * self.row_len + dx for dy, dx in offsets], dtype=np.int64)

    def index(self, tile: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        return tile * self.tile_len + (row + self.pad) * self.row_len + (col + self.pad)

    def gather(self, index: np.ndarray, offsets: np.ndarray | None = None,
               extra: int = 0) -> np.ndarray:
        """(N, T * channels + extra) float32: the neighbours at `offsets` (default: the
        cache's), `extra` columns left for the caller."""
        offsets = self.offsets if offsets is None else offsets
        out = np.empty((len(index), len(offsets) * self.array.shape[1] + extra), np.float32)
        kernels.gather(self.array, index, offsets, out, 0)
        return out


def median_edge(north: np.ndarray, west: np.ndarray, north_west: np.ndarray) -> np.ndarray:
    """LOCO-I's median edge detector (as ``nets.logistic_pixelcnn.median_edge``)."""
    plane = north + west - north_west
    return np.maximum(np.minimum(north, west), np.minimum(np.maximum(north, west), plane))


def gradient_adjusted(west, west_west, north, north_north, north_east, north_west,
                      north_north_east) -> np.ndarray:
    """CALIC's gradient-adjusted prediction on integer pixels times 16 (so every halving and
    quartering below is exact): ``nets.logistic_pixelcnn.gradient_adjusted`` times 2048."""
    horizontal = abs(west - west_west) + abs(north - north_west) + abs(north - north_east)
    vertical = (abs(west - north_west) + abs(north - north_north)
                + abs(north_east - north_north_east))
    d = vertical - horizontal
    guess = (west + north) // 2 + (north_east - north_west) // 4
    guess = np.where(d > 512, (guess + west) // 2,
                     np.where(d > 128, (3 * guess + west) // 4,
                              np.where(d < -512, (guess + north) // 2,
                                       np.where(d < -128, (3 * guess + north) // 4, guess))))
    return np.where(d > 1280, west, np.where(d < -1280, north, guess))


class IntegerLogisticPixelCNN:
    """The integer network of a quantized logistic PixelCNN: `config` as in its manifest entry,
    `params` as ``nets.quantized.integer_parameters`` gives them (a safetensors file's
    tensors). `float64_sums`: every product in float64 BLAS (a second kernel path, for the
    tests: the integers must not change)."""

    levels = 256
    band_passes_pay = False
    coders = (rans.CODER_ID,)  # the container's coder ids its files use (the first: written)
    per_image_fits = False  # no ADPT section: the encoder fits nothing to the image (yet)

    def __init__(self, config: dict, params: dict[str, np.ndarray], float64_sums: bool = False):
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
        state.pixels.array[state.pixels.index(tile, row, col)] = (
            tiles.reshape(-1, self.colours).astype(np.float32) - 128)
        rows_per_band = max(1, PASS_POSITIONS // (t * w))
        bands = [np.flatnonzero((row >= top) & (row < top + rows_per_band))
                 for top in range(0, h, rows_per_band)]
        out = np.empty((len(tile), self.params.matrix.shape[1]), dtype=np.int64)
        for band in bands:
            out[band] = state.outputs(tile[band], row[band], col[band])
        return IntegerMixture(out, self.colours, self.components)

    def tables(self, tiles: np.ndarray) -> np.ndarray:
        """The coder's distributions (T, H, W, C, 256) of a round of tiles (T, H, W, C)
        uint8: integers summing to 2**24, each at least 1 (for the tests and measurements;
        the coder itself never builds them)."""
        t, h, w, c = tiles.shape
        mixture = self.mixture(tiles)
        pixels = tiles.reshape(-1, c).astype(np.int64)
        tables = np.stack([mixture.table(k, pixels[:, :k]) for k in range(c)], axis=1)
        return tables.reshape(t, h, w, c, 256)

    def pixel_bits(self, images: np.ndarray) -> np.ndarray:
        """(B, H, W) float64: each pixel's exact code length in bits (its subpixels' summed)
        in untiled images (B, H, W, C) uint8, as the coder gives them (``mixture.CODE_BITS``
        minus log2 of each symbol's interval width)."""
        b, h, w, c = images.shape
        mix = self.mixture(images)
        pixels = images.reshape(-1, c).astype(np.int64)
        bits = np.zeros(len(pixels))
        for k in range(c):
            _, sizes = mix.intervals(k, pixels[:, k], pixels[:, :k])
            bits += mixture.CODE_BITS - np.log2(sizes)
        return bits.reshape(b, h, w)

    @staticmethod
    def table_weights(tables: np.ndarray) -> np.ndarray:
        return tables.astype(np.float64)  # below 2**50: exact


class _RoundState:
    """The caches of a round of tiles: the pixels (as value - 128) and each block's spatial
    inputs, which later positions read."""

    def __init__(self, net: IntegerLogisticPixelCNN, tile_sizes: list[tuple[int, int]]):
        self.net = net
        tiles = len(tile_sizes)
        height, width = (max(size) for size in zip(*tile_sizes))
        self.pixels = Cache(tiles, height, width, net.colours, PIXEL_PAD,
                            net.input_conv.offsets)
        spatial = net.spatial[0]
        pad = max(max(-dy for dy, _ in spatial.offsets), max(abs(dx) for _, dx in spatial.offsets))
        self.block_inputs = [Cache(tiles, height, width, spatial.matrix.shape[1], pad,
                                   spatial.offsets) for _ in net.spatial]
        self.predictor_offsets = (self.pixels.flat(net.predictor.offsets)
                                  if net.predictor is not None else None)
        self.edge_offsets = self.pixels.flat(EDGE_OFFSETS)
        self.gap_offsets = self.pixels.flat(GAP_OFFSETS)

    def run(self, tile: np.ndarray, row: np.ndarray, col: np.ndarray) -> "IntegerMixture":
        """The mixture at these positions, whose neighbours are in the caches (their spatial
        inputs are written here, for later positions)."""
        return IntegerMixture(self.outputs(tile, row, col), self.net.colours,
                              self.net.components)

    def outputs(self, tile: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """The network's integer outputs (N, channels) at these positions (see ``run``)."""
        net = self.net
        index = self.pixels.index(tile, row, col)
        stream = net.input_conv.apply(self.pixels.gather(index), -STREAM_LIMIT, STREAM_LIMIT)
        for b in range(net.blocks):
            cache = self.block_inputs[b]
            reduce, spatial, expand = net.reduce[b], net.spatial[b], net.expand[b]
            kernels.residual_block(
                stream, cache.array, cache.index(tile, row, col), cache.offsets,
                reduce.matrix, reduce.bias, reduce.multiplier, reduce.shift,
                reduce.input_multiplier, reduce.input_shift,
                spatial.matrix, spatial.bias, spatial.multiplier, spatial.shift,
                expand.matrix, expand.bias, expand.multiplier, expand.shift, STREAM_LIMIT)
        features = net.head.apply(net.head.codes_of(stream), 0, 255)
        out = net.params.apply(features, -NO_CLAMP, NO_CLAMP, dtype=np.int64)
        k, c = net.components, net.colours
        means = out[:, k:k + c * k]
        if net.predictor is not None:
            means += net.predictor.apply(self.pixels.gather(index, self.predictor_offsets),
                                         -NO_CLAMP, NO_CLAMP, dtype=np.int64)
        if net.edge is not None:
            around = self.pixels.gather(index, self.edge_offsets).reshape(len(index), 3, c)
            guess = median_edge(*around.transpose(1, 0, 2))
            means += net.edge.apply(guess, -NO_CLAMP, NO_CLAMP, dtype=np.int64)
        if net.gap is not None:
            around = self.pixels.gather(index, self.gap_offsets).reshape(len(index), 7, c)
            guess = gradient_adjusted(*(16 * around.astype(np.int64)).transpose(1, 0, 2))
            means += net.gap.apply(guess, -NO_CLAMP, NO_CLAMP, dtype=np.int64)
        np.clip(means, -MEAN_LIMIT, MEAN_LIMIT, out=means)
        return out


class IntegerStepper:
    """The decoder's walk (``pixcodec.nets.incremental``'s stepper interface): the network runs
    once per position, at the first colour; each colour's table then needs only the mixture
    and the colours revealed before it."""

    known = None

    def __init__(self, net: IntegerLogisticPixelCNN, tile_sizes: list[tuple[int, int]]):
        self.net, self.tile_sizes = net, tile_sizes
        self.state = _RoundState(net, tile_sizes)
        self.slope = net.wavefront_slope()

    def steps(self):
        return wavefront(self.tile_sizes, self.slope)

    def at(self, tile, row, col) -> None:
        self.position = tuple(np.asarray(a, dtype=np.int64) for a in (tile, row, col))
        self.index = self.state.pixels.index(*self.position)
        self.mixture = None
        self.revealed = np.zeros((len(self.index), self.net.colours), dtype=np.int64)

    def mixture_here(self) -> IntegerMixture:
        """The mixture at the current positions (the network runs once, at the first call)."""
        if self.mixture is None:
            self.mixture = self.state.run(*self.position)
        return self.mixture

    def table(self, colour: int) -> np.ndarray:
        """The coder's distribution (N, 256) of `colour` at the current positions."""
        return self.mixture_here().table(colour, self.revealed[:, :colour])

    def reveal(self, colour: int, symbols) -> None:
        symbols = np.asarray(symbols, dtype=np.int64)
        self.revealed[:, colour] = symbols
        self.state.pixels.array[self.index, colour] = symbols - 128
