"""Worker processes for many independent jobs: the CLI's and bench's --jobs.

Not concurrent.futures: a ProcessPoolExecutor whose parent is killed leaves its workers (and
multiprocessing's resource tracker) running for ever, and one worker's death breaks the whole
pool, failing every job still to do. Here each worker is a spawned process with a pipe of its
own, so

* it dies with its parent: Linux's parent-death signal kills it at once; elsewhere it ends at
  the pipe's end of file, after its current job;
* a worker that dies fails only the job it held (`WorkerDied`) and another takes its place;
* it runs one torch thread (the workers already share out the cores) and ignores Ctrl-C, from
  its first instruction (an ignored signal stays ignored across exec): Ctrl-C at a terminal
  reaches every process of the group, and it is the parent that stops the workers.

Started fresh (a new interpreter that imports this module), not forked: a forked copy of a
process that has run torch can hang. Nor through multiprocessing's "spawn", which runs the host
program's main script again in each worker: a script that calls pixcodec.encode(..., threads=2)
without `if __name__ == "__main__":` then started workers from its workers, which died.
"""
from __future__ import annotations

import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .errors import PixcodecError

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class WorkerDied(PixcodecError):
    """The worker process coding a file died (killed, or out of memory)."""


class Outcome:
    """A finished job: `result()` returns its value or raises its exception."""

    def __init__(self, value: Any = None, error: BaseException | None = None):
        self._value, self._error = value, error

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)


def _portable(exc: BaseException) -> BaseException:
    """`exc`, or a RuntimeError saying what it was when it does not survive pickling."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _worker_main() -> None:
    """A worker process's entry point (`_Worker`): its pipe's descriptor and its parent's pid
    come on the command line, then the parent's import path, its multiprocessing key and what
    to preload, on the pipe."""
    import multiprocessing
    from multiprocessing.connection import Connection
    connection = Connection(int(sys.argv[1]))
    sys.path[:], authkey, preload = connection.recv()
    # The parent's key, as multiprocessing's own children have it: torch sends tensors between
    # the two through shared memory whose handshake checks it.
    multiprocessing.current_process().authkey = authkey
    _serve(connection, int(sys.argv[2]), preload)


def _serve(connection, parent: int, preload: Sequence[str]) -> None:
    """A worker's life: run jobs from the pipe until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    # One thread for torch (read when a float network's job first imports it) and for BLAS:
    # the workers already share out the cores. The integer engine's jobs never import torch.
    os.environ["OMP_NUM_THREADS"] = "1"
    for module in preload:  # what the jobs will need, imported before the first comes
        importlib.import_module(module)
    while True:
        try:
            func, args = connection.recv()
        except (EOFError, OSError):  # the parent closed the pipe: it stops us
            return
        try:
            reply = (True, func(*args))
        except Exception as exc:
            reply = (False, _portable(exc))
        try:
            connection.send(reply)
        except OSError:  # closed while the job ran (Ctrl-C, SIGTERM): no traceback to print
            return


# A worker's command: this module, found where the parent found it, and nothing else (not the
# host program's main script).
_WORKER_COMMAND = ("import sys; sys.path.insert(0, sys.argv.pop(3)); "
                   "from pixcodec.workers import _worker_main; _worker_main()")
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Process:
    """A worker's process, as much of multiprocessing.Process as is used here."""

    def __init__(self, popen: subprocess.Popen):
        self.popen, self.pid = popen, popen.pid

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        self.popen.kill()

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()


class _Worker:
    def __init__(self, preload: Sequence[str] = ()):
        from multiprocessing import Pipe
        self.connection, theirs = Pipe()
        # Signal dispositions can be set from the main thread only; a host program's other
        # threads start workers that take Ctrl-C as their first instruction sets it.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            popen = subprocess.Popen(
                [sys.executable, "-c", _WORKER_COMMAND, str(theirs.fileno()), str(os.getpid()),
                 _PACKAGE_ROOT], pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
            theirs.close()
        self.process = _Process(popen)
        import multiprocessing
        self.connection.send((list(sys.path), bytes(multiprocessing.current_process().authkey),
                              tuple(preload)))
        self.idle_since = 0.0  # time.monotonic() when it became a spare

    def death(self) -> WorkerDied:
        self.process.join(5)
        code = self.process.exitcode
        how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exit status {code}")
        return WorkerDied(f"the worker process died ({how}; out of memory?)")

    def stop(self) -> None:
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


# Workers started ahead of need (prestart) or kept from a call (keep), taken by the next
# run_in_workers. A spare unused for SPARE_IDLE_SECONDS stops: a program that codes an image
# now and then does not hold a worker's memory (torch, a model) between times.
SPARE_IDLE_SECONDS = 60.0
_spares: list[_Worker] = []
_spares_lock = threading.Lock()
_spares_added = threading.Condition(_spares_lock)  # wakes the reaper to time new spares
_reaper: threading.Thread | None = None


def _add_spares(workers: list[_Worker]) -> None:
    global _reaper
    with _spares_lock:
        now = time.monotonic()
        for worker in workers:
            worker.idle_since = now
        _spares.extend(workers)
        if _spares and _reaper is None:
            _reaper = threading.Thread(target=_stop_idle_spares, daemon=True)
            _reaper.start()
        _spares_added.notify()


def _stop_idle_spares() -> None:
    """The reaper's life: stop each spare once it has been idle SPARE_IDLE_SECONDS, until no
    spare is left."""
    global _reaper
    while True:
        with _spares_lock:
            now = time.monotonic()
            idle = [w for w in _spares if now - w.idle_since >= SPARE_IDLE_SECONDS]
            for worker in idle:
                _spares.remove(worker)
            last = not _spares
            if last:
                _reaper = None  # the next spare starts another
        for worker in idle:
            worker.stop()
        if last:
            return
        with _spares_lock:
            if _spares:
                _spares_added.wait(min(w.idle_since for w in _spares) + SPARE_IDLE_SECONDS
                                   - time.monotonic())


def prestart(count: int, preload: Sequence[str] = ()) -> None:
    """Start `count` workers now, for the next run_in_workers: they import torch and the
    modules named in `preload` (seconds) while this process is still importing and reading its
    input, instead of after. One that is not needed ends with this process, or when idle too
    long."""
    with _spares_lock:
        missing = count - len(_spares)
    _add_spares([_Worker(preload) for _ in range(missing)])


def start_ready(count: int, preload: Sequence[str] = ()) -> None:
    """Have `count` spare workers that have started (torch and the modules named in `preload`
    imported) before this returns: for a measurement that must not time any worker's start."""
    prestart(count, preload)
    for _, outcome in run_in_workers(int, [()] * count, count, keep=True):
        outcome.result()


def stop_spares() -> None:
    """Stop the spare workers now."""
    while True:
        with _spares_lock:
            if not _spares:
                return
            worker = _spares.pop()
        worker.stop()


def _new_worker() -> _Worker:
    while True:
        with _spares_lock:
            worker = _spares.pop() if _spares else None
        if worker is None:
            return _Worker()
        if worker.process.is_alive():
            return worker
        worker.stop()


def run_in_workers(func: Callable, jobs: Iterable[tuple], workers: int,
                   meanwhile: Callable[[], Any] | None = None, keep: bool = False
                   ) -> Iterator[tuple[int, Outcome]]:
    """(index, outcome) of `func(*job)` for each of `jobs`, in the order they finish, run in
    `workers` processes. `meanwhile`, if given, is called once in the caller's thread as soon as
    the first jobs are handed out, so the caller's own process can do a share of the work while
    the workers start (each spends seconds importing torch). The workers stop when the
    iteration ends, however it ends (an exception of `meanwhile` or the caller's Ctrl-C
    included), except with `keep`: after every job is done, they stay as spares for the next
    call (they end with this process, or after SPARE_IDLE_SECONDS unused)."""
    from multiprocessing.connection import wait
    waiting = deque(enumerate(jobs))
    idle: list[_Worker] = []
    busy: dict[_Worker, int] = {}
    try:
        while waiting or busy:
            while waiting and len(busy) < workers:
                worker = idle.pop() if idle else _new_worker()
                index, args = waiting.popleft()
                try:
                    worker.connection.send((func, args))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # it died idle: found below, through its pipe
                busy[worker] = index
            if meanwhile is not None:
                meanwhile, work_here = None, meanwhile
                work_here()
            # A worker that dies closes its end of the pipe: its connection is then ready too.
            ready = wait([w.connection for w in busy])
            for worker in [w for w in busy if w.connection in ready]:
                index = busy.pop(worker)
                try:
                    ok, value = worker.connection.recv()
                except (EOFError, OSError):
                    died = worker.death()
                    worker.stop()
                    yield index, Outcome(error=died)
                    continue
                idle.append(worker)
                yield index, Outcome(value) if ok else Outcome(error=value)
        if keep:
            _add_spares(idle)
            idle = []
    finally:
        for worker in idle + list(busy):
            worker.stop()
