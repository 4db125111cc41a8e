"""Fuzz the decoder: N corrupted and hostile .pxc files (tests/fuzzcases.py), each decoded in a
worker subprocess so that a hang or a crash of native code is seen and counted too.

    python scripts/fuzz.py --cases 10000 --workers 2

Prints counts: exact original, clean error by class, and the failures: traceback (any exception
that is not a PixcodecError), WRONG (a different image), hang (a case past --timeout; its
worker is killed), crash (the worker died, e.g. a segfault). Exit status 1 if any failure.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import select
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

FAILURES = ("traceback", "WRONG", "hang", "crash")
STARTUP_SECONDS = 300  # importing torch and making the originals, on a busy machine


def worker(seed: int, start: int, stop: int) -> None:
    """Run cases start..stop-1, one JSON line each on stdout."""
    from fuzzcases import make_case, originals, outcome
    made = originals()
    print(json.dumps({"ready": True}), flush=True)
    for index in range(start, stop):
        kind, which, data = make_case(index, seed, made)
        began = time.perf_counter()
        try:
            result, message = outcome(data, made[which][0], index)
        except Exception as exc:  # a bug: reported with where it happened
            where = traceback.extract_tb(exc.__traceback__)[-1]
            result = "traceback"
            message = f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"
        print(json.dumps({"case": index, "kind": kind, "result": result, "message": message,
                          "seconds": time.perf_counter() - began}), flush=True)


def _read_line(proc: subprocess.Popen, buffer: bytearray, timeout: float) -> bytes | None:
    """The worker's next line; b'' when it has exited; None when `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                return b""
            buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def supervise(seed: int, start: int, stop: int, timeout: float, records: list) -> None:
    """Run cases start..stop-1 in worker processes, restarting after a hang or a crash."""
    from fuzzcases import case_kind
    case = start
    while case < stop:
        proc = subprocess.Popen([sys.executable, __file__, "--worker", "--seed", str(seed),
                                 "--start", str(case), "--stop", str(stop)],
                                stdout=subprocess.PIPE, bufsize=0)
        buffer = bytearray()
        ready = _read_line(proc, buffer, STARTUP_SECONDS)
        if not ready:
            proc.kill()
            raise SystemExit(f"worker failed to start: {proc.wait()}")
        while case < stop:
            line = _read_line(proc, buffer, timeout)
            if line is None:
                proc.kill()
                proc.wait()
                records.append({"case": case, "kind": case_kind(case), "result": "hang",
                                "message": f"no answer in {timeout} s"})
                case += 1
                break
            if line == b"":
                code = proc.wait()
                records.append({"case": case, "kind": case_kind(case), "result": "crash",
                                "message": f"worker exit status {code}"})
                case += 1
                break
            record = json.loads(line)
            records.append(record)
            case = record["case"] + 1
        else:
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--out", type=Path, help="write every case's record here (JSON)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--stop", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.seed, args.start, args.stop)
        return
    from fuzzcases import KINDS, MAX_PIXELS
    began = time.monotonic()
    records: list[dict] = []
    bounds = [args.cases * i // args.workers for i in range(args.workers + 1)]
    threads = [threading.Thread(target=supervise, args=(args.seed, lo, hi, args.timeout, records))
               for lo, hi in zip(bounds, bounds[1:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records.sort(key=lambda r: r["case"])
    totals = Counter(r["result"] for r in records)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{len(records)} cases (seed {args.seed}, {len(KINDS)} kinds of damage, decoder pixel "
          f"limit {MAX_PIXELS}, {args.timeout:.0f} s per case), {time.monotonic() - began:.0f} s, "
          f"largest worker {peak_mb:.0f} MB")
    print("\n| outcome | cases |\n|---|---|")
    for result in sorted(set(totals) | set(FAILURES), key=lambda r: (r in FAILURES, r)):
        print(f"| {result} | {totals[result]} |")
    by_kind = Counter((r["kind"], r["result"]) for r in records)
    print("\n| damage | exact | clean error | failures |\n|---|---|---|---|")
    for kind in KINDS:
        cells = [sum(n for (k, r), n in by_kind.items() if k == kind and test(r)) for test in
                 (lambda r: r == "exact", lambda r: r.startswith("error:"),
                  lambda r: r in FAILURES)]
        print(f"| {kind} | " + " | ".join(map(str, cells)) + " |")
    slowest = max(records, key=lambda r: r.get("seconds", 0))
    print(f"\nslowest case: {slowest['case']} ({slowest['kind']}), "
          f"{slowest.get('seconds', 0):.2f} s")
    for record in records:
        if record["result"] in FAILURES:
            print(f"FAILURE case {record['case']} ({record['kind']}): {record['result']} "
                  f"{record['message']}")
    if args.out:
        args.out.write_text(json.dumps(records, indent=0))
    sys.exit(1 if any(totals[f] for f in FAILURES) else 0)


if __name__ == "__main__":
    main()
