"""Learning under asynchronous training: eval success after the same number of learner steps, async k = 1 vs
synchronous (k = 0), several seeds, GRPO and SC-GRPO, on the embedded default (math, tiny model; all seeds
share one warm start, ``model.tiny.seed=0``). Prints mean ± 95% CI (Student t) per cell and the k=1 − k=0
difference.

    PYTHONPATH=. python benchmarks/async_learning.py [--steps 30] [--seeds 0,1,2] [--algos grpo,sc_grpo]
        [--modes 0,1] [--json out.json] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def ci(xs: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval."""
    m = statistics.mean(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--algos", default="grpo,sc_grpo")
    ap.add_argument("--modes", default="0,1")
    ap.add_argument("--json", default=None)
    ap.add_argument("override", nargs="*")
    args = ap.parse_args()
    import agentrl

    out = Path(tempfile.mkdtemp(prefix="agentrl-async-learning-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    modes = [int(k) for k in args.modes.split(",")]
    res: dict[str, dict[int, list[float]]] = {}
    for algo in args.algos.split(","):
        res[algo] = {k: [] for k in modes}
        for seed in seeds:
            for k in modes:
                t0 = time.perf_counter()
                name = f"{algo}-s{seed}-k{k}"
                run = agentrl.train([f"algo={algo}", f"seed={seed}", "model.tiny.seed=0",
                                     f"trainer.steps={args.steps}", f"trainer.eval_every={args.steps}",
                                     "trainer.save_every=0", "trainer.log.progress=false",
                                     f"trainer.async.steps_ahead={k}", f"trainer.output_dir={out}",
                                     f"run_name={name}", *args.override])
                rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
                final = [r for r in rows if r["step"] == args.steps and "eval/success" in r][0]["eval/success"]
                res[algo][k].append(final)
                print(f"{name}: eval success {rows[0]['eval/success']:.3f} -> {final:.3f} "
                      f"({time.perf_counter() - t0:.0f}s)", flush=True)
    print(f"\neval success after {args.steps} learner steps, {len(seeds)} seeds, mean ± 95% CI")
    summary = {}
    for algo, by_k in res.items():
        cells = {k: ci(v) for k, v in by_k.items()}
        line = "  ".join(f"k={k}: {m:.3f} ± {h:.3f}" for k, (m, h) in cells.items())
        diff = ""
        if 0 in by_k and 1 in by_k:
            d = [a - b for a, b in zip(by_k[1], by_k[0])]
            dm, dh = ci(d)
            diff = f"  (k=1 − k=0, paired by seed: {dm:+.3f} ± {dh:.3f})"
        print(f"{algo:>8}: {line}{diff}")
        summary[algo] = {str(k): v for k, v in by_k.items()}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
