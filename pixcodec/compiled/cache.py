"""numba's cached kernels loaded with what loading needs, not what compiling needs.

Before loading a kernel from its cache, numba "refreshes" its target context: it imports and
registers the implementations of everything it can compile (numba.cpython's builtins, numpy's
linear algebra, typed containers, jitclasses, ...). That took 0.12 s of every pixcodec command
here (a 16 x 16 image's `decompress`: 0.75 s -> 0.63 s), whose kernels are all cached, while
the machine code itself needs only numba's runtime (NRT). So the cache's loader is replaced by
one that starts the runtime alone and refreshes the context, as numba did, only where the
cache has no code for the signature: numba then compiles, and its compiler refreshes both
contexts again anyway. The same machine code runs either way.

Installed before numba compiles or loads any of pixcodec's kernels (``pixcodec.compiled``
imports it first), only for numba 0.68, whose loader this was written against (elsewhere
numba is left as it is), and only for pixcodec's own kernels on the CPU: other libraries'
cached functions, and other targets', load as numba loads them.
"""
from __future__ import annotations

import numba
from numba.core import caching, cpu
from numba.core.runtime import nrt

_PARTS = ("load_overload", "_load_overload", "_guard_against_spurious_io_errors")
_NUMBA = "0.68."  # the loader this replaces was read in numba 0.68
_ORIGINAL = getattr(getattr(caching, "Cache", None), "load_overload", None)


def _load_overload(self, sig, target_context):
    """numba's ``Cache.load_overload`` with the context's refresh left for a cache miss, for
    pixcodec's own CPU kernels; numba's own for any other cache (other libraries', other
    targets')."""
    module = getattr(getattr(self, "_py_func", None), "__module__", "") or ""
    if not (module.startswith("pixcodec.") and isinstance(target_context, cpu.CPUContext)):
        return _ORIGINAL(self, sig, target_context)
    nrt.rtsys.initialize(target_context)
    with self._guard_against_spurious_io_errors():
        loaded = self._load_overload(sig, target_context)
        if loaded is not None:
            return loaded
    target_context.refresh()
    return None


def _install() -> bool:
    cache = getattr(caching, "Cache", None)
    if not numba.__version__.startswith(_NUMBA) or cache is None:
        return False
    if not all(hasattr(cache, part) for part in _PARTS):
        return False
    if not hasattr(getattr(nrt, "rtsys", None), "initialize"):
        return False
    cache.load_overload = _load_overload
    return True


INSTALLED = _install()
