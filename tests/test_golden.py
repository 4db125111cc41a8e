"""Format stability: files made today must decode tomorrow. These pin the exact bytes that the
shipped models produce for fixed images; a change to the arithmetic, the coding order, the
coder or the container shows up here first (and then needs a new format version or model
name, see docs/FORMAT.md)."""
import hashlib

import numpy as np
import pytest

import pixcodec
from pixcodec import container, zoo


def pattern(colours: int) -> np.ndarray:
    gray = (np.add.outer(np.arange(12) * 7, np.arange(10) * 5) % 256).astype(np.uint8)
    return gray if colours == 1 else np.stack([gray, gray[::-1], 255 - gray], axis=2)


# model -> sha256 of (the whole .pxc file, the model's range-coder payload in it). The payload
# is the same as in format version 1: version 2 changed only the container around it.
GOLDEN = {
    "pixelcnn-rgb-v1": ("f433f7a21d86b6b10b9dbc5c697d9066bcc162a3f91c6e054d3f079208d4d332",
                        "81feaddd8f3dff1de9f5fdd3021899489b4cbf7f2dd3de7b958a4a08607d00eb"),
    "pixelcnn-gray-v1": ("dc3c07f59010eb7f547cb86b1a42ae0fe554271b605dba0f175d07f46d66ae89",
                         "5dbbd41b1c4fbf3f76efd831bd85db84b44700d90c54c595314174f9e6563cf3"),
}


@pytest.mark.parametrize("model", sorted(GOLDEN))
def test_shipped_models_produce_the_pinned_bytes(model):
    colours = zoo.model_info(model).colours
    data = pixcodec.compress(pattern(colours), model=model)
    payload = container.unpack_model_plane(container.unpack(data)[1][container.COLOUR]).payload
    assert (hashlib.sha256(data).hexdigest(), hashlib.sha256(payload).hexdigest()) == GOLDEN[model]
    assert np.array_equal(pixcodec.decompress(data), pattern(colours))
