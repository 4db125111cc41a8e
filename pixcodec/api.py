"""The Python API: images or arrays in, .pxc bytes out, and back. Which plane of an image goes
to which section, and the value rules: pixcodec.planes; the bytes: pixcodec.container (the
file) and pixcodec.sections (each section's body)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from . import container, zoo
from .arguments import (Source, checked_effort, checked_flag, checked_integer, checked_limits,
                        checked_model, checked_models, checked_progress, checked_sources,
                        checked_tile, read_source)
from .codec import decode_classic, decode_interleaved, decode_pixels, decode_tiles
from .coder import CODERS, ENGINE_CODERS, fewest_payload_bytes
from .container import tile_checksum
from .classic import MODEL
from .encoder import CodedTiles, encode_tiles
from .errors import ArgumentError, FormatError, ModelError, UnsupportedImageError
from .imageio import (GRAY_ALPHA, PALETTE, RGBA, PngImage, check_chunks, image_from_array,
                      read_image)
from .limits import DEFAULT_EFFORT, DEFAULT_MAX_METADATA, DEFAULT_MAX_PIXELS
from .orientation import AS_IS, coded_size, restored
from .planes import (ADAPT, ALPHA, CHUNKS, COLOUR, INDICES, LOW_BYTES, MODEL_CHANNELS,
                     low_byte_deltas, model_mode, model_symbols, samples_of_symbols,
                     sixteen_bit_samples, to_eight_bits)
from .scheduling import Progress, useful_workers
from .tilechoice import bounded, code_plane, default_tile, looks_photographic
from .sections import (ModelPlane, pack_chunks, pack_lzma, pack_model_plane, unpack_chunks,
                       unpack_lzma, unpack_model_plane)
from .workers import stop_spares


@dataclass(frozen=True)
class Compressed:
    data: bytes
    header: container.Header
    model: str | None        # the model that coded the gray or RGB samples (None: palette)
    nll_bits: float          # the model's ideal code length of those samples

    @property
    def dims(self) -> int:
        """Samples in the image (pixels times channels), for bits per dimension."""
        return self.header.width * self.header.height * self.header.channels


@dataclass(frozen=True)
class Decompressed:
    image: PngImage
    header: container.Header

    @property
    def pixels(self) -> np.ndarray:
        """(H, W, C) samples: uint8, or uint16 at 16 bits; palette indices for palette images."""
        return self.image.samples


def encode(source: Source | np.ndarray, model: str | None = None, *,
           tile: int | None = None, progress: Progress | None = None,
           strip: bool = False, effort: int = DEFAULT_EFFORT, threads: int = 1,
           max_metadata: int = DEFAULT_MAX_METADATA, allow_jpeg: bool = False) -> Compressed:
    """Compress an image file (path, bytes-like or binary file object) or a uint8/uint16 array
    (H, W[, C]).

    `model` names the model for the gray or RGB samples, or its kind (default: the shipped one
    for the colour type); `tile` is the side of the independently coded tiles (default: the
    model's own, else 256; for a photo coded with the online stage, ``tilechoice.tile_side``);
    `strip` drops the PNG's ancillary chunks except tRNS; `effort` (0-2) how much of a
    logistic-mixture model is fitted to the image, the orientation it is coded in included
    (``pixcodec.adapt``; other models ignore it); `threads` how many processes code its tiles,
    and make those choices, at once (the same bytes for any number). Metadata (PNG chunks) over
    `max_metadata` bytes is refused, as `decode` refuses it. A JPEG is refused unless
    `allow_jpeg` (its pixels are lossy already: a lossless copy is larger than the JPEG)."""
    threads = checked_integer(threads, "threads", 1)
    progress = checked_progress(progress)
    prepared = _Prepared.of(source, model, tile, strip, effort, max_metadata, threads,
                            allow_jpeg)
    coded = None
    if prepared.values is not None:
        coded = code_plane(prepared.net, prepared.values, prepared.tile, progress, threads,
                           prepared.photographic)
    return prepared.finish(coded)


def encode_many(sources: Sequence[Source | np.ndarray], model: str | None = None, *,
                tile: int | None = None, strip: bool = False,
                effort: int = DEFAULT_EFFORT, max_metadata: int = DEFAULT_MAX_METADATA,
                allow_jpeg: bool = False) -> list[Compressed]:
    """`encode` of many images at once, in order (each its own file, the very bytes `encode`
    writes): the tiles of the images coded with the same network are encoded together, small
    ones many to a parallel pass, which makes a set of small images (digits, CIFAR) many times
    faster than one by one."""
    prepared = [_Prepared.of(source, model, tile, strip, effort, max_metadata,
                             allow_jpeg=allow_jpeg)
                for source in checked_sources(sources, "images")]
    groups: dict[tuple, list[int]] = {}
    coded: list = [None] * len(prepared)
    for k, p in enumerate(prepared):
        if p.values is not None and not p.photographic:  # tile modes chosen image by image
            coded[k] = code_plane(p.net, p.values, p.tile, photographic=False)
        elif p.values is not None:  # one group per network (an adapted one is the image's own)
            groups.setdefault((id(p.net), p.tile), []).append(k)
    for (_, tile_side), members in groups.items():
        grids = [list(container.tile_grid(*prepared[k].values.shape[:2], tile_side))
                 for k in members]
        tiles = [prepared[k].values[y:y + h, x:x + w]
                 for k, grid in zip(members, grids) for y, x, h, w in grid]
        streams = iter(encode_tiles(prepared[members[0]].net, tiles, tile_side))
        for k, grid in zip(members, grids):
            values = prepared[k].values
            coded[k] = bounded(CodedTiles.of([next(streams) for _ in grid],
                                             [tile_checksum(values[y:y + h, x:x + w])
                                              for y, x, h, w in grid]), values, tile_side)
    return [p.finish(c) for p, c in zip(prepared, coded)]


@dataclass
class _Prepared:
    """An image read and its cheap sections made: what is left is coding the model's plane."""
    image: PngImage
    sections: dict
    coder_model: zoo.Model | None
    net: object                 # the network the plane is coded with (adapted to the image)
    values: np.ndarray | None   # (H, W, C) uint8: the symbols the model codes, as oriented
    tile: int | None
    orientation: int = AS_IS
    photographic: bool = True   # coded by the model alone (pixcodec/tilechoice.py)

    @classmethod
    def of(cls, source: Source | np.ndarray, model: str | None, tile: int | None, strip: bool,
           effort: int, max_metadata: int, threads: int = 1,
           allow_jpeg: bool = False) -> "_Prepared":
        tile, effort, model = checked_tile(tile), checked_effort(effort), checked_model(model)
        strip = checked_flag(strip, "strip")
        max_metadata = checked_integer(max_metadata, "max_metadata", 0)
        image = _image_of(source, checked_flag(allow_jpeg, "allow_jpeg"))
        if strip:
            image = image.stripped()
        sections = {}
        if image.before_idat or image.after_idat:
            sections[CHUNKS] = pack_chunks(image.before_idat, image.after_idat, max_metadata)
        coder_model = net = values = None
        turn, photographic = AS_IS, True
        if image.colour_type == PALETTE:
            sections[INDICES] = pack_lzma(image.samples.tobytes())
        else:
            coder_model, values = _model_plane_input(image, model)
            net = coder_model.net
            photographic = looks_photographic(values)
            if net.per_image_fits and photographic:  # torch's networks: pixcodec.adapt
                from . import adapt
                turn, values, adaptation = adapt.fit_to_image(net, values, effort, threads)
                if adaptation is not None:
                    sections[ADAPT] = adaptation.pack()
                net = adapt.apply(net, adaptation)
            tile = tile or default_tile(values, coder_model.info.coding_tile, net.coders[0],
                                        photographic)
            if useful_workers(*values.shape[:2], threads) == 1:
                stop_spares()  # the tiles will be coded here alone: no worker is left waiting
        if image.colour_type in (GRAY_ALPHA, RGBA):
            alpha = to_eight_bits(image.samples[:, :, -1], image.bit_depth)
            sections[ALPHA] = pack_lzma(alpha.tobytes())
        if image.bit_depth == 16:
            sections[LOW_BYTES] = pack_lzma(low_byte_deltas(image.samples).tobytes())
        return cls(image, sections, coder_model, net, values, tile, turn, photographic)

    def finish(self, coded: CodedTiles | None) -> Compressed:
        """The file, with the model's plane as coded (None: a palette image)."""
        image, sections, name, nll_bits = self.image, dict(self.sections), None, 0.0
        version = container.VERSION
        if coded is not None:
            name, nll_bits = self.coder_model.name, coded.nll_bits
            if coded.modes is not None:
                version = container.TILE_MODES_VERSION
                if MODEL not in coded.modes:
                    sections.pop(ADAPT, None)  # no tile is the model's: a fit would be unread
            sections[COLOUR] = pack_model_plane(ModelPlane(
                name, self.coder_model.weights_sha256, self.net.coders[0],
                coded.tile or self.tile, coded.streams,
                coded.checksums if len(coded.streams) > 1 else None, self.coder_model.info.id,
                version, self.orientation, coded.modes))
        height, width, _ = image.samples.shape
        header = container.Header(width, height, image.colour_type, image.bit_depth,
                                  image.interlaced, container.image_checksum(image, version),
                                  version)
        return Compressed(container.pack(header, sections), header, name, nll_bits)


def _image_of(source: Source | np.ndarray, allow_jpeg: bool) -> PngImage:
    if np.ma.isMaskedArray(source):
        raise ArgumentError("masked arrays are not taken: the mask would be lost (fill them, "
                            "or give an alpha channel)")
    if isinstance(source, np.ndarray) and not (source.dtype == np.uint8 and source.ndim == 1):
        return image_from_array(source, DEFAULT_MAX_PIXELS)
    # a 1-D uint8 array is a file's bytes (np.fromfile), not pixels
    return read_image(read_source(source, "the image"), DEFAULT_MAX_PIXELS, allow_jpeg)


def _model_plane_input(image: PngImage, model: str | None) -> tuple[zoo.Model, np.ndarray]:
    """The model that codes a gray or RGB image's samples and the (H, W, C) uint8 symbols it
    codes."""
    colours = MODEL_CHANNELS[image.colour_type]
    coder_model = zoo.resolve(model, model_mode(image.colour_type, image.bit_depth))
    values = model_symbols(image.samples[:, :, :colours], image.bit_depth, coder_model.levels)
    return coder_model, values


def model_input(source: Source | np.ndarray,
                model: str | None = None) -> tuple[zoo.Model, np.ndarray] | None:
    """What `encode` gives the model for this image: (the model, (H, W, C) uint8 symbols, as
    the image stands: the encoder may code them turned, see `adapt.choose_orientation`), or None
    for a palette image (coded without a model)."""
    image = _image_of(source, allow_jpeg=True)  # measured, not compressed
    if image.colour_type == PALETTE:
        return None
    return _model_plane_input(image, model)


def decode(data: Source | Compressed, *, max_pixels: int = DEFAULT_MAX_PIXELS,
           max_metadata: int = DEFAULT_MAX_METADATA, progress: Progress | None = None,
           models: Sequence[str | Path] = (), threads: int = 1) -> Decompressed:
    """Decompress a .pxc file (bytes-like, path, binary file object or `encode`'s result);
    everything is validated before pixels are decoded. Files of more than `max_pixels` pixels
    or `max_metadata` bytes of PNG chunks are refused. `models`: .pxm files and folders
    holding them, where a model that is not shipped is looked for (then $PIXCODEC_MODEL_PATH).
    `threads`: processes decoding tiles at once."""
    threads = checked_integer(threads, "threads", 1)
    progress = checked_progress(progress)
    parsed = _Parsed.of(_file_bytes(data), max_pixels, max_metadata, models)
    return parsed.finish(parsed.model_symbols(progress, threads))


def decode_many(sources: Sequence[Source | Compressed], *,
                max_pixels: int = DEFAULT_MAX_PIXELS,
                max_metadata: int = DEFAULT_MAX_METADATA,
                models: Sequence[str | Path] = (), progress: Progress | None = None
                ) -> list[Decompressed]:
    """`decode` of many files at once, in order: the tiles of the files coded with the same model
    (and not adapted to their image) are decoded side by side, as the tiles of one image are,
    which makes a set of small images (digits, CIFAR) many times faster than one by one. The
    first file that fails raises its error. `progress(done, total)` counts tiles' steps."""
    max_pixels, max_metadata = checked_limits(max_pixels, max_metadata)
    models, progress = checked_models(models), checked_progress(progress)
    parsed = [_Parsed.of(_file_bytes(source), max_pixels, max_metadata, models)
              for source in checked_sources(sources, ".pxc files")]
    symbols: list[np.ndarray | None] = [None] * len(parsed)
    groups: dict[tuple, list[int]] = {}
    for k, p in enumerate(parsed):
        if p.shares_network:
            groups.setdefault((p.plane.model, p.plane.coder, p.plane.tile), []).append(k)
        else:
            symbols[k] = p.model_symbols()
    for (_, coder, tile), members in groups.items():
        jobs, grids = [], []
        for k in members:
            plane = parsed[k].plane
            grid = list(container.tile_grid(*parsed[k].coded_size, tile))
            if len(plane.streams) != len(grid):
                raise FormatError(f"{len(plane.streams)} tile streams for {len(grid)} tiles")
            jobs += [(t, stream, (h, w), None if plane.checksums is None else plane.checksums[t])
                     for t, (stream, (_, _, h, w)) in enumerate(zip(plane.streams, grid))]
            grids.append(grid)
        net = parsed[members[0]].net
        tiles = iter(decode_tiles(net, jobs, tile, coder, progress))
        for k, grid in zip(members, grids):
            symbols[k] = np.zeros((*parsed[k].coded_size, net.config.colours), np.uint8)
            for y, x, h, w in grid:
                symbols[k][y:y + h, x:x + w] = next(tiles)
    return [p.finish(values) for p, values in zip(parsed, symbols)]


@dataclass
class _Parsed:
    """A .pxc file checked and its cheap sections decoded: what is left is the model's plane."""
    header: container.Header
    sections: dict
    plane: ModelPlane | None
    coder_model: zoo.Model | None
    net: object                   # the network, adapted to the image when the file says so
    chunks: tuple
    values: np.ndarray            # (H, W, channels): alpha and palette indices filled in
    low_delta: np.ndarray | None

    @classmethod
    def of(cls, data: bytes, max_pixels: int, max_metadata: int,
           models: Sequence[str | Path]) -> "_Parsed":
        max_pixels, max_metadata = checked_limits(max_pixels, max_metadata)
        models = checked_models(models)
        header, sections = container.unpack(data, max_pixels)
        height, width, depth = header.height, header.width, header.bit_depth
        plane, coder_model = _checked_model_plane(sections[COLOUR], header, models) \
            if COLOUR in sections else (None, None)
        before, after = (unpack_chunks(sections[CHUNKS], max_metadata)
                         if CHUNKS in sections else ((), ()))
        try:
            check_chunks(before, after, header.colour_type, depth)
        except UnsupportedImageError as exc:
            raise FormatError(f"corrupted CHNK section: {exc}") from None
        # The LZMA sections first: cheap, and no pixel memory is taken before they prove sound.
        indices = alpha = low_delta = None
        if INDICES in sections:
            indices = unpack_lzma(sections[INDICES], height * width, "INDX")
            if max(indices) >= 2 ** depth:
                raise FormatError(f"palette indices exceed {depth} bits: the file is corrupted")
        if ALPHA in sections:
            alpha = unpack_lzma(sections[ALPHA], height * width, "ALPH")
        if LOW_BYTES in sections:
            size = height * width * header.channels
            low_delta = np.frombuffer(unpack_lzma(sections[LOW_BYTES], size, "LOWB"),
                                      dtype=np.uint8).reshape(height, width, header.channels)
        net = None
        if ADAPT in sections and not (plane is not None and needs_network(plane)):
            raise FormatError("ADPT section in a file with no tile the model codes: "
                              "corrupted or forged")
        if plane is not None and needs_network(plane):
            net = coder_model.net
            if ADAPT in sections:
                if not net.per_image_fits:
                    raise FormatError("ADPT section for a model that cannot be adapted")
                from . import adapt
                net = adapt.apply(net, adapt.unpack(sections[ADAPT], net))
        # Every channel as its section holds it: model symbols, 8-bit alpha, palette indices.
        values = np.empty((height, width, header.channels), dtype=np.uint8)
        if indices is not None:
            values[:, :, 0] = np.frombuffer(indices, dtype=np.uint8).reshape(height, width)
        if alpha is not None:
            values[:, :, -1] = np.frombuffer(alpha, dtype=np.uint8).reshape(height, width)
        return cls(header, sections, plane, coder_model, net, (before, after), values, low_delta)

    @property
    def shares_network(self) -> bool:
        """Whether its tiles can be decoded beside other files' of the same model: version 3,
        not adapted."""
        return (self.plane is not None and self.plane.version == 3
                and ADAPT not in self.sections)  # version 4's tile modes: decoded alone

    @property
    def coded_size(self) -> tuple[int, int]:
        """(height, width) of the model plane as coded: the image's, transposed or not."""
        return coded_size(self.header.height, self.header.width, self.plane.orientation)

    def model_symbols(self, progress: Progress | None = None, threads: int = 1
                      ) -> np.ndarray | None:
        """The model plane's symbols as coded (`coded_size`), decoded on their own (None: no
        model plane)."""
        plane = self.plane
        if plane is None:
            return None
        if plane.version == 2:
            return decode_interleaved(self.net, plane.payload, *self.coded_size, plane.tile,
                                      progress, plane.coder)
        if self.net is None:  # every tile coded without the model
            return decode_classic(plane.streams, *self.coded_size, plane.tile,
                                  self.coder_model.info.colours, plane.checksums, plane.modes)
        return decode_pixels(self.net, plane.streams, *self.coded_size, plane.tile, progress,
                             plane.coder, plane.checksums, threads, plane.modes)

    def finish(self, symbols: np.ndarray | None) -> Decompressed:
        """The image from the model's symbols as coded, checked against the file's checksum."""
        header, values, depth = self.header, self.values, self.header.bit_depth
        if symbols is not None:
            values[:, :, :symbols.shape[2]] = restored(symbols, self.plane.orientation)
        if depth == 16:
            samples = sixteen_bit_samples(values, self.low_delta)
        elif header.colour_type == PALETTE:
            samples = values
        else:  # gray or RGB, with 8-bit alpha where there is one (alpha needs depth 8 or 16)
            samples = samples_of_symbols(values, depth, self.coder_model.levels)
        image = PngImage(samples, header.colour_type, depth, header.interlaced, *self.chunks)
        if container.image_checksum(image, header.version) != header.checksum:
            raise FormatError("decoded image fails the checksum: the file is corrupted")
        return Decompressed(image, header)


def _checked_model_plane(data: bytes, header: container.Header,
                         models: Sequence[str | Path] = ()) -> tuple[ModelPlane, zoo.Model]:
    """The COLR section and its model, after checking that this pixcodec has (or finds) the
    model and the coder."""
    plane = unpack_model_plane(data, header)
    if plane.coder not in (*CODERS, *ENGINE_CODERS):
        raise FormatError(f"unknown entropy coder id {plane.coder}")
    try:
        if plane.model is None:  # a shipped model by its registry number
            plane = replace(plane, model=zoo.model_by_id(plane.model_id))
        info = zoo.model_info(zoo.find_model(plane.model, plane.weights_sha256, models)
                              if plane.model_id == 0 else plane.model)
    except ModelError as exc:  # a decoder's view: the file cannot be decoded here
        raise FormatError(str(exc)) from None
    if not bytes.fromhex(info.sha256).startswith(plane.weights_sha256):
        raise FormatError(f"file was made with different weights for model {plane.model!r}")
    if not info.codes(model_mode(header.colour_type, header.bit_depth)):
        raise FormatError(f"model {plane.model!r} does not match colour type "
                          f"{header.colour_type} at bit depth {header.bit_depth}")
    if plane.version == 2:  # one stream, no tile checked before the end: bound its work now
        symbols = header.width * header.height * MODEL_CHANNELS[header.colour_type]
        fewest = fewest_payload_bytes(symbols, info.levels)
        if len(plane.payload) < fewest:
            raise FormatError(f"the file states {header.width}x{header.height} pixels, which "
                              f"take at least {fewest} bytes of stream; it has "
                              f"{len(plane.payload)}: corrupted or forged")
    coder_model = zoo.model(info.name)
    if needs_network(plane) and (plane.coder not in coder_model.net.coders  # loads it
                                 or (plane.coder in ENGINE_CODERS and plane.version == 2)):
        raise FormatError(f"entropy coder {plane.coder} cannot code model {plane.model!r}")
    return plane, coder_model


def needs_network(plane: ModelPlane) -> bool:
    """Whether any of the plane's tiles is coded by the model (version 4 may code them all
    with the classic modes: the network, and torch, are then never loaded)."""
    return plane.modes is None or MODEL in plane.modes


def _file_bytes(data: Source | Compressed) -> bytes:
    """A .pxc file's bytes, from any Source or from what `encode` returned: so that
    decode_many(encode_many(images)) works as README shows it."""
    return read_source(data.data if isinstance(data, Compressed) else data, "the .pxc data")


def compress(source: Source | np.ndarray, model: str | None = None, *, strip: bool = False,
             effort: int = DEFAULT_EFFORT, tile: int | None = None, threads: int = 1,
             max_metadata: int = DEFAULT_MAX_METADATA) -> bytes:
    """An image file (path, bytes-like or binary file object) or a uint8/uint16 array
    (H, W[, C]) -> .pxc bytes; the options are `encode`'s."""
    return encode(source, model, strip=strip, effort=effort, tile=tile, threads=threads,
                  max_metadata=max_metadata).data


def decompress(data: Source | Compressed, models: Sequence[str | Path] = ()) -> np.ndarray:
    """A .pxc file (bytes-like, path, binary file object, or `encode`'s result) -> the
    samples: (H, W) for one channel, else (H, W, C); uint8, or uint16 for 16-bit images;
    palette indices for palette images (`decode` gives the whole PngImage)."""
    samples = decode(data, models=models).pixels
    return samples[:, :, 0] if samples.shape[2] == 1 else samples
