"""Does SC-GRPO's self-teacher credit the pivotal tokens of a real LLM? A diagnostic, no training.

    python benchmarks/sc_credit.py                        # basic_arithmetic, 2 one-digit terms (+/-), 8 tasks × G=8
    python benchmarks/sc_credit.py --task chain_sum --terms 3 --tasks 16 --seed 1 --step

SmolLM2-135M-Instruct (``model=smollm2``) samples G rollouts of each of ``--tasks`` train tasks of a
reasoning-gym arithmetic task (by default the ``env=rg_arithmetic`` recipe's task and settings). Where a reply writes its work
(``3 + 5 = 8``, ``8 + 2 = 10``) the first wrong step is its pivot; SmolLM2 mostly answers in one line, and on
chain_sum with 3 terms it rarely writes a step and rarely succeeds (1/16 in a probe), too few τ-groups. The groups are then
routed by the learner itself (:meth:`agentrl.learner.Learner.route`: τ-groups with ``min_correct <= n_c < G``,
solve-none groups with a reference o_r), the teacher runs as the learner runs it
(:func:`agentrl.learner.teacher_hidden_states` over a :class:`TeacherPrompt` with the learner's guides, τ rendered
and cut as configured, the shared prefix cache, the learner's scorer at the rollout temperature and its autocast),
and c is taken as the learner takes it (P75 of D over each micro-batch's active tokens, micro-batches packed by
:func:`pack_by_tokens` over the rollouts the update runs; or over the step with ``algo.sc.c_scope=step``).

Printed:

* D on the active (self-conditioned) agent tokens: p50 / p75 / p95 beside the paper's (p75 0.03–0.10,
  p95 0.2–0.5, Qwen3-8B);
* focus: on wrong rollouts of τ-groups, the share of the f(D) mass that falls on the *pivot* tokens -- those of
  the first wrong intermediate result (``a op b = c`` with c ≠ a op b), or of the final answer when the written
  work is right -- divided by the pivot tokens' share of the rollout's tokens (1 = no focus; the aim is ≥ 3);
  pooled over rollouts and as the median of per-rollout ratios;
* the same on the solve-none groups (guide = an unverified earlier attempt o_r);
* for contrast the same ratio on correct rollouts of τ-groups (pivot = their final answer).

Writes ``--html`` (per-token heatmaps of a few rollouts, the report's own renderer, pivot tokens underlined) and
``--json`` (the figures). Character spans are mapped to tokens by incremental decoding of the sampled ids.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAPER = {"D_p75": (0.03, 0.10), "D_p95": (0.2, 0.5)}
TASK_CONFIGS = {  # one-digit terms: SmolLM2 solves some (τ-groups need 2..G-1 correct rollouts)
    "chain_sum": {"min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 1},
    "basic_arithmetic": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+", "-"],
                         "allow_parentheses": False, "allow_negation": False},
}
_NUM = r"-?\d+(?:\.\d+)?"
_OP = r"[-+*/×x]"
_EQ = re.compile(rf"({_NUM}(?:\s*{_OP}\s*{_NUM})+)\s*=\s*({_NUM})")
_ANSWER = re.compile(rf"answer\s*[:=]?\s*\**\s*({_NUM})", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- parsing the work
@dataclass
class Step:
    """One written equation ``lhs = value``: the value's character span and whether it is right."""

    lhs: str
    value: float
    expected: float
    span: tuple[int, int]

    @property
    def right(self) -> bool:
        return abs(self.value - self.expected) < 1e-9


def _eval_lhs(lhs: str) -> float | None:
    """``lhs`` (numbers joined by + - * / x ×) evaluated left to right with * and / first; None if undefined."""
    nums: list[float] = []
    ops: list[str] = []
    sign = 1.0
    for tok in re.findall(rf"\d+(?:\.\d+)?|{_OP}", lhs):
        if tok[0].isdigit():
            if len(nums) > len(ops):
                return None
            nums.append(sign * float(tok))
            sign = 1.0
        elif len(nums) > len(ops):  # a binary operator
            ops.append(tok.replace("×", "*").replace("x", "*"))
        elif tok == "-":  # a unary minus
            sign = -sign
        else:
            return None
    if not nums or len(nums) != len(ops) + 1:
        return None
    terms, signs, cur = [], [], nums[0]
    for op, n in zip(ops, nums[1:]):
        if op == "*":
            cur *= n
        elif op == "/":
            if n == 0:
                return None
            cur /= n
        else:
            terms.append(cur)
            signs.append(op)
            cur = n
    terms.append(cur)
    total = terms[0]
    for s, t in zip(signs, terms[1:]):
        total = total + t if s == "+" else total - t
    return total


def parse_steps(text: str) -> list[Step]:
    """The ``a op b [op c ...] = v`` equations written in ``text``, in order."""
    out = []
    for m in _EQ.finditer(text):
        expected = _eval_lhs(m.group(1))
        if expected is None:
            continue
        out.append(Step(m.group(1), float(m.group(2)), expected, m.span(2)))
    return out


def final_answer_span(text: str) -> tuple[int, int] | None:
    """Span of the final answer: the number after the last ``Answer:``, else the last number of the text."""
    hits = list(_ANSWER.finditer(text))
    if hits:
        return hits[-1].span(1)
    nums = list(re.finditer(_NUM, text))
    return nums[-1].span() if nums else None


def pivot_span(text: str) -> tuple[tuple[int, int] | None, str]:
    """Where a wrong reply goes wrong: the first wrong intermediate result, else the final answer.

    Returns the character span and its kind (``step``, ``answer`` or ``none`` when the text has no number)."""
    for s in parse_steps(text):
        if not s.right:
            return s.span, "step"
    span = final_answer_span(text)
    return span, "answer" if span else "none"


def token_char_spans(tokenizer: Any, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The decoded text of ``ids`` and each token's character span in it (incremental decoding: token k covers
    ``decode(ids[:k])`` .. ``decode(ids[:k+1])``; a token that completes a multi-byte character gets it)."""
    spans, prev = [], 0
    for k in range(1, len(ids) + 1):
        cur = len(tokenizer.decode(list(ids[:k])))
        spans.append((min(prev, cur), cur))
        prev = max(prev, cur)
    return tokenizer.decode(list(ids)), spans


def tokens_in_span(spans: Sequence[tuple[int, int]], span: tuple[int, int]) -> list[bool]:
    """Which tokens overlap the character ``span``."""
    a, b = span
    return [s < b and e > a for s, e in spans]


# ------------------------------------------------------------------------------------------------ the teacher
@dataclass
class CreditRow:
    """One self-conditioned rollout: D and f(D) on its agent tokens, and where its pivot is."""

    route: str
    success: bool
    d: torch.Tensor
    w: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    pivot: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))
    pivot_kind: str = "none"
    text: str = ""
    token_strs: list[str] = field(default_factory=list)
    task_id: str = ""


def credit_rows(learner: Any, groups: Sequence[Sequence[Any]], tokenizer: Any,
                autocast: torch.dtype | None = None) -> tuple[list[CreditRow], list[Any]]:
    """Route ``groups`` with ``learner`` and compute D, f(D) and the pivot of every self-conditioned rollout.

    Uses only the learner's public parts (``route``, ``scorer``, ``policy``, ``fmt``, ``cfg``) and the public
    teacher functions, so the figures are what a learner step would see with these groups (c per micro-batch of
    the update, or per step with ``c_scope=step``). The groups are routed as the learner's next step would route
    them (the same τ draws). Returns the rows and the routing plans."""
    from agentrl.learner import f_weight, percentile_c, teacher_hidden_states
    from agentrl.learner.batching import pack_by_tokens
    from agentrl.learner.reference import TeacherPrompt
    from agentrl.learner.teacher import TeacherJob, agent_positions

    cfg = learner.cfg
    learner.step_count += 1  # route as the next step does (its τ draws are seeded by the step number)
    try:
        plans, _ = learner.route(groups)
    finally:
        learner.step_count -= 1
    rollouts = [(gp.route, p) for gp in plans for p in gp.rollouts]
    sc = [(r, p) for r, p in rollouts if p.sc and p.traj.num_agent_tokens > 0]
    ctx = (lambda: torch.autocast("cpu", dtype=autocast)) if autocast is not None else None
    d_of: dict[int, torch.Tensor] = {}
    if sc:
        prompt = TeacherPrompt(learner.fmt, learner.policy, cfg.sc.tau_render, cfg.sc.tau_max_tokens)
        learner.model.eval()
        with torch.no_grad():
            hidden, _ = teacher_hidden_states(learner.scorer, prompt, None,
                                              [TeacherJob(p.traj, p.reference, p.verified) for _, p in sc],
                                              token_budget=cfg.micro_batch_tokens,
                                              share_prefix_cache=cfg.sc.share_prefix_cache, autocast=ctx)
            for (_, p), h in zip(sc, hidden):
                pos = agent_positions(p.traj)
                with ctx() if ctx else torch.autocast("cpu", enabled=False):
                    s = learner.scorer(torch.tensor([p.traj.token_ids]), torch.tensor([t - 1 for t in pos]),
                                       targets=torch.tensor([p.traj.token_ids[t] for t in pos]),
                                       teacher_hidden=h, teacher_rows=torch.arange(len(pos)))
                d_of[id(p)] = s.kl.float().cpu()
    # c as the update takes it: per micro-batch of the rollouts it runs, or over the step
    c_of: dict[int, float] = {}
    if cfg.sc.c_scope == "step":
        c = percentile_c(torch.cat(list(d_of.values())) if d_of else torch.zeros(0), cfg.sc.percentile, cfg.sc.c_min)
        c_of = {k: c for k in d_of}
    else:
        train = [p for _, p in rollouts
                 if p.traj.num_agent_tokens > 0 and not p.excluded and (p.sc or p.advantage != 0)]
        for batch in pack_by_tokens([len(p.traj.token_ids) for p in train], cfg.micro_batch_tokens):
            ds = [d_of[id(train[i])] for i in batch if id(train[i]) in d_of]
            c = percentile_c(torch.cat(ds) if ds else torch.zeros(0), cfg.sc.percentile, cfg.sc.c_min)
            for i in batch:
                c_of[id(train[i])] = c
    rows = []
    for route, p in sc:
        d = d_of[id(p)]
        ids = [p.traj.token_ids[t] for t in agent_positions(p.traj)]
        text, spans = token_char_spans(tokenizer, ids)
        span, kind = pivot_span(text)
        pivot = torch.tensor(tokens_in_span(spans, span) if span else [False] * len(ids), dtype=torch.bool)
        rows.append(CreditRow(route, bool(p.traj.success), d, f_weight(d, c_of[id(p)]), pivot, kind, text,
                              [text[a:b] for a, b in spans], p.traj.task_id))
    return rows, plans


# --------------------------------------------------------------------------------------------------- figures
def focus(rows: Sequence[CreditRow]) -> dict[str, float]:
    """Share of f(D) mass on pivot tokens over their share of tokens: pooled, and the per-rollout median."""
    rows = [r for r in rows if r.pivot.any() and r.w.numel() and float(r.w.sum()) > 0]
    if not rows:
        return {"rollouts": 0, "pooled": float("nan"), "median": float("nan"), "mass_share": float("nan"),
                "token_share": float("nan")}
    w_piv = sum(float(r.w[r.pivot].sum()) for r in rows)
    w_all = sum(float(r.w.sum()) for r in rows)
    n_piv = sum(int(r.pivot.sum()) for r in rows)
    n_all = sum(int(r.pivot.numel()) for r in rows)
    per = [(float(r.w[r.pivot].sum()) / float(r.w.sum())) / (int(r.pivot.sum()) / r.pivot.numel()) for r in rows]
    return {"rollouts": len(rows), "pooled": (w_piv / w_all) / (n_piv / n_all), "median": statistics.median(per),
            "mass_share": w_piv / w_all, "token_share": n_piv / n_all,
            "pivot_steps": sum(r.pivot_kind == "step" for r in rows)}


def quantiles(d: torch.Tensor) -> dict[str, float]:
    """D's p50 / p75 / p95 (nan when empty)."""
    if d.numel() == 0:
        return {"D_p50": float("nan"), "D_p75": float("nan"), "D_p95": float("nan")}
    q = torch.quantile(d.double(), torch.tensor([0.5, 0.75, 0.95], dtype=torch.float64)).tolist()
    return {"D_p50": q[0], "D_p75": q[1], "D_p95": q[2]}


def summarize(rows: Sequence[CreditRow]) -> dict[str, Any]:
    """The diagnostic's figures over ``rows``."""
    d = torch.cat([r.d for r in rows]) if rows else torch.zeros(0)
    tau = [r for r in rows if r.route == "tau"]
    sn = [r for r in rows if r.route == "solve_none"]
    return {"active_tokens": int(d.numel()), **quantiles(d),
            "D_tau": quantiles(torch.cat([r.d for r in tau]) if tau else torch.zeros(0)),
            "D_solve_none": quantiles(torch.cat([r.d for r in sn]) if sn else torch.zeros(0)),
            "weight_mean": float(torch.cat([r.w for r in rows]).mean()) if rows else float("nan"),
            "focus_tau_wrong": focus([r for r in tau if not r.success]),
            "focus_tau_right": focus([r for r in tau if r.success]),
            "focus_solve_none": focus(sn)}


def table(res: dict[str, Any]) -> str:
    """The printed (markdown) table."""
    lines = [f"| D on active agent tokens ({res['active_tokens']}) | p50 | p75 | p95 |", "|---|---|---|---|"]
    for name, q in (("all", res), ("τ-groups", res["D_tau"]), ("solve-none", res["D_solve_none"])):
        lines.append(f"| {name} | {q['D_p50']:.4g} | {q['D_p75']:.4g} | {q['D_p95']:.4g} |")
    lines.append(f"| paper (Qwen3-8B) | – | {PAPER['D_p75'][0]}–{PAPER['D_p75'][1]} | "
                 f"{PAPER['D_p95'][0]}–{PAPER['D_p95'][1]} |")
    lines += ["", "| f(D) on pivot tokens | rollouts | (pivot = wrong step) | f mass share | token share | "
                  "ratio pooled | ratio median |", "|---|---|---|---|---|---|---|"]
    for name, key in (("τ-groups, wrong rollouts", "focus_tau_wrong"), ("solve-none (o_r guide)", "focus_solve_none"),
                      ("τ-groups, right rollouts (answer)", "focus_tau_right")):
        f = res[key]
        if not f["rollouts"]:
            lines.append(f"| {name} | 0 | – | – | – | – | – |")
            continue
        lines.append(f"| {name} | {f['rollouts']} | {f['pivot_steps']} | {f['mass_share']:.3f} | "
                     f"{f['token_share']:.3f} | {f['pooled']:.2f}× | {f['median']:.2f}× |")
    return "\n".join(lines)


def heatmaps(rows: Sequence[CreditRow], limit: int) -> list[Any]:
    """Up to ``limit`` heatmaps: wrong τ-group rollouts first (pivot on a wrong step first), then solve-none."""
    from agentrl.evaluation.report import TokenHeat

    order = sorted(rows, key=lambda r: (r.success, r.route != "tau", r.pivot_kind != "step"))
    out = []
    for r in order[:limit]:
        toks = [f"⟦{t}⟧" if p else t for t, p in zip(r.token_strs, r.pivot.tolist())]
        out.append(TokenHeat(f"{r.task_id} · {r.route} · {'right' if r.success else 'wrong'} · pivot "
                             f"({r.pivot_kind}) in ⟦ ⟧", toks, [1] * len(toks), r.w.tolist()))
    return out


def write_html(path: Path, items: Sequence[Any], title: str) -> None:
    """The heatmaps with the report's renderer (:func:`agentrl.evaluation.report.heatmap_html`)."""
    from agentrl.evaluation.report import heatmap_html

    body = "\n".join(heatmap_html(i) for i in items)
    path.write_text(f"<!doctype html><meta charset='utf-8'><title>{title}</title><h1>{title}</h1>\n{body}\n")


def text_heat(r: CreditRow) -> str:
    """A plain-text heatmap: each token with f(D) ≥ 0.5 in [brackets], the pivot in ⟦ ⟧."""
    out = []
    for t, w, p in zip(r.token_strs, r.w.tolist(), r.pivot.tolist()):
        t = f"⟦{t}⟧" if p else t
        out.append(f"[{t}]" if w >= 0.5 else t)
    return "".join(out).replace("\n", "⏎")


# ------------------------------------------------------------------------------------------------------ main
def overrides(a: argparse.Namespace) -> list[str]:
    """The config of the run: model, env (task + its options), rollout settings, SC-GRPO."""
    cfg = dict(TASK_CONFIGS.get(a.task, {}))
    if a.terms:
        cfg.update(min_terms=a.terms, max_terms=a.terms)
    return [f"model={a.model}", "env=reasoning_gym", f"env.kwargs.task={a.task}",
            f"env.kwargs.config={json.dumps(cfg)}", "env.kwargs.extract=lenient", "algo=sc_grpo",
            f"rollout.temperature={a.temperature}", f"rollout.max_new_tokens={a.max_new_tokens}",
            f"seed={a.seed}", *a.set]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="basic_arithmetic", help="reasoning-gym task (default basic_arithmetic)")
    p.add_argument("--terms", type=int, default=None, help="terms per expression (default 2; chain_sum 3)")
    p.add_argument("--tasks", type=int, default=8, help="train tasks (groups)")
    p.add_argument("--group", type=int, default=8, help="G, rollouts per task")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0, help="sampling and τ-draw seed; tasks start at --seed × --tasks")
    p.add_argument("--model", default="smollm2", help="model config (default smollm2)")
    p.add_argument("--heatmaps", type=int, default=6)
    p.add_argument("--html", default=str(ROOT / "docs" / "sc_credit_heatmaps.html"))
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--step", action="store_true", help="also time one real SC-GRPO learner step on these groups")
    p.add_argument("--set", nargs="*", default=[], help="extra config overrides (algo.sc.c_scope=step, ...)")
    a = p.parse_args(argv)
    if a.tasks < 1 or a.group < 2:
        p.error(f"--tasks {a.tasks} / --group {a.group}: need at least 1 task and 2 rollouts per task")

    from agentrl.components import autocast_dtype, build_components, resolve_model_dir
    from agentrl.config.compose import load_config
    from agentrl.learner import Learner
    from agentrl.rollout.backends import make_backend
    from agentrl.rollout.engine import RolloutEngine

    torch.manual_seed(a.seed)
    cfg = load_config(overrides(a))
    comps = build_components(cfg, log=lambda m: None, model_dir=resolve_model_dir(cfg, log=lambda m: None))
    ac = autocast_dtype(cfg, comps.device)
    env = comps.env_factory()
    task_ids = list(env.task_ids("train"))[a.seed * a.tasks:(a.seed + 1) * a.tasks]
    env.close()
    backend = make_backend(cfg.rollout, model=comps.model, tokenizer=comps.tokenizer, autocast_dtype=ac)
    engine = RolloutEngine(backend, comps.fmt, comps.env_factory, comps.policy, cfg.rollout)
    t0 = time.perf_counter()
    groups = engine.run(task_ids, a.group, seed=a.seed)
    engine.close()
    t_gen = time.perf_counter() - t0
    learner = Learner(comps.model, comps.fmt, comps.policy, cfg.algo, seed=a.seed,
                      temperature=cfg.rollout.temperature, autocast_dtype=ac, cpu_autocast=ac is not None)
    t0 = time.perf_counter()
    rows, plans = credit_rows(learner, groups, comps.tokenizer, ac)
    t_teacher = time.perf_counter() - t0
    res = summarize(rows)
    trajs = [t for g in groups for t in g]
    res.update({"task": a.task, "tasks": len(groups), "group": a.group, "seed": a.seed, "model": a.model,
                "success": sum(t.success for t in trajs) / max(len(trajs), 1),
                "agent_tokens_mean": statistics.fmean(t.num_agent_tokens for t in trajs) if trajs else 0.0,
                "routes": {r: sum(gp.route == r for gp in plans) for r in sorted({gp.route for gp in plans})},
                "rollouts_with_steps": sum(bool(parse_steps(r.text)) for r in rows) / max(len(rows), 1),
                "time_generate_s": t_gen, "time_teacher_D_s": t_teacher})
    heat = heatmaps(rows, a.heatmaps)
    if heat and a.html:
        write_html(Path(a.html), heat, f"SC-GRPO credit: {a.model} on {a.task} (f(D) per agent token)")
    print(f"{a.model} · {a.task} · {len(groups)} tasks × G={a.group} · seed {a.seed} · success {res['success']:.3f} · "
          f"mean {res['agent_tokens_mean']:.0f} agent tokens · routes {res['routes']} · "
          f"{res['rollouts_with_steps']:.0%} of SC rollouts write a step · generate {t_gen:.0f}s, "
          f"teacher+D {t_teacher:.0f}s", flush=True)
    print(table(res))
    for r in sorted(rows, key=lambda r: (r.success, r.route != "tau", r.pivot_kind != "step"))[:a.heatmaps]:
        print(f"  {r.route:10s} {'right' if r.success else 'wrong'} {r.pivot_kind:6s} {text_heat(r)}")
    sys.stdout.flush()
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    if a.step:  # after the figures are out: it updates the model
        m = learner.step(groups)
        res["time_learner_step_s"] = m["time/step_s"]
        print(f"one SC-GRPO learner step on these groups: {m['time/step_s']:.1f}s "
              f"(teacher {m['time/teacher_s']:.1f}s, score {m['time/score_s']:.1f}s, update {m['time/update_s']:.1f}s)")
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
