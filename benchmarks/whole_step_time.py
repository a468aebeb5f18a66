"""SC-GRPO / GRPO whole training step on the embedded default (``make run``'s config), side by side.

Runs ``python -m agentrl.run algo=<algo> seed=<seed> trainer.steps=<steps>`` for every seed, the two algorithms
interleaved (so drift in the machine's load hits both alike), and reads each run's ``metrics.jsonl``. Per run:
the median over steps 2..N (step 1 warms up) of ``time/step_s``, ``time/learner_s`` and the learner's own
breakdown (``time/teacher_s``, ``time/score_s``, ``time/update_s``), and the lower quartile of the first two
(less hit by other jobs' bursts on a shared machine); then the median over seeds. The paper
measured +2-13% for the whole step; the aim here is SC-GRPO <= 1.10x GRPO.

    python benchmarks/whole_step_time.py [--seeds 0 1 2] [--steps 25] [--out /tmp/whole_step]

The warm start is cached under ``model.cache_dir`` (left at its default, so a cached one is reused).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("time/step_s", "time/learner_s", "time/rollout_s", "time/teacher_s", "time/score_s", "time/update_s")


def run_once(algo: str, seed: int, steps: int, out: str, extra: list[str], root: str = ROOT, label: str = ""
             ) -> dict[str, float]:
    """Medians over steps 2..N of one training run's timing keys (the code of the checkout ``root``)."""
    name = f"{label}{algo}-s{seed}"
    cmd = [sys.executable, "-m", "agentrl.run", f"algo={algo}", f"seed={seed}", f"trainer.steps={steps}",
           "trainer.eval_every=0", "trainer.save_every=0", f"trainer.output_dir={out}", f"run_name={name}",
           "trainer.log.progress=false", *extra]
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run(cmd, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, name, "metrics.jsonl")) as f:
        rows = [r for r in map(json.loads, f) if r.get("step", 0) >= 2 and "time/step_s" in r]
    keys = [k for k in KEYS if all(k in r for r in rows)]
    out = {k: statistics.median(r[k] for r in rows) for k in keys}
    # the lower quartile over steps: steps slowed by other jobs' bursts on a shared machine fall above it
    out.update({f"{k}@p25": statistics.quantiles([r[k] for r in rows], n=4)[0] for k in keys[:2]})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--out", default=None, help="run directories (default: a temporary directory)")
    p.add_argument("--roots", nargs="+", default=[ROOT],
                   help="checkouts to compare (e.g. main's and this branch's), interleaved per seed")
    p.add_argument("overrides", nargs="*", help="extra config overrides for both algorithms")
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="whole_step_")
    results = {root: {"grpo": [], "sc_grpo": []} for root in args.roots}
    for seed in args.seeds:
        for i, root in enumerate(args.roots):
            for algo, rs in results[root].items():
                rs.append(run_once(algo, seed, args.steps, out, args.overrides, root, f"r{i}-"))
                print(f"  {root} seed {seed} {algo:8s} "
                      + " ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in rs[-1].items()), flush=True)
    for root, res in results.items():
        print(root)
        report(res)


def report(res: dict[str, list[dict[str, float]]]) -> None:
    """Medians over seeds and the SC-GRPO / GRPO ratios of one checkout."""
    med = {a: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for a, rs in res.items()}
    for a, m in med.items():
        print(f"{a:8s} median over seeds: " + " ".join(f"{k.split('/')[1]} {v:.3f} s" for k, v in m.items()))
    per_seed = [s["time/step_s"] / g["time/step_s"] for s, g in zip(res["sc_grpo"], res["grpo"])]
    print(f"RATIO sc_grpo/grpo whole step: {med['sc_grpo']['time/step_s'] / med['grpo']['time/step_s']:.3f} "
          f"(per seed {', '.join(f'{x:.3f}' for x in per_seed)}; aim <= 1.10)")
    print(f"RATIO sc_grpo/grpo learner: {med['sc_grpo']['time/learner_s'] / med['grpo']['time/learner_s']:.3f}")
    q = {a: {k: statistics.median(r[k] for r in rs) for k in ("time/step_s@p25", "time/learner_s@p25")}
         for a, rs in res.items()}
    print(f"RATIO on the lower quartiles over steps: whole step "
          f"{q['sc_grpo']['time/step_s@p25'] / q['grpo']['time/step_s@p25']:.3f}, learner "
          f"{q['sc_grpo']['time/learner_s@p25'] / q['grpo']['time/learner_s@p25']:.3f}")


if __name__ == "__main__":
    main()
