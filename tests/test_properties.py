"""Property: any PNG of any colour type, bit depth, size, interlacing, palette and chunks comes
back exactly, through PNG bytes, the shipped models and the .pxc container."""
import struct

import numpy as np
from hypothesis import given, settings, strategies as st

import pixcodec
from pixcodec.imageio import COLOUR_TYPES, Chunk, PngImage, read_png, write_png

KINDS = [(colour_type, depth) for colour_type, (_, _, depths) in COLOUR_TYPES.items()
         for depth in depths]
LIMIT = 2**28


@st.composite
def png_images(draw) -> PngImage:
    colour_type, depth = draw(st.sampled_from(KINDS))
    height, width = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    channels = COLOUR_TYPES[colour_type][1]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = 2 ** depth
    chunks = []
    if colour_type == 3:
        entries = draw(st.integers(1, top))
        top = entries  # indices name palette entries
        chunks.append(Chunk(b"PLTE", rng.integers(0, 256, 3 * entries, dtype=np.uint8).tobytes()))
        if draw(st.booleans()):
            chunks.append(Chunk(b"tRNS", bytes(draw(st.integers(1, entries)))))
    content = draw(st.sampled_from(["random", "lowest", "highest"]))
    shape = (height, width, channels)
    dtype = np.uint16 if depth == 16 else np.uint8
    if content == "random":
        samples = rng.integers(0, top, shape, dtype=dtype)
    else:
        samples = np.full(shape, 0 if content == "lowest" else top - 1, dtype=dtype)
    if draw(st.booleans()):
        chunks.insert(0, Chunk(b"gAMA", struct.pack(">I", 45455)))
    after = (Chunk(b"tEXt", b"k\0" + bytes(draw(st.binary(max_size=20)))),) \
        if draw(st.booleans()) else ()
    return PngImage(samples, colour_type, depth, draw(st.booleans()), tuple(chunks), after)


@settings(max_examples=30, deadline=None)
@given(image=png_images())
def test_any_png_round_trips_exactly(image):
    png = write_png(image)
    assert read_png(png, LIMIT) == image
    restored = pixcodec.decode(pixcodec.compress(png)).image
    assert restored == image
    assert read_png(write_png(restored), LIMIT) == image
