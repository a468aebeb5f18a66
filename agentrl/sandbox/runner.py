"""One-shot sandboxed runs: :func:`run_python`."""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Mapping

from agentrl.sandbox import launch as L
from agentrl.sandbox.limits import Limits, SandboxResult, verdict
from agentrl.sandbox.slots import acquire_slot, release_slot

#: How often the host sums the resident memory of a run's processes (the whole-run memory bound).
MEMORY_POLL_S = 0.1


def run_python(code: str, *, stdin: str | bytes = "", limits: Limits | None = None,
               files: Mapping[str, str | bytes] | None = None, args: list[str] | None = None) -> SandboxResult:
    """Run ``code`` as ``__main__`` in a fresh sandbox and return what happened.

    ``stdin`` is fed to the program; ``files`` (relative path -> content) are placed in the work dir next to
    ``main.py`` (the program); ``args`` become ``sys.argv[1:]``. Blocks while :func:`max_concurrency`
    sandboxes are running. Returns within ``limits.wall_s`` (plus teardown, well under 2 s). Raises
    :class:`SandboxError` when no isolation mode can contain the code here (see :func:`isolation`).
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, got {type(code).__name__}")
    limits = limits or Limits()
    if limits.wall_s is None:
        raise ValueError("run_python needs a wall-clock limit (Limits.wall_s=None is only for spawn_python)")
    data = L.check_files(files)
    stdin_b = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
    slot = acquire_slot()
    try:
        launch = L.prepare(code, data, limits, slot, args=args)
        try:
            return _run(launch, stdin_b, limits)
        finally:
            L.cleanup(launch)
    finally:
        release_slot(slot)


def _run(launch: L.Launch, stdin_b: bytes, limits: Limits) -> SandboxResult:
    t0 = time.monotonic()
    proc = L.popen(launch, stdin_pipe=bool(stdin_b))
    deadline = t0 + float(limits.wall_s or 0)
    cap = limits.output_bytes
    mem_cap = limits.memory_mb * 1024 * 1024
    next_mem = t0 + MEMORY_POLL_S
    bufs = {"out": bytearray(), "err": bytearray()}
    trunc = {"out": False, "err": False}
    stopped: str | None = None  # why we killed it
    sel = selectors.DefaultSelector()
    try:
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        pending = memoryview(stdin_b)
        if proc.stdin is not None:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE, "in")
        open_streams = 2
        while open_streams:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                stopped = "timeout"
                break
            if now >= next_mem:
                next_mem = now + MEMORY_POLL_S
                if L.run_memory(proc, launch) > mem_cap:
                    stopped = "memory"
                    break
            for key, _ in sel.select(timeout=max(0.0, min(left, next_mem - now))):
                if key.data == "in":
                    try:
                        n = os.write(key.fd, pending[:65536])
                        pending = pending[n:]
                    except (BrokenPipeError, BlockingIOError) as e:
                        if isinstance(e, BlockingIOError):
                            continue
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                buf = bufs[key.data]
                room = cap - len(buf)
                if room > 0:
                    buf += chunk[:room]
                if len(chunk) > room:
                    trunc[key.data] = True
                    if limits.kill_on_output_limit:
                        stopped = "output_limit"
            if stopped:
                break
        if stopped:
            L.kill_tree(proc, launch)
        # streams are closed (or we killed it): the process is exiting
        try:
            rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()) if not stopped else 2)
        except subprocess.TimeoutExpired:
            stopped = stopped or "timeout"
            L.kill_tree(proc, launch)
            rc = proc.wait()
    finally:
        sel.close()
        L.kill_tree(proc, launch)  # daemons that outlived the main process
        for s in (proc.stdin, proc.stdout, proc.stderr):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        if proc.returncode is None:
            proc.wait()
    wall = time.monotonic() - t0
    out = bufs["out"].decode("utf-8", "replace")
    err = bufs["err"].decode("utf-8", "replace")
    v, reason = verdict(rc, err, stopped, limits, launch.iso)
    refused = L.setup_failure(rc, err) if not stopped else None
    if refused:  # the sandbox refused to run the code (the program could print this line too: no exception)
        reason = refused
    return SandboxResult(out, err, rc, v, wall, trunc["out"], trunc["err"], reason, launch.iso)
