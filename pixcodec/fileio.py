"""Writing outputs so that nothing is ever lost: temp file in the target folder, then rename."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import PixcodecError


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: bytes, force: bool = False) -> None:
    """Write `data` to `path` all at once, or not at all (a failure or Ctrl-C leaves nothing)."""
    path = Path(path)
    if path.exists() and not force:
        raise PixcodecError(f"{path} already exists (use --force to overwrite)")
    if path.is_dir():
        raise PixcodecError(f"{path} is a directory")
    # mkstemp makes the file private (0600); an output gets what open() would give it: the
    # mode of the file it replaces, else the umask's.
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
