"""pixcodec.compiled: the kernels compiled ahead of time write the bytes and decode the pixels
numba's JIT does, without importing numba; a module built for other sources is not used; a
call whose argument types the module lacks hands every kernel over to numba."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from pixcodec import compiled

ASSETS = Path(__file__).parent / "assets"

# Every way a command runs the integer models' kernels: one tile, tiles in rounds on two
# threads, coder 3's and coder 4's files decoded. Prints what it wrote and decoded, and
# whether numba was imported.
CODE = """
import hashlib, json, sys
import numpy as np
from PIL import Image
import pixcodec
from pixcodec import compiled
assets = sys.argv[1]
image = np.asarray(Image.open(assets + "/crop-40x56.png"))
result = {}
for name, tile, threads in (("one tile", None, 1), ("tiles of 16, two threads", 16, 2)):
    data = pixcodec.encode(image, tile=tile, threads=threads).data
    result[name] = hashlib.sha256(data).hexdigest()
    assert (pixcodec.decode(data, threads=threads).pixels == image).all(), name
for golden in ("logistic-rgb-int8-v1-coder-3.pxc", "logistic-rgb-int8-v2-12-tiles.pxc"):
    pixels = pixcodec.decode(open(assets + "/v3/" + golden, "rb").read()).pixels
    result[golden] = hashlib.sha256(np.ascontiguousarray(pixels)).hexdigest()
{extra}
result["mode"], result["numba"] = compiled.mode(), "numba" in sys.modules
print(json.dumps(result))
"""

# A call the module has no code for (an int32 where the build saw int64), then a
# decode: numba runs it, and every kernel after it.
HAND_OVER = """
from pixcodec.engine import vnni
result["padded"] = int(vnni.padded(np.int32(37)))
pixels = pixcodec.decode(open(assets + "/v3/logistic-rgb-int8-v2-12-tiles.pxc", "rb").read())
result["after"] = hashlib.sha256(np.ascontiguousarray(pixels.pixels)).hexdigest()
"""


def _run(folder: Path | None, extra: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k != compiled.SWITCH}
    if folder is None:
        env[compiled.SWITCH] = "jit"
    else:
        env["PIXCODEC_KERNEL_DIR"] = str(folder)
    done = subprocess.run([sys.executable, "-c", CODE.replace("{extra}", extra), str(ASSETS)],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A folder holding the module built for these sources: the installed one where `make
    install` built it, else one built here (about a minute)."""
    if compiled.module_paths(compiled.identity())[0].exists():
        return compiled.FOLDER
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler: pixcodec runs numba's JIT here")
    folder = tmp_path_factory.mktemp("kernels")
    env = {k: v for k, v in os.environ.items() if k != compiled.SWITCH}
    env["PIXCODEC_KERNEL_DIR"] = str(folder)
    done = subprocess.run([sys.executable, "-m", "pixcodec.compiled"], capture_output=True,
                          text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


@pytest.fixture(scope="module")
def jit_result() -> dict:
    return _run(None)


@pytest.mark.slow
def test_ahead_of_time_kernels_code_as_numba_does_without_numba(kernel_dir, jit_result):
    ahead = _run(kernel_dir)
    assert jit_result["mode"] == "jit" and jit_result["numba"]
    assert ahead["mode"] == "ahead" and not ahead["numba"]
    assert {k: v for k, v in ahead.items() if k not in ("mode", "numba")} == \
        {k: v for k, v in jit_result.items() if k not in ("mode", "numba")}


@pytest.mark.slow
def test_a_module_built_for_other_sources_is_not_used(kernel_dir, tmp_path):
    for path in kernel_dir.glob(f"{compiled.MODULE}-*"):
        shutil.copy(path, tmp_path)
    (described,) = tmp_path.glob("*.json")
    manifest = json.loads(described.read_text())
    manifest["identity"] = "0" * 64
    described.write_text(json.dumps(manifest))
    result = _run(tmp_path)
    assert result["mode"] == "jit" and result["numba"]


@pytest.mark.slow
def test_a_call_the_module_lacks_hands_every_kernel_to_numba(kernel_dir, jit_result):
    result = _run(kernel_dir, HAND_OVER)
    assert result["padded"] == 48
    assert result["mode"] == "jit" and result["numba"]
    assert result["after"] == jit_result["logistic-rgb-int8-v2-12-tiles.pxc"]


def test_the_argument_key_tells_apart_what_numba_types_tell_apart():
    """The module's code is chosen by type_key, numba's by typeof: values of one numba type
    share a key, values of two types never do."""
    base = np.arange(24, dtype=np.int64).reshape(4, 6)
    frozen = base.copy()
    frozen.flags.writeable = False
    values = [base, base.copy(), base.T, base[:, ::2], frozen, base.astype(np.int32),
              base.astype(np.float32), base[0], base.reshape(2, 3, 4), np.zeros(0, np.uint8),
              3, 7, True, False, 2.5, None, np.int64(3), np.int32(3), np.float64(1.0),
              (base, 3), (base, 4), (3, base), (base, base[0]), (), ((1, 2), None)]
    for a in values:
        for b in values:
            same_type = numba.typeof(a) == numba.typeof(b)
            assert (compiled.type_key(a) == compiled.type_key(b)) == same_type, (a, b)


def test_kernels_are_declared_through_compiled_alone():
    """numba is imported where a kernel needs it (pixcodec.compiled, or a ``setup``), never by
    importing a module: the ahead-of-time path must not load it."""
    package = Path(compiled.__file__).parent.parent
    offending = []
    for path in sorted(package.rglob("*.py")):
        if path.parent.name == "compiled":
            continue
        for line in path.read_text().splitlines():
            if line.startswith(("import numba", "from numba", "import llvmlite",
                                "from llvmlite")) or "@numba." in line:
                offending.append(f"{path.relative_to(package)}: {line.strip()}")
    assert offending == []


def test_status_says_how_the_kernels_run():
    env = {**os.environ, compiled.SWITCH: "jit"}
    done = subprocess.run([sys.executable, "-m", "pixcodec.compiled", "--status"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"pixcodec's kernels: numba's JIT ({compiled.SWITCH} is set)"
