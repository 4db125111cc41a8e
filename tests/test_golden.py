"""Format stability: files made today must decode tomorrow. These pin the exact bytes that the
shipped models produce for fixed images; a change to the arithmetic, the coding order, the
coder or the container shows up here first (and then needs a new format version or model
name, see docs/FORMAT.md)."""
import hashlib

import numpy as np
import pytest

import pixcodec
from pixcodec import zoo


def pattern(colours: int) -> np.ndarray:
    gray = (np.add.outer(np.arange(12) * 7, np.arange(10) * 5) % 256).astype(np.uint8)
    return gray if colours == 1 else np.stack([gray, gray[::-1], 255 - gray], axis=2)


GOLDEN = {
    "pixelcnn-gray-v1": "11822408fecf1120f500c0f677dd5c49812a30872112704be1925c720cf70222",
}


@pytest.mark.parametrize("model", sorted(GOLDEN))
def test_shipped_models_produce_the_pinned_bytes(model):
    colours = zoo.model_info(model).colours
    data = pixcodec.compress(pattern(colours), model=model)
    assert hashlib.sha256(data).hexdigest() == GOLDEN[model]
    assert np.array_equal(pixcodec.decompress(data), pattern(colours))
