"""Model files are data, never code; their hashes are checked; a .pxc names its model and is
refused by that name when this pixcodec does not have it, or has other weights under it."""
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors import SafetensorError

import pixcodec
from pixcodec import zoo
from pixcodec.errors import FormatError, ModelError

from conftest import SHIPPED, add_model, with_model_plane


class _Trap:
    """Unpickling this creates a file: what a malicious .pt/.pkl checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_weights_that_would_run_code_are_never_executed(weights_dir, tmp_path):
    marker = tmp_path / "code-ran"
    trap = pickle.dumps({"weight": _Trap(marker)})
    add_model(weights_dir, "trap-v1", trap)  # even with a matching hash in the manifest
    # Refused by the safetensors parser, which reads data only: the trap got past the hash
    # check to the loader, and the loader did not unpickle it.
    with pytest.raises(SafetensorError, match="Error while deserializing"):
        zoo.load_model("trap-v1")
    assert not marker.exists(), "loading model weights ran code"
    pickle.loads(trap)  # the trap is real: unpickling it does create the file
    assert marker.exists()


def test_weights_with_a_wrong_hash_are_refused_by_name(weights_dir):
    real = (weights_dir / zoo.model_info(SHIPPED).weights).read_bytes()
    add_model(weights_dir, "tampered-v1", real[:-1] + bytes([real[-1] ^ 1]),
              sha256=hashlib.sha256(real).hexdigest())
    with pytest.raises(ModelError, match="weights of model 'tampered-v1' do not match"):
        pixcodec.compress(np.zeros((2, 2), np.uint8), model="tampered-v1")


def test_damaged_installed_weights_are_refused_when_decoding(weights_dir):
    data = pixcodec.compress(np.zeros((2, 3), np.uint8))
    path = weights_dir / zoo.model_info(SHIPPED).weights
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    zoo.clear_caches()
    with pytest.raises(ModelError, match=f"weights of model '{SHIPPED}' do not match"):
        pixcodec.decompress(data)


@pytest.mark.parametrize("changes,message", [
    ({"model": "pixelcnn-gray-v7", "model_id": 0, "weights_sha256": bytes(32)},
     "needs model 'pixelcnn-gray-v7' .*which is not shipped: pass its .pxm file with -m FILE "
     "or --model-dir DIR"),
    ({"weights_sha256": bytes(2)}, f"different weights for model '{SHIPPED}'"),
    ({"model": SHIPPED, "model_id": 0, "weights_sha256": bytes(32)},
     f"different weights for model '{SHIPPED}'"),
])
def test_files_naming_an_unknown_or_different_model_are_refused_by_name(changes, message):
    data = pixcodec.compress(np.zeros((2, 3), np.uint8))
    with pytest.raises(FormatError, match=message):
        pixcodec.decompress(with_model_plane(data, **changes))
