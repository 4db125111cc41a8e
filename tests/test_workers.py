"""Worker processes (pixcodec.workers): results in any order, a dead worker fails only its job
and is replaced, and no worker outlives its parent."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from pixcodec.workers import WorkerDied, run_in_workers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited: only its parent's wait is missing.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_a_dead_worker_fails_only_its_job_and_is_replaced():
    jobs = [(6,), (7,), (3,), (4,), (5,)]
    funcs = {}
    # os._exit(3) kills the worker that runs it; the rest are plain results.
    with closing(run_in_workers(_exit_if_three, jobs, 2)) as finishing:
        for index, outcome in finishing:
            try:
                funcs[index] = outcome.result()
            except WorkerDied as died:
                funcs[index] = str(died)
    assert funcs == {0: 36, 1: 49, 2: "the worker process died (exit status 3; out of memory?)",
                     3: 16, 4: 25}


def _exit_if_three(n: int) -> int:
    if n == 3:
        os._exit(3)
    return n * n


def test_an_exception_comes_back_as_the_jobs_outcome():
    with closing(run_in_workers(int, [("12",), ("x",)], 2)) as finishing:
        outcomes = dict(finishing)
    assert outcomes[0].result() == 12
    with pytest.raises(ValueError, match="invalid literal"):
        outcomes[1].result()


def test_workers_start_from_a_thread_other_than_the_main_one():
    """A host program may run pixcodec (bench --jobs) from any thread; only the main one may
    set signal dispositions."""
    import threading
    outcomes = {}
    thread = threading.Thread(target=lambda: outcomes.update(
        (i, o.result()) for i, o in run_in_workers(abs, [(-3,), (4,)], 2)))
    thread.start()
    thread.join(120)
    assert outcomes == {0: 3, 1: 4}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_workers_die_with_their_parent(tmp_path):
    """kill -9 of the parent: the workers, busy on long jobs, go at once (pixcodec compress -j 2
    used to leave them running for ever)."""
    started = tmp_path / "started"  # each worker's job leaves its pid here, then sleeps
    started.mkdir()
    script = textwrap.dedent("""
        import sys
        from contextlib import closing
        from pixcodec.workers import run_in_workers
        job = ("import os, time\\n"
               f"open(os.path.join({sys.argv[1]!r}, str(os.getpid())), 'w').close()\\n"
               "time.sleep(600)\\n")
        with closing(run_in_workers(exec, [(job, {})] * 2, 2)) as slow:
            for _ in slow:
                pass
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(started)])
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120  # two workers import torch: seconds, more when loaded
        while (len(list(started.iterdir())) < 2 and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.05)
        busy = sorted(int(p.name) for p in started.iterdir())
        assert len(busy) == 2, f"{len(busy)} of 2 workers began their jobs (parent: {proc.poll()})"
        children = [int(p) for p in subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid="],
                                                   capture_output=True, text=True).stdout.split()]
        assert set(busy) <= set(children)  # the parent's own workers, busy on the long jobs
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while any(map(_alive, children)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, children)), "workers outlived their killed parent"
    finally:  # whatever failed, leave no process behind
        proc.kill()
        proc.wait()
        for pid in set(children) | {int(p.name) for p in started.iterdir()}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_meanwhile_runs_here_while_the_workers_run_the_jobs(monkeypatch):
    """The caller's own share (`meanwhile`) runs once, in its process, after the jobs are
    handed out; an exception there stops the workers and reaches the caller."""
    here = []
    with closing(run_in_workers(os.getpid, [()] * 2, 2,
                                meanwhile=lambda: here.append(os.getpid()))) as finishing:
        pids = {outcome.result() for _, outcome in finishing}
    assert here == [os.getpid()] and os.getpid() not in pids and len(pids) == 2
    from pixcodec import workers
    started = []
    real = workers._Worker.__init__
    monkeypatch.setattr(workers._Worker, "__init__",
                        lambda self: real(self) or started.append(self.process.pid))

    def fail() -> None:
        assert len(started) == 1 and _alive(started[0])
        raise KeyError("here")

    with pytest.raises(KeyError, match="here"):
        for _ in run_in_workers(time.sleep, [(600,)], 1, meanwhile=fail):
            pass
    deadline = time.monotonic() + 30
    while _alive(started[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(started[0])


def test_a_prestarted_worker_is_taken_and_a_dead_one_replaced(monkeypatch):
    from pixcodec import workers
    workers.prestart(1)
    spare = workers._spares[0]
    with closing(run_in_workers(os.getpid, [()], 1)) as finishing:
        assert [o.result() for _, o in finishing] == [spare.process.pid]
    assert not workers._spares
    workers.prestart(1)
    dead = workers._spares[0]
    dead.process.kill()
    dead.process.join(30)
    with closing(run_in_workers(os.getpid, [()], 1)) as finishing:
        pids = [o.result() for _, o in finishing]
    assert pids and pids[0] != dead.process.pid and not workers._spares


def test_a_kept_worker_serves_the_next_call_and_stops_once_idle(monkeypatch):
    """`keep`: the next call takes the same process (no second start); a spare left unused for
    SPARE_IDLE_SECONDS stops, and another call starts a new one."""
    from pixcodec import workers
    with closing(run_in_workers(os.getpid, [()], 1, keep=True)) as finishing:
        [first] = [o.result() for _, o in finishing]
    assert [w.process.pid for w in workers._spares] == [first]
    with closing(run_in_workers(os.getpid, [()], 1, keep=True)) as finishing:
        assert [o.result() for _, o in finishing] == [first]
    monkeypatch.setattr(workers, "SPARE_IDLE_SECONDS", 0.5)
    with closing(run_in_workers(os.getpid, [()], 1, keep=True)) as finishing:
        assert [o.result() for _, o in finishing] == [first]
    deadline = time.monotonic() + 30
    while (workers._spares or _alive(first)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not workers._spares and not _alive(first)
    with closing(run_in_workers(os.getpid, [()], 1)) as finishing:
        assert [o.result() for _, o in finishing] != [first]


def test_start_ready_leaves_started_spares_that_the_next_call_takes(monkeypatch):
    from pixcodec import workers
    workers.start_ready(2)
    spares = {w.process.pid for w in workers._spares}
    assert len(spares) == 2 and all(map(_alive, spares))
    started = []
    real = workers._Worker.__init__
    monkeypatch.setattr(workers._Worker, "__init__", lambda self: started.append(1) or real(self))
    with closing(run_in_workers(os.getpid, [()] * 2, 2)) as finishing:
        assert {o.result() for _, o in finishing} == spares
    assert not started


def test_a_worker_whose_pipe_closes_during_a_job_ends_quietly(capfd):
    """Ctrl-C or SIGTERM closes the workers' pipes while they work (then kills them): one that
    finishes its job first must not print a traceback on the user's terminal."""
    from pixcodec import workers
    worker = workers._Worker()
    worker.connection.send((time.sleep, (1,)))
    worker.connection.close()
    worker.process.join(60)
    assert worker.process.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err


def test_a_script_without_a_main_guard_can_start_workers(tmp_path):
    """README's examples run as plain scripts: a worker must not run the host's main script
    again (multiprocessing's spawn did, and the script's call at its top level started workers
    from the worker, which died: WorkerDied)."""
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent("""
        import sys
        from pixcodec.workers import run_in_workers
        print("script ran", file=sys.stderr)
        print(sorted(o.result() for _, o in run_in_workers(abs, [(-2,), (-3,)], 2)))
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[2, 3]"
    assert result.stderr.count("script ran") == 1  # here only, never in a worker


def test_torch_tensors_travel_between_a_worker_and_its_parent():
    """torch sends a tensor through shared memory whose handshake checks both processes'
    multiprocessing key: a worker started without its parent's failed every tensor (the coder's
    tiles travel so)."""
    import torch
    with closing(run_in_workers(torch.arange, [(5,), (3,)], 2)) as finishing:
        results = {index: outcome.result() for index, outcome in finishing}
    assert results[0].tolist() == [0, 1, 2, 3, 4] and results[1].tolist() == [0, 1, 2]
