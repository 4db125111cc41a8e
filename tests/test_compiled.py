"""pixcodec.compiled: the kernels compiled ahead of time write the bytes and decode the pixels
numba's JIT does, without importing numba; a module built for other sources is not used; a
call whose argument types the module lacks hands every kernel over to numba."""
from __future__ import annotations

import ast
import collections
import enum
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
    done = subprocess.run([sys.executable, "-m", "pixcodec", "kernels", "--build"],
                          capture_output=True, text=True, timeout=900, env=env)
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


def _typeof(value):
    try:
        return numba.typeof(value)
    except ValueError:
        return None  # a value numba cannot type


def _key(value):
    try:
        return compiled.type_key(value)
    except compiled._NoKey:
        return None  # no key: the call goes to numba


def test_the_argument_key_tells_apart_what_numba_types_tell_apart():
    """The module's code is chosen by type_key, numba's by typeof: two values with one key have
    one numba type (else machine code built for one would run on the other), and the values
    kernels are passed share a key wherever they share a type."""
    base = np.arange(24, dtype=np.int64).reshape(4, 6)
    frozen = base.copy()
    frozen.flags.writeable = False
    plain = [base, base.copy(), base.T, base[:, ::2], frozen, base.astype(np.int32),
             base.astype(np.float32), base[0], base.reshape(2, 3, 4), np.zeros(0, np.uint8),
             np.zeros((1, 1)), 3, 7, True, False, np.bool_(True), 2.5, None, np.int64(3),
             np.int32(3), np.float64(1.0), (base, 3), (base, 4), (3, base), (base, base[0]), (),
             ((1, 2), None)]
    for a in plain:
        for b in plain:
            same_type = numba.typeof(a) == numba.typeof(b)
            assert (compiled.type_key(a) == compiled.type_key(b)) == same_type, (a, b)
    point = collections.namedtuple("point", "x y")
    other = collections.namedtuple("other", "x y")
    unaligned = np.frombuffer(bytearray(8 * 7 + 1), np.uint8)[1:].view(np.int64)
    records = np.zeros(3, dtype=[("a", "<i8"), ("b", "<f8")])
    tricky = [point(1, 2), other(1, 2), (1, 2), enum.IntEnum("E", "A")["A"], 1,
              np.ma.masked_array(base), base, records, np.zeros(3, "V16"), records[0],
              unaligned, np.zeros(7, np.int64), np.datetime64("2026-12-07"),
              np.array(["a"]), np.array([None], dtype=object)]
    for a in plain + tricky:
        for b in plain + tricky:
            if _key(a) is not None and _key(a) == _key(b):
                assert _typeof(a) == _typeof(b), (a, b)


def test_kernels_are_declared_through_compiled_alone():
    """numba and llvmlite are imported where a kernel needs them (pixcodec.compiled, the body
    of a ``setup``, the build), never by importing a module or calling a plain function: the
    ahead-of-time path must not load them."""
    package = Path(compiled.__file__).parent.parent
    offending = []
    for path in sorted(package.rglob("*.py")):
        if path.parent.name == "compiled" or path.name == "build_kernels.py":
            continue
        tree = ast.parse(path.read_text())
        allowed = {id(node) for top in tree.body if isinstance(top, ast.FunctionDef)
                   and any(getattr(d, "id", None) == "setup" for d in top.decorator_list)
                   for node in ast.walk(top)}
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("numba", "llvmlite") for n in names) \
                    and id(node) not in allowed:
                offending.append(f"{path.relative_to(package)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "numba":
                offending.append(f"{path.relative_to(package)}:{node.lineno} numba.{node.attr}")
    assert offending == []


def test_the_identity_is_the_sources(tmp_path):
    """A module built for other sources is not the one these sources name: any file's change
    changes the identity."""
    package = tmp_path / "package"
    (package / "engine").mkdir(parents=True)
    (package / "engine" / "rans.py").write_text("x = 1\n")
    (package / "api.py").write_text("y = 2\n")
    before = compiled.identity(package)
    assert compiled.identity(package) == before
    (package / "engine" / "rans.py").write_text("x = 2\n")
    assert compiled.identity(package) != before


@pytest.mark.slow
def test_the_modules_functions_release_the_gil(kernel_dir):
    """The engine codes tiles in threads: the wrappers call PyEval_SaveThread (numba's nogil)."""
    (library,) = kernel_dir.glob(f"{compiled.MODULE}-*.so")
    assert b"PyEval_SaveThread" in library.read_bytes()


def test_kernels_says_how_they_run():
    env = {**os.environ, compiled.SWITCH: "jit"}
    done = subprocess.run([sys.executable, "-m", "pixcodec", "kernels"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"kernels: numba's JIT ({compiled.SWITCH} is set)"


def test_a_build_that_cannot_run_says_so_in_one_line():
    env = {**os.environ, compiled.SWITCH: "jit"}
    done = subprocess.run([sys.executable, "-m", "pixcodec", "kernels", "--build"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"pixcodec: the kernels were not compiled ahead of time ({compiled.SWITCH} is set: "
        f"unset it to build what commands run); numba's JIT runs them"]
