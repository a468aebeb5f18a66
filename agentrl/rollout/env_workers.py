"""Threads that run env calls off the event loop, with a capacity that hung calls cannot eat.

Python cannot kill a thread, so an env call that hangs past its timeout keeps running. A plain thread pool
would then have one thread fewer for every hung call, and healthy calls would queue behind them — and time
out while queued. Here the caller gives up on a call with :meth:`EnvWorkers.abandon`: the thread running it
leaves the pool (it ends when the call returns) and a fresh thread takes its place, so ``size`` threads are
always free for the calls that are still waited for. A call's ``started`` future resolves when a thread
begins it, so a caller's deadline measures the env, not the queue.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any


def _resolve(fut: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class EnvCall:
    """One submitted call. ``started`` and ``done`` are futures of the submitting event loop."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 loop: asyncio.AbstractEventLoop):
        self.fn, self.args, self.kwargs, self.loop = fn, args, kwargs, loop
        self.started: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[Any] = loop.create_future()
        self.finished = threading.Event()  # set when the function returned or raised (thread side)
        self.abandoned = False
        self.state = "queued"  # queued -> running -> finished, or queued -> cancelled
        self.lock = threading.Lock()

    def post(self, fut: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
        try:
            self.loop.call_soon_threadsafe(_resolve, fut, result, exc)
        except RuntimeError:  # the loop is closed: nobody waits for this call any more
            pass


class EnvWorkers:
    """``size`` worker threads for env calls; an abandoned call's thread is replaced (see module docstring)."""

    def __init__(self, size: int, name: str = "agentrl-env"):
        if size < 1:
            raise ValueError(f"EnvWorkers needs at least one thread, got {size!r}")
        self.size = size
        self.name = name
        self.replaced = 0  # threads started to replace ones stuck in abandoned calls
        self._q: queue.SimpleQueue[EnvCall | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._abandoned: list[EnvCall] = []
        self._n = 0
        self._closed = False
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            self._n += 1
            t = threading.Thread(target=self._work, name=f"{self.name}-{self._n}", daemon=True)
            self._threads.add(t)
        t.start()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> EnvCall:
        """Queue ``fn(*args, **kwargs)``; call from a running event loop, await ``.started`` then ``.done``."""
        if self._closed:
            raise RuntimeError("EnvWorkers is closed")
        call = EnvCall(fn, args, kwargs, asyncio.get_running_loop())
        self._q.put(call)
        return call

    def _work(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                call = self._q.get()
                if call is None:
                    return
                with call.lock:
                    if call.state != "queued":  # abandoned before a thread took it
                        continue
                    call.state = "running"
                call.post(call.started)
                result, exc = None, None
                try:
                    result = call.fn(*call.args, **call.kwargs)
                except BaseException as e:  # noqa: BLE001 - handed to the waiting coroutine
                    exc = e
                with call.lock:
                    call.state = "finished"
                    abandoned = call.abandoned
                call.finished.set()
                call.post(call.done, result, exc)
                if abandoned:
                    return  # its replacement is already in the pool
        finally:
            with self._lock:
                self._threads.discard(me)

    def abandon(self, call: EnvCall) -> None:
        """Stop waiting for ``call``: a queued one is dropped; a running one's thread leaves the pool and is
        replaced by a new thread. Call from the submitting event loop."""
        call.done.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody reads its outcome
        with call.lock:
            if call.state == "queued":
                call.state = "cancelled"
                return
            if call.state != "running":
                return
            call.abandoned = True
        with self._lock:
            self._abandoned = [c for c in self._abandoned if not c.finished.is_set()] + [call]
        if not self._closed:
            self.replaced += 1
            self._spawn()

    @property
    def abandoned_running(self) -> int:
        """Abandoned calls whose function has not returned yet."""
        return sum(1 for c in list(self._abandoned) if not c.finished.is_set())

    def close(self, wait_s: float = 30.0) -> None:
        """Stop the threads, waiting up to ``wait_s`` for abandoned calls to return."""
        self._closed = True
        deadline = time.monotonic() + wait_s
        for c in list(self._abandoned):
            c.finished.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._q.put(None)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
