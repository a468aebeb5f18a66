"""One trainer per run directory: an exclusive ``flock`` on ``<run>/.lock`` that holds the owner's PID.

The lock is released when the trainer ends or its process dies (the kernel drops it with the file
descriptor, SIGKILL included), so a stale lock file never blocks a resume.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from agentrl.errors import RunLockedError


class RunLock:
    """``acquire()`` fails at once with :class:`RunLockedError` naming the holder's PID; ``release()`` frees it."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock (non-blocking) and write this process's PID into the lock file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(f"run directory {self.path.parent} is in use by another trainer (PID {holder}); "
                                 "stop that one first or pass another run_name") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Free the lock (idempotent). The lock file stays; it is only meaningful while locked."""
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
