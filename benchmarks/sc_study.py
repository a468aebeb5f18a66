"""A seeded study anyone can rerun: GRPO, DAPO and SC-GRPO from one fixed warm start, several RL seeds each.

    python benchmarks/sc_study.py                       # math + guess, 5 seeds, 3 algorithms
    python benchmarks/sc_study.py --envs math --seeds 3 --steps 40 --eval-every 20
    python benchmarks/sc_study.py --report-only         # re-print the table / plot from finished runs

Every run is ``python -m agentrl.run <recipe> algo=<a> seed=<s> model.tiny.seed=0`` (the warm start's seed is
fixed, so all runs of an env start from the same cached model), evaluated on the same test tasks at fixed
steps. Finished runs are reused, so an interrupted study continues where it stopped. Prints, per env and
algorithm, eval success at each eval step as mean ± 95% CI (Student t over seeds); SC-GRPO's D percentiles
(first and last step, mean over seeds); for math, what f(D) puts on the answer tokens of wrong rollouts
against the other tokens (on rollouts of the warm start); and writes ``study.json``, ``study.md`` and
``study.png`` (curves with 95% bands) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECIPES = {"math": ["env=math_warmup"], "guess": ["env=guess_warmup"]}
STEPS = {"math": (60, 20), "guess": (30, 10)}  # learner steps and eval interval per env (defaults)
ALGOS = ("grpo", "dapo", "sc_grpo")
# two-sided 95% Student t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def ci95(xs: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% confidence interval (Student t) of ``xs``."""
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, float("nan")
    df = len(xs) - 1
    t = T95.get(df) or T95[max(k for k in T95 if k <= df)]
    return m, t * statistics.stdev(xs) / math.sqrt(len(xs))


def run_args(env: str, algo: str, seed: int, a: argparse.Namespace) -> list[str]:
    steps, every = a.steps or STEPS[env][0], a.eval_every or STEPS[env][1]
    return RECIPES[env] + [f"algo={algo}", f"seed={seed}", "model.tiny.seed=0", f"trainer.steps={steps}",
                           f"trainer.eval_every={every}", f"trainer.eval_tasks={a.eval_tasks}",
                           "trainer.save_every=0", f"trainer.output_dir={a.out}",
                           f"run_name={env}-{algo}-s{seed}"]


def metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def finished(run_dir: Path, steps: int) -> bool:
    return any(r.get("step") == steps and "eval/success" in r for r in metrics(run_dir))


def run_all(a: argparse.Namespace) -> None:
    for env in a.envs:
        for seed in range(a.seeds):
            for algo in a.algos:
                run_dir = Path(a.out) / f"{env}-{algo}-s{seed}"
                if finished(run_dir, a.steps or STEPS[env][0]):
                    continue
                if run_dir.exists():
                    import shutil

                    shutil.rmtree(run_dir)
                t0 = time.perf_counter()
                cmd = [sys.executable, "-m", "agentrl.run", *run_args(env, algo, seed, a)]
                print(f"[study] {env} {algo} seed {seed} ...", flush=True)
                res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                if res.returncode != 0:
                    sys.exit(f"[study] run failed ({' '.join(cmd)}):\n{res.stderr[-3000:]}")
                rows = [r for r in metrics(run_dir) if "eval/success" in r]
                print(f"[study]   eval success {[round(r['eval/success'], 3) for r in rows]} "
                      f"in {time.perf_counter() - t0:.0f} s", flush=True)


def collect(a: argparse.Namespace) -> dict:
    out: dict = {}
    for env in a.envs:
        for algo in a.algos:
            curves, d_first, d_last, step_s = {}, [], [], []
            for seed in range(a.seeds):
                rows = metrics(Path(a.out) / f"{env}-{algo}-s{seed}")
                if not finished(Path(a.out) / f"{env}-{algo}-s{seed}", a.steps or STEPS[env][0]):
                    continue
                for r in rows:
                    if "eval/success" in r:
                        curves.setdefault(r["step"], []).append(r["eval/success"])
                train = [r for r in rows if "sc/D_p50" in r]
                if train:
                    d_first.append([train[0][f"sc/D_p{q}"] for q in (50, 75, 95)])
                    d_last.append([train[-1][f"sc/D_p{q}"] for q in (50, 75, 95)])
                step_s += [r["time/step_s"] for r in rows if "time/step_s" in r]
            if not curves:
                continue
            out.setdefault(env, {})[algo] = {
                "seeds": len(next(iter(curves.values()))),
                "eval": {str(s): ci95(v) for s, v in sorted(curves.items())},
                "D_first": [statistics.fmean(x) for x in zip(*d_first)] if d_first else None,
                "D_last": [statistics.fmean(x) for x in zip(*d_last)] if d_last else None,
                "step_s": statistics.median(step_s) if step_s else None}
    return out


def answer_weight_ratio(a: argparse.Namespace, tasks: int = 48, n: int = 8) -> dict:
    """On the math warm start's own rollouts (``tasks`` train tasks × ``n``), routed as SC-GRPO routes them:
    D percentiles over the active tokens and the mean f(D) on wrong rollouts' answer tokens (the digits inside
    ``\\boxed{}``) against their other tokens, with c = P75 of D over all active tokens (as the learner does
    for ``c_scope=step``)."""
    import numpy as np
    import torch

    import agentrl
    from agentrl.components import build_components, load_model, resolve_model_dir
    from agentrl.config.compose import load_config
    from agentrl.learner.advantages import f_weight, percentile_c, route_group
    from agentrl.learner.logprobs import TokenScorer
    from agentrl.learner.reference import TeacherPrompt
    from agentrl.learner.teacher import TeacherJob, teacher_hidden_states
    from agentrl.trajectory import Trajectory

    over = RECIPES["math"] + ["model.tiny.seed=0", "algo=sc_grpo"]
    cfg = load_config(over)
    model_dir = resolve_model_dir(cfg, log=lambda m: None)
    eval_dir = Path(a.out) / "warm-start-rollouts"
    agentrl.evaluate(over + [f"n={n}", "split=train", f"tasks={tasks}", f"eval.output_dir={eval_dir}",
                             "eval.report=false"])
    samples = next(eval_dir.glob("*/samples.jsonl"))
    groups = [[Trajectory.from_dict({k: v for k, v in t.items() if k != "text"})
               for t in json.loads(line)["trajectories"]]
              for line in samples.read_text().splitlines()]
    comps = build_components(cfg, log=lambda m: None, model_dir=model_dir)
    model, tok, fmt = comps.model, comps.tokenizer, comps.fmt
    scorer = TokenScorer(model, temperature=cfg.rollout.temperature).eval()
    prompt = TeacherPrompt(fmt, comps.policy, cfg.algo.sc.tau_render, cfg.algo.sc.tau_max_tokens)
    rng = np.random.default_rng(0)
    rows = []  # (D per agent token, is-answer-token mask, rollout correct, route)
    for g in groups:
        plan = route_group(g, cfg.algo, rng)
        for p in plan.rollouts:
            if not p.sc or p.traj.num_agent_tokens == 0:
                continue
            with torch.no_grad():
                (h,), _ = teacher_hidden_states(scorer, prompt, None, [TeacherJob(p.traj, p.reference, p.verified)],
                                                token_budget=100_000)
                pos = [t for t, m in enumerate(p.traj.loss_mask) if m]
                s = scorer(torch.tensor([p.traj.token_ids]), torch.tensor([t - 1 for t in pos]),
                           targets=torch.tensor([p.traj.token_ids[t] for t in pos]), teacher_hidden=h,
                           teacher_rows=torch.arange(len(pos)))
            pieces = [tok.decode([p.traj.token_ids[t]]) for t in pos]
            text, answer = "", []
            for piece in pieces:
                inside = "\\boxed{" in text and "}" not in text[text.rfind("\\boxed{"):]
                answer.append(inside and piece.strip().isdigit())
                text += piece
            rows.append((s.kl, torch.tensor(answer), p.traj.success, plan.route))
    d = torch.cat([r[0] for r in rows])
    c = percentile_c(d, cfg.algo.sc.percentile, cfg.algo.sc.c_min)
    wrong = [(f_weight(k, c), m) for k, m, ok, route in rows if route == "tau" and not ok]
    ans = torch.cat([w[m] for w, m in wrong]) if wrong else torch.zeros(0)
    rest = torch.cat([w[~m] for w, m in wrong]) if wrong else torch.zeros(0)
    q = torch.quantile(d.double(), torch.tensor([0.5, 0.75, 0.95], dtype=torch.float64)).tolist()
    out = {"tokens": int(d.numel()), "D_p50": q[0], "D_p75": q[1], "D_p95": q[2], "c": c,
           "wrong_rollouts": len(wrong), "f_answer": float(ans.mean()) if ans.numel() else float("nan"),
           "f_rest": float(rest.mean()) if rest.numel() else float("nan")}
    out["answer_over_rest"] = out["f_answer"] / out["f_rest"] if out["f_rest"] > 0 else float("inf")
    return out


def report(a: argparse.Namespace, res: dict, ratio: dict | None) -> str:
    lines = [f"SC-GRPO study: {a.seeds} RL seeds per algorithm from one warm start (model.tiny.seed=0), "
             f"steps {', '.join(f'{e} {a.steps or STEPS[e][0]}' for e in res)}, eval success at T=1 on "
             f"{a.eval_tasks} test tasks, mean ± 95% CI.", ""]
    for env, algos in res.items():
        steps = sorted({int(s) for v in algos.values() for s in v["eval"]})
        lines += [f"### {env} (`{' '.join(RECIPES[env])}`)", "",
                  "| algo | seeds | " + " | ".join(f"step {s}" for s in steps) + " | D p50 / p75 / p95 (first → last step) | step s |",
                  "|---|---|" + "---|" * len(steps) + "---|---|"]
        for algo, v in algos.items():
            cells = [f"{v['eval'][str(s)][0]:.3f} ± {v['eval'][str(s)][1]:.3f}" if str(s) in v["eval"] else "–"
                     for s in steps]
            dcell = (" / ".join(f"{x:.3g}" for x in v["D_first"]) + " → " + " / ".join(f"{x:.3g}" for x in v["D_last"])
                     if v["D_first"] else "–")
            lines.append(f"| {algo} | {v['seeds']} | " + " | ".join(cells) + f" | {dcell} | "
                         f"{v['step_s']:.2f} |" if v["step_s"] else " – |")
        lines.append("")
    if ratio:
        lines += [f"math warm start, its own rollouts routed as SC-GRPO ({ratio['tokens']} active tokens): D p50 "
                  f"{ratio['D_p50']:.3g}, p75 {ratio['D_p75']:.3g}, p95 {ratio['D_p95']:.3g}; on "
                  f"{ratio['wrong_rollouts']} wrong rollouts of τ groups mean f(D) on the answer digits "
                  f"{ratio['f_answer']:.3f} vs {ratio['f_rest']:.3f} on the other tokens "
                  f"(ratio {ratio['answer_over_rest']:.1f}×).", ""]
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(res), figsize=(5 * len(res), 3.6), squeeze=False)
    for ax, (env, algos) in zip(axes[0], res.items()):
        for algo, v in algos.items():
            steps = sorted(int(s) for s in v["eval"])
            m = [v["eval"][str(s)][0] for s in steps]
            h = [0 if math.isnan(v["eval"][str(s)][1]) else v["eval"][str(s)][1] for s in steps]
            ax.plot(steps, m, marker="o", label=f"{algo} (n={v['seeds']})")
            ax.fill_between(steps, [a - b for a, b in zip(m, h)], [a + b for a, b in zip(m, h)], alpha=0.2)
        ax.set_title(env)
        ax.set_xlabel("learner step")
        ax.set_ylabel("eval success (test)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", default="math,guess", help="comma-separated, from: " + ", ".join(RECIPES))
    p.add_argument("--algos", default=",".join(ALGOS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=None, help="learner steps (default: math 60, guess 30)")
    p.add_argument("--eval-every", type=int, default=None, help="eval interval (default: math 20, guess 10)")
    p.add_argument("--eval-tasks", type=int, default=200)
    p.add_argument("--out", default="runs/sc-study")
    p.add_argument("--report-only", action="store_true", help="only summarise the runs already in --out")
    p.add_argument("--no-ratio", action="store_true", help="skip the answer-token f(D) analysis")
    a = p.parse_args()
    a.envs, a.algos = a.envs.split(","), a.algos.split(",")
    bad = [e for e in a.envs if e not in RECIPES] + [x for x in a.algos if x not in ALGOS]
    if bad:
        p.error(f"unknown env/algo {bad}; accepted envs {list(RECIPES)}, algos {list(ALGOS)}")
    t0 = time.perf_counter()
    if not a.report_only:
        run_all(a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res = collect(a)
    ratio_path = out / "answer_ratio.json"
    ratio = None
    if "math" in a.envs and not a.no_ratio:
        if ratio_path.exists():
            ratio = json.loads(ratio_path.read_text())
        else:
            ratio = answer_weight_ratio(a)
            ratio_path.write_text(json.dumps(ratio, indent=2))
    text = report(a, res, ratio)
    print(text)
    (out / "study.json").write_text(json.dumps({"results": res, "answer_ratio": ratio}, indent=2))
    (out / "study.md").write_text(text + "\n")
    if res:
        plot(res, out / "study.png")
        print(f"plot: {out / 'study.png'}")
    print(f"study took {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
