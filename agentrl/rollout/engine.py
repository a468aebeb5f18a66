"""The async rollout engine: tasks in, groups of token-in/token-out trajectories out.

For each task it runs ``group_size`` episodes concurrently. Each episode alternates

* generation: the trajectory's token ids go to the backend (bounded by ``max_concurrent_requests``; backend
  errors retried with exponential backoff, ``max_retries`` times), the sampled ids are appended as they are;
* an env call: the policy parses the reply into an action and ``env.step`` runs on a worker thread (bounded by
  ``env_workers``, each call limited to ``step_timeout_s`` counted from when a thread starts it, not from
  when it was queued), so a slow env never stalls generation.

While one episode waits for its env, others generate: that is what keeps the backend busy (compare a
turn-batched loop, which waits for the slowest env of every turn). An episode that fails — env exception,
step or episode timeout, backend gave up — is returned with ``error`` and ``end_reason`` set (the learner
excludes it) and the batch goes on. Nothing the engine started is left running when ``collect`` returns,
except env calls stuck past their timeout inside a thread (Python cannot kill a thread): those envs are
discarded and counted in ``abandoned_env_calls``, and the stuck thread is replaced by a fresh one, so a hung
env never takes capacity from healthy episodes (:mod:`agentrl.rollout.env_workers`);
:meth:`RolloutEngine.close` waits for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from agentrl.chat import ChatFormat
from agentrl.config.schema import RolloutConfig
from agentrl.env import AgentEnv
from agentrl.rollout.backends.base import (Backend, BackendError, BackendFatalError, Generation,
                                           SamplingParams)
from agentrl.rollout.env_workers import EnvWorkers
from agentrl.rollout.stats import BatchStats, BusyClock
from agentrl.trajectory import Trajectory
from policies.base import Policy

log = logging.getLogger(__name__)


class EpisodeError(Exception):
    """Ends an episode as failed with ``end_reason`` and a message."""

    def __init__(self, end_reason: str, message: str):
        super().__init__(message)
        self.end_reason = end_reason


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from ``parts`` (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class _Slot:
    """A running episode's state, readable after it was cancelled by the episode timeout."""

    def __init__(self, task_id: str):
        self.task_id = task_id
        self.traj: Trajectory | None = None
        self.env: AgentEnv | None = None
        self.env_ok = True


class RolloutEngine:
    """Collect groups of trajectories with a generation backend, an env factory and a policy.

    Args:
        backend: any :class:`~agentrl.rollout.backends.base.Backend`.
        fmt: the model's chat format (token deltas for messages, stop tokens).
        env_factory: builds one env; envs are reused across episodes (one episode at a time each).
        policy: renders observations and parses actions.
        cfg: the ``rollout`` config section (limits, timeouts, retries, sampling).
        progress: show a rich progress bar during ``collect``.
    """

    def __init__(self, backend: Backend, fmt: ChatFormat, env_factory: Callable[[], AgentEnv], policy: Policy,
                 cfg: RolloutConfig | None = None, *, progress: bool = False):
        self.backend = backend
        self.fmt = fmt
        self.env_factory = env_factory
        self.policy = policy
        self.cfg = cfg or RolloutConfig()
        self.progress = progress
        # a thread stuck in an abandoned call is replaced, so hung envs never eat the capacity
        self._workers = EnvWorkers(self.cfg.env_workers, name="agentrl-env")
        self._idle_envs: list[AgentEnv] = []
        self._closing: list[threading.Thread] = []  # closes of discarded envs (which may hang too)
        self.last_stats = BatchStats()
        self._closed = False
        self._collecting = False

    # ------------------------------------------------------------------ public API
    def sampling(self) -> SamplingParams:
        """The sampling parameters of every turn (seed and max_new_tokens are set per turn)."""
        c = self.cfg
        return SamplingParams(temperature=c.temperature, top_p=c.top_p, top_k=c.top_k,
                              max_new_tokens=c.max_new_tokens, stop_token_ids=tuple(self.fmt.stop_token_ids))

    async def collect(self, task_ids: list[str], group_size: int, *, seed: int = 0) -> list[list[Trajectory]]:
        """Run ``group_size`` episodes of every task concurrently; one group (list) per task, in order.

        Every episode comes back, failed ones with ``error`` set. Per-batch figures are in
        :attr:`last_stats` afterwards.
        """
        if self._closed:
            raise RuntimeError("RolloutEngine is closed")
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size!r}")
        if self._collecting:
            raise RuntimeError("collect() is already running on this engine; use one engine per concurrent batch")
        self._collecting = True
        try:
            return await self._collect([str(t) for t in task_ids], group_size, seed)
        finally:
            self._collecting = False

    async def _collect(self, task_ids: list[str], group_size: int, seed: int) -> list[list[Trajectory]]:
        stats = self.last_stats = BatchStats()
        self._gen_sem = asyncio.Semaphore(self.cfg.max_concurrent_requests)
        self._env_sem = asyncio.Semaphore(self.cfg.env_workers)
        self._gen_clock, self._env_clock = BusyClock(), BusyClock()
        jobs = [(t, g) for t in task_ids for g in range(group_size)]
        bar = self._progress_bar(len(jobs))
        t0 = time.perf_counter()

        async def one(task_id: str, index: int) -> Trajectory:
            traj = await self._run_episode(task_id, index, seed, stats)
            if bar is not None:
                bar[0].advance(bar[1])
            return traj

        tasks = [asyncio.ensure_future(one(t, g)) for t, g in jobs]
        try:
            trajs = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            if bar is not None:
                bar[0].stop()
        stats.wall_s = time.perf_counter() - t0
        stats.generation_busy_s = self._gen_clock.total
        stats.env_busy_s = self._env_clock.total
        self._closing = [t for t in self._closing if t.is_alive()]
        groups = [list(trajs[i * group_size:(i + 1) * group_size]) for i in range(len(task_ids))]
        return groups

    def run(self, task_ids: list[str], group_size: int, *, seed: int = 0) -> list[list[Trajectory]]:
        """Blocking :meth:`collect` (runs its own event loop)."""
        from agentrl.rollout.backends.http import HTTPBackendBase

        async def main() -> list[list[Trajectory]]:
            try:
                return await self.collect(task_ids, group_size, seed=seed)
            finally:
                if isinstance(self.backend, HTTPBackendBase):
                    await self.backend.close()  # its connection pool belongs to this loop
        return asyncio.run(main())

    @property
    def abandoned_env_calls(self) -> int:
        """Env calls still running in a thread after their timeout (their envs were discarded)."""
        return self._workers.abandoned_running + sum(1 for t in self._closing if t.is_alive())

    @property
    def replaced_env_threads(self) -> int:
        """Worker threads started so far to replace threads stuck in abandoned env calls."""
        return self._workers.replaced

    def close(self, wait_s: float = 30.0) -> None:
        """Close pooled envs and the worker threads, waiting up to ``wait_s`` for abandoned env calls."""
        self._closed = True
        deadline = time.monotonic() + wait_s
        self._workers.close(wait_s)
        for t in self._closing:
            t.join(max(0.0, deadline - time.monotonic()))
        for env in self._idle_envs:
            try:
                env.close()
            except Exception:  # noqa: BLE001
                log.warning("env.close() failed", exc_info=True)
        self._idle_envs.clear()

    # ------------------------------------------------------------------ one episode
    async def _run_episode(self, task_id: str, index: int, seed: int, stats: BatchStats) -> Trajectory:
        slot = _Slot(task_id)
        try:
            await asyncio.wait_for(self._episode(slot, index, seed, stats), timeout=self.cfg.episode_timeout_s)
        except asyncio.TimeoutError:
            self._fail(slot, "timeout", f"episode timed out after {self.cfg.episode_timeout_s:g}s")
        except EpisodeError as e:
            self._fail(slot, e.end_reason, str(e))
        except BackendFatalError as e:
            self._fail(slot, "error", f"backend: {e}")
        except Exception as e:  # noqa: BLE001 - a bug in a policy must fail one episode, not the batch
            log.exception("episode %s/%d failed", task_id, index)
            self._fail(slot, "error", f"{type(e).__name__}: {e}")
        traj = slot.traj
        assert traj is not None
        if slot.env is not None:
            if slot.env_ok:
                self._idle_envs.append(slot.env)
            else:
                self._discard_env(slot.env)
        stats.trajectories += 1
        stats.failed += traj.failed
        stats.turns += len(traj.turns)
        stats.generated_tokens += traj.num_agent_tokens
        stats.end_reasons[traj.end_reason] += 1
        if traj.error is not None:
            kind = "timeout" if traj.end_reason == "timeout" else traj.error.split(":")[0]
            stats.errors[kind] += 1
        return traj

    def _fail(self, slot: _Slot, end_reason: str, message: str) -> None:
        if slot.traj is None:
            slot.traj = Trajectory(task_id=slot.task_id)
        slot.traj.end_reason = end_reason
        slot.traj.error = message
        slot.traj.success = False
        slot.env_ok = False  # its state is unknown: do not reuse it

    async def _episode(self, slot: _Slot, index: int, seed: int, stats: BatchStats) -> None:
        cfg, fmt, policy = self.cfg, self.fmt, self.policy
        task_id = slot.task_id
        slot.env = self._idle_envs.pop() if self._idle_envs else await self._env_call(
            self.env_factory, stats=stats, what="env construction")
        env = slot.env
        obs, info = await self._env_call(env.reset, seed=derive_seed("reset", seed, task_id),
                                         options={"task_id": task_id}, stats=stats, what="env.reset")
        _, content = policy.message(obs, 0)
        traj = slot.traj = Trajectory.start(fmt, task_id, content, system=policy.system())
        session = f"{task_id}/{index}/{seed}/{id(slot):x}"
        traj.info = {"index": index, "session": session}
        if len(traj.token_ids) >= cfg.max_context_tokens:
            traj.end_reason = "context_limit"
            return
        base = self.sampling()
        total = 0.0
        turn = 0
        while True:
            room = cfg.max_context_tokens - len(traj.token_ids)
            sp = base.replace(max_new_tokens=min(cfg.max_new_tokens, room),
                              seed=derive_seed("gen", seed, task_id, index, turn))
            version = int(getattr(self.backend, "version", 0))  # the newest weights the backend had by now
            gen = await self._generate(traj.token_ids, sp, session, stats)
            text = fmt.tokenizer.decode(gen.ids, skip_special_tokens=True)
            versions = gen.meta.get("weight_versions") if isinstance(gen.meta, dict) else None
            t = traj.add_generation(gen.ids, gen.logprobs, text=text, finish_reason=gen.finish_reason,
                                    versions=versions if versions is not None else version)
            if gen.finish_reason == "length" and len(traj.token_ids) >= cfg.max_context_tokens:
                traj.end_reason = "context_limit"  # the reply was cut by the context: do not act on it
                break
            t.action = policy.parse_action(text)
            obs, reward, terminated, truncated, info = await self._env_call(
                env.step, t.action, stats=stats, what="env.step")
            t.observation, t.reward = obs, float(reward)
            total += float(reward)
            turn += 1
            if terminated or truncated:
                traj.end_reason = info.get("end_reason", "terminated" if terminated else "truncated")
                traj.success = bool(info.get("success", False))
                break
            role, content = policy.message(obs, turn)
            delta = fmt.close_ids(traj.token_ids[t.gen_start:t.gen_end]) + fmt.message_ids(content, role)
            if len(traj.token_ids) + len(delta) >= cfg.max_context_tokens:
                traj.end_reason = "context_limit"
                break
            traj.add_message(fmt, content, role)
        traj.reward = total
        last = traj.turns[-1]
        close = fmt.close_ids(traj.token_ids[last.gen_start:last.gen_end])
        if len(traj.token_ids) + len(close) <= cfg.max_context_tokens:
            traj.close_turn(fmt)

    # ------------------------------------------------------------------ generation with retries
    async def _generate(self, ids: list[int], sp: SamplingParams, session: str, stats: BatchStats) -> Generation:
        cfg = self.cfg
        last: Exception | None = None
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                stats.retries += 1
                await asyncio.sleep(cfg.retry_backoff_s * (2 ** (attempt - 1)) * (0.5 + random.random()))
            t_wait = time.perf_counter()
            async with self._gen_sem:
                t0 = time.perf_counter()
                stats.waiting_s += t0 - t_wait
                self._gen_clock.enter()
                try:
                    gen = await asyncio.wait_for(self.backend.generate(ids, sp, session_id=session),
                                                 timeout=cfg.request_timeout_s)
                except (BackendError, asyncio.TimeoutError) as e:
                    last = e
                    log.debug("generation attempt %d failed: %s", attempt + 1, e)
                    continue
                finally:
                    self._gen_clock.exit()
                    stats.generation_s += time.perf_counter() - t0
            if gen.finish_reason == "abort":
                last = BackendError("the server aborted the request")
                continue
            return gen
        raise EpisodeError("error", f"backend: gave up after {cfg.max_retries + 1} attempts: "
                                    f"{type(last).__name__}: {last}")

    # ------------------------------------------------------------------ env calls off the loop
    async def _env_call(self, fn: Callable[..., Any], *args: Any, stats: BatchStats, what: str,
                        **kwargs: Any) -> Any:
        t_wait = time.perf_counter()
        async with self._env_sem:
            call = self._workers.submit(fn, *args, **kwargs)
            try:
                await call.started  # at once: a thread is free for every call the semaphore lets through
                t0 = time.perf_counter()
                stats.waiting_s += t0 - t_wait
                self._env_clock.enter()
                try:  # the deadline starts now that the env call runs
                    return await asyncio.wait_for(asyncio.shield(call.done), timeout=self.cfg.step_timeout_s)
                finally:
                    self._env_clock.exit()
                    stats.env_s += time.perf_counter() - t0
            except asyncio.TimeoutError:
                self._workers.abandon(call)
                raise EpisodeError("timeout", f"{what} timed out after {self.cfg.step_timeout_s:g}s") from None
            except asyncio.CancelledError:
                self._workers.abandon(call)
                raise
            except Exception as e:  # noqa: BLE001 - the env's own exception fails this episode only
                raise EpisodeError("error", f"env: {what} raised {type(e).__name__}: {e}") from e

    def _discard_env(self, env: AgentEnv) -> None:
        """Close an env whose state is unknown, on a thread of its own (its close may hang like its step)."""
        def close() -> None:
            try:
                env.close()
            except Exception:  # noqa: BLE001
                pass
        if not self._closed:
            t = threading.Thread(target=close, name="agentrl-env-close", daemon=True)
            t.start()
            self._closing.append(t)

    def _progress_bar(self, total: int) -> tuple[Any, Any] | None:
        if not self.progress:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), transient=True)
        task = bar.add_task("rollout", total=total)
        bar.start()
        return bar, task
