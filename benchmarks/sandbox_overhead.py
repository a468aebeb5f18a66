"""Sandbox overhead: a trivial program in the sandbox vs. a bare ``python -c`` subprocess, measured side by side,
in every isolation mode that works here (bwrap, unshare).

Prints, per mode, the time per execution of each (interleaved rounds, median) and their ratio — also against a
bare ``python -E -s -S -c`` (the interpreter flags the sandbox itself starts with: no ``site``, so no ``.pth``
start-up hooks), which isolates what the containment costs; then, in the
default mode, executions per second with 1 and 2 worker threads and the cost of one code-env evaluation (a
bundled task's reference solution on all its tests in one sandbox run).

    python benchmarks/sandbox_overhead.py [--n 40] [--modes bwrap,unshare]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentrl import sandbox  # noqa: E402
from agentrl.sandbox import Limits, run_python  # noqa: E402
from agentrl.sandbox.launch import PYFLAGS  # noqa: E402

PROGRAM = "print(sum(range(100)))"
LIMITS = Limits(cpu_s=5, wall_s=10)


def bare(*flags: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, *flags, "-c", PROGRAM], capture_output=True, text=True, check=True)
    assert r.stdout == "4950\n"
    return time.perf_counter() - t0


def boxed() -> float:
    t0 = time.perf_counter()
    r = run_python(PROGRAM, limits=LIMITS)
    assert r.stdout == "4950\n", r
    return time.perf_counter() - t0


def throughput(workers: int, n: int) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: boxed(), range(n)))
    return n / (time.perf_counter() - t0)


def ratio(mode: str, n: int) -> None:
    os.environ[sandbox.FORCE_ENV] = mode
    sandbox._reset_isolation_cache()
    try:
        for _ in range(3):  # warm caches
            bare(), boxed()
        b, s, f = [], [], []
        for _ in range(n):  # interleaved so that load changes hit all alike
            b.append(bare())
            s.append(boxed())
            f.append(bare(*PYFLAGS))
    finally:
        os.environ.pop(sandbox.FORCE_ENV, None)
        sandbox._reset_isolation_cache()
    mb, ms, mf = statistics.median(b), statistics.median(s), statistics.median(f)
    print(f"[{mode:7s}] bare `python -c` : {mb * 1000:7.1f} ms / run   sandboxed: {ms * 1000:7.1f} ms / run "
          f"(medians of {n})   ratio sandbox/bare: {ms / mb:5.2f}x   (aim <= 1.5x)\n"
          f"          bare `python {' '.join(PYFLAGS)} -c`: {mf * 1000:7.1f} ms / run   "
          f"ratio sandbox/bare-same-flags: {ms / mf:5.2f}x   (containment alone: +{(ms - mf) * 1000:.1f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="executions per measurement")
    ap.add_argument("--modes", default="bwrap,unshare", help="isolation modes to compare")
    a = ap.parse_args()
    n = a.n
    print(f"default isolation: {sandbox.isolation()}   python: {sys.executable}   cpus: {os.cpu_count()}")
    for mode in a.modes.split(","):
        why = sandbox.why_not(mode)
        if why is not None:
            print(f"[{mode:7s}] not available here: {why}")
            continue
        ratio(mode, n)
    old = sandbox.max_concurrency()
    sandbox.set_max_concurrency(2)
    try:
        t1, t2 = throughput(1, n), throughput(2, n)
    finally:
        sandbox.set_max_concurrency(old)
    print(f"sandbox executions / s      : {t1:7.1f} (1 worker)   {t2:7.1f} (2 workers)")

    from envs.code.execution import run_tests
    from envs.code.tasks import bundled_tasks
    task = next(t for t in bundled_tasks() if t.id == "bfs-grid")
    tests = task.public + task.hidden
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        outs = run_tests(task.reference, tests, kind=task.kind, func_name=task.func_name)
        times.append(time.perf_counter() - t0)
        assert all(o.passed for o in outs)
    print(f"code-env evaluation         : {statistics.median(times) * 1000:7.1f} ms for {len(tests)} tests "
          f"in one sandbox run (bfs-grid reference)")


if __name__ == "__main__":
    main()
