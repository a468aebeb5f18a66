"""Asynchronous off-policy training (trainer.async.steps_ahead): staleness bound, weight versions on every
token, the decoupled loss on behaviour log-probs, in-flight weight updates, k = 0 unchanged, crash and resume."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import pytest
import torch

import agentrl
import policies
from agentrl import ChatFormat
from agentrl.checkpoint import latest_checkpoint
from agentrl.config.schema import AlgoConfig, RolloutConfig
from agentrl.learner import Learner
from agentrl.learner.teacher import agent_positions
from agentrl.models import tiny_qwen3
from agentrl.rollout.backends.local import LocalBackend
from agentrl.rollout.backends.sglang import SGLangBackend
from agentrl.rollout.engine import RolloutEngine
from agentrl.serve import start_server
from envs.guess import GuessNumberEnv
from tests.conftest import reap
from tests.learner_fixtures import record_learner_steps
from tests.learner_utils import make_group
from tests.test_trainer import _overrides as trainer_overrides


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("agentrl-cache-async")


def _overrides(cache: Path, out: Path, *extra: str) -> list[str]:
    """test_trainer's small guess run, without evals."""
    return trainer_overrides(cache, out, "trainer.eval_every=0", *extra)


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("k", [1, 2])
def test_staleness_never_exceeds_k_and_every_token_has_a_version(tiny_cache, tmp_path, monkeypatch, k):
    seen = record_learner_steps(monkeypatch)
    run_dir = agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=5", f"trainer.async.steps_ahead={k}",
                                       "algo=grpo", f"run_name=k{k}"))
    assert [v for v, _ in seen] == [0, 1, 2, 3, 4]
    lags = []
    for version, groups in seen:
        for g in groups:
            for t in g:
                if t.failed:
                    continue
                assert len(t.versions) == len(t.token_ids)
                for v, m in zip(t.versions, t.loss_mask):
                    assert (v >= 0) if m else (v == -1)
                lags += [version - v for v in t.agent_versions()]
    assert lags and all(0 <= x <= k for x in lags)
    assert max(lags) >= 1  # the run did train on stale data
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    for r in rows:
        assert 0 <= r["async/staleness_mean"] <= r["async/staleness_max"] <= k
        assert 0 <= r["async/offpolicy_token_share"] <= 1 and r["async/dropped_tokens"] == 0
        assert 0 <= r["util/generator"] <= 1.0 + 1e-6 and 0 < r["util/learner"] <= 1.0 + 1e-6
    assert latest_checkpoint(run_dir).name == "step_0000005"


def test_k0_is_the_synchronous_loop(tiny_cache, tmp_path, monkeypatch):
    import agentrl.rollout.async_generator as ar

    def refuse(*a, **k):
        raise AssertionError("k=0 must not build the async generator")

    monkeypatch.setattr(ar.AsyncGenerator, "__init__", refuse)
    runs = []
    for name, extra in (("plain", []), ("k0", ["trainer.async.steps_ahead=0"])):
        run_dir = agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=2", f"run_name={name}", *extra))
        rows = _rows(run_dir)
        assert not any(k.startswith("async/") for r in rows for k in r)
        runs.append(rows)
    for a, b in zip(*runs):  # as test_trainer's determinism test: exact data, losses up to batching rounding
        assert a["reward"] == b["reward"] and a["agent_tokens"] == b["agent_tokens"]
        for key in ("loss", "grad_norm", "entropy"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6)


def test_the_offpolicy_loss_uses_the_behaviour_logprobs_of_a_stale_batch(bpe_tokenizer):
    """A batch "sampled" by other weights: recorded log-probs differ from the learner's. The loss is
    1/T Σ -A · min(π_θ/π_behav, C) (the clipped ratio against π_prox = π_θ is 1 at the step's start)."""
    fmt = ChatFormat(bpe_tokenizer, chat_template="tiny")
    policy = policies.Policy()
    vocab = len(bpe_tokenizer)
    groups = [make_group(fmt, policy, "t0", [1.0, 0.0, 0.0, 1.0], seed=1, vocab=vocab),
              make_group(fmt, policy, "t1", [0.0, 1.0, 0.0, 0.0], seed=2, vocab=vocab)]
    cap = 1.5

    def run(batch, max_staleness=None):
        model = tiny_qwen3(vocab, hidden_size=64, num_layers=2, seed=0)
        cfg = AlgoConfig(name="grpo", loss_agg="token-mean", tis_cap=cap, lr=1e-3)
        learner = Learner(model, fmt, policy, cfg)
        learner.max_staleness = max_staleness
        plans, _ = learner.route(batch)
        with torch.no_grad():
            expected, tokens = 0.0, 0
            for gp in plans:
                for p in gp.rollouts:
                    pos = agent_positions(p.traj)
                    logits = model(torch.tensor([p.traj.token_ids])).logits[0].float()
                    lp = torch.log_softmax(logits, -1)[[t - 1 for t in pos], [p.traj.token_ids[t] for t in pos]]
                    behav = torch.tensor([p.traj.logprobs[t] for t in pos])
                    expected += float((-p.advantage * torch.exp(lp - behav).clamp(max=cap)).sum())
                    tokens += len(pos)
        before = [q.detach().clone() for q in model.parameters()]
        m = learner.step(batch)
        moved = any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
        return m, expected / tokens, moved

    m, expected, moved = run(groups)
    assert m["loss"] == pytest.approx(expected, rel=1e-4, abs=1e-7) and moved
    # the same tokens with the behaviour log-probs of other (made-up) weights give another loss
    other = copy.deepcopy(groups)
    for g in other:
        for t in g:
            t.logprobs = [lp - 0.3 if mk else lp for lp, mk in zip(t.logprobs, t.loss_mask)]
    m2, expected2, _ = run(other)
    assert m2["loss"] == pytest.approx(expected2, rel=1e-4, abs=1e-7) and abs(m2["loss"] - m["loss"]) > 1e-6
    # turns older than the bound get no gradient: versions 0, learner at version 0 -> kept; bound -1 never
    # applies, so mark every token as sampled two versions before the learner's (version 0 - 2 = -2)
    stale = copy.deepcopy(groups)
    for g in stale:
        for t in g:
            t.versions = [-2 if mk else -1 for mk in t.loss_mask]
    m3, _, moved3 = run(stale, max_staleness=1)
    assert m3["loss"] == 0.0 and not moved3


def _inflight_engine(backend, fmt):
    cfg = RolloutConfig(max_new_tokens=6, max_context_tokens=1024, env_workers=4, temperature=1.0)
    return RolloutEngine(backend, fmt, lambda: GuessNumberEnv(max_turns=4), policies.Policy(), cfg)


class UpdateAfterFirst:
    """Wraps a backend: after the first generation of the batch returns, publish weights version 1."""

    def __init__(self, inner, update):
        self.inner, self.update, self.calls = inner, update, 0

    @property
    def version(self):
        return self.inner.version

    async def generate(self, *a, **k):
        g = await self.inner.generate(*a, **k)
        self.calls += 1
        if self.calls == 1:
            await self.update()
        return g

    async def update_weights(self, *a, **k):
        return await self.inner.update_weights(*a, **k)

    async def close(self):
        await self.inner.close()


def _check_inflight(groups, per_request: bool):
    trajs = [t for g in groups for t in g if not t.failed]
    multi = [t for t in trajs if len(t.turns) >= 2]
    assert multi
    for t in trajs:
        vs = t.agent_versions()
        assert vs == sorted(vs) and set(vs) <= {0, 1}  # versions only grow along an episode
        assert all(u.weight_version == min(t.versions[u.gen_start:u.gen_end]) for u in t.turns if u.gen_end > u.gen_start)
        if per_request:  # a server request is tagged with the version the client knew when it sent it
            assert all(len(set(t.versions[u.gen_start:u.gen_end])) == 1 for u in t.turns)
    # the episode that was running when the update came continues with it from its next turn
    assert any(t.versions[t.turns[0].gen_start] == 0 and t.versions[t.turns[-1].gen_start] == 1 for t in multi)


def test_an_inflight_update_reaches_running_episodes_local(bpe_tokenizer):
    fmt = ChatFormat(bpe_tokenizer, chat_template="tiny")
    model = tiny_qwen3(len(bpe_tokenizer), hidden_size=64, num_layers=2, seed=0)
    newer = {k: v + 0.01 for k, v in model.state_dict().items()}
    local = LocalBackend(model, max_batch_size=8)

    async def main():
        backend = UpdateAfterFirst(local, lambda: local.update_weights(newer, version=1))
        engine = _inflight_engine(backend, fmt)
        try:
            return await engine.collect(["train-1", "train-2"], 3, seed=5)
        finally:
            engine.close()
            await local.close()

    groups = asyncio.run(main())
    _check_inflight(groups, per_request=False)  # local: a request's later tokens may already be version 1
    assert torch.equal(model.state_dict()["lm_head.weight"], newer["lm_head.weight"])


def test_an_inflight_update_reaches_running_episodes_server(bpe_tokenizer, tmp_path):
    """agentrl's server: the weights are loaded from disk between decode steps; the client records the
    version it knew when it sent each request."""
    fmt = ChatFormat(bpe_tokenizer, chat_template="tiny")
    model = tiny_qwen3(len(bpe_tokenizer), hidden_size=64, num_layers=2, seed=0)
    newer = copy.deepcopy(model)
    with torch.no_grad():
        for p in newer.parameters():
            p.add_(0.01)
    newer.save_pretrained(tmp_path / "v1", safe_serialization=True)

    async def main():
        served = LocalBackend(model, max_batch_size=8)
        runner, url = await start_server(served)
        client = SGLangBackend([url])

        async def update():
            await client.update_weights(model_path=str(tmp_path / "v1"))
            client.version = 1

        engine = _inflight_engine(UpdateAfterFirst(client, update), fmt)
        try:
            return await engine.collect(["train-1", "train-2"], 3, seed=5)
        finally:
            engine.close()
            await client.close()
            await runner.cleanup()
            await served.close()

    groups = asyncio.run(main())
    _check_inflight(groups, per_request=True)


def test_a_generator_crash_stops_the_run_saved_with_one_line(tiny_cache, tmp_path, monkeypatch):
    from agentrl.config.compose import load_config
    from agentrl.trainer import Trainer

    real = RolloutEngine.collect
    calls = {"n": 0}

    async def collect(self, tasks, n, *, seed=0):
        calls["n"] += 1
        if calls["n"] == 4:  # batch 4 (no evaluation in this run)
            raise RuntimeError("boom in the generator")
        return await real(self, tasks, n, seed=seed)

    monkeypatch.setattr(RolloutEngine, "collect", collect)
    logs: list[str] = []
    cfg = load_config(_overrides(tiny_cache, tmp_path, "trainer.steps=8", "trainer.async.steps_ahead=1",
                                 "trainer.save_every=0", "run_name=crash"))
    trainer = Trainer(cfg, log=logs.append)
    assert trainer.train() == 1
    err = [m for m in logs if m.startswith("error:")]
    assert len(err) == 1 and "boom in the generator" in err[0] and "\n" not in err[0] and "resume" in err[0]
    run_dir = tmp_path / "crash"
    done = max(r["step"] for r in _rows(run_dir))  # batch 3 may or may not have finished before the crash
    assert done in (2, 3) and latest_checkpoint(run_dir).name == f"step_{done:07d}"
    assert not trainer.generator._thread.is_alive()


def test_an_async_run_resumes(tiny_cache, tmp_path):
    args = _overrides(tiny_cache, tmp_path, "trainer.async.steps_ahead=1", "trainer.save_every=2", "run_name=res")
    agentrl.train(args + ["trainer.steps=2"])
    run_dir = agentrl.train(args + ["trainer.steps=4", "trainer.resume=true"])
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[2]["async/batch_start_version"] == 2.0  # batch 3 collected anew, with the resumed weights
    assert latest_checkpoint(run_dir).name == "step_0000004"


def test_sigterm_stops_an_async_run_saved_and_resumable(tiny_cache, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    base = _overrides(tiny_cache, tmp_path, "trainer.save_every=0", "trainer.async.steps_ahead=1")
    args = base + ["trainer.steps=100", "run_name=term"]
    agentrl.train(base + ["trainer.steps=0", "run_name=term-warm"])  # the tiny model, built here
    run_dir = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, "-m", "agentrl.run", *args], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        end = time.monotonic() + 600
        while not ((run_dir / "metrics.jsonl").exists() and len(_rows(run_dir)) >= 2):
            assert time.monotonic() < end and proc.poll() is None
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        reap(proc)
    assert proc.returncode == 130, err
    saved = int(latest_checkpoint(run_dir).name.split("_")[1])
    assert saved == max(r["step"] for r in _rows(run_dir))
    resumed = agentrl.train(base + [f"trainer.steps={saved + 1}", "trainer.resume=true", "run_name=term"])
    steps = [r["step"] for r in _rows(resumed)]
    assert steps == list(range(1, saved + 2))


@pytest.mark.parametrize("algo", ["dapo", "sc_grpo"])
def test_other_algorithms_run_async(tiny_cache, tmp_path, algo):
    run_dir = agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=3", "trainer.async.steps_ahead=1",
                                       f"algo={algo}", "trainer.eval_every=3", f"run_name={algo}-async"))
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and "eval/success" in rows[-1]
    assert all(r["async/staleness_max"] <= 1 for r in rows[1:])


@pytest.mark.slow
def test_an_async_run_against_a_real_server_process_syncs_every_version(tiny_cache, tmp_path, monkeypatch):
    """k = 1 with agentrl's server in its own process: staleness <= 1 on every trained token, and the server
    ends on the learner's last weights (every published version reached it)."""
    import urllib.request

    from tests.test_trainer import _free_port, _start_server

    warm = agentrl.train(_overrides(tiny_cache, tmp_path, "trainer.steps=0", "run_name=warm-async"))
    model_dir = latest_checkpoint(warm)
    port = _free_port()
    server = _start_server(model_dir, port)
    seen = record_learner_steps(monkeypatch)
    try:
        run_dir = agentrl.train(["rollout=sglang", *_overrides(
            tiny_cache, tmp_path, f"model.path={model_dir}", f"rollout.urls=[http://127.0.0.1:{port}]",
            "rollout.max_context_tokens=1024", "trainer.steps=4", "trainer.async.steps_ahead=1", "algo=grpo",
            "run_name=async-srv")])
        info = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/get_model_info", timeout=30).read())
    finally:
        server.kill()
        server.wait()
    assert [v for v, _ in seen] == [0, 1, 2, 3]
    lags = [version - v for version, groups in seen for g in groups for t in g if not t.failed
            for v in t.agent_versions()]
    assert lags and all(0 <= x <= 1 for x in lags) and max(lags) == 1
    assert [r["step"] for r in _rows(run_dir)] == [1, 2, 3, 4]
    # the server loaded every version the learner published, the last one after step 4
    assert info["weight_version"] == "4" and info["model_path"] == str((run_dir / "weights_sync").resolve())
