"""Run a candidate solution against a list of tests in ONE sandbox run, and compare outputs on the host.

One sandbox per evaluation (not one per test): the in-sandbox harness (``_harness_main.py``) forks a fresh
child per test, so tests do not share state, each has its own timeout, and a whole evaluation costs one
interpreter start. Expected outputs of ``stdin``/``call`` tests never enter the sandbox; :func:`stdout_matches`
and :func:`values_match` compare them here. ``script`` tests carry their expected values, so they run in a
checker process the solution cannot reach, against a proxy of the solution (``_harness_main``). The score is
what the harness reported over its own channel, test by test: a test that did not report did not pass.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from agentrl.sandbox import Limits, SandboxResult, run_python

TaskKind = Literal["stdin", "call", "script"]
KINDS = ("stdin", "call", "script")


@dataclass(frozen=True)
class TestCase:
    """One test. ``stdin``: ``input`` is fed to stdin, ``output`` the expected stdout. ``call``: ``input`` is one
    JSON value per line (the arguments), ``output`` the JSON of the expected return value. ``script``: ``input``
    is Python run after the solution (passes when it raises nothing); ``output`` is unused."""

    __test__ = False  # not a pytest class

    input: str
    output: str = ""


@dataclass
class TestOutcome:
    """What one test did: ``passed``, a ``status`` (``passed|wrong_answer|error|timeout|crash``) and details."""

    passed: bool
    status: str
    got: str = ""
    expected: str = ""
    stderr: str = ""
    wall_s: float = 0.0


@lru_cache(maxsize=1)
def harness_source() -> str:
    return (Path(__file__).with_name("_harness_main.py")).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------- comparison
def _as_decimal(tok: str) -> Decimal | None:
    try:
        d = Decimal(tok)
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _is_int(tok: str) -> bool:
    return tok.lstrip("+-").isdigit()


def stdout_matches(got: str, expected: str, *, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """LiveCodeBench-style comparison: strip, compare line by line (each stripped); lines that differ as text
    match when their whitespace-separated tokens are equal: integers exactly by value, other numbers as
    decimals within tolerance."""
    g = [line.strip() for line in got.strip().splitlines()]
    e = [line.strip() for line in expected.strip().splitlines()]
    if len(g) != len(e):
        return False
    for a, b in zip(g, e):
        if a == b:
            continue
        ta, tb = a.split(), b.split()
        if len(ta) != len(tb):
            return False
        for x, y in zip(ta, tb):
            if x == y:
                continue
            dx, dy = _as_decimal(x), _as_decimal(y)
            if dx is not None and dy is not None and _is_int(x) and _is_int(y):
                if dx != dy:
                    return False
                continue
            if dx is None or dy is None or not math.isclose(float(dx), float(dy), rel_tol=rel_tol,
                                                            abs_tol=abs_tol):
                return False
    return True


def values_match(got: Any, expected: Any, *, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Equality of JSON values, with float tolerance (tuples arrive as lists; ints and floats compare)."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return got is expected if isinstance(got, bool) and isinstance(expected, bool) else False
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        if isinstance(expected, int) and isinstance(got, int):
            return got == expected
        return math.isclose(float(got), float(expected), rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(expected, list) and isinstance(got, list):
        return len(got) == len(expected) and all(values_match(a, b) for a, b in zip(got, expected))
    if isinstance(expected, dict) and isinstance(got, dict):
        return got.keys() == expected.keys() and all(values_match(got[k], expected[k]) for k in expected)
    return got == expected


# ---------------------------------------------------------------------------------------------- running
def run_tests(code: str, tests: list[TestCase], *, kind: TaskKind, func_name: str | None = None,
              timeout_s: float = 4.0, memory_mb: int = 1024, max_output: int = 1 << 16,
              prelude: str = "") -> list[TestOutcome]:
    """Run ``code`` on every test (one sandbox run) and return one :class:`TestOutcome` per test, in order.

    ``prelude`` is prepended to the code (HumanEval: the prompt, so helper functions it defines exist); for
    ``script`` tests it also runs, without the solution, next to the test script (see ``_harness_main``), and
    ``func_name`` names the function the script checks (a proxy for the solution's).
    ``max_output`` is the least stdout kept per test (more when the expected output is longer).
    """
    if kind not in KINDS:
        raise ValueError(f"task kind {kind!r} is not one of {KINDS}")
    if kind in ("call", "script") and not func_name:
        raise ValueError(f"{kind} tasks need a func_name (the function the tests call)")
    if not tests:
        return []
    # Output kept per test: max_output, or more when the expected output is longer (a longer answer than
    # twice the expected one cannot match anyway, so nothing that could pass is cut).
    caps = [max(max_output, 2 * len(t.output.encode()) + 4096) for t in tests]
    job = {"kind": kind, "func_name": func_name, "timeout_s": timeout_s,
           "prelude": prelude if kind == "script" else "",
           "tests": [{"input": t.input, "cap": c} for t, c in zip(tests, caps)]}
    budget = len(tests) * (timeout_s + 0.25) + 2.0
    limits = Limits(cpu_s=budget, wall_s=budget, memory_mb=memory_mb, max_procs=64,
                    output_bytes=(1 << 20) + 2 * sum(caps) + 8192 * len(tests))
    src = (prelude + "\n" + code) if prelude else code
    res = run_python(harness_source(), files={"job.json": json.dumps(job), "solution.py": src}, limits=limits,
                     args=[kind])
    rows = _parse_rows(res, len(tests))
    return [_judge(rows.get(i), t, kind, res) for i, t in enumerate(tests)]


def _parse_rows(res: SandboxResult, n: int) -> dict[int, dict]:
    rows: dict[int, dict] = {}
    for line in res.stdout.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("i"), int) and 0 <= row["i"] < n:
            rows[row["i"]] = row
    return rows


def _judge(row: dict | None, test: TestCase, kind: str, res: SandboxResult) -> TestOutcome:
    if row is None:  # the harness itself died (e.g. the whole budget ran out)
        why = f"not run: the sandbox ended with verdict {res.verdict!r} ({res.reason})"
        status = "timeout" if res.verdict == "timeout" else "crash"
        return TestOutcome(False, status, expected=test.output, stderr=why)
    status, stderr, wall = row["status"], row.get("stderr", ""), float(row.get("wall_s", 0.0))
    if status != "ok":
        return TestOutcome(False, status, got=row.get("stdout", ""), expected=test.output, stderr=stderr,
                           wall_s=wall)
    if kind == "stdin":
        got = row.get("stdout", "")
        ok = stdout_matches(got, test.output)
    elif kind == "call":
        got_v = row.get("value")
        got = json.dumps(got_v)
        try:
            exp_v = json.loads(test.output)
        except ValueError:
            exp_v = test.output
        ok = values_match(got_v, exp_v)
    else:
        got, ok = "", True
    return TestOutcome(ok, "passed" if ok else "wrong_answer", got=got, expected=test.output, stderr=stderr,
                       wall_s=wall)
