"""How coding work is shared out (pixcodec.scheduling): in threads for networks whose coding
releases the GIL, results in order, a failure anywhere raised and the other parts stopped."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from pixcodec import api
from pixcodec.scheduling import balanced_groups, in_groups


def test_parts_in_threads_come_back_in_order_from_threads_of_their_own():
    seen = set()

    def work(part, progress=None):
        seen.add(threading.get_ident())
        time.sleep(0.05)  # the parts overlap
        return [x * 10 for x in part]

    assert in_groups(work, list(range(7)), 3, threads=True) == [x * 10 for x in range(7)]
    assert len(seen) == 3


def test_a_part_that_fails_in_a_thread_fails_the_call_and_stops_the_others():
    steps_after_failure = []
    failed = threading.Event()

    def work(part, progress=None):
        if part[0] == 2:
            failed.set()
            raise ValueError("tile 3 is damaged")
        for _ in range(200):  # a long part, stepping as the decoder does
            time.sleep(0.005)
            if failed.is_set():
                steps_after_failure.append(1)
            if progress is not None:
                progress(1, 200)
        return part

    started = time.monotonic()
    with pytest.raises(ValueError, match="tile 3"):
        in_groups(work, [0, 1, 2], 3, threads=True)
    # the first part (the caller's) runs to its end; the second stops at its next step
    assert time.monotonic() - started < 2.5
    assert len(steps_after_failure) < 250


def test_an_integer_model_codes_in_threads_with_the_same_bytes():
    """Nine tiles shared among 1, 2 or 3 threads: the same file, the same pixels."""
    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(48), np.arange(40))[..., None] * np.array([2, 3, 1])
    image = (ramp + rng.integers(0, 8, (48, 40, 3))).astype(np.uint8)  # photo-like: the model
    data = api.encode(image, model="logistic-rgb-int8-v1", tile=16, threads=1).data
    for threads in (2, 3):
        assert api.encode(image, model="logistic-rgb-int8-v1", tile=16,
                          threads=threads).data == data
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(api.decode(data, threads=threads).image.samples, image)


def test_progress_in_threads_sums_every_part_step_by_step():
    calls = []

    def work(part, progress=None):
        for i in range(10 * len(part)):
            progress(i + 1, 10 * len(part))
        return part

    in_groups(work, list(range(7)), 3, progress=lambda d, t: calls.append((d, t)),
              threads=True)
    assert len(calls) == 70  # every step of every part, not one call per part at its end
    assert calls[-1] == (70, 70)
    assert [d for d, _ in calls] == list(range(1, 71))


def test_blas_stays_on_one_thread_until_the_last_coding_thread_ends():
    """Threads coding at once each hold BLAS to one thread; the first to end must not put
    back the process's limit under the others (two BLAS threads beside a busy core: a pass
    17 times slower). In a process of its own, whose BLAS starts with two threads."""
    code = """if True:
        import threading
        from threadpoolctl import threadpool_info
        import pixcodec.engine.kernels  # loads SciPy's BLAS too
        from pixcodec.scheduling import one_blas_thread

        def blas_threads():
            return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

        assert blas_threads() == {2}
        other_inside, release = threading.Event(), threading.Event()

        def other():
            with one_blas_thread():
                other_inside.set()
                release.wait(10)

        thread = threading.Thread(target=other)
        with one_blas_thread():
            assert blas_threads() == {1}
            thread.start()
            other_inside.wait(10)
        assert blas_threads() == {1}, "put back while the other thread codes"
        release.set()
        thread.join()
    """
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**env, "OPENBLAS_NUM_THREADS": "2"}, timeout=60)
    assert result.returncode == 0, result.stderr


def test_balanced_groups_share_tiles_by_pixels_heaviest_first():
    """A 481 x 321 photo's four tiles of 256 (65,536, 57,600, 16,640, 14,625 pixels): two
    consecutive runs would give one thread 123,136 pixels and the other 31,265."""
    assert balanced_groups([65536, 57600, 16640, 14625], 2) == [[0, 3], [1, 2]]
    assert balanced_groups([1] * 7, 3) == [[0, 3, 6], [1, 4], [2, 5]]
    assert balanced_groups([5, 1], 4) == [[0], [1]]  # never more groups than items
    assert balanced_groups([], 2) == [[]]


def times_ten(part, progress=None):
    return [x * 10 for x in part]


def test_weighted_groups_come_back_in_the_items_order_from_worker_processes():
    assert in_groups(times_ten, list(range(7)), 2,
                     weights=[3, 9, 1, 7, 5, 2, 8]) == [x * 10 for x in range(7)]


def test_weighted_groups_come_back_in_the_items_order():
    """Whatever the groups, results return in the items' order: in this thread alone and in
    threads."""
    weights = [3, 9, 1, 7, 5, 2, 8]
    for workers, threads in ((1, False), (3, True)):
        seen = []

        def work(part, progress=None):
            seen.append(part)
            return [x * 10 for x in part]

        assert in_groups(work, list(range(7)), workers, threads=threads,
                         weights=weights) == [x * 10 for x in range(7)]
        assert sorted(map(len, seen)) == ([7] if workers == 1 else [2, 2, 3])
        assert all(part == sorted(part, key=lambda k: -weights[k]) for part in seen)
