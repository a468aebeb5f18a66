"""Asynchronous off-policy training: a generator that keeps rolling out while the learner trains.

With ``trainer.async.steps_ahead = k > 0`` the trainer starts an :class:`AsyncGenerator`: a thread with its
own asyncio loop, its own rollout engines and its own generation backend (``local``: a private copy of the
model, so the learner can train its own; servers: a second client of the same servers). It collects batch
``b`` (the groups learner step ``b`` trains on; the same tasks and per-episode seeds as the synchronous loop
uses for step ``b``) as soon as weight version ``b - 1 - k`` is published, so no token of batch ``b`` is
sampled by weights older than version ``b - 1 - k`` and, trained at step ``b`` by weights of version ``b - 1``,
none is more than ``k`` versions stale. Several batches are in flight at once (up to ``k + 1``, one engine
each), so the generator neither waits for the learner nor for a batch's slowest episode.

Weight versions: version ``v`` = the weights after ``v`` learner steps. :meth:`AsyncGenerator.publish`
copies new weights into the generator's model between two of its forward passes (``local``) or has the
servers load them (which they do between requests or decode steps); running episodes continue with them from
their next forward or request. Every generated token records the version that sampled it
(:attr:`agentrl.trajectory.Trajectory.versions`: the local backend's version at that forward; for servers the
version they were known to hold when the request was sent, which never understates the staleness).

Failures: an exception in the generator (not a failed episode: those are returned, as always) is handed to
the learner's thread, which stops the run with the last finished step saved.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from agentrl.errors import ServerUnavailable
from agentrl.rollout.stats import BusyClock

log = logging.getLogger(__name__)


class GeneratorCrashed(RuntimeError):
    """The asynchronous generator stopped with an exception (the message names it)."""


@dataclass
class Batch:
    """One collected batch: the groups of learner step ``step`` and how they were collected."""

    step: int
    groups: list
    stats: Any
    wall_s: float
    start_version: int


class _TimedBackend:
    """A backend wrapper that clocks the wall time with at least one generation request in flight."""

    def __init__(self, inner: Any, clock: BusyClock, lock: threading.Lock):
        self.inner, self.clock, self.lock = inner, clock, lock

    @property
    def version(self) -> int:
        return int(getattr(self.inner, "version", 0))

    async def generate(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.clock.enter()
        try:
            return await self.inner.generate(*args, **kwargs)
        finally:
            with self.lock:
                self.clock.exit()

    async def update_weights(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.update_weights(*args, **kwargs)

    async def close(self) -> None:
        await self.inner.close()


class AsyncGenerator:
    """Continuous generation for a :class:`~agentrl.trainer.Trainer` (see the module docstring)."""

    def __init__(self, trainer: Any, steps_ahead: int):
        from agentrl.rollout.backends import make_backend
        from agentrl.rollout.engine import RolloutEngine

        self.t, self.k = trainer, int(steps_ahead)
        cfg = trainer.cfg
        self.cv = threading.Condition()
        self.version = trainer.step  # the newest published weights
        self.next_batch = trainer.step + 1
        self.last_batch = cfg.trainer.steps  # nothing is collected that no step would train on
        self.results: dict[int, Batch] = {}
        self.batch_start: dict[int, int] = {}  # data position at the start of each admitted batch
        self.error: BaseException | None = None
        self._clock_lock = threading.Lock()
        self.gen_clock = BusyClock()  # >= 1 generation request in flight
        if cfg.rollout.backend == "local":
            from agentrl.rollout.backends.local import LocalBackend

            model = copy.deepcopy(trainer.c.model).eval()  # the generator's own weights
            self.backend = LocalBackend(model, max_batch_size=cfg.rollout.max_batch_size,
                                        tokenizer=trainer.c.tokenizer,
                                        autocast_dtype=getattr(trainer.backend, "autocast_dtype", None))
            self.backend.version = self.version
        else:  # a second client of the same servers (its connection pool lives on the generator's loop)
            self.backend = make_backend(cfg.rollout.model_copy(update={"launch": False,
                                                                       "urls": list(trainer.backend.urls)}))
            self.backend.version = self.version
        timed = _TimedBackend(self.backend, self.gen_clock, self._clock_lock)
        self.engines = [RolloutEngine(timed, trainer.c.fmt, trainer.c.env_factory, trainer.c.policy,
                                      cfg.rollout) for _ in range(self.k + 1)]
        self.loop = asyncio.new_event_loop()
        self._wake: asyncio.Event | None = None
        self._main: asyncio.Task | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agentrl-generator", daemon=True)
        self.t0 = time.perf_counter()

    # ------------------------------------------------------------------ learner side
    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def busy_s(self) -> float:
        """Wall seconds so far with at least one generation request in flight."""
        with self._clock_lock:
            c = self.gen_clock
            return c.total + (time.perf_counter() - c._since if c.inflight else 0.0)

    def take(self, step: int, stop: Any = None) -> Batch:
        """Block until batch ``step`` is collected and return it; raise what stopped the generator."""
        with self.cv:
            while step not in self.results:
                if self.error is not None:
                    raise self._raise()
                if not self._thread.is_alive():
                    raise GeneratorCrashed("the generator thread stopped")
                self.cv.wait(timeout=0.1)  # a timeout, so signal handlers run in the main thread
            return self.results.pop(step)

    def _raise(self) -> BaseException:
        e = self.error
        if isinstance(e, ServerUnavailable):
            from agentrl.trainer import ServerDied

            return ServerDied(str(e))
        return GeneratorCrashed(f"the generator crashed: {type(e).__name__}: {e}")

    def publish(self, version: int) -> None:
        """Let batches that may start at ``version`` start (the weights are already on the backend)."""
        with self.cv:
            self.version = version
            self.cv.notify_all()
        if self._wake is not None:
            try:
                self.loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the generator stopped (its loop is closed): take() reports why
                pass

    def publish_local(self, state_dict: dict[str, Any], version: int) -> None:
        """``local``: copy the learner's weights into the generator's model between two forward passes."""
        import torch

        with self.backend.model_lock, torch.no_grad():
            self.backend.model.load_state_dict(state_dict, strict=True)
            self.backend.version = version
        self.publish(version)

    def resume_data_pos(self, step: int) -> int:
        """The data position a run resumed after ``step`` starts from (batch ``step + 1``'s first task)."""
        with self.cv:
            return self.batch_start.get(step + 1, self.t.data_pos)

    def close(self) -> None:
        """Cancel the batches in flight, close the engines and the backend, stop the thread."""
        if self._thread.is_alive() and self._main is not None:
            self.loop.call_soon_threadsafe(self._main.cancel)
            self._thread.join(timeout=120)
        for e in self.engines:
            e.close()

    # ------------------------------------------------------------------ the generator thread
    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._guarded())
        finally:
            try:
                self.loop.run_until_complete(self.backend.close())
            except Exception:  # noqa: BLE001
                log.warning("closing the generator's backend failed", exc_info=True)
            self.loop.close()

    async def _guarded(self) -> None:
        self._wake = asyncio.Event()
        self._main = asyncio.current_task()
        self._ready.set()
        running: set[asyncio.Task] = set()
        try:
            await self._produce(running)
        except asyncio.CancelledError:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the learner's thread
            log.debug("generator failed", exc_info=True)
            with self.cv:
                self.error = e
                self.cv.notify_all()
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _produce(self, running: set[asyncio.Task]) -> None:
        cfg = self.t.cfg
        while True:
            b = self.next_batch
            while b > self.last_batch or self.version < b - 1 - self.k:
                self._wake.clear()
                for task in [x for x in running if x.done()]:  # a failed batch stops the generator now
                    running.discard(task)
                    task.result()
                await self._wait(running)
            with self.cv:
                self.batch_start[b] = self.t.data_pos
                tasks = self.t.next_tasks(cfg.trainer.tasks_per_step)
                start_version = self.version
            task = asyncio.ensure_future(self._collect(b, tasks, start_version, self.engines[b % (self.k + 1)]))
            running.add(task)
            self.next_batch = b + 1

    async def _wait(self, running: set[asyncio.Task]) -> None:
        """Until a version is published or a batch ends."""
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait([waker, *running], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()

    async def _collect(self, b: int, tasks: list[str], start_version: int, engine: Any) -> None:
        cfg = self.t.cfg
        t0 = time.perf_counter()
        seed = cfg.seed * 7919 + b * 104729
        groups = await self._collect_checked(engine, tasks, cfg.algo.group_size, seed)
        stats = engine.last_stats
        if cfg.algo.dynamic_sampling:
            groups = await self._dynamic_sampling(engine, groups, b)
        batch = Batch(b, groups, stats, time.perf_counter() - t0, start_version)
        with self.cv:
            self.results[b] = batch
            self.cv.notify_all()

    async def _collect_checked(self, engine: Any, tasks: list[str], n: int, seed: int) -> list:
        from agentrl.rollout.health import check_servers

        groups = await engine.collect(tasks, n, seed=seed)
        if any(t.error and t.error.startswith("backend:") for g in groups for t in g):
            await check_servers(self.backend)  # raises ServerUnavailable when a server is down
        return groups

    async def _dynamic_sampling(self, engine: Any, groups: list, step: int) -> list:
        """DAPO, as :meth:`Trainer._dynamic_sampling` (the extra tasks come from the shared task stream)."""
        from agentrl.learner.advantages import is_informative

        cfg = self.t.cfg
        want = cfg.trainer.tasks_per_step
        keep = [g for g in groups if is_informative(g, cfg.algo)]
        for r in range(cfg.algo.max_resample_rounds):
            if len(keep) >= want:
                break
            with self.cv:
                tasks = self.t.next_tasks(want - len(keep))
            more = await self._collect_checked(engine, tasks, cfg.algo.group_size,
                                               cfg.seed * 7919 + step * 104729 + 1000 * (r + 1))
            keep += [g for g in more if is_informative(g, cfg.algo)]
        return keep[:want] if keep else groups
