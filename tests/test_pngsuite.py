"""Every file of the PNG test suites (tests/assets/pngsuite): an exact round trip of
everything a PNG means, or, for the malformed files in `crashers/`, a one-line refusal."""
from pathlib import Path

import pytest

import pixcodec
from pixcodec import api
from pixcodec.errors import UnsupportedImageError
from pixcodec.imageio import read_image, write_png

SUITE = Path(__file__).parent / "assets" / "pngsuite"
FILES = sorted(SUITE.rglob("*.png"))
CRASHERS = [f for f in FILES if f.parent.name == "crashers"]
VALID = [f for f in FILES if f.parent.name != "crashers"]
LIMIT = 2**28
# Files whose model coding takes more than a few seconds on a slow machine.
SLOW_PIXELS = 128 * 128


def name(path: Path) -> str:
    return path.relative_to(SUITE).as_posix()


@pytest.fixture(scope="module", autouse=True)
def coded_once():
    """Many suite files share their pixels (the same picture with other chunks): the model codes
    each distinct plane once. code_plane and decode_pixels are deterministic functions of
    their arguments, so remembering their results changes no outcome, only the time."""
    encoded, decoded = {}, {}
    encode, decode = api.code_plane, api.decode_pixels

    def encode_once(net, values, tile, progress, threads, photographic):
        key = (id(net), values.shape, values.tobytes(), tile, photographic)
        if key not in encoded:
            encoded[key] = encode(net, values, tile, progress, threads, photographic)
        return encoded[key]

    def decode_once(net, streams, height, width, tile, progress, coder, checksums, threads,
                    modes=None):
        key = (id(net), tuple(streams), height, width, tile, coder, checksums, modes)
        if key not in decoded:
            decoded[key] = decode(net, streams, height, width, tile, progress, coder, checksums,
                                  threads, modes)
        return decoded[key].copy()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "code_plane", encode_once)
        patch.setattr(api, "decode_pixels", decode_once)
        yield


def _params(paths: list[Path]) -> list:
    params = []
    for path in paths:
        image = read_image(path, LIMIT)
        slow = image.width * image.height >= SLOW_PIXELS and image.colour_type != 3
        params.append(pytest.param(path, id=name(path), marks=[pytest.mark.slow] if slow else []))
    return params


@pytest.mark.parametrize("path", _params(VALID))
def test_valid_files_round_trip_exactly(path):
    original = read_image(path, LIMIT)
    # Effort 0: what a PNG means does not depend on the effort, and the per-image orientation
    # choice and fit (test_orientation, test_adapt and the goldens cover them) took most of the
    # suite's time here.
    restored = pixcodec.decode(pixcodec.encode(path, effort=0).data).image
    assert restored == original   # samples, colour type, bit depth, interlacing, every chunk
    assert read_image(write_png(restored), LIMIT) == original  # and so is the file written


# docs/ROBUSTNESS.md's table: the one line that refuses each malformed file, naming its problem.
REFUSALS = {
    "badcrc.png": "corrupted PNG: CRC mismatch in chunk IDAT",
    "bad_iCCP.png": "corrupted PNG: CRC mismatch in chunk IHDR",
    "badadler.png": "corrupted PNG image data (Error -3 while decompressing data: incorrect "
                    "data check)",
    "empty_ancillary_chunks.png": "invalid PNG: gAMA chunk after the image data",
}


def documented_refusal(path: Path) -> str:
    if path.name.startswith("huge_"):  # huge_tEXt_chunk.png, huge_juNk_safe_to_copy.png, ...
        chunk = path.stem.split("_")[1]
        remain = 34 if chunk == "IDAT" else 12  # what the file has left for its data
        return (f"truncated or corrupted PNG: chunk {chunk} claims 1073741823 bytes, "
                f"{remain} remain")
    return REFUSALS[path.name]


@pytest.mark.parametrize("path", CRASHERS, ids=name)
def test_malformed_files_are_refused_in_one_line(path):
    with pytest.raises(UnsupportedImageError) as refused:
        pixcodec.compress(path)
    message = str(refused.value)
    assert message and "\n" not in message
    assert message == documented_refusal(path)


def test_the_suite_is_all_there():
    """Guards the walk above against a lost folder: its counts as copied from libpng."""
    assert (len(VALID), len(CRASHERS)) == (176, 23)
