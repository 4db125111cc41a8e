"""The decoder validates everything and names the problem."""
import dataclasses
import struct
import zlib

import numpy as np
import pytest

import pixcodec
from pixcodec import container, zoo
from pixcodec.container import ALPHA, CHUNKS, COLOUR, INDICES, LOW_BYTES
from pixcodec.errors import FormatError
from pixcodec.imageio import Chunk, PngImage, image_from_array, write_png


@pytest.fixture(scope="module")
def sample():
    pixels = np.random.default_rng(5).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    return pixels, pixcodec.compress(pixels)


def repack(data: bytes, sections=None, **header_changes) -> bytes:
    """The file with some header fields or whole section bodies replaced, CRCs made valid."""
    header, found = container.unpack(data)
    return container.pack(dataclasses.replace(header, **header_changes), {**found, **(sections or {})})


def with_plane(data: bytes, **changes) -> bytes:
    """The file with fields of its COLR section replaced, CRCs made valid."""
    plane = container.unpack_model_plane(container.unpack(data)[1][COLOUR])
    return repack(data, {COLOUR: container.pack_model_plane(dataclasses.replace(plane, **changes))})


def raw_section(kind: bytes, body: bytes) -> bytes:
    return struct.pack("<4sI", kind, len(body)) + body + struct.pack("<I", zlib.crc32(kind + body))


def add_section(data: bytes, section: bytes) -> bytes:
    """Append a raw section and count it in the header (header CRC made valid)."""
    head = bytearray(data[:container.HEADER_SIZE - 4])
    head[16] += 1
    return bytes(head) + struct.pack("<I", zlib.crc32(head)) + data[container.HEADER_SIZE:] + section


def test_header_fields(sample):
    pixels, data = sample
    header, sections = container.unpack(data)
    assert (header.width, header.height, header.colour_type, header.bit_depth) == (7, 6, 2, 8)
    assert header.checksum == container.image_checksum(image_from_array(pixels, 42))
    assert list(sections) == [COLOUR]
    plane = container.unpack_model_plane(sections[COLOUR])
    assert plane.model == zoo.default_model("RGB")
    assert plane.weights_sha256 == zoo.weights_sha256(plane.model)
    assert len(data) == container.HEADER_SIZE + 12 + len(sections[COLOUR])


@pytest.mark.parametrize("mutate,message", [
    (lambda d: b"XXXX" + d[4:], "bad magic"),
    (lambda d: d[:4] + b"\x07" + d[5:], "version 7"),
    (lambda d: d[:4] + b"\x01" + d[5:], "version 1"),
    (lambda d: d[:20], "header incomplete"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d[:container.HEADER_SIZE + 5], "truncated"),
    (lambda d: d + b"\0", "unexpected bytes"),
    (lambda d: d[:10] + bytes([d[10] ^ 1]) + d[11:], "header"),
    (lambda d: d[:-10] + bytes([d[-10] ^ 1]) + d[-9:], "COLR"),
    (lambda d: repack(d, width=20000, height=20000), "exceeds the limit"),
    (lambda d: repack(d, width=70000, height=1), r"sides are 1 to 65536"),  # as PNGs read
    (lambda d: repack(d, width=2**32 - 1, height=2**32 - 1), r"sides are 1 to 65536"),
    (lambda d: repack(d, width=0), "invalid image size"),
    (lambda d: repack(d, colour_type=5), "colour type 5"),
    (lambda d: repack(d, bit_depth=4), "bit depth 4"),
    (lambda d: repack(d, colour_type=6), "lacks the ALPH section"),
    (lambda d: repack(d, bit_depth=16), "lacks the LOWB section"),
    (lambda d: repack(d, {ALPHA: container.pack_lzma(bytes(42))}), "unexpected ALPH"),
    (lambda d: repack(d, checksum=b"\0" * 8), "checksum"),
    (lambda d: with_plane(d, model="pixelcnn-rgb-v9"), "pixelcnn-rgb-v9"),
    (lambda d: with_plane(d, weights_sha256=b"\1" * 32), "different weights for model 'logistic-rgb"),
    (lambda d: with_plane(d, coder=9), "coder"),
    (lambda d: with_plane(d, tile=0), "invalid tile size 0"),
    (lambda d: with_plane(d, tile=container.MAX_TILE + 1), "invalid tile size"),
    (lambda d: with_plane(d, model="pixelcnn-gray-v1",
                          weights_sha256=zoo.weights_sha256("pixelcnn-gray-v1")), "colour type"),
    (lambda d: with_plane(d, coder=1, payload=b"\0\0\0"), "multiple of 4"),
    (lambda d: with_plane(d, payload=b"\0\0\0"), "checksum"),
    (lambda d: add_section(d, raw_section(b"ZZZZ", b"")), "unknown critical section ZZZZ"),
    (lambda d: add_section(d, raw_section(COLOUR, b"")), "repeated or out of order"),
    (lambda d: add_section(d, raw_section(b"CO\0R", b"")), "invalid section type"),
])
def test_bad_files_are_named(sample, mutate, message):
    with pytest.raises(FormatError, match=message):
        pixcodec.decode(mutate(sample[1]))


def test_unknown_ancillary_sections_are_skipped(sample):
    pixels, data = sample
    assert np.array_equal(pixcodec.decompress(add_section(data, raw_section(b"zzzz", b"x"))),
                          pixels)


def test_pixel_limit_is_checked_before_decoding(sample):
    with pytest.raises(FormatError, match="exceeds the limit of 41"):
        pixcodec.decode(sample[1], max_pixels=41)
    assert pixcodec.decode(sample[1], max_pixels=42).pixels.shape == (6, 7, 3)


@pytest.mark.parametrize("kind,make,message", [
    (LOW_BYTES, lambda n: container.pack_lzma(bytes(n - 1)), "less than"),
    (LOW_BYTES, lambda n: container.pack_lzma(bytes(n + 1)), "more than"),
    (LOW_BYTES, lambda n: b"\xff" * 20, "corrupted LOWB"),
    (ALPHA, lambda n: container.pack_lzma(bytes(n // 2 + 1)), "more than"),
    (CHUNKS, lambda n: b"\xff\xff\xff\x7f" + zlib.compress(b""), "impossible size"),
    (CHUNKS, lambda n: b"\x09\0\0\0" + zlib.compress(b"\x07IDAT\0\0\0\0"), "invalid entry"),
    (CHUNKS, lambda n: b"\x05\0\0\0" + zlib.compress(b"\x00IDAT"), "truncated entry"),
    (CHUNKS, lambda n: container.pack_chunks((Chunk(b"IDAT", b""),), ()), "misplaced IDAT"),
    (CHUNKS, lambda n: container.pack_chunks((Chunk(b"gAMA", b"12"),), ()), "gAMA chunk of 2"),
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
        pixcodec.decode(repack(data, {INDICES: container.pack_lzma(bytes([4] * 6))}))


def test_corrupted_payload_never_returns_wrong_pixels(sample):
    pixels, data = sample
    rng = np.random.default_rng(0)
    start = len(data) - len(container.unpack(data)[1][COLOUR]) - 4
    outcomes = set()
    for _ in range(20):
        bad = bytearray(data)
        i = int(rng.integers(start, len(data) - 4))
        bad[i] ^= 1 << int(rng.integers(0, 8))
        # with the section CRC made valid again, only the checksum can catch the change
        fixed = repack(bytes(data), {COLOUR: bytes(bad[start:len(data) - 4])})
        for attempt in (bytes(bad), fixed):
            try:
                out = pixcodec.decompress(attempt)
            except FormatError as exc:
                outcomes.add(str(exc).split(" (")[0])
                continue
            assert np.array_equal(out, pixels)
    assert "corrupted section COLR" in outcomes
    assert any("checksum" in o or "corrupted payload" in o for o in outcomes)


def test_pack_unpack_is_identity(sample):
    header, sections = container.unpack(sample[1])
    assert container.pack(header, sections) == sample[1]
