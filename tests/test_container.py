"""The decoder validates everything and names the problem."""
import dataclasses
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import pixcodec
from pixcodec import container, zoo
from pixcodec.container import ALPHA, CHUNKS, COLOUR, INDICES, LOW_BYTES
from pixcodec.errors import FormatError
from pixcodec.imageio import Chunk, PngImage, image_from_array, write_png
from pixcodec.limits import MAX_TILE
from pixcodec.sections import (model_plane_of, pack_chunks, pack_lzma, pack_model_plane,
                               pack_model_plane_v2, unpack_model_plane)


@pytest.fixture(scope="module")
def sample():
    # Noise of a narrow range, which the model codes in fewer bytes than the samples take:
    # wider noise would be stored (tile modes, test_tile_modes), not model-coded.
    pixels = np.random.default_rng(5).integers(96, 160, (6, 7, 3), dtype=np.uint8)
    return pixels, pixcodec.compress(pixels)


@pytest.fixture(scope="module")
def tiled():
    """A version 3 file of 9 tiles (tile 8 on 20 x 20 pixels) and its pixels."""
    pixels = np.random.default_rng(6).integers(112, 144, (20, 20, 3), dtype=np.uint8)
    return pixels, pixcodec.encode(pixels, "pixelcnn-rgb-v1", tile=8).data


ASSETS = Path(__file__).parent / "assets"
# A float model's plane (coders 1 and 2), for the checks of those coders' streams: the RGB
# default, an integer model, refuses them before.
FLOAT_MODEL = dict(model_id=zoo.model_info("logistic-rgb-v7").id,
                   weights_sha256=zoo.weights_sha256("logistic-rgb-v7"))


@pytest.fixture(scope="module")
def sample_v2():
    """A file of format version 2 (the 12 x 10 pattern of test_golden) and its pixels."""
    data = (ASSETS / "v2" / "pixelcnn-rgb-v1.pxc").read_bytes()
    return pixcodec.decompress(data), data


def repack(data: bytes, sections=None, **header_changes) -> bytes:
    """The version 3 file with some header fields or whole section bodies replaced, CRC made
    valid."""
    header, found = container.unpack(data)
    return container.pack(dataclasses.replace(header, **header_changes), {**found, **(sections or {})})


def with_plane(data: bytes, **changes) -> bytes:
    """The version 3 file with fields of its COLR section replaced, CRC made valid."""
    plane = model_plane_of(data)
    return repack(data, {COLOUR: pack_model_plane(dataclasses.replace(plane, **changes))})


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def repack_v2(data: bytes, sections=None, **header_changes) -> bytes:
    header, found = container.unpack(data)
    return container.pack_v2(dataclasses.replace(header, **header_changes),
                              {**found, **(sections or {})})


def with_plane_v2(data: bytes, **changes) -> bytes:
    plane = model_plane_of(data)
    return repack_v2(data, {COLOUR: pack_model_plane_v2(dataclasses.replace(plane,
                                                                                      **changes))})


def raw_section(kind: bytes, body: bytes) -> bytes:
    return struct.pack("<4sI", kind, len(body)) + body + struct.pack("<I", zlib.crc32(kind + body))


def add_section(data: bytes, section: bytes) -> bytes:
    """Append a raw section to a version 2 file and count it in the header (header CRC made
    valid)."""
    head = bytearray(data[:container.HEADER_SIZE - 4])
    head[16] += 1
    return bytes(head) + struct.pack("<I", zlib.crc32(head)) + data[container.HEADER_SIZE:] + section


def test_header_fields(sample):
    pixels, data = sample
    header, sections = container.unpack(data)
    assert (header.width, header.height, header.colour_type, header.bit_depth) == (7, 6, 2, 8)
    assert header.version == 3 and data[4] == 3
    assert header.checksum == container.image_checksum(image_from_array(pixels, 42))
    assert len(header.checksum) == 4
    assert list(sections) == [COLOUR]
    plane = unpack_model_plane(sections[COLOUR], header)
    assert plane.model is None and zoo.model_by_id(plane.model_id) == zoo.default_model("RGB")
    assert zoo.weights_sha256(zoo.default_model("RGB")).startswith(plane.weights_sha256)
    assert len(plane.weights_sha256) == 2 and plane.checksums is None
    # magic 4, version 1, width 1, height 1, image byte, sections byte, checksum 4, CRC 4
    assert len(data) == 4 + 1 + 1 + 1 + 2 + 4 + len(sections[COLOUR]) + 4
    # model number 1, hash 2, coder 1, tile 2 (256): a 23-byte header for a one-tile image
    assert len(sections[COLOUR]) - len(plane.payload) == 1 + 2 + 1 + 2
    assert len(data) - len(plane.payload) == 23


def test_a_model_of_the_users_is_named_in_full(sample, tmp_path):
    """A model that is not shipped has no registry number: its name and whole hash."""
    pixels, data = sample
    plane = model_plane_of(data)
    named = with_plane(data, model="my-model", model_id=0, weights_sha256=b"\7" * 32)
    again = model_plane_of(named)
    assert (again.model, again.model_id, again.weights_sha256) == ("my-model", 0, b"\7" * 32)
    assert again.streams == plane.streams
    with pytest.raises(FormatError, match="my-model"):
        pixcodec.decode(named)


def test_varints_are_in_their_shortest_form(sample):
    _, data = sample
    body = data[:-4]
    assert body[5] == 7  # the width, one byte
    with pytest.raises(FormatError, match="shortest form"):
        pixcodec.decode(with_crc(body[:5] + b"\x87\x00" + body[6:]))


@pytest.mark.parametrize("mutate,message", [
    (lambda d: b"XXXX" + d[4:], "bad magic"),
    (lambda d: d[:4] + b"\x07" + d[5:], "version 7"),
    (lambda d: d[:4] + b"\x01" + d[5:], "version 1"),
    (lambda d: d[:9], "header incomplete"),
    (lambda d: d[:-1], "CRC mismatch"),
    (lambda d: d + b"\0", "CRC mismatch"),
    (lambda d: d[:7] + bytes([d[7] ^ 1]) + d[8:], "CRC mismatch"),
    (lambda d: d[:-10] + bytes([d[-10] ^ 1]) + d[-9:], "CRC mismatch"),
    (lambda d: with_crc(d[:5]), "header incomplete"),
    (lambda d: with_crc(d[:5] + b"\xff" * 6 + d[6:-4]), "too long a number"),
    (lambda d: repack(d, width=20000, height=20000), "exceeds the limit"),
    (lambda d: repack(d, width=70000, height=1), r"sides are 1 to 65536"),  # as PNGs read
    (lambda d: repack(d, width=2**32 - 1, height=2**32 - 1), r"sides are 1 to 65536"),
    (lambda d: repack(d, width=0), "invalid image size"),
    (lambda d: repack(d, colour_type=5), "colour type 5"),
    (lambda d: repack(d, colour_type=7), "colour type 7"),
    (lambda d: repack(d, bit_depth=4), "bit depth 4"),
    (lambda d: repack(d, colour_type=6), "lacks the ALPH section"),
    (lambda d: repack(d, bit_depth=16), "lacks the LOWB section"),
    (lambda d: repack(d, {ALPHA: pack_lzma(bytes(42))}), "unexpected ALPH"),
    (lambda d: repack(d, checksum=b"\0" * 4), "checksum"),
    (lambda d: with_crc(d[:8] + bytes([d[8] | 0x80]) + d[9:-4]), "critical section flags"),
    (lambda d: with_crc(d[:7] + bytes([d[7] | 0x38]) + d[8:-4]), "bit depth code 7"),
    (lambda d: with_crc(d[:7] + bytes([d[7] | 0x80]) + d[8:-4]), "invalid image byte"),
    (lambda d: with_plane(d, model_id=99), "shipped model number 99"),
    (lambda d: with_plane(d, model_id=0, model="pixelcnn-rgb-v9", weights_sha256=b"\1" * 32),
     "pixelcnn-rgb-v9"),
    (lambda d: with_plane(d, weights_sha256=b"\1\1"), "different weights for model 'logistic-rgb"),
    (lambda d: with_plane(d, coder=9), "coder"),
    (lambda d: with_plane(d, tile=0), "invalid tile size 0"),
    (lambda d: with_plane(d, tile=MAX_TILE + 1), "invalid tile size"),
    (lambda d: with_plane(d, model_id=2, weights_sha256=zoo.weights_sha256("pixelcnn-gray-v1")),
     "colour type"),
    (lambda d: with_plane(d, coder=1, streams=(b"\0\0\0",), **FLOAT_MODEL), "multiple of 4"),
    (lambda d: with_plane(d, streams=(b"\0\0\0",)), "checksum"),
    (lambda d: repack(d, {COLOUR: b"\1"}), "truncated"),
    (lambda d: repack(d, {COLOUR: b""}), "empty COLR"),
])
def test_bad_files_are_named(sample, mutate, message):
    with pytest.raises(FormatError, match=message):
        pixcodec.decode(mutate(sample[1]))


def test_a_file_of_many_tiles_has_a_stream_and_a_checksum_per_tile(tiled):
    pixels, data = tiled
    plane = model_plane_of(data)
    assert len(plane.streams) == len(plane.checksums) == 9
    tiles = [pixels[y:y + h, x:x + w] for y, x, h, w in container.tile_grid(20, 20, 8)]
    assert list(plane.checksums) == [zlib.crc32(t.tobytes()) for t in tiles]
    # each tile's stream decodes on its own, without the others
    net = zoo.model("pixelcnn-rgb-v1").net
    from pixcodec import codec
    alone = codec.decode_tiles(net, [(4, plane.streams[4], (8, 8), plane.checksums[4])], 8)[0]
    assert np.array_equal(alone, tiles[4])


def forged(data: bytes, width: int, height: int, tile: int) -> bytes:
    """The file's header and tile table made to claim another size and tile, CRC valid."""
    header, sections = container.unpack(data)
    plane = dataclasses.replace(model_plane_of(data), tile=tile)
    return container.pack(dataclasses.replace(header, width=width, height=height),
                          {**sections, COLOUR: pack_model_plane(plane)})


def _bad_tile_table(d):
    """A tile length that runs past the end of the section."""
    plane = model_plane_of(d)
    body = pack_model_plane(plane)
    head = len(body) - len(plane.payload) - 4 * 9 - sum(
        len(container.varint(len(s))) for s in plane.streams[:-1])
    return repack(d, {COLOUR: body[:head] + b"\xff\x7f" + body[head + 1:]})


@pytest.mark.parametrize("mutate,message", [
    (_bad_tile_table, "tile lengths add up|truncated"),
    (lambda d: with_plane(d, streams=model_plane_of(d).streams[:-1],
                          checksums=model_plane_of(d).checksums[:-1]),
     "tile|checksum|payload|truncated"),
    (lambda d: with_plane(d, streams=model_plane_of(d).streams[:2] + (b"\0",)
                          + model_plane_of(d).streams[3:]), "tile 3 fails"),
    (lambda d: with_plane(d, checksums=(0,) * 9), "tile 1 fails"),
    (lambda d: forged(d, 16384, 16384, 8), "4194304 tiles"),
])
def test_damaged_tile_tables_and_streams_are_refused(tiled, mutate, message, monkeypatch):
    from pixcodec import codec
    monkeypatch.setattr(codec, "ROUND_PIXELS", 1)  # each tile checked as soon as decoded
    with pytest.raises(FormatError, match=message):
        pixcodec.decode(mutate(tiled[1]), max_pixels=2**28)


def test_a_huge_image_over_a_tiny_payload_is_refused_before_decoding(tiled, monkeypatch):
    """A forged header claiming 65536 x 65536 pixels in tiles of 1024 needs a table of 4096
    tiles: refused by its length, before any tile is decoded."""
    from pixcodec import codec
    calls = []
    monkeypatch.setattr(codec, "code_round", lambda *a, **k: calls.append(1))
    with pytest.raises(FormatError, match="4096 tiles, whose table alone needs"):
        pixcodec.decode(forged(tiled[1], 65536, 65536, 1024), max_pixels=2**32)
    assert not calls


def test_a_damaged_tile_stops_decoding_at_its_round(tiled, monkeypatch):
    """With one tile a round, a bad second tile costs two tiles' decoding, not nine."""
    from pixcodec import codec
    monkeypatch.setattr(codec, "ROUND_PIXELS", 1)
    rounds = []
    real = codec.code_round
    monkeypatch.setattr(codec, "code_round", lambda *a, **k: rounds.append(1) or real(*a, **k))
    plane = model_plane_of(tiled[1])
    bad = with_plane(tiled[1], checksums=plane.checksums[:1] + (0,) + plane.checksums[2:])
    with pytest.raises(FormatError, match="tile 2 fails its checksum"):
        pixcodec.decode(bad)
    assert len(rounds) == 2


# Version 2 files are still read: the same checks on their layout.
@pytest.mark.parametrize("mutate,message", [
    (lambda d: d[:20], "header incomplete"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d[:container.HEADER_SIZE + 5], "truncated"),
    (lambda d: d + b"\0", "unexpected bytes"),
    (lambda d: d[:10] + bytes([d[10] ^ 1]) + d[11:], "header"),
    (lambda d: d[:-10] + bytes([d[-10] ^ 1]) + d[-9:], "COLR"),
    (lambda d: repack_v2(d, width=20000, height=20000), "exceeds the limit"),
    (lambda d: repack_v2(d, width=2**32 - 1, height=2**32 - 1), r"sides are 1 to 65536"),
    (lambda d: repack_v2(d, colour_type=5), "colour type 5"),
    (lambda d: repack_v2(d, colour_type=6), "lacks the ALPH section"),
    (lambda d: repack_v2(d, checksum=b"\0" * 8), "checksum"),
    (lambda d: with_plane_v2(d, model="pixelcnn-rgb-v9"), "pixelcnn-rgb-v9"),
    (lambda d: with_plane_v2(d, weights_sha256=b"\1" * 32), "different weights for model 'pixelcnn-rgb"),
    (lambda d: with_plane_v2(d, coder=9), "coder"),
    (lambda d: with_plane_v2(d, tile=0), "invalid tile size 0"),
    (lambda d: with_plane_v2(d, coder=1, streams=(b"\0\0\0",)), "multiple of 4"),
    (lambda d: with_plane_v2(d, streams=(b"\0\0\0",)), "checksum"),
    (lambda d: add_section(d, raw_section(b"ZZZZ", b"")), "unknown critical section ZZZZ"),
    (lambda d: add_section(d, raw_section(COLOUR, b"")), "repeated or out of order"),
    (lambda d: add_section(d, raw_section(b"CO\0R", b"")), "invalid section type"),
])
def test_bad_version_2_files_are_named(sample_v2, mutate, message):
    with pytest.raises(FormatError, match=message):
        pixcodec.decode(mutate(sample_v2[1]))


def test_version_2_files_repack_to_themselves_and_skip_unknown_ancillary_sections(sample_v2):
    pixels, data = sample_v2
    assert repack_v2(data) == data
    assert np.array_equal(pixcodec.decompress(add_section(data, raw_section(b"zzzz", b"x"))),
                          pixels)


def test_pixel_limit_is_checked_before_decoding(sample):
    with pytest.raises(FormatError, match="exceeds the limit of 41"):
        pixcodec.decode(sample[1], max_pixels=41)
    assert pixcodec.decode(sample[1], max_pixels=42).pixels.shape == (6, 7, 3)


@pytest.mark.parametrize("kind,make,message", [
    (LOW_BYTES, lambda n: pack_lzma(bytes(n - 1)), "less than"),
    (LOW_BYTES, lambda n: pack_lzma(bytes(n + 1)), "more than"),
    (LOW_BYTES, lambda n: b"\xff" * 20, "corrupted LOWB"),
    (ALPHA, lambda n: pack_lzma(bytes(n // 2 + 1)), "more than"),
    (CHUNKS, lambda n: b"\xff\xff\xff\x7f" + zlib.compress(b""), "impossible size"),
    (CHUNKS, lambda n: b"\x09\0\0\0" + zlib.compress(b"\x07IDAT\0\0\0\0"), "invalid entry"),
    (CHUNKS, lambda n: b"\x05\0\0\0" + zlib.compress(b"\x00IDAT"), "truncated entry"),
    (CHUNKS, lambda n: pack_chunks((Chunk(b"IDAT", b""),), ()), "misplaced IDAT"),
    (CHUNKS, lambda n: pack_chunks((Chunk(b"gAMA", b"12"),), ()), "gAMA chunk of 2"),
])
def test_bad_lzma_and_chunk_sections_are_named(kind, make, message):
    pixels = np.random.default_rng(2).integers(0, 2**16, (3, 4, 2), dtype=np.uint16)
    data = pixcodec.compress(pixels)
    with pytest.raises(FormatError, match=message):
        pixcodec.decode(repack(data, {kind: make(pixels.size)}))


def test_palette_indices_beyond_the_bit_depth_are_refused():
    image = PngImage(np.ones((2, 3, 1), np.uint8), 3, 2, before_idat=(Chunk(b"PLTE", bytes(6)),))
    data = pixcodec.compress(write_png(image))
    assert pixcodec.decode(data).image == image
    with pytest.raises(FormatError, match="palette indices exceed 2 bits"):
        pixcodec.decode(repack(data, {INDICES: pack_lzma(bytes([4] * 6))}))


def test_corrupted_payload_never_returns_wrong_pixels(sample):
    pixels, data = sample
    rng = np.random.default_rng(0)
    start = len(data) - len(container.unpack(data)[1][COLOUR]) - 4
    outcomes = set()
    for _ in range(20):
        bad = bytearray(data)
        i = int(rng.integers(start, len(data) - 4))
        bad[i] ^= 1 << int(rng.integers(0, 8))
        # with the file's CRC made valid again, only the checksum can catch the change
        fixed = repack(bytes(data), {COLOUR: bytes(bad[start:len(data) - 4])})
        for attempt in (bytes(bad), fixed):
            try:
                out = pixcodec.decompress(attempt)
            except FormatError as exc:
                outcomes.add(str(exc).split(" (")[0])
                continue
            assert np.array_equal(out, pixels)
    assert "corrupted file" in outcomes
    assert any("checksum" in o or "corrupted payload" in o for o in outcomes)


def test_pack_unpack_is_identity(sample):
    header, sections = container.unpack(sample[1])
    assert container.pack(header, sections) == sample[1]


def test_a_version_2_file_too_short_for_its_pixels_is_refused_before_decoding(sample_v2,
                                                                               monkeypatch):
    """Version 2 checks nothing before its last pixel: a file of a few bytes that states
    16384 x 16384 pixels decoded for hours. Its stream must be as long as that many symbols
    take at the least (coder.fewest_payload_bytes); the genuine file still decodes."""
    from pixcodec import api

    def refuse(*args, **kwargs):
        raise AssertionError("the forged file was decoded")

    pixels, data = sample_v2
    forged = with_plane_v2(repack_v2(data, width=16384, height=16384), streams=(b"\0" * 8,))
    monkeypatch.setattr(api, "decode_interleaved", refuse)
    with pytest.raises(FormatError, match=r"16384x16384 pixels, which take at least 1[0-9]{3} "
                                          "bytes of stream; it has 8: corrupted or forged"):
        pixcodec.decode(forged)
    monkeypatch.undo()
    assert np.array_equal(pixcodec.decompress(data), pixels)


def test_a_one_bit_version_2_file_is_held_to_4_megapixels_unless_the_limit_is_raised(
        monkeypatch):
    """A 1-bit model's symbols carry too little to bound a file's work by its length: a 93-byte
    version 2 file stating 16384 x 16384 1-bit pixels is refused at once (it decoded for hours)
    unless --max-pixels is raised; the genuine file decodes, and a raised limit lets a large
    one through to its decoding."""
    from pixcodec import api

    data = (ASSETS / "v2" / "pixelcnn-binary-v1.pxc").read_bytes()
    forged = repack_v2(data, width=16384, height=16384)
    with pytest.raises(FormatError, match="exceeds the limit of 4194304 pixels.*--max-pixels"):
        pixcodec.decode(forged)

    def decoding(*args, **kwargs):
        raise RuntimeError("decoding")

    monkeypatch.setattr(api, "decode_interleaved", decoding)
    with pytest.raises(RuntimeError, match="decoding"):
        pixcodec.decode(forged, max_pixels=2**29)
    monkeypatch.undo()
    assert pixcodec.decode(data).header.width == 10


def test_no_range_coder_stream_is_shorter_than_its_symbols_take():
    """The bound's premise: constriction gives no symbol more than 1 - 255 * 2**-24 of a
    256-entry table (its 24-bit quantisation), so 4e7 symbols at the likeliest take at least
    877 bits; a coder of finer probabilities would write fewer and the bound would refuse
    genuine files."""
    import constriction

    from pixcodec.coder import fewest_payload_bytes
    likeliest = np.full(256, 1e-300)
    likeliest[0] = 1.0
    encoder = constriction.stream.queue.RangeEncoder()
    symbols = 4 * 10**7
    encoder.encode(np.zeros(symbols, dtype=np.int32),
                   constriction.stream.model.Categorical(likeliest, perfect=False))
    written = 4 * len(encoder.get_compressed())
    assert written >= 2 * fewest_payload_bytes(symbols, 256) > 0
