"""Step-time distributions of the real envs, and the log-normal that ``bench_rollout.py``'s heavy-tailed workload
draws its env steps from.

* code env (bundled tasks): one step = the agent's program on the task's public + hidden tests in one sandbox
  run. Programs: every task's reference solution and its shipped wrong solution, and, on ``--tle`` tasks, a
  program that never finishes (each test runs into its time limit: the tail a real policy's loops produce).
* AppWorld env (bundled): every step of the oracle episodes of the dev split (sandboxed interpreter + API
  calls), resets included.

Prints each distribution's quantiles and the log-normal fitted to the pooled steps by their median and p99
(``sigma = ln(p99 / median) / 2.326``). The mix is one step per shipped program, so the timeout share is
``tle / (2 * tasks + tle)``: real rates vary by policy and task set; choose it with ``--tle``.

Measured here (2 shared CPU cores, loaded by other jobs; 68 bundled code tasks: 136 shipped programs + 3
never-ending ones; 40 AppWorld dev oracle episodes, 142 steps + 40 resets):

    code env     n=139  p10  77 ms  median 259 ms  p90 543 ms  p99 44.1 s  max 44.1 s
    appworld     n=182  p10   1 ms  median   3 ms  p90  62 ms  p99  153 ms  max  231 ms
    pooled       n=321  p10   1 ms  median  54 ms  p90 428 ms  p99  713 ms  max 44.1 s
    log-normal fit to the pooled steps: median 54 ms, sigma 1.11 (p99 0.71 s)

The time-limit steps (4 s per test, ~10 tests: 44 s) are 1 % of this mix and sit just past its p99, so the
pooled fit's p99 (0.71 s) leaves them out. ``bench_rollout.py``'s heavy workload keeps the pooled median (50 ms)
and puts the p99 at 2 s (sigma 1.59), between that fit and the timeout tail, with steps capped at 8 s.

    python benchmarks/env_step_times.py [--tle 3] [--appworld-episodes 40]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

Z99 = 2.326  # standard normal quantile of 0.99


def quantiles(name: str, xs: list[float]) -> str:
    a = np.asarray(xs)
    q = {p: float(np.quantile(a, p / 100)) for p in (10, 50, 90, 99)}
    return (f"{name:12s} n={len(a):<4d} p10 {_ms(q[10])}  median {_ms(q[50])}  p90 {_ms(q[90])}  "
            f"p99 {_ms(q[99])}  max {_ms(float(a.max()))}")


def _ms(x: float) -> str:
    return f"{x * 1e3:6.0f} ms" if x < 1 else f"{x:6.1f} s "


def fit_lognormal(xs: list[float]) -> tuple[float, float]:
    """``(median, sigma)`` of the log-normal with the same median and p99 as ``xs``."""
    med, p99 = float(np.median(xs)), float(np.quantile(xs, 0.99))
    return med, math.log(p99 / med) / Z99


def code_steps(tle: int) -> list[float]:
    from envs.code.env import CodeEnv

    env = CodeEnv("bundled", max_turns=1)
    out: list[float] = []
    tasks = list(env._tasks)
    programs = [(t.id, p) for t in tasks for p in (t.reference, t.wrong) if p]
    programs += [(t.id, "while True:\n    pass\n") for t in tasks[:tle]]
    for task_id, prog in programs:
        env.reset(options={"task_id": task_id})
        t0 = time.perf_counter()
        env.step(f"```python\n{prog}\n```")
        out.append(time.perf_counter() - t0)
    env.close()
    return out


def appworld_steps(episodes: int) -> list[float]:
    from envs.appworld import AppWorldEnv, tasks

    env = AppWorldEnv(source="bundled", max_turns=10_000)
    out: list[float] = []
    try:
        for task_id in tasks.task_ids("dev")[:episodes]:
            t0 = time.perf_counter()
            env.reset(options={"task_id": task_id})
            out.append(time.perf_counter() - t0)
            while True:
                action = env.oracle_action()
                t0 = time.perf_counter()
                _obs, _r, term, trunc, _info = env.step(action)
                out.append(time.perf_counter() - t0)
                if term or trunc:
                    break
    finally:
        env.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tle", type=int, default=3, help="code tasks also stepped with a never-ending program")
    ap.add_argument("--appworld-episodes", type=int, default=40)
    a = ap.parse_args()
    code = code_steps(a.tle)
    app = appworld_steps(a.appworld_episodes)
    print(quantiles("code env", code))
    print(quantiles("appworld", app))
    med, sigma = fit_lognormal(code + app)
    print(quantiles("pooled", code + app))
    print(f"log-normal fit to the pooled steps: median {med * 1e3:.0f} ms, sigma {sigma:.2f} "
          f"(p99 {med * math.exp(Z99 * sigma):.2f} s)")


if __name__ == "__main__":
    main()
