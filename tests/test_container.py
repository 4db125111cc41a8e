"""The decoder validates everything and names the problem."""
import dataclasses
import zlib

import numpy as np
import pytest

import pixcodec
from pixcodec import container, zoo
from pixcodec.errors import FormatError


@pytest.fixture(scope="module")
def sample():
    pixels = np.random.default_rng(5).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    return pixels, pixcodec.compress(pixels)


def repack(data: bytes, **changes) -> bytes:
    header, payload = container.unpack(data)
    return container.pack(dataclasses.replace(header, **changes), payload)


def test_header_fields(sample):
    pixels, data = sample
    header, payload = container.unpack(data)
    assert (header.width, header.height, header.mode, header.bit_depth) == (7, 6, "RGB", 8)
    assert header.model == "pixelcnn-rgb-v1" and len(header.weights_sha256) == 32
    assert header.checksum == container.pixel_checksum(pixels.tobytes())
    assert len(data) == container.header_size(header.model) + len(payload)


@pytest.mark.parametrize("mutate,message", [
    (lambda d: b"XXXX" + d[4:], "bad magic"),
    (lambda d: d[:4] + b"\x07" + d[5:], "version 7"),
    (lambda d: d[:20], "truncated"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d + b"\0", "unexpected bytes"),
    (lambda d: d[:10] + bytes([d[10] ^ 1]) + d[11:], "CRC"),
    (lambda d: repack(d, model="pixelcnn-rgb-v9"), "pixelcnn-rgb-v9"),
    (lambda d: repack(d, weights_sha256=b"\1" * 32), "different weights"),
    (lambda d: repack(d, checksum=b"\0" * 8), "checksum"),
    (lambda d: repack(d, coder=9), "coder"),
    (lambda d: repack(d, model="pixelcnn-gray-v1",
                      weights_sha256=zoo.weights_sha256("pixelcnn-gray-v1")), "colour mode"),
    (lambda d: repack(d, width=70000, height=70000), "exceeds the limit"),
])
def test_bad_files_are_named(sample, mutate, message):
    with pytest.raises(FormatError, match=message):
        pixcodec.decode(mutate(sample[1]))


def test_corrupted_payload_never_returns_wrong_pixels(sample):
    pixels, data = sample
    rng = np.random.default_rng(0)
    start = len(data) - container.unpack(data)[0].payload_length
    for _ in range(20):
        bad = bytearray(data)
        i = int(rng.integers(start, len(data)))
        bad[i] ^= 1 << int(rng.integers(0, 8))
        try:
            out = pixcodec.decompress(bytes(bad))
        except FormatError:
            continue
        assert np.array_equal(out, pixels)


def test_pack_unpack_is_identity(sample):
    header, payload = container.unpack(sample[1])
    assert container.pack(header, payload) == sample[1]
    assert zlib.crc32(sample[1]) == zlib.crc32(container.pack(*container.unpack(sample[1])))
