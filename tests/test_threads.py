"""CPU threads that fit the machine (agentrl/threads.py): the choice, the overrides, the wait policy's timing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrl.threads import choose_threads, explicit_threads, prepare_openmp

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("cores", "load", "want"), [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 7.9, 1),
                                                      (8, 3.2, 5), (8, 0.0, 8), (1, 0.0, 1), (4, 40.0, 1)])
def test_choose_threads_leaves_the_cores_other_processes_use(cores, load, want):
    assert choose_threads(cores=cores, load=load) == want


def test_explicit_threads_trainer_setting_then_omp_num_threads():
    assert explicit_threads(3, {"OMP_NUM_THREADS": "1"}) == 3
    assert explicit_threads(None, {"OMP_NUM_THREADS": "2"}) == 2
    assert explicit_threads(None, {"OMP_NUM_THREADS": "4,2"}) == 4     # nested levels: the outer one
    assert explicit_threads(None, {"OMP_NUM_THREADS": "zero"}) is None  # torch ignores it too: choose
    assert explicit_threads(None, {"OMP_NUM_THREADS": "0"}) is None
    assert explicit_threads(None, {}) is None


def test_prepare_openmp_does_nothing_once_torch_is_loaded():
    import torch  # noqa: F401 - OpenMP is loaded: setting the variable now would only mislead

    env: dict[str, str] = {}
    assert prepare_openmp(env) is False and env == {}


def _wait_policy_in_a_fresh_process(code: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    r = subprocess.run([sys.executable, "-c", code + "\nimport os; print(os.environ.get('OMP_WAIT_POLICY'))"],
                       env={**base, **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_import_agentrl_sets_a_passive_wait_policy_before_torch_loads_openmp():
    assert _wait_policy_in_a_fresh_process("import agentrl") == "PASSIVE"
    assert _wait_policy_in_a_fresh_process("import agentrl", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert _wait_policy_in_a_fresh_process("import agentrl", GOMP_SPINCOUNT="1000") == "None"
    # torch first: OpenMP has read its settings already; setting the variable now would only mislead
    assert _wait_policy_in_a_fresh_process("import torch, agentrl") == "None"


def test_machine_load_sees_busy_processes_at_once():
    """The load average follows a minute behind; the running-thread count sees a busy machine now."""
    from agentrl.threads import machine_load

    code = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end:\n    pass\n"
    busy = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    try:
        load = machine_load()
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert load >= 2 and choose_threads(cores=2, load=load) == 1
