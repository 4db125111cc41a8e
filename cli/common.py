"""What every pixcodec command shares: exit codes, errors as one line, progress bars.

Exit codes: 0 success; 1 some file could not be processed (bad input, corrupted file, refused
image, existing output), a bench round trip failed or was not exact, or training could not
start; 2 usage error; 130 interrupted by Ctrl-C, 143 by SIGTERM (pixcodec.cli.run).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

EXIT_ERROR = 1
EXIT_USAGE = 2


def with_options(options: list):
    """A decorator applying click options (and arguments) in the order listed: one list shared
    by several commands."""
    def apply(func):
        for option in reversed(options):
            func = option(func)
        return func
    return apply


def message_of(exc: BaseException) -> str:
    """The one line a user sees for an exception raised while processing a file."""
    from pixcodec.errors import PixcodecError
    if isinstance(exc, PixcodecError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a directory"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    if out_of_memory(exc):
        return ("out of memory: the image needs more than this machine gives (decompress "
                "--max-pixels N refuses files of more pixels before any work)")
    return f"internal error ({type(exc).__name__}: {exc}); please report it"


def out_of_memory(exc: BaseException) -> bool:
    """An allocation that failed: numpy's MemoryError, or the RuntimeError torch's allocator
    raises instead ("DefaultCPUAllocator: can't allocate memory")."""
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError)
                                            and "can't allocate memory" in str(exc))


def reported(exc: BaseException) -> bool:
    """Whether a command reports `exc` in one line (what input or the machine can cause) rather
    than as the bug it is. Not a closed pipe on the output (`pixcodec models | head`): click
    ends the command on it without a word (status 1), as `cat` would."""
    from pixcodec.errors import PixcodecError
    if isinstance(exc, BrokenPipeError):
        return False
    return isinstance(exc, (PixcodecError, OSError)) or out_of_memory(exc)


def print_error(message: str) -> None:
    """`pixcodec: error: ...` on one line: control characters (a newline in a file name) are
    shown escaped."""
    line = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in message)
    click.echo(f"pixcodec: error: {line}", err=True)


def guarded(func):
    """Run a command turning failures outside any one file into one line (Ctrl-C and SIGTERM:
    pixcodec.cli.run)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if not reported(exc):
                raise
            print_error(message_of(exc))
            sys.exit(EXIT_ERROR)
    return wrapper


def fail(message: str):
    from pixcodec.errors import PixcodecError
    raise PixcodecError(message)


class ProgressBar:
    """A tqdm progress bar on a terminal, nothing otherwise."""

    def __init__(self, label: str, enabled: bool, unit: str = "step"):
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.unit = unit
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=self.label, unit=self.unit, leave=False,
                            file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()
