"""Rollout benchmarks, each ratio measured side by side in one run (CPU, tiny random Qwen3).

Two workloads, [1] and [2] measured on each:

* ``fixed``: every env step takes 50 ms, episodes last 4-8 turns — the case where a turn-batched loop loses
  least (its only loss is one 50 ms wait per turn).
* ``heavy``: the latency shape of real agent envs — env steps drawn from a log-normal with median 50 ms and
  p99 2 s (sigma 1.59, truncated at 8 s), after the measured step times of the code env (sandboxed test runs;
  its tail is programs hitting their time limit) and the AppWorld env, see ``env_step_times.py`` (code env
  median 259 ms, p99 44 s; AppWorld median 3 ms, p99 153 ms; pooled median 54 ms) — and uneven episodes
  (2-16 turns). A step's latency is a function of (task, turn, action): both loops wait alike for a step.

1. Async engine vs a synchronous turn-batched loop (generate for every live trajectory, then step every env
   in parallel — how verl-agent batches turns) on the same LocalBackend and model.
   -> trajectories/s ratio (aim >= 2x on ``heavy``)
2. Latency hiding: the async engine's wall time vs. replaying exactly the same generation requests (same
   prompts, seeds and token counts, turn order kept) with no env at all.  -> ratio (aim <= 1.10x on ``heavy``)
3. LocalBackend (continuous batching) vs transformers ``generate`` on padded batches of the same requests.
   -> useful tokens/s ratio (aim >= 1.5x)

A random model almost never emits a stop token, so replies would all run to max_new_tokens. To get the
variable reply lengths of a real model, a forward hook adds a constant to the stop token's logit (mean reply
~1/p tokens). Both sides of every comparison use the same hooked model. The heavy workload's replies are
longer (at most 128 tokens, a lower stop bias: agent replies are programs and API calls), so that a turn's
generation outweighs its env step as in real agent rollouts; with ~20-token replies an env step costs about
as much as a whole reply, and no schedule hides what lies on one trajectory's own path (its env steps and its
generation alternate). [2] prints the longest such path in the async run, split into the time the
trajectory waited on generation and on its env: the async wall is that path.

    python benchmarks/bench_rollout.py [--trajectories 64] [--heavy-trajectories 128] [--workloads fixed,heavy]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from agentrl import AgentEnv, ChatFormat, StepResult
from agentrl.bpe import train_bpe_tokenizer
from agentrl.config.schema import RolloutConfig
from agentrl.env import rng_for
from agentrl.models import tiny_qwen3
from agentrl.rollout.backends import SamplingParams
from agentrl.rollout.backends.local import LocalBackend
from agentrl.rollout.engine import RolloutEngine, derive_seed
from agentrl.trajectory import Trajectory
from policies import Policy


class SlowEnv(AgentEnv):
    """Each step sleeps ``latency`` seconds (a remote env, a browser, a sandbox); episodes last 4-8 turns."""

    def __init__(self, latency: float = 0.05, **kw):
        super().__init__(max_turns=8, **kw)
        self.latency = latency
        self._len = 4

    def step_latency(self, action: str) -> float:
        return self.latency_for(self.task_id, self.turn, action)

    def latency_for(self, task_id: str, turn: int, action: str) -> float:
        """How long step ``turn`` (1-based) of ``task_id`` with ``action`` takes."""
        return self.latency

    def task_ids(self, split="train"):
        return [f"t{i}" for i in range(10_000)]

    def _reset_task(self, task_id):
        self._len = int(rng_for("len", task_id).integers(4, 9))
        return f"Task {task_id}: reach the end in {self._len} steps. Reply with any action.", {}

    def _step(self, action):
        time.sleep(self.step_latency(action))
        done = self.turn >= self._len
        return StepResult(f"step {self.turn} of {self._len} done; observed {len(action)} chars.",
                          reward=float(done), terminated=done)


class HeavyTailEnv(SlowEnv):
    """Log-normal step latencies (median ``median`` s, log-sd ``sigma``, at most ``cap`` s); 2-16 turns.

    A step's latency is drawn from a stream seeded by (task, turn, action): the same step waits the same in
    both loops, and group members (different actions) wait differently.
    """

    def __init__(self, median: float = 0.05, sigma: float = 1.59, cap: float = 8.0, min_turns: int = 2,
                 max_turns: int = 16, **kw):
        super().__init__(median, **kw)
        self.max_turns = max_turns
        self.sigma, self.cap, self.turn_range = sigma, cap, (min_turns, max_turns)

    def _reset_task(self, task_id):
        lo, hi = self.turn_range
        self._len = int(rng_for("heavy-len", task_id).integers(lo, hi + 1))
        return f"Task {task_id}: reach the end in {self._len} steps. Reply with any action.", {}

    def latency_for(self, task_id: str, turn: int, action: str) -> float:
        rng = rng_for("heavy-step", task_id, turn, action)
        return min(self.cap, float(rng.lognormal(np.log(self.latency), self.sigma)))


def build(vocab_hint: int = 1024, stop_bias: float = 0.0, hidden: int = 128, layers: int = 4):
    corpus = ["Task reach the end in steps. Reply with any action. step of done; observed chars."] * 50
    tok = train_bpe_tokenizer(corpus, vocab_size=vocab_hint)
    fmt = ChatFormat(tok, chat_template="tiny")
    model = tiny_qwen3(len(tok), hidden_size=hidden, num_layers=layers, num_heads=4, num_kv_heads=2,
                       intermediate_size=3 * hidden, seed=0)
    stop = fmt.stop_token_ids[0]
    model.stop_bias = stop_bias  # read by the hook at every forward: a workload may set its own

    def hook(_m, _i, out):
        if model.stop_bias:
            out[..., stop] += model.stop_bias
        return out
    model.lm_head.register_forward_hook(hook)
    return tok, fmt, model, stop


# ---------------------------------------------------------------------- 1. turn-batched synchronous loop
async def turn_batched(backend, fmt, policy, cfg, task_ids, group, seed, make_env):
    """verl-agent style: each turn, generate for every live trajectory, then step every env in parallel."""
    envs = [make_env() for _ in range(len(task_ids) * group)]
    jobs = [(t, g) for t in task_ids for g in range(group)]
    pool = ThreadPoolExecutor(len(envs))
    loop = asyncio.get_running_loop()
    trajs, live = [], []
    for env, (t, g) in zip(envs, jobs):
        obs, _ = env.reset(options={"task_id": t})
        trajs.append(Trajectory.start(fmt, t, obs, system=policy.system()))
        live.append(True)
    base = SamplingParams(temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                          stop_token_ids=tuple(fmt.stop_token_ids))
    turn = 0
    while any(live):
        idx = [i for i, a in enumerate(live) if a]
        gens = await asyncio.gather(*(backend.generate(
            trajs[i].token_ids, base.replace(seed=derive_seed("gen", seed, jobs[i][0], jobs[i][1], turn)),
            session_id=f"sync/{i}") for i in idx))
        actions = []
        for i, gen in zip(idx, gens):
            text = fmt.tokenizer.decode(gen.ids, skip_special_tokens=True)
            trajs[i].add_generation(gen.ids, gen.logprobs, text, gen.finish_reason)
            actions.append(policy.parse_action(text))
        results = await asyncio.gather(*(loop.run_in_executor(pool, envs[i].step, a) for i, a in zip(idx, actions)))
        for i, (obs, r, term, trunc, _) in zip(idx, results):
            if term or trunc:
                live[i] = False
            else:
                trajs[i].add_message(fmt, obs)
        turn += 1
    pool.shutdown()
    return trajs


# ---------------------------------------------------------------------- 2. generation-only replay
class Recorder:
    """Records every request (for the replay) and each session's time spent waiting on generation."""

    def __init__(self, inner):
        self.inner, self.calls, self.gen_s = inner, {}, {}

    async def generate(self, ids, sp, *, session_id=None):
        t0 = time.perf_counter()
        g = await self.inner.generate(ids, sp, session_id=session_id)
        self.gen_s[session_id] = self.gen_s.get(session_id, 0.0) + time.perf_counter() - t0
        self.calls.setdefault(session_id, []).append((list(ids), sp.replace(max_new_tokens=max(1, len(g.ids))),
                                                      len(g.ids)))
        return g


async def replay(backend, calls):
    """Every trajectory's turns in order (a turn needs the previous one), all trajectories concurrently.
    Returns the tokens generated and each session's chain time (its first request to its last reply)."""
    chains: dict[str, float] = {}

    async def one(session, seq):
        n, t0 = 0, time.perf_counter()
        for ids, sp, _ in seq:
            n += len((await backend.generate(ids, sp, session_id="replay/" + session)).ids)
        chains[session] = time.perf_counter() - t0
        return n
    return sum(await asyncio.gather(*(one(k, s) for k, s in calls.items()))), chains


def env_seconds(env, traj) -> float:
    """The env time of ``traj``'s steps (the latencies are a function of task, turn and action)."""
    return sum(env.latency_for(traj.task_id, k + 1, t.action) for k, t in enumerate(traj.turns)
               if t.action is not None)


# ---------------------------------------------------------------------- 3. HF generate on padded batches
def hf_padded(model, prompts, max_new, stop, batch, pad_id, seed):
    useful = 0
    torch.manual_seed(seed)
    for k in range(0, len(prompts), batch):
        chunk = prompts[k:k + batch]
        length = max(map(len, chunk))
        ids = torch.full((len(chunk), length), pad_id)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(chunk):
            ids[i, length - len(p):] = torch.tensor(p)
            mask[i, length - len(p):] = 1
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                                 top_p=1.0, max_new_tokens=max_new, eos_token_id=stop, pad_token_id=pad_id)
        for row in out[:, length:].tolist():
            useful += row.index(stop) + 1 if stop in row else len(row)
    return useful


def _snap(backend):
    st = backend.stats
    return st.decode_steps, st.prefill_calls, st.generated_tokens


def _steps(backend, before):
    d, p, g = (x - y for x, y in zip(_snap(backend), before))
    return f"{d} decode steps ({g / max(d, 1):.1f} rows/step), {p} prefill forwards"


async def compare(name, model, fmt, policy, a, make_env, n_traj, turns, max_new, stop_bias):
    """[1] and [2] on one workload: the engine (recorded), the turn-batched loop, the generation-only replay.
    Returns (trajectories/s ratio, latency-hiding ratio)."""
    ntask = max(1, n_traj // a.group)
    tasks = [f"t{i}" for i in range(ntask)]
    n_traj = ntask * a.group
    model.stop_bias = stop_bias
    cfg = RolloutConfig(max_new_tokens=max_new, max_context_tokens=4096, max_concurrent_requests=256,
                        env_workers=max(8, n_traj), temperature=1.0, max_batch_size=n_traj)
    backend = LocalBackend(model, max_batch_size=n_traj)
    await backend.generate([1, 2, 3], SamplingParams(max_new_tokens=4))  # warm up
    print(f"\n=== workload {name}: {n_traj} trajectories, {turns}, <= {max_new} new tokens/turn "
          f"(stop bias {stop_bias})")
    rec = Recorder(backend)
    s0 = _snap(backend)
    engine = RolloutEngine(rec, fmt, make_env, policy, cfg)
    t0 = time.perf_counter()
    groups = await engine.collect(tasks, a.group, seed=0)
    t_async = time.perf_counter() - t0
    n_async = sum(map(len, groups))
    assert not any(t.failed for g in groups for t in g)
    engine.close()
    s_async = _steps(backend, s0)
    s0 = _snap(backend)
    t0 = time.perf_counter()
    sync_trajs = await turn_batched(backend, fmt, policy, cfg, tasks, a.group, 0, make_env)
    t_sync = time.perf_counter() - t0
    s_sync = _steps(backend, s0)
    tok_async = sum(t.num_agent_tokens for g in groups for t in g)
    tok_sync = sum(t.num_agent_tokens for t in sync_trajs)
    r1 = (n_async / t_async) / (len(sync_trajs) / t_sync)
    print(f"[1] async engine vs turn-batched synchronous loop (same backend, model, tasks, seeds)")
    print(f"    async:        {n_async / t_async:7.2f} traj/s  ({t_async:.2f}s, {tok_async} tokens, "
          f"{s_async})\n                  {engine.last_stats.summary()}")
    print(f"    turn-batched: {len(sync_trajs) / t_sync:7.2f} traj/s  ({t_sync:.2f}s, {tok_sync} tokens, {s_sync})")
    print(f"    ratio: {r1:.2f}x trajectories/s   (aim >= 2x)")
    s0 = _snap(backend)
    t0 = time.perf_counter()
    n_replayed, chains = await replay(backend, rec.calls)
    t_gen = time.perf_counter() - t0
    r2 = t_async / t_gen
    probe = make_env()
    env_max = max(env_seconds(probe, t) for g in groups for t in g)
    chain_max = max(chains.values())
    own, g_own, e_own = max((rec.gen_s.get(t.info["session"], 0.0) + env_seconds(probe, t),
                             rec.gen_s.get(t.info["session"], 0.0), env_seconds(probe, t)) for g in groups for t in g)
    print("[2] latency hiding: async wall time vs generation-only replay of the same requests")
    print(f"    async wall {t_async:.2f}s, generation only {t_gen:.2f}s ({n_replayed} tokens, "
          f"{sum(len(v) for v in rec.calls.values())} requests, {_steps(backend, s0)})\n"
          f"    one trajectory's env steps take up to {env_max:.2f}s, its generation chain up to {chain_max:.2f}s "
          f"in the replay\n    longest own path in the async run: {own:.2f}s = generation {g_own:.2f}s + "
          f"env {e_own:.2f}s "
          f"({t_async - own:.2f}s of the async wall is neither)")
    print(f"    ratio: {r2:.2f}x   (aim <= {'1.10' if name == 'heavy' else '1.15'}x)")
    await backend.close()
    return r1, r2


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trajectories", type=int, default=64, help="trajectories of the fixed-latency workload")
    ap.add_argument("--heavy-trajectories", type=int, default=128, help="trajectories of the heavy-tailed one")
    ap.add_argument("--heavy-max-new-tokens", type=int, default=128)
    ap.add_argument("--heavy-stop-bias", type=float, default=1.5)
    ap.add_argument("--workloads", default="fixed,heavy")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--env-latency", type=float, default=0.05, help="fixed: every step; heavy: the median")
    ap.add_argument("--sigma", type=float, default=1.59, help="heavy: log-sd of the step time (p99 = median e^2.33s)")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--stop-bias", type=float, default=2.5)
    ap.add_argument("--gen-requests", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1: on a shared, loaded CPU, OpenMP barriers across 2 threads "
                         "made single runs up to 40x slower at random)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.quick:
        a.trajectories, a.heavy_trajectories, a.gen_requests = 16, 16, 32
    torch.manual_seed(0)
    tok, fmt, model, stop = build(stop_bias=a.stop_bias, hidden=a.hidden, layers=a.layers)
    policy = Policy()
    print(f"model: tiny Qwen3 (hidden {a.hidden}, {a.layers} layers, vocab {len(tok)}), "
          f"torch threads {torch.get_num_threads()}")
    results = {}
    for w in a.workloads.split(","):
        if w == "fixed":
            results[w] = await compare(w, model, fmt, policy, a, lambda: SlowEnv(a.env_latency), a.trajectories,
                                       f"env step {a.env_latency * 1000:.0f} ms, 4-8 turns", a.max_new_tokens,
                                       a.stop_bias)
        elif w == "heavy":
            p99 = a.env_latency * float(np.exp(2.326 * a.sigma))
            results[w] = await compare(w, model, fmt, policy, a, lambda: HeavyTailEnv(a.env_latency, a.sigma),
                                       a.heavy_trajectories, f"env step log-normal median "
                                       f"{a.env_latency * 1000:.0f} ms p99 {p99:.1f} s (cap 8 s), 2-16 turns",
                                       a.heavy_max_new_tokens, a.heavy_stop_bias)
        else:
            raise SystemExit(f"unknown workload {w!r}; accepted: fixed, heavy")

    model.stop_bias = a.stop_bias
    # 3: local backend vs HF generate on padded batches of the same requests
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(10, len(tok), (int(torch.randint(16, 160, (1,), generator=g)),),
                             generator=g).tolist() for _ in range(a.gen_requests)]
    sps = [SamplingParams(max_new_tokens=a.max_new_tokens, stop_token_ids=(stop,), seed=i)
           for i in range(len(prompts))]
    bs = min(32, a.gen_requests)
    lb = LocalBackend(model, max_batch_size=bs, eos_token_ids=[])
    t0 = time.perf_counter()
    outs = await asyncio.gather(*(lb.generate(p, s) for p, s in zip(prompts, sps)))
    t_local = time.perf_counter() - t0
    n_local = sum(len(o.ids) for o in outs)
    await lb.close()
    t0 = time.perf_counter()
    n_hf = await asyncio.to_thread(hf_padded, model, prompts, a.max_new_tokens, stop, bs,
                                   tok.pad_token_id or 0, 0)
    t_hf = time.perf_counter() - t0
    print(f"\n[3] LocalBackend vs transformers generate on padded batches of {bs} ({len(prompts)} requests, "
          f"prompts 16-160 tokens, <= {a.max_new_tokens} new)")
    print(f"    local: {n_local / t_local:8.1f} tokens/s ({n_local} tokens, {t_local:.2f}s)")
    print(f"    HF:    {n_hf / t_hf:8.1f} tokens/s ({n_hf} tokens, {t_hf:.2f}s)")
    r3 = (n_local / t_local) / (n_hf / t_hf)
    print(f"    ratio: {r3:.2f}x tokens/s   (aim >= 1.5x)")
    print("\nsummary (side by side, this run):")
    for w, (r1, r2) in results.items():
        print(f"    {w:6s} [1] engine / turn-batched {r1:5.2f}x traj/s   [2] latency hiding {r2:5.2f}x")
    print(f"    [3] LocalBackend / HF generate {r3:5.2f}x tokens/s")


if __name__ == "__main__":
    asyncio.run(main())
