"""pixcodec.engine.kernel_cache: cached kernels load without numba's context refresh, and a
kernel that is not cached yet still compiles and runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ASSETS = Path(__file__).parent / "assets"

# Counts the refreshes of numba's CPU target context while the given code runs, in a fresh
# process (the engine imported first, as every coding command does).
COUNTING = """
import json, sys
import pixcodec.engine
from numba.core import cpu
refreshes = []
original = cpu.CPUContext.refresh
def counted(self):
    refreshes.append(1)
    return original(self)
cpu.CPUContext.refresh = counted
{body}
print(json.dumps({{"refreshes": len(refreshes), "result": result}}))
"""

DECODE = """
import numpy as np
import pixcodec
pixels = pixcodec.decompress(open(sys.argv[1], "rb").read())
result = np.asarray(pixels).tolist()
"""

FRESH_KERNEL = """
sys.path.insert(0, sys.argv[1])
import triple
result = int(triple.triple(14))
"""


def _run(body: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", COUNTING.format(body=body), *args],
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_a_file_decodes_with_cached_kernels_and_no_context_refresh():
    """The second decode of a file (its kernels cached by the first) loads them without the
    refresh that imports what only numba's compiler needs (0.12 s of each command): the
    same pixels."""
    name = str(ASSETS / "v3" / "logistic-rgb-int8-v2-12-tiles.pxc")
    original = np.array(Image.open(ASSETS / "crop-40x56.png"))
    _run(DECODE, name)  # compiles whatever is not cached yet
    second = _run(DECODE, name)
    assert second["refreshes"] == 0
    assert np.array_equal(np.asarray(second["result"], dtype=np.uint8), original)


def test_a_kernel_not_yet_cached_compiles_then_loads(tmp_path):
    """A cache miss refreshes the context and compiles as numba always did; the next process
    loads the cached code, without a refresh."""
    (tmp_path / "triple.py").write_text(
        "import numba\n\n\n@numba.njit(cache=True)\ndef triple(x):\n    return 3 * x\n")
    first = _run(FRESH_KERNEL, str(tmp_path))
    second = _run(FRESH_KERNEL, str(tmp_path))
    assert first["result"] == second["result"] == 42
    assert first["refreshes"] >= 1 and second["refreshes"] == 0
