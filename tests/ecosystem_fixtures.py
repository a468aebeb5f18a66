"""Shared by the ecosystem adapter tests: the tiny-model run overrides, a scripted episode runner, and the
fixture modules (a verifiers taskset, a verifiers multi-turn env, an OpenEnv app) on ``sys.path``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import agentrl

FIXTURES = Path(__file__).parent / "fixtures" / "ecosystem"


def with_fixtures_on_path() -> None:
    """Make ``vf_sums``, ``vf_guess`` and ``oe_guess_app`` importable (and so loadable by the packages)."""
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))


def tiny_run(cache: Path, out: Path, env: str, name: str, *extra: str) -> list[dict]:
    """A two-step training run of the smallest tiny model on ``env``; its metrics rows."""
    run_dir = agentrl.train([
        f"env={env}", f"model.cache_dir={cache}", "model.tiny.sft_episodes=24", "model.tiny.sft_epochs=1",
        "model.tiny.hidden_size=64", "model.tiny.num_layers=2", "model.tiny.intermediate_size=128",
        "model.tiny.vocab_size=400", "rollout.max_new_tokens=8", "trainer.tasks_per_step=2", "algo.group_size=2",
        "trainer.eval_tasks=2", "trainer.eval_every=2", "trainer.steps=2", "trainer.log.progress=false",
        f"trainer.output_dir={out}", f"run_name={name}", *extra])
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def play(env: agentrl.AgentEnv, task_id: str, policy: Callable[[str], str], seed: int = 0) -> list[tuple]:
    """One episode of ``policy`` (observation -> action) on ``task_id``: the list of (obs, reward, info)."""
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    out = [(obs, 0.0, info)]
    while not env.done:
        obs, reward, _, _, info = env.step(policy(obs))
        out.append((obs, reward, info))
    return out
