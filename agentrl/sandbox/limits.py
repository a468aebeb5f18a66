"""Limits of one sandboxed run, its result, and the verdict derived from how it ended."""

from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from typing import Literal

Verdict = Literal["ok", "error", "timeout", "memory", "output_limit", "disk", "killed"]


class SandboxError(RuntimeError):
    """The sandbox itself could not start or cannot contain code here (not an error of the sandboxed program)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed process tree.

    ``wall_s=None`` means no wall-clock limit (sensible only for :func:`spawn_python`). ``cpu_s`` is the
    CPU time of the main process (``RLIMIT_CPU``); ``memory_mb`` bounds both the address space of each
    process (``RLIMIT_AS``; Python itself needs ~30 MB) and the memory of the whole run: resident memory of
    its processes plus the contents of its private tmpfs (the host kills the run when together they pass it); ``max_procs`` the processes/threads of the
    sandbox uid (``RLIMIT_NPROC``); ``file_size_mb`` the largest file it may write (``RLIMIT_FSIZE``);
    ``disk_mb`` the size of each private tmpfs (``/sandbox``, ``/tmp``, ``/var/tmp``, ``/dev/shm``);
    ``output_bytes`` how much of stdout and of stderr is kept.
    """

    cpu_s: float = 10.0
    wall_s: float | None = 10.0
    memory_mb: int = 1024
    max_procs: int = 32
    file_size_mb: int = 16
    disk_mb: int = 64
    open_files: int = 256
    output_bytes: int = 1 << 20
    kill_on_output_limit: bool = True

    def __post_init__(self) -> None:
        for name in ("cpu_s", "memory_mb", "max_procs", "file_size_mb", "disk_mb", "open_files", "output_bytes"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {v!r}")
        if self.wall_s is not None and (not isinstance(self.wall_s, (int, float)) or self.wall_s <= 0):
            raise ValueError(f"Limits.wall_s must be a positive number or None, got {self.wall_s!r}")

    def with_(self, **changes) -> Limits:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass
class SandboxResult:
    """Outcome of one sandboxed run.

    ``verdict``: ``ok`` (exit 0), ``error`` (non-zero exit), ``timeout`` (wall or CPU limit), ``memory``
    (``MemoryError``, or the run's processes together passed ``memory_mb``), ``output_limit`` (output passed
    ``Limits.output_bytes`` and the run was stopped), ``disk`` (file size limit or full tmpfs), ``killed``
    (died from a signal it did not get from us, e.g. a segfault from unbounded recursion). ``reason`` says
    more in words.
    """

    stdout: str
    stderr: str
    returncode: int | None
    verdict: Verdict
    wall_s: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    reason: str = ""
    isolation: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def stderr_tail(self, lines: int = 12, chars: int = 2000) -> str:
        """The last ``lines`` lines of stderr (at most ``chars`` characters), for feedback messages."""
        tail = "\n".join(self.stderr.rstrip().splitlines()[-lines:])
        return tail[-chars:]


_SIG_NAMES = {int(s): s.name for s in signal.Signals}


def verdict(rc: int | None, err: str, stopped: str | None, limits: Limits, iso: str) -> tuple[Verdict, str]:
    """The verdict and reason of a run that exited with ``rc`` (``stopped``: why the host killed it, if it did)."""
    if stopped == "timeout":
        return "timeout", f"wall-clock limit of {limits.wall_s} s reached; process tree killed"
    if stopped == "output_limit":
        return "output_limit", f"output passed {limits.output_bytes} bytes; process tree killed"
    if stopped == "memory":
        return "memory", (f"the run's processes and private tmpfs together held more than {limits.memory_mb} MB; "
                          "process tree killed")
    last = err.rstrip().splitlines()[-1] if err.strip() else ""
    # bwrap and the namespace stage report the child's death by signal N as exit status 128 + N
    sig = -rc if rc is not None and rc < 0 else (rc - 128 if rc is not None and iso != "none" and 128 < rc < 160
                                                 else None)
    if sig in (signal.SIGXCPU, signal.SIGKILL) and "MemoryError" not in last:
        if sig == signal.SIGXCPU:
            return "timeout", f"CPU time limit of {limits.cpu_s} s reached (SIGXCPU)"
        return "killed", "killed by SIGKILL (CPU hard limit, or killed from inside)"
    if last.startswith("MemoryError") or "MemoryError" in last:
        return "memory", f"out of memory (address space limit {limits.memory_mb} MB)"
    if "[Errno 27] File too large" in err or "[Errno 28] No space left on device" in err or sig == signal.SIGXFSZ:
        return "disk", f"file size limit ({limits.file_size_mb} MB) or work-dir space ({limits.disk_mb} MB) reached"
    if sig is not None:
        return "killed", f"killed by {_SIG_NAMES.get(sig, f'signal {sig}')}"
    if rc == 0:
        return "ok", ""
    return "error", f"exit status {rc}" + (f": {last[:300]}" if last else "")
