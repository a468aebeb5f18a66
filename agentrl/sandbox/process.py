"""Long-lived sandboxed processes talking over pipes: :func:`spawn_python` and :class:`SandboxProcess`."""

from __future__ import annotations

import atexit
import os
import queue
import selectors
import subprocess
import threading
import time
from collections.abc import Mapping

from agentrl.sandbox import launch as L
from agentrl.sandbox.limits import Limits, SandboxError
from agentrl.sandbox.slots import acquire_slot, release_slot

#: How often the watchdog of a long-lived process sums the resident memory of its processes.
MEMORY_POLL_S = 0.25

_spawner_q: queue.Queue = queue.Queue()
_spawner_lock = threading.Lock()
_spawner_started = False
_live: set[SandboxProcess] = set()


def _spawner_loop() -> None:
    while True:
        fn, box, done = _spawner_q.get()
        try:
            box.append(("ok", fn()))
        except BaseException as e:  # noqa: BLE001 - handed back to the caller
            box.append(("err", e))
        done.set()


def _spawn_in_long_lived_thread(fn):
    # bwrap's --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread* that forked it exits, so
    # long-lived sandboxes are forked from one thread that lives as long as the process.
    global _spawner_started
    with _spawner_lock:
        if not _spawner_started:
            threading.Thread(target=_spawner_loop, name="agentrl-sandbox-spawner", daemon=True).start()
            _spawner_started = True
    box: list = []
    done = threading.Event()
    _spawner_q.put((fn, box, done))
    done.wait()
    kind, val = box[0]
    if kind == "err":
        raise val
    return val


class SandboxProcess:
    """A long-lived sandboxed Python process (see :func:`spawn_python`).

    Pipes: ``stdin`` and ``stdout`` are unbuffered binary pipes (``io.FileIO``) to the program's fd 0 and 1.
    ``send(b)`` writes all of ``b`` (blocking); ``read_line(timeout)`` / ``read_exact(n, timeout)`` read with
    a timeout through this object's own buffer — use these *or* ``stdout`` directly, not both. The program
    should flush its stdout after each message (it runs with ``-u``: unbuffered stdio). EOF on
    stdout means the program exited or was killed. stderr is drained by a background thread into a bounded
    buffer (the last ``limits.output_bytes`` bytes), readable with :meth:`stderr_text`; it never blocks the
    program. A program whose stdout nobody reads blocks once the pipe buffer (64 KiB) is full, like any
    subprocess. The wall limit (if any) is a lifetime limit enforced by a watchdog; ``cpu_s`` bounds the CPU
    time of the whole life. ``kill()``/``close()`` kill the whole tree and free the slot; the object is a
    context manager; dropping the last reference, or interpreter exit, kills it too.
    """

    def __init__(self, proc: subprocess.Popen, launch: L.Launch, limits: Limits, slot: int):
        self._proc = proc
        self._launch = launch
        self.limits = limits
        self._slot: int | None = slot
        self.isolation = launch.iso
        self.stdin = proc.stdin
        self.stdout = proc.stdout
        self.pid = proc.pid
        self._buf = bytearray()
        self._err = bytearray()
        self._err_trunc = False
        self._lock = threading.Lock()
        self._closed = False
        self.killed_reason: str | None = None
        self._t0 = time.monotonic()
        threading.Thread(target=self._drain_stderr, daemon=True, name="agentrl-sandbox-stderr").start()
        threading.Thread(target=self._watchdog, daemon=True, name="agentrl-sandbox-watchdog").start()
        _live.add(self)

    # -- background
    def _drain_stderr(self) -> None:
        fd = self._proc.stderr.fileno()
        cap = self.limits.output_bytes
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._err += chunk
                if len(self._err) > cap:
                    del self._err[: len(self._err) - cap]
                    self._err_trunc = True

    def _watchdog(self) -> None:
        end = None if self.limits.wall_s is None else self._t0 + float(self.limits.wall_s)
        mem_cap = self.limits.memory_mb * 1024 * 1024
        while not self._closed:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                self.killed_reason = f"wall-clock limit of {self.limits.wall_s} s reached"
                self.kill()
                return
            if L.run_memory(self._proc, self._launch) > mem_cap:
                self.killed_reason = (f"its processes and private tmpfs together held more than "
                                      f"{self.limits.memory_mb} MB (memory limit)")
                self.kill()
                return
            try:
                self._proc.wait(timeout=MEMORY_POLL_S if left is None else min(left, MEMORY_POLL_S))
                return
            except subprocess.TimeoutExpired:
                continue

    # -- I/O
    def send(self, data: bytes) -> None:
        """Write all of ``data`` to the program's stdin. Raises ``BrokenPipeError`` if it has exited."""
        if isinstance(data, str):
            raise TypeError("send() takes bytes; encode the text first")
        view = memoryview(data)
        while view:
            n = self.stdin.write(view)
            view = view[n:] if n else view

    def _fill(self, deadline: float | None) -> bool:
        """Read more stdout into the buffer; False on EOF. Raises ``TimeoutError`` at the deadline."""
        fd = self.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("no output from the sandboxed process within the timeout")
                if sel.select(timeout=left):
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        return False
                    self._buf += chunk
                    return True
        finally:
            sel.close()

    def read_line(self, timeout: float | None = None) -> bytes:
        """The next line of stdout including ``b"\\n"`` (``b""`` at EOF; a partial last line at EOF)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line = bytes(self._buf[: i + 1])
                del self._buf[: i + 1]
                return line
            if len(self._buf) > self.limits.output_bytes:
                self.killed_reason = f"a line longer than {self.limits.output_bytes} bytes"
                self.kill()
                raise SandboxError(self.killed_reason)
            if not self._fill(deadline):
                line = bytes(self._buf)
                self._buf.clear()
                return line

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        """Exactly ``n`` bytes of stdout; raises ``EOFError`` if the program ends first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self._buf) < n:
            if not self._fill(deadline):
                raise EOFError(f"sandboxed process ended after {len(self._buf)} of {n} bytes")
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def stderr_text(self) -> str:
        """What the program wrote to stderr so far (the last ``limits.output_bytes`` bytes)."""
        with self._lock:
            return self._err.decode("utf-8", "replace")

    # -- lifecycle
    def poll(self) -> int | None:
        return self._proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self._proc.wait(timeout)

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def alive(self) -> bool:
        return self._proc.poll() is None

    def kill(self) -> None:
        """Kill the whole sandboxed process tree now and free its concurrency slot (idempotent)."""
        with self._lock:
            slot, self._slot = self._slot, None
            self._closed = True
        L.kill_tree(self._proc, self._launch)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
            pass
        if slot is not None:
            L.kill_tree(self._proc, self._launch)
            L.cleanup(self._launch)
            release_slot(slot)
        _live.discard(self)

    def close(self, timeout: float = 1.0) -> int | None:
        """Close stdin, give the program ``timeout`` s to exit, then kill what is left. Returns the exit status."""
        if self.stdin and not self.stdin.closed:
            try:
                self.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        for s in (self._proc.stdout, self._proc.stderr):
            try:
                s.close()
            except OSError:
                pass
        return self._proc.returncode

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_slot", None) is not None:
            try:
                self.kill()
            except Exception:  # noqa: BLE001
                pass


def spawn_python(script: str, *, limits: Limits | None = None, files: Mapping[str, str | bytes] | None = None,
                 args: list[str] | None = None, slot_timeout: float | None = None) -> SandboxProcess:
    """Start ``script`` as a long-lived sandboxed process and return it with its pipes open.

    Same containment as :func:`run_python`. The process holds one of 31 long-lived slots (separate from the
    one-shot run concurrency, since such a process mostly waits on its pipes) until it is killed or closed
    (``slot_timeout`` bounds the wait for a slot; ``None`` waits forever). Typical use::

        with spawn_python(server_src, limits=Limits(wall_s=None, cpu_s=600)) as p:
            p.send(b'{"code": "1+1"}\\n'); reply = p.read_line(timeout=10)
    """
    if not isinstance(script, str):
        raise TypeError(f"script must be a str, got {type(script).__name__}")
    limits = limits or Limits(wall_s=None, cpu_s=3600)
    data = L.check_files(files)
    slot = acquire_slot(slot_timeout, long_lived=True)
    try:
        launch = L.prepare(script, data, limits, slot, args=args)
        proc = _spawn_in_long_lived_thread(lambda: L.popen(launch, stdin_pipe=True))
    except BaseException:
        release_slot(slot)
        raise
    return SandboxProcess(proc, launch, limits, slot)


def _kill_all_live() -> None:
    for p in list(_live):
        try:
            p.kill()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_kill_all_live)

