"""torch's default CPU threads vs agentrl's choice (``agentrl/threads.py``), idle and on a busy machine.

A fixed workload -- ``--steps`` warm-start steps of the embedded tiny model (its default shape, one batch of
``sft_batch_tokens`` = 1024 tokens: forward, backward, clipped AdamW, exactly ``agentrl.tiny._train_step``) --
runs in one long-lived worker process per setting (OpenMP's wait policy is read once, when torch loads it, so
each setting needs its own process). The settings take turns, round by round, so a change in the machine's
load hits them alike. Then the same again while ``--busy`` busy-looping processes (started here, each ending
itself after the phase) compete for the cores. Prints the median time per setting and the ratios.

Settings: ``default`` (torch imported first, nothing set: one thread per core, spinning waits), ``agentrl``
(``import agentrl`` first, then :func:`agentrl.threads.apply_threads`, as a run does; started again once the
busy load runs, as a run started then would choose), and for reference
``passive-all`` (every core, passive waits) and ``one-thread``.

    python benchmarks/threads.py                 # ~1-3 min on 2 cores (the defaults are the slow part)
    python benchmarks/threads.py --rounds 3 --steps 5 --busy 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's agentrl
SETTINGS = ("default", "agentrl", "passive-all", "one-thread")


def worker(setting: str, steps: int) -> None:
    """Serve timing requests on stdin: each line ``go`` runs ``steps`` steps and prints their wall time."""
    if setting == "agentrl":
        import agentrl  # noqa: F401 - sets OMP_WAIT_POLICY before torch loads OpenMP
        from agentrl.threads import apply_threads
    import torch

    if setting == "agentrl":
        apply_threads(None)
    from agentrl.config.schema import TinyModelConfig
    from agentrl.models import tiny_qwen3
    from agentrl.tiny import _train_step

    t = TinyModelConfig()
    model = tiny_qwen3(t.vocab_size, hidden_size=t.hidden_size, num_layers=t.num_layers, num_heads=t.num_heads,
                       num_kv_heads=t.num_kv_heads, intermediate_size=t.intermediate_size,
                       max_position_embeddings=t.max_position_embeddings, seed=0)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, t.vocab_size, (8, t.sft_batch_tokens // 8), generator=gen)
    weight = torch.ones_like(ids, dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model.train()
    _train_step(model, opt, sched, ids, weight)  # warm-up: allocations, the OpenMP team
    print(f"ready threads={torch.get_num_threads()} wait={os.environ.get('OMP_WAIT_POLICY', '-')}", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        t0 = time.perf_counter()
        for _ in range(steps):
            _train_step(model, opt, sched, ids, weight)
        print(f"{time.perf_counter() - t0:.4f}", flush=True)


def start_worker(setting: str, steps: int) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if setting == "passive-all":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif setting == "one-thread":
        env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.Popen([sys.executable, __file__, "--worker", setting, "--steps", str(steps)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    ready = proc.stdout.readline().strip()
    if not ready.startswith("ready"):
        raise RuntimeError(f"worker {setting} failed to start: {ready!r}")
    return proc, ready[len("ready "):]


def time_once(proc: subprocess.Popen) -> float:
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return float(proc.stdout.readline())


def start_load(n: int, seconds: float) -> list[subprocess.Popen]:
    """``n`` processes that busy-loop for ``seconds`` and then end by themselves."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def phase(name: str, workers: dict[str, subprocess.Popen], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {s: [] for s in workers}
    for r in range(rounds):
        order = list(workers) if r % 2 == 0 else list(reversed(workers))  # neither always goes first
        for s in order:
            times[s].append(time_once(workers[s]))
    med = {s: statistics.median(v) for s, v in times.items()}
    print(f"\n{name}: median seconds per {args.steps} steps over {rounds} rounds (min-max)")
    for s, v in times.items():
        print(f"  {s:12s} {med[s]:7.3f}  ({min(v):.3f}-{max(v):.3f})")
    return med


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", choices=SETTINGS, help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=4, help="warm-start steps per timing")
    p.add_argument("--rounds", type=int, default=3, help="timings per setting and phase")
    p.add_argument("--busy", type=int, default=None, help="busy-looping processes (default: 2 per core)")
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated, from " + ", ".join(SETTINGS))
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        sys.exit(0)
    from agentrl.threads import usable_cores

    cores = usable_cores()
    busy = 2 * cores if args.busy is None else args.busy
    t_start = time.perf_counter()
    workers: dict[str, subprocess.Popen] = {}
    try:
        for s in args.settings.split(","):
            workers[s], info = start_worker(s, args.steps)
            print(f"{s:12s} {info}")
        print(f"{cores} usable cores, load average {os.getloadavg()[0]:.2f} before the idle phase")
        idle = phase("idle machine", workers, args.rounds)
        t0 = time.perf_counter()
        load = start_load(busy, seconds=150)
        try:
            time.sleep(1.0)  # let the load get going
            if "agentrl" in workers:  # chosen again, under this load, as a run started now would
                workers["agentrl"].stdin.close()
                workers["agentrl"].wait()
                workers["agentrl"], info = start_worker("agentrl", args.steps)
                print(f"agentrl (restarted under the load) {info}")
            loaded = phase(f"busy machine ({busy} busy-looping processes on {cores} cores)", workers, args.rounds)
        finally:
            for proc in load:
                proc.kill()
                proc.wait()
        print(f"  (busy phase {time.perf_counter() - t0:.0f}s)")
    finally:
        for proc in workers.values():
            proc.stdin.close()
            proc.wait()
    print("\nratios (time with torch's default / time with the setting; > 1: the setting is faster)")
    for s in workers:
        if s != "default":
            print(f"  {s:12s} idle {idle['default'] / idle[s]:.2f}x   busy {loaded['default'] / loaded[s]:.2f}x")
    print(f"total {time.perf_counter() - t_start:.0f}s")
