"""Builds ``pixcodec.compiled``'s ahead-of-time module: `pixcodec kernels --build` (run by
`make install`).

1. Records which kernels Python calls, with which numba types, while the shipped integer
   models code small images every way a command does (coder 4 and the older coder 3, one tile
   and several side by side), each kernel run by numba's JIT.
2. Compiles those (kernel, types) pairs with numba's ahead-of-time compiler (``numba.pycc``)
   for this CPU into one extension module, its calls releasing the GIL (as the kernels'
   ``nogil``: the engine codes tiles in threads). The kernels they call are compiled into it
   as numba compiles them, inlined where numba inlines them.
3. Writes it, and a manifest of its functions by kernel and argument-type key, where
   ``pixcodec.compiled`` looks, under the identity of these sources, Python, numpy and CPU.

Needs a C compiler and setuptools (pycc builds the module's Python wrapper with them);
without them pixcodec keeps numba's JIT. Takes about 40 s here, most of it compiling."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import compiled

_recorded: dict[compiled.Kernel, dict[tuple, str]] = {}


def record(kernel: compiled.Kernel, args: tuple) -> None:
    """Notes a call from Python: the kernel and its arguments' numba types, with their key
    (arguments without one are left to numba's JIT)."""
    import numba

    try:
        key = compiled.type_key(args)
    except compiled._NoKey:
        return
    _recorded.setdefault(kernel, {})[tuple(numba.typeof(a) for a in args)] = key


def _start_recording() -> None:
    """Kernels declared from now on are recorded as Python calls them; as the kernels they
    call, numba sees each as its (uncached) dispatcher, so that it compiles them."""
    declared = [name for name in ("pixcodec.fixedpoint", "pixcodec.nets.kernels")
                if name in sys.modules] + [name for name in sys.modules
                                            if name.startswith("pixcodec.engine")]
    if declared:
        raise RuntimeError(f"record from a fresh process: {declared[0]} was imported first")
    compiled.type_kernels_as_dispatchers()
    compiled._recorder = record
    compiled._mode = "record"


def _smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A photo-like test image (gradients, edges, a little noise): the models code it, not the
    classic coders, so every kernel of a model's path runs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    base = np.stack([x * 3 + y, 200 - y * 2 + x, 90 + (x * y) % 60], axis=-1)
    base[height // 2:, width // 3:] += 40
    return np.clip(base + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)


def _workload() -> None:
    """What commands do with the shipped integer models, at small sizes."""
    from . import api, zoo
    from .engine import coding, rans

    image = _smooth_image(40, 56, 1)
    for name, info in zoo.manifest().items():
        if info.architecture != "integer_logistic_pixelcnn":
            continue
        for tile in (None, 16):  # one tile; tiles side by side in rounds
            coded = api.encode(image, name, tile=tile)
            if not np.array_equal(api.decode(coded.data).pixels, image):
                raise RuntimeError(f"{name}: the workload's image did not decode exactly")
        net = zoo.load_model(name)
        tiles = [image[:16, :16], image[16:40, :24]]
        streams = coding.encode_tiles(net, tiles, coder=rans.CODER_ID)  # coder 3's files
        decoded, _ = coding.decode_round(net, [s for s, _ in streams],
                                         [t.shape[:2] for t in tiles], coder=rans.CODER_ID)
        if not all(np.array_equal(a, b) for a, b in zip(decoded, tiles)):
            raise RuntimeError(f"{name}: coder 3 did not decode exactly")


def _exports() -> tuple[list[tuple[str, compiled.Kernel, object]], dict[str, dict[str, str]]]:
    """(export name, kernel, numba signature) for every recorded call, and the manifest's
    {kernel name: {argument-type key: export name}}."""
    entries, manifest = [], {}
    for kernel, calls in _recorded.items():
        if set(kernel.options) - {"nogil", "inline"}:
            continue  # options pycc does not apply to the function itself: left to numba
        keys = list(calls.values())
        if len(set(keys)) != len(keys):
            raise RuntimeError(f"{kernel.name}: two numba types share an argument-type key")
        for types, key in calls.items():
            name = f"k{len(entries)}"
            overload = kernel.dispatcher.overloads[types]
            entries.append((name, kernel, overload.signature.return_type(*types)))
            manifest.setdefault(kernel.name, {})[key] = name
    return entries, manifest


def _compile(entries, folder: Path) -> Path:
    """The extension module of these exports, built in `folder`: for this CPU, its model and
    its features as numba's JIT reads them (pycc's own default, the model's nominal features,
    would use any instruction the model name implies, even one a virtual machine masks), its
    functions releasing the GIL."""
    import numba.pycc.compiler
    from numba.core import codegen
    from numba.core.compiler import Flags
    from numba.pycc import CC

    class ReleasingFlags(Flags):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.release_gil = True  # the Python wrapper runs the code without the GIL

    cc = CC(compiled.MODULE)
    cc.output_dir = str(folder)
    cc.target_cpu = "host"
    cc.verbose = False
    for name, kernel, signature in entries:
        cc.export(name, signature)(kernel.py_func)
    patched = ((numba.pycc.compiler, "Flags", ReleasingFlags),
               (codegen.AOTCPUCodegen, "_customize_tm_features",
                codegen.CPUCodegen._get_host_cpu_features))
    plain = [getattr(owner, name) for owner, name, _ in patched]
    for owner, name, value in patched:
        setattr(owner, name, value)
    try:
        cc.compile()
    finally:
        for (owner, name, _), value in zip(patched, plain):
            setattr(owner, name, value)
    built = [p for p in folder.iterdir() if p.name.startswith(compiled.MODULE + ".")]
    if len(built) != 1:
        raise RuntimeError("numba.pycc wrote no module")
    if b"PyEval_SaveThread" not in built[0].read_bytes():
        raise RuntimeError("the module's functions would hold the GIL (numba.pycc changed?)")
    return built[0]


def _install(built: Path, ident: str, manifest: dict) -> Path:
    """The module and its manifest moved into place whole (each renamed over its final name;
    the manifest last, as a loader reads it first), replacing this Python's modules of older
    sources."""
    library, described = compiled.module_paths(ident)
    suffix = library.name[library.name.index("."):]
    for old in compiled.FOLDER.glob(f"{compiled.MODULE}-*{suffix}"):
        for stale in (old, old.with_name(old.name[:-len(suffix)] + ".json")):
            stale.unlink(missing_ok=True)
    os.replace(built, library)
    staged = built.with_name("manifest.json")
    staged.write_text(json.dumps({"identity": ident, "exports": manifest}, indent=1))
    os.replace(staged, described)
    return library


def build() -> tuple[Path, int]:
    """Records, compiles and installs the module: (its path, how many calls it holds)."""
    if os.environ.get(compiled.SWITCH):
        raise RuntimeError(f"{compiled.SWITCH} is set: unset it to build what commands run")
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        raise RuntimeError("no C compiler found (cc, gcc or clang)")
    ident = compiled.identity()
    _start_recording()
    _workload()
    entries, manifest = _exports()
    compiled.switch_to_numba(cache=False)  # the exports' callees compiled afresh, inlined
    compiled.FOLDER.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=compiled.FOLDER) as work:
        built = _compile(entries, Path(work))
        if compiled.identity() != ident:
            raise RuntimeError("pixcodec's sources changed during the build")
        library = _install(built, ident, manifest)
    return library, len(entries)


def main() -> bool:
    """Builds the module in a fresh process (no kernel declared yet) and says so in one line:
    whether it was built."""
    start = time.perf_counter()
    try:
        library, count = build()
    except Exception as exc:  # noqa: BLE001  (a compiler's own error types too: one line)
        if not isinstance(exc, (ImportError, OSError, RuntimeError, KeyError)) and \
                type(exc).__module__.split(".")[0] not in ("distutils", "setuptools", "numba"):
            raise
        print(f"pixcodec: the kernels were not compiled ahead of time ({exc}); numba's JIT "
              f"runs them", file=sys.stderr)
        return False
    print(f"pixcodec: {count} kernel calls compiled ahead of time for this CPU in "
          f"{time.perf_counter() - start:.0f} s: {library}")
    return True
