"""How coding work is shared out: among processes (a share of an image's tiles, orientations or
fitted levels each, `in_groups`), among torch's threads (one, `coding_threads`), and how its
progress is counted (`StepCounter`). None of it changes a byte of a file: only speed.
"""
from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

from .workers import run_in_workers

# Called as progress(steps_done, steps_total) after every wavefront step.
Progress = Callable[[int, int], None]

# A worker process takes about a second to start (Python, torch): smaller images are coded in
# the calling process alone.
PARALLEL_MIN_PIXELS = 2**17
CODING_THREADS = 1  # see torch_threads; results are identical for any value


class StepCounter:
    """Calls progress(steps_done, total) as wavefront steps are done; `total` may be set late."""

    def __init__(self, progress: Progress | None, total: int = 0):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, steps: int = 1) -> None:
        self.done += steps
        if self.progress is not None:
            self.progress(self.done, self.total)


def torch_module():
    """torch, for the float networks' paths (the integer engine's never load it)."""
    import torch
    return torch


def without_gradients(func: Callable) -> Callable:
    """`func` under torch.no_grad() where torch is loaded (a float network codes); as it is
    otherwise: the integer engine's paths never load torch."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        torch = sys.modules.get("torch")
        if torch is None:
            return func(*args, **kwargs)
        with torch.no_grad():
            return func(*args, **kwargs)
    return wrapper


@contextmanager
def torch_threads(n: int):
    """Coding runs small matrix products one after another: extra threads barely help them and,
    on a busy machine, spin-waiting threads slow them down many times over.

    torch's thread count is global to the process, so calls from several threads of a host
    program take turns here; each puts back the count it found, which is then the host's.
    Where torch is not loaded (the integer engine), there is nothing to set."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


_THREADS_LOCK = threading.RLock()


def coding_threads():
    """`torch_threads` at CODING_THREADS: how every coding pass and fit runs (read at each
    call)."""
    return torch_threads(CODING_THREADS)


def useful_workers(height: int, width: int, workers: int, threads: bool = False) -> int:
    """How many of `workers` processes an image of this size is worth: one below
    PARALLEL_MIN_PIXELS; any number of threads (`threads`: see ``in_groups``), which start at
    once."""
    return workers if threads or height * width >= PARALLEL_MIN_PIXELS else 1


def balanced_groups(weights: Sequence[int], parts: int) -> list[list[int]]:
    """The items of these weights (a tile's pixels: its coding time) in at most `parts` groups
    of indices whose heaviest is as light as a simple rule makes it: the heaviest item first,
    each to the lightest group so far (the first of equals). Each group lists its items
    heaviest first. Consecutive runs of tiles split an image unevenly wherever its edge tiles
    are small: a 481 x 321 photo's four tiles of 256 in two runs, 123,136 and 31,265 pixels;
    here 80,161 and 74,240."""
    parts = max(1, min(parts, len(weights)))
    groups: list[list[int]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for k in sorted(range(len(weights)), key=lambda k: -weights[k]):
        lightest = loads.index(min(loads))
        groups[lightest].append(k)
        loads[lightest] += weights[k]
    return groups


def in_groups(func: Callable, items: Sequence, workers: int,
              progress: Progress | None = None, threads: bool = False,
              weights: Sequence[int] | None = None) -> list:
    """func(part, progress=...) over `balanced_groups` of the items (`weights`: each item's
    cost, default equal), results joined in the items' order. With more than one group, the
    first is done in this process while `workers` - 1 worker processes do the others (each
    reports progress only when done): one interpreter less to start. The workers stay,
    started, for the next call (the encoder's steps before the tiles; the next image of a
    batch, a bench or a host program), until idle for a minute (workers.SPARE_IDLE_SECONDS):
    a worker's start, about two seconds of importing torch, is paid once, not per image.
    `threads`: the other groups go to threads of this process instead (for work that releases
    the GIL: ``CodingNetwork.codes_in_threads``), which start at once."""
    groups = balanced_groups([1] * len(items) if weights is None else weights, workers)
    parts = [[items[k] for k in g] for g in groups]
    if len(groups) == 1:
        return _in_item_order(groups, [func(parts[0], progress=progress)])
    if threads:
        return _in_item_order(groups, _in_threads(func, parts, progress))
    results: list = [None] * len(groups)
    steps = StepCounter(progress, len(items))

    def first_group_here() -> None:
        results[0] = func(parts[0])
        for _ in groups[0]:
            steps()

    for index, outcome in run_in_workers(func, [(part,) for part in parts[1:]],
                                         len(groups) - 1, meanwhile=first_group_here,
                                         keep=True):
        results[index + 1] = outcome.result()
        for _ in groups[index + 1]:
            steps()
    return _in_item_order(groups, results)


def _in_item_order(groups: list[list[int]], results: list[list]) -> list:
    """Each group's results (in its items' order) back in the order of all the items."""
    joined: list = [None] * sum(len(g) for g in groups)
    for group, part in zip(groups, results):
        for k, result in zip(group, part, strict=True):
            joined[k] = result
    return joined


class _Stopped(Exception):
    """Raised in a helper thread's work, at its next step, once the caller's has failed."""


def _in_threads(func: Callable, parts: list[list], progress: Progress | None) -> list:
    """func(part, progress=...) for each part, the first in the calling thread, the others in
    threads of their own; their results, a list a part. Each part tells its progress (done, total,
    in its own steps) as it goes, and `progress` gets their sums: the bar moves from the first
    step. If any part fails (or Ctrl-C stops the caller), the others stop at their next step
    (raised in their progress call) and the first error is raised."""
    results: list = [None] * len(parts)
    errors: list[BaseException | None] = [None] * len(parts)
    done, totals = [0] * len(parts), [0] * len(parts)
    stop = threading.Event()
    lock = threading.Lock()

    def reporter(k: int) -> Progress:
        def report(steps_done: int, steps_total: int) -> None:
            if stop.is_set():
                raise _Stopped
            with lock:
                done[k], totals[k] = steps_done, steps_total
                if progress is not None:
                    progress(sum(done), sum(totals))
        return report

    def run(k: int) -> None:
        try:
            results[k] = func(parts[k], progress=reporter(k))
        except BaseException as exc:  # reported to the caller below
            errors[k] = exc
            stop.set()

    helpers = [threading.Thread(target=run, args=(k,), daemon=True)
               for k in range(1, len(parts))]
    with one_blas_thread():
        for helper in helpers:
            helper.start()
        try:
            run(0)
            for helper in helpers:
                helper.join()
        except BaseException:  # Ctrl-C while waiting
            stop.set()
            raise
    for error in errors:
        if error is not None and not isinstance(error, _Stopped):
            raise error
    return results


@contextmanager
def one_blas_thread():
    """BLAS on the calling thread alone while the integer engine codes, or parts run in threads:
    its products are small, the threads already share out the cores, and a second BLAS thread
    beside a busy core made a parallel pass 17 times slower here (numpy's and SciPy's OpenBLAS
    both). The limit is the process's: set by the first of the threads that hold it, put back
    by the last (one thread's putting it back would free BLAS under the others). `_in_threads`
    sets it from the calling thread before its helpers start: OpenBLAS took a limit set from
    another thread only at times (a second decode in one process ran 2.2 times slower)."""
    global _coding_threads, _limit
    with _limit_lock:
        if _coding_threads == 0:
            _limit = threadpool_limits(1, user_api="blas")
        _coding_threads += 1
    try:
        yield
    finally:
        with _limit_lock:
            _coding_threads -= 1
            if _coding_threads == 0:
                _limit.restore_original_limits()


_limit_lock = threading.Lock()
_coding_threads = 0
_limit = None
