"""The async rollout engine: masks on every env, failures kept and accounted for, env calls off the loop."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter, defaultdict

import pytest

import agentrl
import policies
from agentrl import ChatFormat
from agentrl.config.schema import RolloutConfig
from agentrl.models import tiny_qwen3
from agentrl.rollout.backends import BackendError
from agentrl.rollout.backends.local import LocalBackend
from agentrl.rollout.backends.sglang import SGLangBackend
from agentrl.rollout.engine import RolloutEngine
from agentrl.rollout.fault_injection import backend_faults
from agentrl.serve import start_server
from envs.guess import GuessNumberEnv


@pytest.fixture(scope="module")
def fmt(bpe_tokenizer):
    return ChatFormat(bpe_tokenizer, chat_template="tiny")


@pytest.fixture(scope="module")
def model(bpe_tokenizer):
    return tiny_qwen3(len(bpe_tokenizer), hidden_size=64, num_layers=2, seed=0)


class Recording:
    """Wraps a backend and records what it returned, per session."""

    def __init__(self, inner):
        self.inner = inner
        self.by_session: dict[str, list[list[int]]] = defaultdict(list)

    async def generate(self, input_ids, sampling, *, session_id=None):
        g = await self.inner.generate(input_ids, sampling, session_id=session_id)
        self.by_session[session_id].append(list(g.ids))
        return g

    async def update_weights(self, *a, **k):
        return await self.inner.update_weights(*a, **k)

    async def close(self):
        await self.inner.close()


def assert_token_in_token_out(traj, generations):
    traj.check()
    assert [traj.token_ids[t.gen_start:t.gen_end] for t in traj.turns] == generations
    assert traj.agent_token_ids() == [i for g in generations for i in g]
    assert all(m == 1 for t in traj.turns for m in traj.loss_mask[t.gen_start:t.gen_end])
    assert sum(traj.loss_mask) == sum(len(g) for g in generations)
    assert all(lp == 0.0 for lp, m in zip(traj.logprobs, traj.loss_mask) if not m)


@pytest.mark.parametrize("env_id", [e for e in agentrl.list_envs() if e != "remote"])
async def test_mask_is_one_exactly_on_generated_tokens(env_id, fmt, model):
    """Every built-in env (new ones are picked up automatically): tiny-model rollouts, masks and ids."""
    probe = agentrl.make(env_id)
    tasks = list(probe.task_ids("train"))[:2]
    backend = Recording(LocalBackend(model, max_batch_size=8))
    cfg = RolloutConfig(max_new_tokens=16, max_context_tokens=768, step_timeout_s=120, env_workers=4)
    engine = RolloutEngine(backend, fmt, lambda: agentrl.make(env_id), policies.make("default", probe), cfg)
    groups = await engine.collect(tasks, 2, seed=1)
    assert [len(g) for g in groups] == [2, 2]
    for task, group in zip(tasks, groups):
        for traj in group:
            assert traj.task_id == task and traj.error is None, traj.error
            assert traj.end_reason in ("terminated", "truncated", "context_limit")
            assert len(traj.token_ids) <= cfg.max_context_tokens
            assert_token_in_token_out(traj, backend.by_session[traj.info["session"]])
            assert all(t.action is not None and t.observation is not None for t in traj.turns[:-1])
    engine.close()
    await backend.close()


async def test_same_seed_same_trajectories_and_turn_fields(fmt, model):
    cfg = RolloutConfig(max_new_tokens=12, max_context_tokens=1024)
    backend = LocalBackend(model)

    def collect(seed):
        engine = RolloutEngine(backend, fmt, lambda: GuessNumberEnv(max_turns=3), policies.Policy(), cfg)
        out = asyncio.ensure_future(engine.collect(["train-0", "train-1"], 3, seed=seed))
        return engine, out

    e1, a = collect(5)
    e2, b = collect(5)
    e3, c = collect(6)
    a, b, c = await a, await b, await c
    ids = lambda gs: [t.token_ids for g in gs for t in g]  # noqa: E731
    assert ids(a) == ids(b) and ids(a) != ids(c)
    t = a[0][0]
    assert t.end_reason == "truncated" and len(t.turns) == 3 and t.reward == 0.0 and t.success is False
    assert all(turn.observation and turn.action == policies.Policy().parse_action(turn.text) for turn in t.turns)
    s = e1.last_stats
    assert s.trajectories == 6 and s.failed == 0 and s.generated_tokens == sum(x.num_agent_tokens for g in a for x in g)
    assert s.generation_busy_s > 0 and s.env_busy_s > 0 and s.tokens_per_s > 0
    for e in (e1, e2, e3):
        e.close()
    await backend.close()


async def test_context_limit_stops_generation(fmt, model):
    cfg = RolloutConfig(max_new_tokens=40, max_context_tokens=150)
    backend = LocalBackend(model)
    engine = RolloutEngine(backend, fmt, lambda: GuessNumberEnv(max_turns=50), policies.Policy(), cfg)
    (group,) = await engine.collect(["train-3"], 4)
    for traj in group:
        assert traj.end_reason == "context_limit" and traj.error is None and len(traj.token_ids) <= 150
        traj.check()
    engine.close()
    await backend.close()


class _Reward(GuessNumberEnv):
    """Succeeds on any valid guess (so rewards and success flow through)."""

    def _step(self, action):
        return agentrl.StepResult("ok", reward=1.0, terminated=True)


async def test_success_and_reward_and_sync_run(fmt, model):
    backend = LocalBackend(model)
    engine = RolloutEngine(backend, fmt, lambda: _Reward(), policies.Policy(), RolloutConfig(max_new_tokens=4))
    groups = await asyncio.to_thread(engine.run, ["train-0"], 2)
    assert all(t.reward == 1.0 and t.success and t.end_reason == "terminated" for t in groups[0])
    engine.close()
    await backend.close()


class _Gate(GuessNumberEnv):
    """task train-0's first step blocks (in its thread) until task train-1 has generated 3 turns."""

    gate = threading.Event()

    def _step(self, action):
        if self.task_id == "train-0" and self.turn == 1:
            assert self.gate.wait(timeout=20), "generation for other episodes stalled while this env step ran"
        return super()._step(action)


async def test_env_steps_run_off_the_event_loop(fmt, model):
    inner = LocalBackend(model)
    counts: dict[str, int] = defaultdict(int)

    class Opener:
        async def generate(self, ids, sp, *, session_id=None):
            g = await inner.generate(ids, sp, session_id=session_id)
            if session_id.startswith("train-1/"):
                counts[session_id] += 1
                if counts[session_id] >= 3:
                    _Gate.gate.set()
            return g

    cfg = RolloutConfig(max_new_tokens=4, step_timeout_s=30)
    engine = RolloutEngine(Opener(), fmt, lambda: _Gate(max_turns=4), policies.Policy(), cfg)
    groups = await engine.collect(["train-0", "train-1"], 1)
    assert [g[0].error for g in groups] == [None, None]
    assert len(groups[1][0].turns) >= 3
    engine.close()
    await inner.close()


async def test_backend_that_keeps_failing_is_given_up(fmt):
    calls = []

    class Down:
        async def generate(self, ids, sp, *, session_id=None):
            calls.append(session_id)
            raise BackendError("HTTP 503")

    cfg = RolloutConfig(max_retries=2, retry_backoff_s=0.0)
    engine = RolloutEngine(Down(), fmt, GuessNumberEnv, policies.Policy(), cfg)
    groups = await engine.collect(["train-0", "train-1"], 2)
    for t in (t for g in groups for t in g):
        assert t.failed and t.end_reason == "error" and "gave up after 3 attempts" in t.error
        assert t.prompt_len > 0 and t.turns == []  # the prompt is kept; nothing generated
    assert len(calls) == 12 and engine.last_stats.retries == 8 and engine.last_stats.errors == {"backend": 4}
    engine.close()


# ------------------------------------------------------------------ fault injection, 512 trajectories
N_TRAJ = 512
_plan_rng = random.Random(1234)
_shuffled = [f"train-{i}" for i in range(N_TRAJ)]
_plan_rng.shuffle(_shuffled)
RAISES = set(_shuffled[:round(0.05 * N_TRAJ)])
HANGS = set(_shuffled[len(RAISES):len(RAISES) + round(0.02 * N_TRAJ)])


class Faulty(GuessNumberEnv):
    """Raises or hangs on its first step for the planned tasks; a hang lasts until ``release`` is set (the
    test sets it after the batch), so it outlasts any timeout however fast or slow the machine is."""

    release = threading.Event()

    def _step(self, action):
        if self.turn == 1 and self.task_id in RAISES:
            raise RuntimeError("injected env fault")
        if self.turn == 1 and self.task_id in HANGS:
            self.release.wait(timeout=600)
        return super()._step(action)


async def test_fault_injection_512_trajectories(fmt, model):
    faults: Counter = Counter()
    inject = backend_faults(random.Random(7), faults)

    local = LocalBackend(model, max_batch_size=64)
    runner, url = await start_server(local, middlewares=[inject])
    client = SGLangBackend([url])
    cfg = RolloutConfig(max_new_tokens=6, max_context_tokens=1024, max_concurrent_requests=64, env_workers=16,
                        step_timeout_s=3.0, max_retries=3, retry_backoff_s=0.01, request_timeout_s=600)
    engine = RolloutEngine(client, fmt, lambda: Faulty(max_turns=2, n_train=N_TRAJ), policies.Policy(), cfg)
    Faulty.release.clear()
    try:
        groups = await engine.collect([f"train-{i}" for i in range(N_TRAJ)], 1)
    finally:
        Faulty.release.set()

    trajs = [g[0] for g in groups]
    assert len(trajs) == N_TRAJ and [t.task_id for t in trajs] == [f"train-{i}" for i in range(N_TRAJ)]
    failed = {t.task_id: t for t in trajs if t.failed}
    assert set(failed) == RAISES | HANGS  # exactly the injected env faults; backend faults were retried
    for tid in RAISES:
        assert failed[tid].end_reason == "error" and "injected env fault" in failed[tid].error
    for tid in HANGS:
        assert failed[tid].end_reason == "timeout" and "timed out" in failed[tid].error
    for t in trajs:
        if not t.failed:
            assert t.end_reason in ("terminated", "truncated") and len(t.turns) >= 1
            t.check()
    stats = engine.last_stats
    assert faults["http_500"] > 0 and faults["dropped_connection"] > 0
    assert stats.retries == faults["http_500"] + faults["dropped_connection"]  # every injected backend fault cost one retry
    assert stats.failed == len(RAISES) + len(HANGS) and stats.errors == {"env": len(RAISES), "timeout": len(HANGS)}

    # nothing keeps running: no generation on the server, no stray tasks, env threads end on close()
    await client.close()
    for _ in range(300):
        if local.num_active == 0:
            break
        await asyncio.sleep(0.01)
    assert local.num_active == 0
    await runner.cleanup()
    await local.close()
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    await asyncio.to_thread(engine.close)
    assert engine.abandoned_env_calls == 0
    assert not [t for t in threading.enumerate() if t.name.startswith(("agentrl-env", "agentrl-local"))]


def test_progress_bar_and_bad_arguments(fmt, model):
    backend = LocalBackend(model)
    engine = RolloutEngine(backend, fmt, GuessNumberEnv, policies.Policy(), RolloutConfig(max_new_tokens=3),
                           progress=True)
    groups = engine.run(["train-0"], 2)
    assert len(groups[0]) == 2 and engine.last_stats.trajectories == 2
    with pytest.raises(ValueError, match="group_size"):
        engine.run(["train-0"], 0)
    engine.close()
    backend.close_sync()


class _BadReset(GuessNumberEnv):
    def _reset_task(self, task_id):
        raise OSError("data file missing")


class _StuckOnSecondStep(GuessNumberEnv):
    """The first step answers; the second blocks until ``release`` (so the episode, not the step, times out)."""

    release = threading.Event()

    def _step(self, action):
        if self.turn == 2:
            self.release.wait(timeout=600)
        return super()._step(action)


async def test_reset_failure_and_episode_timeout_are_kept_and_marked(fmt, model):
    backend = LocalBackend(model)
    engine = RolloutEngine(backend, fmt, _BadReset, policies.Policy(), RolloutConfig(max_new_tokens=4))
    (group,) = await engine.collect(["train-0"], 2)
    for t in group:  # nothing was generated: an empty, failed trajectory that names the cause
        assert t.failed and t.end_reason == "error" and "OSError: data file missing" in t.error
        assert t.token_ids == [] and t.task_id == "train-0"
    engine.close()

    # one turn (a 4-token generation and a quick step) has 10 s to finish, however loaded the machine is;
    # the second step never returns in time, and the step timeout is far longer than the episode's
    cfg = RolloutConfig(max_new_tokens=4, step_timeout_s=600, episode_timeout_s=10)
    engine = RolloutEngine(backend, fmt, lambda: _StuckOnSecondStep(max_turns=50), policies.Policy(), cfg)
    _StuckOnSecondStep.release.clear()
    try:
        (group,) = await engine.collect(["train-0"], 3)
    finally:
        _StuckOnSecondStep.release.set()
    for t in group:  # the partial trajectory is kept, consistent, and marked
        assert t.end_reason == "timeout" and "episode timed out" in t.error and len(t.turns) >= 1
        t.check()
    assert engine.last_stats.errors == {"timeout": 3}
    await asyncio.to_thread(engine.close)
    assert engine.abandoned_env_calls == 0
    await backend.close()


class _HangsOnFirstStep(GuessNumberEnv):
    """The planned tasks' first step blocks until ``release``: a hang longer than any timeout of the test."""

    release = threading.Event()
    tasks: set[str] = set()

    def _step(self, action):
        if self.turn == 1 and self.task_id in self.tasks:
            self.release.wait(timeout=600)
        return super()._step(action)


async def test_hung_env_calls_never_fail_healthy_episodes(fmt, model):
    """More hung calls than the engine has threads: every hang is a timeout, no healthy episode fails."""
    n, workers = 160, 2
    rng = random.Random(3)
    tasks = [f"train-{i}" for i in range(n)]
    _HangsOnFirstStep.tasks = set(rng.sample(tasks, 3 * workers + 2))  # a pool of 2x workers would starve
    backend = LocalBackend(model, max_batch_size=64)
    # a healthy step takes microseconds: 3 s is only ever reached by the hung ones
    cfg = RolloutConfig(max_new_tokens=4, max_context_tokens=1024, env_workers=workers, step_timeout_s=3)
    engine = RolloutEngine(backend, fmt, lambda: _HangsOnFirstStep(max_turns=2, n_train=n), policies.Policy(), cfg)
    _HangsOnFirstStep.release.clear()
    try:
        groups = await engine.collect(tasks, 1)
        assert engine.abandoned_env_calls == len(_HangsOnFirstStep.tasks)  # all still stuck in their threads
    finally:
        _HangsOnFirstStep.release.set()
    failed = {g[0].task_id: g[0] for g in groups if g[0].failed}
    assert set(failed) == _HangsOnFirstStep.tasks, {k: v.error for k, v in failed.items()}
    assert all(t.end_reason == "timeout" and "env.step timed out" in t.error for t in failed.values())
    assert engine.last_stats.errors == {"timeout": len(_HangsOnFirstStep.tasks)}
    assert engine.replaced_env_threads == len(_HangsOnFirstStep.tasks)
    await asyncio.to_thread(engine.close)
    assert engine.abandoned_env_calls == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("agentrl-env")]
    await backend.close()


def test_launch_needs_sglang_or_a_path():
    import importlib.util

    from agentrl.rollout.launch import launch_sglang

    with pytest.raises(ValueError, match="checkpoint path"):
        launch_sglang(object(), ["http://127.0.0.1:30000"])
    if importlib.util.find_spec("sglang") is None:
        with pytest.raises(RuntimeError, match="needs SGLang installed"):
            launch_sglang("/models/x", ["http://127.0.0.1:30000"])
