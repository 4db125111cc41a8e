"""numba's cached kernels loaded with what loading needs, not what compiling needs.

Before loading a kernel from its cache, numba "refreshes" its target context: it imports and
registers the implementations of everything it can compile (numba.cpython's builtins, numpy's
linear algebra, typed containers, jitclasses, ...). That took 0.12 s of every pixcodec command
here (a 16 x 16 image's `decompress`: 0.75 s -> 0.63 s), whose kernels are all cached, while
the machine code itself needs only numba's runtime (NRT). So the cache's loader is replaced by
one that starts the runtime alone and refreshes the context, as numba did, only where the
cache has no code for the signature: numba then compiles, and its compiler refreshes both
contexts again anyway. The same machine code runs either way.

Installed on import (``pixcodec.engine`` imports this first), and only where numba's loader
has the parts this was written against (numba 0.68's); elsewhere numba is left as it is.
"""
from __future__ import annotations

from numba.core import caching
from numba.core.runtime import nrt

_PARTS = ("load_overload", "_load_overload", "_guard_against_spurious_io_errors")


def _load_overload(self, sig, target_context):
    """numba's ``Cache.load_overload`` with the context's refresh left for a cache miss."""
    nrt.rtsys.initialize(target_context)
    with self._guard_against_spurious_io_errors():
        loaded = self._load_overload(sig, target_context)
        if loaded is not None:
            return loaded
    target_context.refresh()
    return None


def _install() -> bool:
    cache = getattr(caching, "Cache", None)
    if cache is None or not all(hasattr(cache, part) for part in _PARTS):
        return False
    if not hasattr(getattr(nrt, "rtsys", None), "initialize"):
        return False
    cache.load_overload = _load_overload
    return True


INSTALLED = _install()
