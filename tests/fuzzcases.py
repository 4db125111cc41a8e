"""Corrupted and hostile .pxc files, made deterministically: case `index` of `seed` is always
the same file. tests/test_fuzz.py runs a few hundred of them, scripts/fuzz.py ten thousand.

Each case starts from a tiny valid file (every section type is among them, one file of several
tiles, and a version 2 file) and damages it: bit flips, byte edits, truncation, junk appended;
and in version 3 files, with the file's CRC made valid again so the values themselves are what
is tested: edited section lengths, dimensions and other header fields, other models (numbers,
names, hashes, coders, tiles), sections dropped, added or swapped, section bodies replaced or
bit-flipped (so only the decoders and the checksums stand in the way), edited tile tables and
tile streams, random bytes; and forgeries: sizes up to 2^32 a side in tiles of one pixel, and
CHNK sections that inflate to megabytes. Each file is handed to the decoder in one of the forms the
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
from pixcodec.container import COLOUR, MAGIC, SECTION_ORDER, VERSION
from pixcodec.errors import PixcodecError
from pixcodec.imageio import Chunk, PngImage, read_png, write_png
from pixcodec.sections import model_plane_of, pack_model_plane

# Decoding a file whose edited dimensions are within the limit runs the model over them:
# keep that short. (Real files use --max-pixels the same way.) Likewise the metadata.
MAX_PIXELS = 1024
MAX_METADATA = 2**20

KINDS = ("bit flips", "byte edits", "truncation", "junk appended", "section length",
         "dimensions", "header fields", "model", "sections reordered", "section body",
         "body bits, CRC valid", "random bytes", "forged size", "metadata bomb", "tile table")
# Kinds that edit a version 3 file's structure (the others take any file).
STRUCTURAL = KINDS[4:11] + ("forged size", "metadata bomb", "tile table")
V2_FILE = Path(__file__).parent / "assets" / "v2" / "pixelcnn-rgb-v1.pxc"
FORMS = ("bytes", "bytearray", "memoryview", "array", "file object", "path")


def originals() -> list[tuple[PngImage, bytes]]:
    """Tiny images of every colour type that needs its own sections, one coded in 6 tiles, one
    in tiles of two modes (version 4), and a version 2 file, with their .pxc files."""
    rng = np.random.default_rng(20240601)
    # Model-coded samples are noise of a narrow range, which the model codes in fewer bytes
    # than they take: wider noise would be stored (tile modes, test_tile_modes).
    images = [
        PngImage(rng.integers(112, 144, (4, 5, 3), dtype=np.uint8), 2, 8, False,
                 (Chunk(b"gAMA", struct.pack(">I", 45455)), Chunk(b"tEXt", b"Title\0fuzz")),
                 (Chunk(b"tIME", bytes([7, 232, 6, 1, 12, 0, 0])),)),
        PngImage(rng.integers(112 << 8, 144 << 8, (4, 3, 4), dtype=np.uint16), 6, 16),
        PngImage(rng.integers(0, 4, (3, 6, 1), dtype=np.uint8), 3, 2, False,
                 (Chunk(b"PLTE", bytes(range(12))), Chunk(b"tRNS", b"\x00\x80"))),
        PngImage(rng.integers(0, 2, (2, 7, 1), dtype=np.uint8), 0, 1, True),
        PngImage(rng.integers(112, 144, (4, 4, 2), dtype=np.uint8), 4, 8),
        PngImage(rng.integers(112 << 8, 144 << 8, (5, 3, 1), dtype=np.uint16), 0, 16, False,
                 (Chunk(b"pHYs", bytes(9)),)),
    ]
    made = []
    for image in images:
        png = write_png(image)
        made.append((read_png(png, MAX_PIXELS), pixcodec.compress(png)))
    tiled = PngImage(rng.integers(120, 136, (4, 6, 3), dtype=np.uint8), 2, 8)
    made.append((tiled, pixcodec.encode(write_png(tiled), "pixelcnn-rgb-v1", tile=2).data))
    # Version 4: a tile the model codes beside one of noise, stored (tile modes).
    mixed = PngImage(np.concatenate([rng.integers(120, 136, (4, 4, 3), dtype=np.uint8),
                                     rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)], 1), 2, 8)
    made.append((mixed, pixcodec.encode(write_png(mixed), "pixelcnn-rgb-v1", tile=4).data))
    v2 = V2_FILE.read_bytes()
    made.append((pixcodec.decode(v2).image, v2))
    return made


@dataclasses.dataclass
class Parts:
    """A version 3 file taken apart, to be edited and put together again (`assemble`)."""
    width: int
    height: int
    image: int       # the image byte
    checksum: bytes
    sections: list[tuple[bytes, bytes]]
    flags: int | None = None  # None: from the sections present


def parts_of(data: bytes) -> Parts:
    header, sections = container.unpack(data)
    image = (header.colour_type | container.DEPTHS.index(header.bit_depth) << 3
             | int(header.interlaced) << 6)
    return Parts(header.width, header.height, image, header.checksum, list(sections.items()))


def assemble(parts: Parts, lengths: dict[int, bytes] | None = None) -> bytes:
    """A version 3 file from its parts, CRC made valid, sections in the order given; `lengths`
    replaces the length field of the sections at those positions."""
    flags = parts.flags
    if flags is None:
        flags = sum(1 << SECTION_ORDER.index(kind) for kind, _ in parts.sections
                    if kind in SECTION_ORDER)
    out = [MAGIC, bytes([VERSION]), container.varint(parts.width),
           container.varint(parts.height), bytes([parts.image, flags]), parts.checksum]
    for i, (_, body) in enumerate(parts.sections):
        if i < len(parts.sections) - 1:
            out.append((lengths or {}).get(i, container.varint(len(body))))
        out.append(body)
    body = b"".join(out)
    return body + struct.pack("<I", zlib.crc32(body))


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


def _varint_field(rng) -> bytes:
    """A number field: a valid varint of any size, or a malformed one."""
    choice = int(rng.integers(4))
    if choice == 0:
        return b"\xff" * int(rng.integers(1, 7))            # never ends, or too long
    if choice == 1:
        return bytes([int(rng.choice([0x80, 0x81])), 0x00])  # not the shortest form
    return container.varint(_u32(rng) if choice == 2 else int(rng.integers(2**32, 2**35)))


def case_kind(index: int) -> str:
    return KINDS[index % len(KINDS)]


def make_case(index: int, seed: int, made: list[tuple[PngImage, bytes]]) -> tuple[str, int, bytes]:
    """Case `index`: (kind, which original, the damaged file)."""
    rng = np.random.default_rng([seed, index])
    kind = case_kind(index)

    def fits(data: bytes) -> bool:
        if kind not in STRUCTURAL:
            return True
        if data[4] != VERSION:
            return False
        sections = dict(parts_of(data).sections)
        if kind == "model":
            return COLOUR in sections
        if kind == "tile table":
            return COLOUR in sections and len(model_plane_of(data).streams) > 1
        return True
    eligible = [i for i, (_, data) in enumerate(made) if fits(data)]
    which = eligible[int(rng.integers(len(eligible)))]
    data = made[which][1]
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
    elif kind == "random bytes":  # half of them behind a valid magic and version
        body = _random_bytes(rng, int(rng.integers(0, 300)))
        damaged = (MAGIC + bytes([VERSION]) + body) if rng.random() < 0.5 else body
    else:
        damaged = _structural_case(kind, rng, data)
    return kind, which, damaged


def _structural_case(kind: str, rng, data: bytes) -> bytes:
    parts = parts_of(data)
    sections = parts.sections
    if kind == "section length":
        if len(sections) < 2:  # the last section has no length: a number before its body
            sections[0] = (sections[0][0], _varint_field(rng) + sections[0][1])
            return assemble(parts)
        i = int(rng.integers(len(sections) - 1))
        return assemble(parts, {i: _varint_field(rng)})
    if kind == "dimensions":
        edit = [0, 1] if rng.random() < 0.3 else [int(rng.integers(2))]
        for which in edit:
            setattr(parts, ("width", "height")[which], _u32(rng))
        return assemble(parts)
    if kind == "header fields":
        field = int(rng.integers(4))
        if field == 0:
            parts.image = (parts.image & ~7) | int(rng.integers(8))           # colour type
        elif field == 1:
            parts.image = (parts.image & ~0x38) | int(rng.integers(8)) << 3   # depth code
        elif field == 2:
            parts.image = parts.image ^ int(rng.choice([0x40, 0x80]))         # interlace, bit 7
        else:
            parts.flags = int(rng.integers(256))                              # sections
        return assemble(parts)
    if kind == "model":
        position = [k for k, _ in sections].index(COLOUR)
        plane = model_plane_of(data)
        choice = int(rng.integers(5))
        if choice == 0:
            changes = {"model_id": int(rng.choice([1, 2, 3, 9, 10, 200, 2**20]))}
        elif choice == 1:
            changes = {"model_id": 0, "model": f"pixelcnn-unknown-v{int(rng.integers(100))}",
                       "weights_sha256": _random_bytes(rng, 32)}
        elif choice == 2:
            changes = {"weights_sha256": _random_bytes(rng, 2)}
        elif choice == 3:
            other = next(n for n in zoo.manifest() if zoo.model_info(n).id != plane.model_id)
            changes = {"model_id": 0, "model": other,
                       "weights_sha256": zoo.weights_sha256(other)}
        else:
            byte = int(rng.integers(128))  # the coder byte but bit 7 (test_orientation's)
            changes = {"coder": byte & 0x0F, "orientation": byte >> 4,
                       "tile": int(rng.integers(2**16))}
        body = pack_model_plane(dataclasses.replace(plane, **changes))
        if rng.random() < 0.2:  # a named model whose name is not printable ASCII, or too long
            body = b"\0" + bytes([int(rng.choice([0, 65, 255]))]) + _random_bytes(rng, 80)
        sections[position] = (COLOUR, body)
        return assemble(parts)
    if kind == "sections reordered":
        action = int(rng.integers(3))
        i = int(rng.integers(len(sections)))
        if action == 0:
            del sections[i]
        elif action == 1:  # another section's bit set too, with some body
            kind_added = SECTION_ORDER[int(rng.integers(len(SECTION_ORDER)))]
            sections.insert(int(rng.integers(len(sections) + 1)),
                            (kind_added, _random_bytes(rng, int(rng.integers(0, 40)))))
        else:  # the bodies in another order under the same flags
            bodies = [sections[j][1] for j in rng.permutation(len(sections))]
            parts.sections = [(k, b) for (k, _), b in zip(sections, bodies)]
        return assemble(parts)
    if kind == "section body":
        i = int(rng.integers(len(sections)))
        size = int(rng.integers(0, 2 * len(sections[i][1]) + 2))
        sections[i] = (sections[i][0], _random_bytes(rng, size))
        return assemble(parts)
    if kind == "body bits, CRC valid":
        i = int(rng.integers(len(sections)))
        sections[i] = (sections[i][0], _flip_bits(rng, sections[i][1], int(rng.integers(1, 9))))
        return assemble(parts)
    if kind == "forged size":  # sides up to 2^32, tiles of one pixel where there is a model
        side = [1, 31, 32, 33, 1024, 2**16, 2**16 + 1, 2**32 - 1]
        parts.width, parts.height = (int(rng.choice(side)) for _ in range(2))
        if any(k == COLOUR for k, _ in sections):
            position = [k for k, _ in sections].index(COLOUR)
            plane = model_plane_of(data)
            sections[position] = (COLOUR, pack_model_plane(
                dataclasses.replace(plane, tile=1)))
        return assemble(parts)
    if kind == "metadata bomb":  # zeros deflate about 1000 to 1
        size = int(rng.choice([2**10, MAX_METADATA - 9, MAX_METADATA + 1, 2**24]))
        entry = struct.pack("<B4sI", 0, b"tEXt", size) + b"Title\0" + bytes(size - 6)
        body = struct.pack("<I", len(entry)) + zlib.compress(entry, 9)
        parts.sections = [(k, b) for k, b in sections if k != container.CHUNKS]
        parts.sections.append((container.CHUNKS, body))
        parts.sections.sort(key=lambda section: SECTION_ORDER.index(section[0]))
        return assemble(parts)
    # tile table: a tile's length, checksum or stream edited, tiles dropped or added
    position = [k for k, _ in sections].index(COLOUR)
    plane = model_plane_of(data)
    streams, checksums = list(plane.streams), list(plane.checksums)
    k = int(rng.integers(len(streams)))
    action = int(rng.integers(4))
    if action == 0:
        checksums[k] = int(rng.integers(2**32))
    elif action == 1:
        streams[k] = _flip_bits(rng, streams[k], int(rng.integers(1, 4))) if streams[k] \
            else _random_bytes(rng, 3)
    elif action == 2:
        del streams[k], checksums[k]
    else:
        streams.insert(k, _random_bytes(rng, int(rng.integers(0, 8))))
        checksums.insert(k, int(rng.integers(2**32)))
    body = pack_model_plane(dataclasses.replace(
        plane, streams=tuple(streams), checksums=tuple(checksums)))
    if rng.random() < 0.3:  # a tile length edited in place
        at = len(body) - len(b"".join(streams)) - 4 * len(checksums) - 1
        body = body[:at] + bytes([int(rng.integers(256))]) + body[at + 1:]
    sections[position] = (COLOUR, body)
    return assemble(parts)


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
