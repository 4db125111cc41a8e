"""How pixcodec's kernels run. Every function numba compiles is declared with ``kernel``, and
what numba must define before it compiles them (intrinsics, overloads) with ``setup``. They
run as one of:

* **ahead of time**: machine code compiled for this CPU and these sources
  (``pixcodec.build_kernels``: `make install`, or `pixcodec kernels --build`), the kernels
  Python calls with the argument types pixcodec's integer models pass them, in one extension
  module that needs neither numba nor LLVM to run. numba's import and the loading of its
  cached kernels were 0.2-0.3 s of every command here, most of a small image's;
* **numba's JIT**, its code cached on disk (``cache``): where that module is missing or stale
  (other sources of pixcodec, another numpy, another CPU), where ``PIXCODEC_KERNELS`` is set
  (``jit``; ``blas`` also turns the dot-product unit off), and for a call whose argument
  types the module has no code for. numba is imported at the first such call, and from then
  on runs every kernel.

Both are the same functions compiled by the same compiler for the same CPU: the same integers
(tests/test_compiled.py compares files and pixels both ways)."""
from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

# where the build writes the module, and where it is looked for
FOLDER = Path(os.environ.get("PIXCODEC_KERNEL_DIR") or Path(__file__).parent / "__pycache__")
MODULE = "pixcodec_kernels"  # the extension's own name (its init function's)
SWITCH = "PIXCODEC_KERNELS"  # set (to anything): numba's JIT only

_kernels: list[Kernel] = []
_setups: list[Callable[[], None]] = []
_switch_lock = threading.RLock()


def cpu_features() -> dict[str, bool]:
    """The CPU's instruction sets as numpy detected them at its import (the OS's support
    included), without loading LLVM."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__
    return dict(__cpu_features__)


def _cpu_flags() -> str:
    """The kernel's list of this CPU's features (Linux), which names more than numpy's: the
    module is compiled for the build's CPU, and must not run where any of them is missing."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor()


def identity(package: Path = Path(__file__).parent.parent) -> str:
    """What the module's machine code depends on: pixcodec's sources (every .py file of the
    package), Python, numpy and the CPU. A module built under another identity is not used."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    features = sorted(name for name, present in cpu_features().items() if present)
    for part in (sys.version, np.__version__, platform.machine(), " ".join(features),
                 _cpu_flags()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def module_paths(ident: str) -> tuple[Path, Path]:
    """The extension module of an identity and its manifest (which kernels it holds, for
    which argument types)."""
    stem = f"{MODULE}-{ident[:24]}"
    return (FOLDER / f"{stem}{importlib.machinery.EXTENSION_SUFFIXES[0]}",
            FOLDER / f"{stem}.json")


def _load_ahead() -> dict[str, dict[str, Callable]] | None:
    """{kernel name: {argument types' key: compiled function}} of the module built for these
    sources on this CPU, or None (none, stale, unreadable, or switched off)."""
    if os.environ.get(SWITCH):
        return None
    ident = identity()
    library, manifest = module_paths(ident)
    try:
        described = json.loads(manifest.read_text())
        if described["identity"] != ident:
            return None
        spec = importlib.util.spec_from_file_location(MODULE, library)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return {name: {key: getattr(module, export) for key, export in exports.items()}
                for name, exports in described["exports"].items()}
    except (OSError, ValueError, KeyError, ImportError, AttributeError, TypeError):
        return None


_ahead = _load_ahead()
_mode = "jit" if _ahead is None else "ahead"  # "record": the build's, calls told _recorder
_recorder: Callable[[Kernel, tuple], None] | None = None  # set by the build


def mode() -> str:
    """"ahead" (the ahead-of-time module, numba not imported yet) or "jit" (numba)."""
    return "jit" if _mode == "jit" else "ahead"


def describe() -> str:
    """How the kernels run here, in words (`pixcodec kernels`)."""
    if _ahead is not None:
        return f"compiled ahead of time for this CPU ({module_paths(identity())[0].name})"
    if os.environ.get(SWITCH):
        return f"numba's JIT ({SWITCH} is set)"
    return ("numba's JIT (no module built for these sources on this CPU: "
            "`pixcodec kernels --build` builds one)")


class _NoKey(Exception):
    """A value whose numba type the key does not describe: the call goes to numba."""


def type_key(value) -> str:
    """What numba's type of a kernel's arguments distinguishes, computed without numba: an
    array's dtype, dimensions, layout (as numba's ``typeof`` reads numpy's flags), whether it
    is writeable and aligned; a scalar's kind; a tuple's elements. The build checks that no
    two numba types it exports share a key."""
    return repr(_key(value))


def _key(value):
    kind = type(value)  # exact types: a subclass (a namedtuple, a masked array) is typed apart
    if kind is np.ndarray:
        if value.dtype.kind not in "biufc":
            raise _NoKey  # records, strings, objects, datetimes: no kernel takes them
        flags = value.flags
        layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
        return ("array", value.dtype.str, value.ndim, layout, flags.writeable, flags.aligned)
    if kind is tuple:
        return ("tuple",) + tuple(_key(v) for v in value)
    if value is None:
        return "none"
    if kind is bool or kind is np.bool_:
        return "bool"
    if kind is int and -2**63 <= value < 2**63:
        return "int64"  # as numba types a Python int, and numpy's int64
    if kind is float:
        return "float64"
    if isinstance(value, np.number) and value.dtype.kind in "iufc":
        return value.dtype.name
    raise _NoKey


class Kernel:
    """A declared kernel where numba is not in use (yet): calls run the ahead-of-time module's
    code for their argument types; any other call switches every kernel to numba first."""

    def __init__(self, py_func: Callable, options: dict):
        functools.update_wrapper(self, py_func)
        self.py_func, self.options = py_func, options
        self.name = f"{py_func.__module__}.{py_func.__qualname__}"
        self.compiled = (_ahead or {}).get(self.name, {})
        self.dispatcher = None  # numba's, once switched (or while recording)

    def __call__(self, *args):
        if _mode == "record":
            _recorder(self, args)
            return self.dispatcher(*args)
        if _mode == "ahead" and self.compiled:
            try:
                function = self.compiled.get(type_key(args))
            except _NoKey:
                function = None
            if function is not None:
                return function(*args)
        if _mode != "jit":
            switch_to_numba()
        return self.dispatcher(*args)


def _numba_kernel(py_func: Callable, options: dict, cache: bool = True):
    import numba

    from . import cache as _  # noqa: F401  (cached kernels load through it)
    return numba.njit(cache=cache, **options)(py_func)


def kernel(function: Callable | None = None, /, **options):
    """Declares a kernel (numba.njit's options, with ``cache=True``): numba's dispatcher where
    numba is in use, else a ``Kernel``. Usable bare (``@kernel``) or with options."""
    def declare(py_func: Callable):
        if _mode == "jit":
            return _numba_kernel(py_func, options)
        declared = Kernel(py_func, options)
        _kernels.append(declared)
        if _mode == "record":
            declared.dispatcher = _numba_kernel(py_func, options, cache=False)
        return declared
    return declare if function is None else declare(function)


def setup(define: Callable[[], None]) -> Callable[[], None]:
    """Declares what numba needs defined before it compiles the kernels that use it (an
    intrinsic, an overload): defined now where numba is in use, else when it comes in."""
    _setups.append(define)
    if _mode != "ahead":
        define()
    return define


def type_kernels_as_dispatchers() -> None:
    """numba types a ``Kernel`` it meets in compiled code as its dispatcher, so that it compiles
    the call (the build's recording, and any kernel a switch could not rebind)."""
    from numba.core import types
    from numba.extending import typeof_impl

    typeof_impl.register(Kernel)(lambda kernel, _: types.Dispatcher(kernel.dispatcher))


def switch_to_numba(cache: bool = True) -> None:
    """numba for every kernel from now on: what ``setup`` declared is defined, each kernel gets
    its dispatcher, and every module global of pixcodec's that names a kernel names its
    dispatcher instead (numba finds the kernels a kernel calls in its module's globals, and
    inlines only its own dispatchers). Other threads calling kernels meanwhile wait for the
    switch to end (their calls find the mode "jit" only once everything is in place).
    `cache`: numba's disk cache (the build compiles afresh, without it)."""
    global _mode
    with _switch_lock:
        if _mode == "jit":
            return
        if _mode == "ahead":
            for define in _setups:
                define()
        type_kernels_as_dispatchers()  # one held anywhere but a module's globals
        dispatchers = {declared: _numba_kernel(declared.py_func, declared.options, cache)
                       for declared in _kernels}
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "pixcodec" or name.startswith("pixcodec.")):
                continue
            for attribute, value in list(vars(module).items()):
                if isinstance(value, Kernel):
                    setattr(module, attribute, dispatchers[value])
        for declared, dispatcher in dispatchers.items():
            declared.dispatcher = dispatcher
        _mode = "jit"
