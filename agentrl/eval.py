"""``python -m agentrl.eval env=<name> model=<path> n=8 split=test``: Avg@k, Pass@k, trajectories, report.

``model`` is a model directory, a hub id, a run directory (its latest checkpoint is used), or ``tiny`` (the
embedded default as warm-started, i.e. before RL). A model from a run (its directory or one of its
checkpoints) is evaluated the way it was trained: the env, the model's chat settings, the algorithm and the
sampling options come from the run's own ``config.yaml``, unless the command line sets them (``env=math``
replaces the run's env; ``env.kwargs.high=8`` changes one value of it). ``n``, ``split`` and ``tasks`` are shorthands of
``eval.n``, ``eval.split`` and ``eval.tasks``. Writes ``samples.jsonl`` (one line per task with every
trajectory), ``summary.json`` and ``report.html`` (learning curves when the model comes from a run, and
per-token SC-weight heatmaps) to ``eval.output_dir``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from pathlib import Path
from typing import Any

from agentrl.cli import main
from agentrl.config import Config, ConfigError, compose, load_config
from agentrl.config.compose import GROUPS, validate

SHORTHANDS = {"n": "eval.n", "split": "eval.split", "tasks": "eval.tasks"}

USAGE = """usage: python -m agentrl.eval env=<name> model=<run dir|checkpoint|path|hub id|tiny> [n=8] [split=test]
                              [tasks=N] [--print-config] [--debug] [dotted.key=value ...]

Evaluate a model on an env: Avg@n, Pass@k, every trajectory, an HTML report.

  model=       a run directory (its latest checkpoint; the report adds its learning curves), a
               checkpoint (runs/x/checkpoints/step_N), a model directory, a hub id, or tiny (the
               embedded model as warm-started, before RL)
  n=           samples per task (eval.n)
  split=       the env's task split: test, eval, train, ... (eval.split)
  tasks=       evaluate only the first N tasks of the split (eval.tasks)
  values:      eval.temperature=0.6 eval.heatmaps=4 eval.report=false eval.output_dir=DIR
  --print-config   print the resolved config and exit without running
  --debug          show the traceback of errors that are normally one line (also: AGENTRL_DEBUG=1)
  -h, --help       show this help

Writes <run>/eval/<env>-<split>/{samples.jsonl,summary.json,report.html}.

examples:
  python -m agentrl.eval env=math_warmup model=runs/my-run n=8 split=test
  python -m agentrl.eval env=math_warmup model=tiny n=8 tasks=50
"""


#: sections of a run's config.yaml that an evaluation of that run's model takes (unless the command line sets them)
RUN_SECTIONS = ("env", "model", "algo")
#: rollout keys that shape how the model acts (the backend and its servers are the evaluation's own)
RUN_ROLLOUT_KEYS = ("temperature", "top_p", "top_k", "max_new_tokens", "max_context_tokens")


def run_dir_of(path: str) -> Path | None:
    """The training run a model path belongs to: a run directory itself or one of its checkpoints; else None."""
    p = Path(path).expanduser()
    if (p / "checkpoints").is_dir() or (p / "config.yaml").is_file() and (p / "metrics.jsonl").is_file():
        return p
    if p.name.startswith("step_") and p.parent.name == "checkpoints":
        return p.parent.parent
    return None


def _model_arg(argv: list[str]) -> str | None:
    found = None
    for a in argv:
        k, eq, v = a.partition("=")
        if eq and k.strip().lstrip("+") in ("model", "model.path"):
            found = v.strip()
    return found


def load_eval_config(argv: list[str], log: Any = None) -> Config:
    """The evaluation's config: with a model from a run (see :func:`run_dir_of`), the run's own ``config.yaml``
    gives :data:`RUN_SECTIONS` and :data:`RUN_ROLLOUT_KEYS`, then the command line's group choices
    (``env=...``) and values (``env.kwargs.x=...``) win; otherwise the overrides alone, as ``agentrl.run``."""
    model = _model_arg(argv)
    run_dir = run_dir_of(model) if model else None
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return load_config(argv)
    from omegaconf import OmegaConf

    try:
        run = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=True)
    except Exception as e:  # noqa: BLE001 - any YAML error: the file is not a run config
        raise ConfigError(f"{run_dir / 'config.yaml'} is not readable YAML ({type(e).__name__}: {e})") from None
    if not isinstance(run, dict):
        raise ConfigError(f"{run_dir / 'config.yaml'} must hold a mapping")
    cli = compose(argv)
    chosen, dotted = set(), []
    for a in argv:
        k, _, v = a.partition("=")
        k = k.strip().lstrip("+")
        if k in GROUPS and v and not v.lstrip().startswith(("{", "[")):
            chosen.add(k)
        elif k:
            dotted.append(k)
    final = copy.deepcopy(cli)
    for section in RUN_SECTIONS:
        if isinstance(run.get(section), dict) and (section == "model" or section not in chosen):
            final[section] = copy.deepcopy(run[section])
    final["model"]["path"] = cli["model"]["path"]
    if "rollout" not in chosen and isinstance(run.get("rollout"), dict):
        final["rollout"].update({k: run["rollout"][k] for k in RUN_ROLLOUT_KEYS if k in run["rollout"]})
    for key in dotted:  # what the command line set, over the run's values
        src, dst = cli, final
        parts = key.split(".")
        for part in parts[:-1]:
            src = src.get(part, {}) if isinstance(src, dict) else {}
            dst = dst.setdefault(part, {})
        if isinstance(src, dict) and parts[-1] in src and isinstance(dst, dict):
            dst[parts[-1]] = copy.deepcopy(src[parts[-1]])
    cfg = validate(final)
    (log or (lambda m: print(m, file=sys.stderr)))(
        f"evaluating with {run_dir / 'config.yaml'}: env={cfg.env.id}"
        + (" (from the command line)" if "env" in chosen else " (the run's; env=... to evaluate on another)"))
    return cfg


def resolve_eval_model(path: str) -> tuple[str | None, Path | None]:
    """(model dir to load or None for tiny/hub, run dir if the model comes from a training run).

    A run's latest checkpoint is verified (digests, finite weights); a newer one that fails is skipped with a
    warning. A path-like argument that is neither a run nor a model directory is a one-line error."""
    from agentrl.checkpoint import check_checkpoint, latest_checkpoint
    from agentrl.errors import CheckpointError
    from agentrl.model_path import check_local_model

    p = Path(path).expanduser()
    if (p / "checkpoints").is_dir():
        ckpt = latest_checkpoint(p, verify=True, warn=lambda m: print(m, file=sys.stderr))
        if ckpt is None:
            raise FileNotFoundError(f"run directory {path!r} has no complete checkpoint yet")
        return str(ckpt), p
    if p.name.startswith("step_") and p.parent.name == "checkpoints":
        if (problem := check_checkpoint(p, verify=True)) is not None:
            raise CheckpointError(f"checkpoint {path!r} cannot be evaluated: {problem}")
        return str(p), p.parent.parent
    check_local_model(path, "model")
    if p.exists():
        return str(p), None
    return None, None


def evaluate(cfg: Config) -> int:
    """Evaluate ``cfg.model`` on ``cfg.env`` (see module docstring); returns the exit code."""
    run_evaluation(cfg)
    return 0


def run_evaluation(cfg: Config) -> tuple[dict[str, float | int], Path]:
    """Evaluate ``cfg.model`` on ``cfg.env``; returns the summary (Avg@n, Pass@k, ...) and the output dir."""
    from rich.console import Console
    from rich.table import Table

    from agentrl.components import autocast_dtype, build_components
    from agentrl.evaluation.metrics import reading, summarize
    from agentrl.evaluation.report import format_value
    from agentrl.rollout.backends import make_backend
    from agentrl.rollout.engine import RolloutEngine

    console = Console(stderr=True)
    ecfg = cfg.eval
    model_dir, run_dir = resolve_eval_model(cfg.model.path)
    c = build_components(cfg, log=lambda m: console.print(m, highlight=False, soft_wrap=True), model_dir=model_dir)
    rollout_cfg = cfg.rollout.model_copy(update={"temperature": ecfg.temperature}) \
        if ecfg.temperature is not None else cfg.rollout
    backend = make_backend(rollout_cfg, model=c.model, tokenizer=c.tokenizer,
                           autocast_dtype=autocast_dtype(cfg, c.device))
    engine = RolloutEngine(backend, c.fmt, c.env_factory, c.policy, rollout_cfg)
    env = c.env_factory()
    tasks = list(env.task_ids(ecfg.split))
    env.close()
    if ecfg.tasks:
        tasks = tasks[: ecfg.tasks]
    loop = asyncio.new_event_loop()
    try:
        groups = loop.run_until_complete(engine.collect(tasks, ecfg.n, seed=ecfg.seed))
    finally:
        loop.run_until_complete(backend.close())
        loop.close()

    per_task = {g[0].task_id: [t.success and not t.failed for t in g] for g in groups if g}
    summary = summarize(per_task)
    summary["failed"] = sum(bool(t.failed) for g in groups for t in g)
    out = Path(ecfg.output_dir) if ecfg.output_dir else (
        (run_dir / "eval") if run_dir else Path(cfg.trainer.output_dir) / f"eval-{cfg.env.id}")
    out = out / f"{cfg.env.id}-{ecfg.split}"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "samples.jsonl", "w") as f:
        for g in groups:
            f.write(json.dumps({"task_id": g[0].task_id, "successes": per_task[g[0].task_id],
                                "trajectories": [_with_text(t, c.tokenizer) for t in g]}) + "\n")
    (out / "summary.json").write_text(json.dumps({"env": cfg.env.id, "split": ecfg.split, "n": ecfg.n,
                                                  "model": cfg.model.path, **summary}, indent=2))
    table = Table(title=f"{cfg.env.id} / {ecfg.split}: {len(per_task)} tasks × {ecfg.n} samples")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        table.add_row(k, format_value(v))
    Console().print(table)
    Console().print(reading(summary), highlight=False)
    if ecfg.report:
        from agentrl.evaluation.report import write_report

        from agentrl.evaluation.heatmap import sc_heatmaps

        heat = sc_heatmaps(c.model, c.fmt, c.policy, cfg.algo, c.tokenizer, groups, ecfg.heatmaps) \
            if ecfg.heatmaps > 0 else []
        path = write_report(out / "report.html", title=f"agentrl eval: {cfg.env.id} ({cfg.model.path})",
                            summary=summary, run_dir=run_dir if run_dir and (run_dir / "metrics.jsonl").exists()
                            else None, heatmaps=heat,
                            heatmaps_missing=None if heat or ecfg.heatmaps == 0 else
                            "no task had both a successful rollout and another one to compare with it "
                            "(a heatmap needs a verified trajectory in the group); try a larger n=")
        console.print(f"report: {path}", soft_wrap=True)
    console.print(f"samples: {out / 'samples.jsonl'}", soft_wrap=True)
    return summary, out


def _with_text(t: Any, tokenizer: Any) -> dict[str, Any]:
    d = t.to_dict()
    d["text"] = tokenizer.decode(t.token_ids)
    return d


def cli(argv: list[str] | None = None) -> None:
    """Console-script entry point (``agentrl-eval``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = [f"{SHORTHANDS[a.split('=', 1)[0]]}={a.split('=', 1)[1]}" if a.split("=", 1)[0] in SHORTHANDS else a
            for a in argv]
    sys.exit(main("eval", evaluate, argv, usage=USAGE, load=load_eval_config))


if __name__ == "__main__":
    cli()
