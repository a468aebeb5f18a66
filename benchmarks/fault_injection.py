"""Fault injection on the rollout engine: is every failure accounted for, and do hangs hurt healthy episodes?

512 guess-the-number episodes (2 turns) on a tiny random Qwen3 served over HTTP on loopback (agentrl's
SGLang-compatible server, the SGLang client), with planned faults:

* 5% of tasks raise in their first ``env.step`` (an env bug),
* 2% of tasks hang in their first ``env.step`` for ``--hang-s`` seconds (default 40: far past the timeout),
* 2% of ``/generate`` requests fail at the server: half answer HTTP 500, half drop the connection after the
  work was done.

With the default ``env_workers=4`` and ``step_timeout_s=1.5``, it prints the failure accounting: trajectories
returned (none dropped or duplicated), failures by reason against the injected faults, healthy episodes
that failed (the goal: 0), retries against injected backend errors, and how long env calls queued.

    PYTHONPATH=. python benchmarks/fault_injection.py [--trajectories 512] [--hang-s 40] [--env-workers 4] [--step-timeout 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from collections import Counter


import policies
from agentrl import ChatFormat
from agentrl.bpe import train_bpe_tokenizer
from agentrl.config.schema import RolloutConfig
from agentrl.models import tiny_qwen3
from agentrl.rollout.backends.local import LocalBackend
from agentrl.rollout.backends.sglang import SGLangBackend
from agentrl.rollout.engine import RolloutEngine
from agentrl.rollout.fault_injection import backend_faults
from agentrl.serve import start_server
from envs.guess import GuessNumberEnv

CORPUS = ["I am thinking of an integer between 1 and 32. Answer with guess[N]. 17 is wrong; higher.",
          "You are a helpful assistant. Solve the task step by step and answer briefly."] * 20


def plan(n: int, seed: int) -> tuple[set[str], set[str]]:
    """The tasks whose first step raises (5%) and hangs (2%)."""
    tasks = [f"train-{i}" for i in range(n)]
    random.Random(seed).shuffle(tasks)
    n_raise, n_hang = round(0.05 * n), round(0.02 * n)
    return set(tasks[:n_raise]), set(tasks[n_raise:n_raise + n_hang])


async def main(args: argparse.Namespace) -> None:
    raises, hangs = plan(args.trajectories, args.seed)

    class Faulty(GuessNumberEnv):
        def _step(self, action):
            if self.turn == 1 and self.task_id in raises:
                raise RuntimeError("injected env fault")
            if self.turn == 1 and self.task_id in hangs:
                time.sleep(args.hang_s)
            return super()._step(action)

    injected: Counter = Counter()
    inject = backend_faults(random.Random(args.seed + 1), injected)

    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # the injected drops are not news
    tok = train_bpe_tokenizer(CORPUS, vocab_size=400)
    fmt = ChatFormat(tok, chat_template="tiny")
    local = LocalBackend(tiny_qwen3(len(tok), hidden_size=64, num_layers=2, seed=0), max_batch_size=64)
    runner, url = await start_server(local, middlewares=[inject])
    client = SGLangBackend([url])
    cfg = RolloutConfig(max_new_tokens=6, max_context_tokens=1024, max_concurrent_requests=64,
                        env_workers=args.env_workers, step_timeout_s=args.step_timeout, max_retries=3,
                        retry_backoff_s=0.01)
    engine = RolloutEngine(client, fmt, lambda: Faulty(max_turns=2, n_train=args.trajectories), policies.Policy(),
                           cfg)
    task_ids = [f"train-{i}" for i in range(args.trajectories)]
    t0 = time.perf_counter()
    groups = await engine.collect(task_ids, 1)
    wall = time.perf_counter() - t0
    stats = engine.last_stats
    trajs = [t for g in groups for t in g]
    failed = [t for t in trajs if t.failed]
    reasons = Counter("timeout" if t.end_reason == "timeout" else t.error.split(":")[0] for t in failed)
    healthy_failed = [t for t in failed if t.task_id not in raises | hangs]
    hang_timeouts = sum(1 for t in failed if t.task_id in hangs and t.end_reason == "timeout")
    raise_errors = sum(1 for t in failed if t.task_id in raises and "injected env fault" in (t.error or ""))
    stuck_at_end = engine.abandoned_env_calls

    print(f"fault injection: {args.trajectories} trajectories, env_workers={args.env_workers}, "
          f"step_timeout_s={args.step_timeout:g}, hangs of {args.hang_s:g} s")
    print(f"  returned                 {len(trajs)} ({len(set(t.task_id for t in trajs))} distinct task ids, "
          f"in order: {[t.task_id for t in trajs] == task_ids})")
    print(f"  failed                   {len(failed)}: {dict(reasons)}")
    print(f"  injected env exceptions  {len(raises)} -> reported as env errors: {raise_errors}")
    print(f"  injected hangs           {len(hangs)} -> reported as timeouts: {hang_timeouts}")
    print(f"  healthy episodes failed  {len(healthy_failed)}"
          + (f" (e.g. {healthy_failed[0].error})" if healthy_failed else ""))
    print(f"  injected backend errors  {sum(injected.values())} {dict(injected)} -> retries: {stats.retries}")
    print(f"  env threads replaced     {engine.replaced_env_threads} (hung calls still running at the end: "
          f"{stuck_at_end})")
    print(f"  batch wall time          {wall:.1f} s (generation busy {stats.generation_busy_s:.1f} s, env busy "
          f"{stats.env_busy_s:.1f} s)")
    await client.close()
    await runner.cleanup()
    await local.close()
    t1 = time.perf_counter()
    await asyncio.to_thread(engine.close, args.hang_s + 30)
    print(f"  close() waited {time.perf_counter() - t1:.1f} s for the hung calls; left running: "
          f"{engine.abandoned_env_calls}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trajectories", type=int, default=512)
    p.add_argument("--hang-s", type=float, default=40.0)
    p.add_argument("--env-workers", type=int, default=4)
    p.add_argument("--step-timeout", type=float, default=1.5)
    p.add_argument("--seed", type=int, default=1234)
    asyncio.run(main(p.parse_args()))
