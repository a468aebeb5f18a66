"""Run untrusted Python in a sandboxed subprocess: one-shot (:func:`run_python`) or long-lived (:func:`spawn_python`).

Containment of every run
------------------------
* **Isolation** (:func:`isolation`, :mod:`agentrl.sandbox.isolation`): ``"bwrap"`` (bubblewrap) or
  ``"unshare"`` (the same containment built in-house, root only). Both give new pid, net, ipc, uts and
  cgroup namespaces and a minimal root: read-only, nosuid binds of ``/usr``, the interpreter's prefix and a
  few ``/etc`` files; the project, task data, ``/root``, ``/home``, ``/work`` and the host's ``/tmp`` are
  absent; ``/sandbox`` (the work dir), ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are fresh size-limited tmpfs
  of this run only. A mode is admitted only after a probe run inside it proves it. When no mode contains code
  the sandbox refuses to run it (:class:`SandboxError`) unless ``AGENTRL_SANDBOX_ALLOW_UNCONTAINED_CODE=1``
  (mode ``"none"``: rlimits only, loud warning). ``AGENTRL_SANDBOX_ISOLATION`` forces a mode.
* **Privileges**: as root the code drops to an unused uid per concurrency slot
  (``100_000_000 + 64 * host_pid + slot``), so ``RLIMIT_NPROC`` counts only that run's processes and every
  process left with that uid is killed after the run; no capability is left (checked, else the run is
  refused), ``no_new_privs`` is set (setuid binaries do not elevate), and a seccomp filter
  (:mod:`agentrl.sandbox.seccomp`) refuses new namespaces, mounts, ptrace, bpf and kernel keyrings.
* **Limits** (:class:`Limits`): CPU seconds, wall seconds, address space per process and memory of the whole
  run (resident memory of its processes plus what its private tmpfs hold, summed by the host; memfds, SysV
  shared memory and message queues are refused, POSIX message queues get ``RLIMIT_MSGQUEUE=0``), processes,
  file size, open files, tmpfs size, captured output. Only ``AF_UNIX`` sockets can be made.
* **Task data**: :func:`hide_paths` keeps host paths that the binds would show (a task package's data in
  site-packages) out of view.
* **Environment**: scrubbed (``PATH``, ``HOME=/sandbox``, ``LANG``, single-threaded BLAS); nothing inherited.
* **Teardown**: the sandbox dies with the host thread that started it; the whole process group, pid namespace
  and slot uid are killed with SIGKILL at the wall limit, at the memory or output limit, and after every run.
* **Concurrency**: at most :func:`max_concurrency` sandboxes run at once in this process (default: number of
  CPUs, at least 2; ``AGENTRL_SANDBOX_CONCURRENCY`` or :func:`set_max_concurrency`). Callers beyond that block.
"""

from __future__ import annotations

import sys
import types

from agentrl.sandbox import isolation as _isolation_mod
from agentrl.sandbox import slots as _slots
from agentrl.sandbox.isolation import ALLOW_ENV, FORCE_ENV, available_modes, isolation, why_not
from agentrl.sandbox.launch import MAIN, WORKDIR, hide_paths
from agentrl.sandbox.limits import Limits, SandboxError, SandboxResult, Verdict
from agentrl.sandbox.process import SandboxProcess, spawn_python
from agentrl.sandbox.runner import run_python
from agentrl.sandbox.slots import max_concurrency, set_max_concurrency, slot_uid as _slot_uid

__all__ = [
    "Limits", "SandboxResult", "SandboxProcess", "SandboxError", "Verdict", "run_python", "spawn_python",
    "isolation", "available_modes", "why_not", "max_concurrency", "set_max_concurrency", "WORKDIR", "MAIN",
    "ALLOW_ENV", "FORCE_ENV", "hide_paths",
]

_reset_isolation_cache = _isolation_mod.reset_cache
_interactive_free = _slots._interactive_free


class _Package(types.ModuleType):
    """Setting ``agentrl.sandbox._interactive_free`` (tests shrink the long-lived pool) sets it where it is used."""

    def __setattr__(self, name: str, value) -> None:
        if name == "_interactive_free":
            _slots._interactive_free = value
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
