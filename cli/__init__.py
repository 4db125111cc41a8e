"""The command-line front end (installed as pixcodec.cli).

`run` is the `pixcodec` command. It sets what Ctrl-C and SIGTERM do before anything else is
imported (click, numpy, torch take seconds), so either ends the process at any moment (during a
library's import, once it has loaded) with one line and exit status 130 or 143: no traceback,
and, as the signal unwinds the stack, outputs complete or absent (pixcodec.fileio) and worker
processes stopped (pixcodec.workers).
"""
import os
import signal
import sys

# numpy's and SciPy's OpenBLAS each start a thread per further core when they load, which spins
# for about 0.1 s before it sleeps: 0.16 s of CPU at every command here, on a core the command
# needs. pixcodec's own BLAS products run on one thread anyway (scheduling.one_blas_thread).
# Training keeps them: torch's x86-64 wheels bring their own BLAS (MKL), but not every torch
# does. A user's setting is kept.
if sys.argv[1:2] != ["train"]:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised wherever the process is. Not a KeyboardInterrupt, which click
    would turn into "Aborted!" and exit status 1."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.exit_status = 128 + signum


_received: int | None = None  # the signal handled, whether or not its Interrupted got out


def _interrupt(signum, frame):
    global _received
    _received = signum
    if _importing_a_library(frame):
        _send_again_soon(signum)
        return
    raise Interrupted(signum)


def _importing_a_library(frame) -> bool:
    """Whether a library's module is being run (imported). An exception raised there can land in
    its compiled code's start-up, which may not survive it: torch's C++ (pybind11), called back
    into Python while it initialises, aborts the process (SIGABRT, a C++ message) when the
    Python call fails. Such a signal is handled once the import is over, a few seconds at most."""
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            if frame.f_globals.get("__name__", "").partition(".")[0] not in ("pixcodec", "__main__"):
                return True
        frame = frame.f_back
    return False


def _send_again_soon(signum: int) -> None:
    """Send the signal again a moment later, from another thread, so that it is handled once the
    present context has returned (sent from here, it would be handled right here). It is sent to
    the main thread, whose handler runs it: a signal to the sending thread would not wake a main
    thread blocked in a system call (a sleep, a read) until that call ends."""
    import threading
    if hasattr(signal, "pthread_kill"):
        resend = threading.Timer(0.01, signal.pthread_kill, (threading.main_thread().ident, signum))
    else:  # Windows has no pthread_kill
        resend = threading.Timer(0.01, signal.raise_signal, (signum,))
    resend.daemon = True  # the work may end first: its output is then complete
    resend.start()


def raise_if_interrupted() -> None:
    """Raise Interrupted again for a signal already handled. Its exception can be lost without
    a trace: C code that clears whatever error it meets, or a library's bare `except`, can
    catch it. Called between files and when the command ends, so such a Ctrl-C still stops a
    batch at the next file and still ends the command with status 130."""
    if _received is not None:
        raise Interrupted(_received)


def _redeliver_swallowed_interrupt(unraisable) -> None:
    """Python swallows an exception raised where it cannot propagate (a weakref callback such as
    importlib's module-lock cleanup, a __del__) and prints it with a traceback. A signal that
    lands there would be lost: it is sent again. Once a signal has been handled, the others are
    its fallout (an object the signal interrupted while it was being built, failing to clean
    up: llvmlite's, numba's), and the command is ending anyway: they print nothing."""
    if isinstance(unraisable.exc_value, Interrupted):
        _send_again_soon(unraisable.exc_value.exit_status - 128)
    elif _received is None:
        sys.__unraisablehook__(unraisable)


def run() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        # A job a shell starts in the background ignores Ctrl-C, and must go on ignoring it.
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _interrupt)
    sys.unraisablehook = _redeliver_swallowed_interrupt
    try:
        from .main import main
        try:
            main(prog_name="pixcodec")
        finally:
            raise_if_interrupted()
    except Interrupted as stop:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C changes nothing now
            signal.signal(signum, signal.SIG_IGN)
        word = "interrupted" if stop.exit_status == 128 + signal.SIGINT else "terminated"
        sys.stderr.write(f"pixcodec: {word}\n")
        sys.exit(stop.exit_status)
