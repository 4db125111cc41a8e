"""Writing outputs so that nothing is ever lost: temp file in the target folder, then rename.

The rules for an output path, in one place (the CLI checks them before any work, and again when
it writes):

* nothing there: a new file;
* a regular file: replaced only with --force, atomically, keeping its permissions;
* a symlink: its target is written by the same rules (the link itself stays), as `cat >` would;
* a character device or a FIFO (/dev/null, a pipe): written into, as `cat >` would: nothing is
  replaced, so no --force is needed;
* anything else (a folder, a block device, a socket): refused.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import PixcodecError


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def _streams_into(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def output_problem(path: str | Path, force: bool) -> str | None:
    """Why `path` cannot take an output (one line naming it), or None."""
    shown = path
    path = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{shown}: cannot write ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return f"{shown} is a directory"
    if _streams_into(mode):
        return None
    if not stat.S_ISREG(mode):
        return f"{shown} is not a regular file, a character device or a pipe"
    if not force:
        return f"{shown} already exists (use --force to overwrite)"
    return None


def check_output_path(path: str | Path, suffixes: tuple[str, ...], force: bool) -> None:
    """Refuse an output before the work that makes it rather than after: its name must end
    in one of `suffixes`, its folder exist, and the rules above allow it."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise PixcodecError(f"{path}: the file name must end in {' or '.join(suffixes)}")
    problem = output_problem(path, force)
    if problem:
        raise PixcodecError(problem)
    if not path.parent.is_dir():
        raise PixcodecError(f"{path.parent} is not a folder")


def atomic_write(path: str | Path, data: bytes, force: bool = False) -> None:
    """Write `data` to `path` all at once, or not at all (a failure or Ctrl-C leaves nothing),
    by the rules above."""
    shown = path
    problem = output_problem(path, force)
    if problem:
        raise PixcodecError(problem)
    path = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    try:
        if path.exists() and _streams_into(path.stat().st_mode):
            with open(path, "wb") as f:
                f.write(data)
            return
        _replace(path, data)
    except OSError as exc:
        raise PixcodecError(f"{shown}: cannot write ({exc.strerror or exc})") from None


def _replace(path: Path, data: bytes) -> None:
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
