"""CPU threads that fit the machine: torch's intra-op threads and OpenMP's wait policy.

torch's defaults -- one intra-op thread per core, and GNU OpenMP's threads spinning (busy-waiting) between
parallel regions -- lose 3-4x on a shared, busy machine: a thread that has finished its share spins on a core
another process needs, while every region waits for the thread the scheduler left out (measured on 2 shared
cores at load 5-8: the first warm-start epoch 61 s with the defaults, 19 s with one thread).
``benchmarks/threads.py`` measures the choice below against the defaults, on an idle and on a busy machine.

* :func:`prepare_openmp` (run by ``import agentrl``) sets ``OMP_WAIT_POLICY=PASSIVE`` -- a thread with nothing
  to do sleeps instead of spinning -- unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set already.
  OpenMP reads it once, when torch loads it: set after ``import torch`` it has no effect, so import agentrl
  first (``python -m agentrl.run`` does).
* :func:`apply_threads` sets torch's intra-op threads: ``trainer.threads=N`` when given, else
  ``OMP_NUM_THREADS`` when set (torch's own reading of it is kept), else :func:`choose_threads`: the cores
  the machine's load leaves free, chosen once per process.
"""

from __future__ import annotations

import os
import sys

#: the environment variables that already decide the wait policy (the user's choice is kept)
WAIT_POLICY_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def prepare_openmp(environ: dict[str, str] | None = None) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` (``os.environ``) if torch has not loaded OpenMP yet and
    neither :data:`WAIT_POLICY_VARS` is set; returns whether it set it."""
    env = os.environ if environ is None else environ
    if "torch" in sys.modules or any(v in env for v in WAIT_POLICY_VARS):
        return False
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity; the CPU count where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_load(samples: int = 5, interval_s: float = 0.01) -> float:
    """How many cores other processes keep busy: the larger of the 1-minute load average (slow to follow a
    change) and the median count of other running threads over a few samples of ``/proc/stat`` (now)."""
    import statistics
    import time

    try:
        avg = os.getloadavg()[0]
    except (AttributeError, OSError):
        avg = 0.0
    now: list[int] = []
    for i in range(samples):
        try:
            with open("/proc/stat") as f:
                now += [int(line.split()[1]) - 1 for line in f if line.startswith("procs_running")]  # not us
        except (OSError, ValueError, IndexError):
            break
        if i + 1 < samples:
            time.sleep(interval_s)
    return max(avg, float(statistics.median(now)) if now else 0.0)


def choose_threads(cores: int | None = None, load: float | None = None) -> int:
    """Intra-op threads for ``cores`` usable cores (default :func:`usable_cores`) under ``load`` (default
    :func:`machine_load`): the cores other processes leave free, rounded, at least 1 and at most ``cores``.

    On a busy machine one thread per core only adds threads that wait for each other; on an idle one every
    core is used, as torch's default does."""
    cores = usable_cores() if cores is None else cores
    load = machine_load() if load is None else load
    return max(1, min(cores, round(cores - load)))


def explicit_threads(setting: int | None, environ: dict[str, str] | None = None) -> int | None:
    """The thread count the user asked for: ``setting`` (``trainer.threads``), else a valid ``OMP_NUM_THREADS``
    (its first entry), else ``None``."""
    if setting is not None:
        return setting
    value = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


_chosen: tuple[int, str] | None = None  # the first automatic choice of this process, kept for its later runs


def apply_threads(setting: int | None = None) -> tuple[int, str]:
    """Set torch's intra-op threads (see the module docstring); returns ``(threads, why)``, ``why`` naming
    where the number came from, for the run's log. The automatic choice is made once per process (its own
    work would count as load the second time)."""
    global _chosen
    import torch

    asked = explicit_threads(setting)
    if asked is not None:
        n, why = asked, ("trainer.threads" if setting is not None else "OMP_NUM_THREADS")
    else:
        if _chosen is None:
            load = machine_load()
            _chosen = (choose_threads(load=load), f"{usable_cores()} cores, load {load:.1f}; "
                                                  "override with trainer.threads=N")
        n, why = _chosen
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n, why


def wait_policy() -> str:
    """What decides OpenMP's wait policy in this process, for the run's log (``PASSIVE``, the user's setting, or
    ``torch's default`` when torch was loaded first)."""
    for var in WAIT_POLICY_VARS:
        if var in os.environ:
            return f"{var}={os.environ[var]}"
    return "torch's default (spinning; import agentrl before torch)"
