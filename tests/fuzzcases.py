"""Corrupted and hostile .pxc files, made deterministically: case `index` of `seed` is always
the same file. tests/test_fuzz.py runs a few hundred of them, scripts/fuzz.py ten thousand.

Each case starts from a tiny valid file (every section type is among them) and damages it: bit
flips, byte edits, truncation, junk appended, edited section lengths, edited dimensions and other
header fields (header CRC made valid again, so the values themselves are what is tested), other
model names and hashes, sections dropped, repeated or reordered, section bodies replaced or
bit-flipped with their CRC made valid (so only the decoders and the image checksum stand in
the way), random bytes; and forgeries: sizes up to 2^32 a side in tiles of one pixel, and CHNK
sections that inflate to megabytes. Each file is handed to the decoder in one of the forms the
API takes (bytes, bytearray, memoryview, a uint8 array, a file object, a path). Decoding must
end in the exact original image or a PixcodecError.
The one field no case edits is the image checksum itself: a file whose every part is rewritten
consistently is a different file, not a damaged one.
"""
from __future__ import annotations

import dataclasses
import io
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

import pixcodec
from pixcodec import container, zoo
from pixcodec.container import COLOUR, HEADER_SIZE, MAGIC, VERSION
from pixcodec.errors import PixcodecError
from pixcodec.imageio import Chunk, PngImage, read_png, write_png

# Decoding a file whose edited dimensions are within the limit runs the model over them:
# keep that short. (Real files use --max-pixels the same way.) Likewise the metadata.
MAX_PIXELS = 1024
MAX_METADATA = 2**20

KINDS = ("bit flips", "byte edits", "truncation", "junk appended", "section length",
         "dimensions", "header fields", "model", "sections reordered", "section body",
         "body bits, CRC valid", "random bytes", "forged size", "metadata bomb")
FORMS = ("bytes", "bytearray", "memoryview", "array", "file object", "path")


def originals() -> list[tuple[PngImage, bytes]]:
    """Tiny images of every colour type that needs its own sections, and their .pxc files."""
    rng = np.random.default_rng(20240601)
    images = [
        PngImage(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), 2, 8, False,
                 (Chunk(b"gAMA", struct.pack(">I", 45455)), Chunk(b"tEXt", b"Title\0fuzz")),
                 (Chunk(b"tIME", bytes([7, 232, 6, 1, 12, 0, 0])),)),
        PngImage(rng.integers(0, 2**16, (4, 3, 4), dtype=np.uint16), 6, 16),
        PngImage(rng.integers(0, 4, (3, 6, 1), dtype=np.uint8), 3, 2, False,
                 (Chunk(b"PLTE", bytes(range(12))), Chunk(b"tRNS", b"\x00\x80"))),
        PngImage(rng.integers(0, 2, (2, 7, 1), dtype=np.uint8), 0, 1, True),
        PngImage(rng.integers(0, 256, (4, 4, 2), dtype=np.uint8), 4, 8),
        PngImage(rng.integers(0, 2**16, (5, 3, 1), dtype=np.uint16), 0, 16, False,
                 (Chunk(b"pHYs", bytes(9)),)),
    ]
    made = []
    for image in images:
        png = write_png(image)
        made.append((read_png(png, MAX_PIXELS), pixcodec.compress(png)))
    return made


def sections_of(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of each section of a valid file."""
    found, pos = [], HEADER_SIZE
    while pos < len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        found.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return found


def assemble(head: bytes, sections: list[tuple[bytes, bytes]], count: int | None = None) -> bytes:
    """A file from header fields (bytes 0..24, count and CRC redone) and sections (CRCs redone)."""
    head = bytearray(head[:HEADER_SIZE - 4])
    head[16] = len(sections) if count is None else count
    parts = [bytes(head), struct.pack("<I", zlib.crc32(head))]
    for kind, body in sections:
        parts += [struct.pack("<4sI", kind, len(body)), body,
                  struct.pack("<I", zlib.crc32(kind + body))]
    return b"".join(parts)


def _flip_bits(rng, data: bytes, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        if out:
            i = int(rng.integers(len(out)))
            out[i] ^= 1 << int(rng.integers(8))
    return bytes(out)


def _random_bytes(rng, n: int) -> bytes:
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def _u32(rng) -> int:
    return int(rng.choice([0, 1, 2, 0xFFFF, 0x10000, 2**31, 0xFFFFFFFF, int(rng.integers(1, 64)),
                           int(rng.integers(0, 2**32))]))


def case_kind(index: int) -> str:
    return KINDS[index % len(KINDS)]


def make_case(index: int, seed: int, made: list[tuple[PngImage, bytes]]) -> tuple[str, int, bytes]:
    """Case `index`: (kind, which original, the damaged file)."""
    rng = np.random.default_rng([seed, index])
    kind = case_kind(index)
    eligible = [i for i, (_, data) in enumerate(made)
                if kind != "model" or any(k == COLOUR for k, _ in sections_of(data))]
    which = eligible[int(rng.integers(len(eligible)))]
    data = made[which][1]
    sections = sections_of(data)
    if kind == "bit flips":
        damaged = _flip_bits(rng, data, int(rng.integers(1, 5)))
    elif kind == "byte edits":
        damaged = bytearray(data)
        for _ in range(int(rng.integers(1, 5))):
            damaged[int(rng.integers(len(data)))] = int(rng.integers(256))
        damaged = bytes(damaged)
    elif kind == "truncation":
        damaged = data[:int(rng.integers(len(data)))]
    elif kind == "junk appended":
        damaged = data + (bytes(int(rng.integers(1, 64))) if rng.random() < 0.5
                          else _random_bytes(rng, int(rng.integers(1, 64))))
    elif kind == "section length":
        starts = [HEADER_SIZE]
        for _, body in sections[:-1]:
            starts.append(starts[-1] + 12 + len(body))
        at = starts[int(rng.integers(len(starts)))] + 4
        damaged = data[:at] + struct.pack("<I", _u32(rng)) + data[at + 4:]
    elif kind == "dimensions":
        head = bytearray(data[:HEADER_SIZE])
        for offset in [5, 9] if rng.random() < 0.3 else [int(rng.choice([5, 9]))]:
            head[offset:offset + 4] = struct.pack("<I", _u32(rng))
        damaged = assemble(bytes(head), sections)
    elif kind == "header fields":
        head = bytearray(data[:HEADER_SIZE])
        field = int(rng.integers(4))
        if field == 0:
            head[13] = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 255]))      # colour type
        elif field == 1:
            head[14] = int(rng.choice([0, 1, 2, 3, 4, 8, 16, 32, 255]))    # bit depth
        elif field == 2:
            head[15] = int(rng.choice([0, 1, 2, 255]))                     # interlace
        else:
            head[16] = int(rng.integers(0, 9))                              # section count
        damaged = assemble(bytes(head), sections, count=head[16] if field == 3 else None)
    elif kind == "model":
        position = [k for k, _ in sections].index(COLOUR)
        plane = container.unpack_model_plane(sections[position][1])
        choice = int(rng.integers(4))
        other = next(n for n in zoo.manifest() if n != plane.model)
        if choice == 0:
            changes = {"model": other, "weights_sha256": zoo.weights_sha256(other)}
        elif choice == 1:
            changes = {"model": f"pixelcnn-unknown-v{int(rng.integers(100))}"}
        elif choice == 2:
            changes = {"weights_sha256": _random_bytes(rng, 32)}
        else:
            changes = {"coder": int(rng.integers(256)), "tile": int(rng.integers(2**16))}
        body = container.pack_model_plane(dataclasses.replace(plane, **changes))
        if rng.random() < 0.2:  # a name that is not printable ASCII, or too long
            body = bytes([int(rng.choice([0, 65, 255]))]) + _random_bytes(rng, 80)
        sections[position] = (COLOUR, body)
        damaged = assemble(data, sections)
    elif kind == "sections reordered":
        action = int(rng.integers(3))
        i = int(rng.integers(len(sections)))
        if action == 0:
            del sections[i]
        elif action == 1:
            sections.insert(int(rng.integers(len(sections) + 1)), sections[i])
        else:
            sections = [sections[j] for j in rng.permutation(len(sections))]
            if len(sections) == 1:
                sections.append((b"ZZZZ", b""))
        damaged = assemble(data, sections)
    elif kind == "section body":
        i = int(rng.integers(len(sections)))
        size = int(rng.integers(0, 2 * len(sections[i][1]) + 2))
        sections[i] = (sections[i][0], _random_bytes(rng, size))
        damaged = assemble(data, sections)
    elif kind == "body bits, CRC valid":
        i = int(rng.integers(len(sections)))
        sections[i] = (sections[i][0], _flip_bits(rng, sections[i][1], int(rng.integers(1, 9))))
        damaged = assemble(data, sections)
    elif kind == "forged size":  # sides up to 2^32, tiles of one pixel where there is a model
        head = bytearray(data[:HEADER_SIZE])
        side = [1, 31, 32, 33, 1024, 2**16, 2**16 + 1, 2**32 - 1]
        head[5:13] = struct.pack("<II", *(int(rng.choice(side)) for _ in range(2)))
        if any(k == COLOUR for k, _ in sections):
            position = [k for k, _ in sections].index(COLOUR)
            plane = container.unpack_model_plane(sections[position][1])
            sections[position] = (COLOUR, container.pack_model_plane(
                dataclasses.replace(plane, tile=1)))
        damaged = assemble(bytes(head), sections)
    elif kind == "metadata bomb":  # zeros deflate about 1000 to 1
        size = int(rng.choice([2**10, MAX_METADATA - 9, MAX_METADATA + 1, 2**24]))
        entry = struct.pack("<B4sI", 0, b"tEXt", size) + b"Title\0" + bytes(size - 6)
        body = struct.pack("<I", len(entry)) + zlib.compress(entry, 9)
        sections = [(k, b) for k, b in sections if k != container.CHUNKS]
        sections.append((container.CHUNKS, body))
        sections.sort(key=lambda section: container.SECTION_ORDER.index(section[0]))
        damaged = assemble(data, sections)
    else:  # random bytes, half of them behind a valid magic and version
        body = _random_bytes(rng, int(rng.integers(0, 300)))
        damaged = (MAGIC + bytes([VERSION]) + body) if rng.random() < 0.5 else body
    return kind, which, damaged


def as_form(data: bytes, form: str, folder: Path):
    """The file as the API may be given it."""
    if form == "path":
        path = folder / "case.pxc"
        path.write_bytes(data)
        return path
    return {"bytes": lambda: data, "bytearray": lambda: bytearray(data),
            "memoryview": lambda: memoryview(data),
            "array": lambda: np.frombuffer(data, dtype=np.uint8),
            "file object": lambda: io.BytesIO(data)}[form]()


def outcome(data: bytes, original: PngImage, index: int = 0) -> tuple[str, str]:
    """('exact', ''), ('error:<class>', message) for a PixcodecError, or ('WRONG', '') for a
    different image. Any other exception propagates: it is a bug. Case `index` is given in the
    index-th form (FORMS), changing slower than the kind."""
    form = FORMS[index // len(KINDS) % len(FORMS)]
    with tempfile.TemporaryDirectory() as folder:
        try:
            image = pixcodec.decode(as_form(data, form, Path(folder)), max_pixels=MAX_PIXELS,
                                    max_metadata=MAX_METADATA).image
        except PixcodecError as exc:
            return f"error:{type(exc).__name__}", str(exc)
    return ("exact" if image == original else "WRONG"), ""
