"""pixcodec.compiled.cache: under numba's JIT, cached kernels load without numba's context
refresh, and a kernel that is not cached yet still compiles and runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixcodec.compiled import SWITCH
from pixcodec.compiled import cache as kernel_cache

ASSETS = Path(__file__).parent / "assets"

# Counts the refreshes of numba's CPU target context while the given code runs, in a fresh
# process under numba's JIT (the loader installed first, as pixcodec.compiled installs it).
COUNTING = """
import json, sys
import pixcodec.compiled.cache
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

# A cached kernel in a module of pixcodec's package (its folder added to the package's path),
# or, with "plain", in a module of its own (another library's).
FRESH_KERNEL = """
folder, kind = sys.argv[1], sys.argv[2]
if kind == "plain":
    sys.path.insert(0, folder)
    import triple_kernel
else:
    import pixcodec
    pixcodec.__path__.append(folder)
    from pixcodec import triple_kernel
result = int(triple_kernel.triple(14))
"""
KERNEL_SOURCE = "import numba\n\n\n@numba.njit(cache=True)\ndef triple(x):\n    return 3 * x\n"
PIXCODEC_KERNEL_SOURCE = ("from pixcodec.compiled import kernel\n\n\n@kernel\ndef triple(x):\n"
                          "    return 3 * x\n")


def _run(body: str, *args: str) -> dict:
    env = {**os.environ, SWITCH: "jit"}
    done = subprocess.run([sys.executable, "-c", COUNTING.format(body=body), *args],
                          capture_output=True, text=True, timeout=600, check=True, env=env)
    return json.loads(done.stdout.splitlines()[-1])


needs_loader = pytest.mark.skipif(not kernel_cache.INSTALLED,
                                  reason="numba's loader is left as it is on this numba version")


@needs_loader
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


@needs_loader
def test_a_kernel_not_yet_cached_compiles_then_loads(tmp_path):
    """A kernel of pixcodec's package that is not cached yet compiles as numba always did; the
    next process loads the cached code, without a refresh."""
    (tmp_path / "triple_kernel.py").write_text(PIXCODEC_KERNEL_SOURCE)
    first = _run(FRESH_KERNEL, str(tmp_path), "pixcodec")
    second = _run(FRESH_KERNEL, str(tmp_path), "pixcodec")
    assert first["result"] == second["result"] == 42
    assert first["refreshes"] >= 1 and second["refreshes"] == 0


@needs_loader
def test_another_librarys_cached_kernel_loads_as_numba_loads_it(tmp_path):
    """The loader is pixcodec's for pixcodec's kernels alone: another module's cached kernel
    loads through numba's own, refresh included."""
    (tmp_path / "triple_kernel.py").write_text(KERNEL_SOURCE)
    _run(FRESH_KERNEL, str(tmp_path), "plain")
    second = _run(FRESH_KERNEL, str(tmp_path), "plain")
    assert second["result"] == 42 and second["refreshes"] >= 1
