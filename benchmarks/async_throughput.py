"""Asynchronous training throughput: learner steps per hour at trainer.async.steps_ahead = 0, 1, 2, side by side.

The embedded default (math, tiny model, SC-GRPO) with an inference server in its own process (agentrl's
server, ``python -m agentrl.serve``, spoken to as ``rollout.backend=sglang``) and env steps that take
``--env-latency`` seconds (50 ms). Modes run interleaved, ``--rounds`` times each, every run from the same
warm start (pushed to the server before it). Steps per hour = 3600 / the median wall time of steps 2..N (the
first step, which has nothing to overlap with, is left out of every mode; the median, because other jobs on
a shared machine stall single steps by seconds; the mean-based figure is printed too); utilisation = generator
busy time (>= 1 generation request in flight) and learner time over that same wall time.

    PYTHONPATH=. python benchmarks/async_throughput.py [--steps 10] [--rounds 2] [--env-latency 0.05]
        [--modes 0,1,2] [--backend server|local] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _slow(factory, latency: float):
    """An env factory whose envs sleep ``latency`` seconds in every step (a remote env, a sandbox)."""
    def make():
        env = factory()
        step = env.step

        def slow_step(*a, **k):
            time.sleep(latency)
            return step(*a, **k)
        env.step = slow_step
        return env
    return make


def one_run(k: int, args, out: Path, url: str | None, warm: str, name: str) -> dict:
    from agentrl.config.compose import load_config
    from agentrl.trainer import Trainer

    over = [f"trainer.steps={args.steps}", "trainer.eval_every=0", "trainer.save_every=0",
            "trainer.log.progress=false", f"trainer.output_dir={out}", f"run_name={name}",
            f"trainer.async.steps_ahead={k}", *args.override]
    if url is not None:
        over += ["rollout.backend=sglang", f"rollout.urls=[{url}]"]
    cfg = load_config(over)
    tr = Trainer(cfg, log=lambda m: None)
    if url is not None:  # every run starts the server from the same warm start
        tr.loop.run_until_complete(tr.backend.update_weights(model_path=warm))
    tr.c.env_factory = _slow(tr.c.env_factory, args.env_latency)
    tr.engine.env_factory = tr.c.env_factory
    rc = tr.train()
    assert rc == 0, rc
    rows = [json.loads(x) for x in (out / name / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["step"] >= 2]
    wall = sum(r["time/step_s"] for r in rows)
    # the median step: other jobs on a shared machine stall single steps by seconds
    med = statistics.median(r["time/step_s"] for r in rows)
    return {"k": k, "steps_per_hour": 3600 / med, "steps_per_hour_mean": 3600 * len(rows) / wall, "step_s": med,
            "util_generator": sum(r["time/generator_busy_s"] for r in rows) / wall,
            "util_learner": sum(r["time/learner_s"] for r in rows) / wall,
            "staleness_mean": statistics.mean(r.get("async/staleness_mean", 0.0) for r in rows),
            "offpolicy_share": statistics.mean(r.get("async/offpolicy_token_share", 0.0) for r in rows),
            "reward": statistics.mean(r["reward"] for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--env-latency", type=float, default=0.05)
    ap.add_argument("--modes", default="0,1,2")
    ap.add_argument("--backend", choices=["server", "local"], default="server")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the trainer and of the server "
                    "(0 = torch's default); 1 each splits 2 cores between them and keeps busy-waiting OpenMP "
                    "threads from collapsing when other jobs share the cores")
    ap.add_argument("--json", default=None)
    ap.add_argument("override", nargs="*", help="extra config overrides (key=value)")
    args = ap.parse_args()
    modes = [int(x) for x in args.modes.split(",")]

    import torch

    from agentrl.config.compose import load_config
    from agentrl.tiny import build_tiny

    if args.threads:
        torch.set_num_threads(args.threads)

    warm = str(build_tiny(load_config(list(args.override)), log=print))
    out = Path(tempfile.mkdtemp(prefix="agentrl-async-bench-"))
    server, url = None, None
    if args.backend == "server":
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "agentrl.serve", f"model={warm}", f"port={port}"],
                                  cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                 **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict[int, list[dict]] = {k: [] for k in modes}
    try:
        if server is not None:
            _wait_ready(server, url)
        for r in range(args.rounds):
            for k in modes:
                res = one_run(k, args, out, url, warm, f"k{k}-r{r}")
                results[k].append(res)
                print(f"round {r} k={k}: {res['steps_per_hour']:.0f} steps/h ({res['steps_per_hour_mean']:.0f} from "
                      f"the mean step), median step {res['step_s']:.2f}s, "
                      f"generator {res['util_generator']:.0%} learner {res['util_learner']:.0%} busy, "
                      f"staleness {res['staleness_mean']:.2f}", flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    base = statistics.mean(x["steps_per_hour"] for x in results[modes[0]])
    print(f"\n{args.backend} backend, env steps {args.env_latency * 1000:.0f} ms, {args.steps} steps x "
          f"{args.rounds} rounds per mode")
    print(f"{'k':>3} {'steps/h':>9} {'vs k=0':>7} {'gen util':>9} {'learner util':>13} {'staleness':>10}")
    summary = {}
    for k in modes:
        xs = results[k]
        sph = statistics.mean(x["steps_per_hour"] for x in xs)
        row = {"steps_per_hour": sph, "ratio": sph / base,
               "util_generator": statistics.mean(x["util_generator"] for x in xs),
               "util_learner": statistics.mean(x["util_learner"] for x in xs),
               "staleness_mean": statistics.mean(x["staleness_mean"] for x in xs), "runs": xs}
        summary[k] = row
        print(f"{k:>3} {sph:>9.0f} {sph / base:>6.2f}x {row['util_generator']:>8.0%} {row['util_learner']:>12.0%} "
              f"{row['staleness_mean']:>10.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


def _wait_ready(server: subprocess.Popen, url: str, timeout_s: float = 600) -> None:
    from agentrl.rollout.backends.sglang import SGLangBackend
    from agentrl.rollout.health import check_servers

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            asyncio.run(_probe(SGLangBackend([url]), check_servers))
            return
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server on {url} did not start") from None
            time.sleep(1)


async def _probe(backend, check) -> None:
    try:
        await check(backend)
    finally:
        await backend.close()


if __name__ == "__main__":
    main()
