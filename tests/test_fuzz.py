"""A few hundred corrupted and hostile .pxc files (tests/fuzzcases.py): each decodes to the
exact original or raises a PixcodecError with a one-line message; never another exception,
never a different image. scripts/fuzz.py runs ten thousand, in subprocesses that also catch
hangs and crashes."""
import pytest

from fuzzcases import KINDS, make_case, originals, outcome

CASES = 40 * len(KINDS)
SEED = 1


@pytest.fixture(scope="module")
def made():
    return originals()


def test_originals_decode_exactly(made):
    for image, data in made:
        assert outcome(data, image) == ("exact", "")


def test_damaged_files_end_in_the_original_or_a_clear_error(made):
    messages = []
    for index in range(CASES):
        kind, which, data = make_case(index, SEED, made)
        result, message = outcome(data, made[which][0], index)  # another exception fails it
        assert result == "exact" or (result.startswith("error:") and message
                                     and "\n" not in message), (index, kind, result)
        messages.append(message)
    # The damage reaches every layer of checks, down to the decoders and the checksum.
    for layer in ["bad magic", "corrupted file", "CRC mismatch",
                  "truncated file", "exceeds the limit", "needs model", "shipped model number",
                  "different weights", "corrupted ALPH", "corrupted LOWB", "corrupted CHNK",
                  "fails the checksum", "fails its checksum", "invalid image size",
                  "over the limit of 1048576", "whose table alone needs", "shortest form"]:
        assert any(layer in message for message in messages), layer
