"""What a run and an evaluation show: integer counts, smoothed curves, a one-line reading, unwrapped paths."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import agentrl
from agentrl.config.compose import load_config
from agentrl.evaluation import summarize
from agentrl.evaluation.metrics import reading
from agentrl.evaluation.report import curves_figure, smooth, write_report

ROOT = Path(__file__).resolve().parents[1]


def test_summary_counts_are_integers():
    s = summarize({"a": [1, 0, 1, 1], "b": [0, 0, 0, 0], "c": [1, 1, 1, 1]})
    assert s["tasks"] == 3 and isinstance(s["tasks"], int)
    assert all(isinstance(v, float) for k, v in s.items() if k != "tasks")


def test_reading_states_avg_and_every_pass_at_k():
    s = summarize({"a": [1, 0, 1, 1], "b": [0, 0, 0, 0], "c": [1, 1, 1, 1]})
    line = reading({**s, "failed": 0})
    assert "\n" not in line
    assert f"avg@4 {s['avg@4']:.3f}" in line and f"{100 * s['avg@4']:.0f}%" in line
    for k in (1, 2, 4):
        assert f"pass@{k} {s[f'pass@{k}']:.3f}" in line
    assert "3 tasks" in line and "at least one of k" in line


def test_smoothing_is_a_trailing_mean_that_keeps_length():
    assert smooth([0.0, 1.0, 0.0, 1.0], window=2) == pytest.approx([0.0, 0.5, 0.5, 0.5])
    assert smooth([1.0, 2.0, 3.0], window=1) == [1.0, 2.0, 3.0]
    assert smooth([], window=5) == []


def test_each_curve_draws_the_raw_line_and_a_smoothed_one_over_it():
    rows = [{"step": i, "reward": float(i % 2), "success": 0.1 * i} for i in range(1, 31)]
    rows[0]["eval/success"] = 0.2
    fig = curves_figure(rows)
    axes = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(axes) == {"reward", "success", "eval/success"}
    raw, smoothed = axes["reward"].get_lines()[:2]
    assert list(raw.get_ydata()) == [float(i % 2) for i in range(1, 31)]
    assert max(smoothed.get_ydata()[10:]) - min(smoothed.get_ydata()[10:]) < 0.2  # the 0/1 zig-zag evened out
    assert smoothed.get_zorder() > raw.get_zorder() and smoothed.get_linewidth() > raw.get_linewidth()


def test_report_prints_counts_as_integers_and_the_reading(tmp_path):
    s = {**summarize({"a": [1, 0], "b": [0, 0]}), "failed": 0}
    html = write_report(tmp_path / "r.html", title="t", summary=s).read_text()
    assert "<td>tasks</td><td>2</td>" in html and "<td>failed</td><td>0</td>" in html
    assert "2.0000" not in html and reading(s) in html


@pytest.fixture(scope="module")
def narrow_run(tmp_path_factory):
    """A short training run in a 60-column terminal, and its console output."""
    tmp = tmp_path_factory.mktemp("narrow")
    args = ["env=guess", "env.kwargs.high=16", "env.kwargs.max_turns=4", f"model.cache_dir={tmp / 'cache'}",
            "model.tiny.sft_episodes=20", "model.tiny.sft_epochs=1", "model.tiny.hidden_size=64",
            "model.tiny.num_layers=2", "model.tiny.intermediate_size=128", "model.tiny.vocab_size=512",
            "rollout.max_new_tokens=8", "trainer.tasks_per_step=2", "algo.group_size=4", "trainer.eval_tasks=4",
            "trainer.log.progress=false", f"trainer.output_dir={tmp / 'a-rather-long-directory-name' / 'runs'}",
            "run_name=narrow-run-with-a-long-name", "trainer.steps=4", "trainer.eval_every=2"]
    env = {**os.environ, "COLUMNS": "60"}
    r = subprocess.run([sys.executable, "-m", "agentrl.run", *args], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    return args, tmp / "a-rather-long-directory-name" / "runs" / "narrow-run-with-a-long-name", r.stdout + r.stderr


def test_final_checkpoint_path_is_printed_on_one_line(narrow_run):
    _, run_dir, out = narrow_run
    ckpt = run_dir / "checkpoints" / "step_0000004"
    assert len(str(ckpt)) > 60
    assert any(line.endswith(f"final checkpoint {ckpt}") for line in out.splitlines()), out


def test_eval_line_shows_the_moving_average_of_train_reward(narrow_run):
    _, run_dir, out = narrow_run
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rewards = {r["step"]: r["reward"] for r in rows if "reward" in r}
    for step in (2, 4):
        mean = (rewards[step - 1] + rewards[step]) / 2
        line = next(x for x in out.splitlines() if x.startswith(f"step {step}: eval success"))
        assert f"train reward {mean:.3f}, mean of steps {step - 1}-{step}" in line, line


def test_eval_of_the_run_writes_integer_counts(narrow_run, capsys):
    args, run_dir, _ = narrow_run
    summary = agentrl.evaluate(args + [f"model={run_dir}", "n=2", "tasks=3"])
    assert summary["tasks"] == 3 and isinstance(summary["tasks"], int) and isinstance(summary["failed"], int)
    saved = json.loads((run_dir / "eval" / "guess-test" / "summary.json").read_text())
    assert saved["tasks"] == 3 and saved["failed"] == 0 and isinstance(saved["failed"], int)
    out = capsys.readouterr().out
    assert re.search(r"tasks\s*│\s*3\s*│", out) and "3.0000" not in out
    assert reading(summary) in " ".join(out.split())


def test_report_says_why_it_has_no_heatmaps(tmp_path):
    html = write_report(tmp_path / "r.html", title="t", heatmaps=[], heatmaps_missing="no task had a success").read_text()
    assert "Per-token SC weights" in html and "None drawn: no task had a success" in html


def test_a_finished_run_writes_its_report_and_says_what_to_run_next(narrow_run):
    _, run_dir, out = narrow_run
    report = run_dir / "report.html"
    html = report.read_text()
    assert "Learning curves" in html and "eval success, step 4" in html
    lines = out.splitlines()
    assert any(line.endswith(f"report: {report}") for line in lines), out
    cmd = next(line[line.index("python -m agentrl.eval"):] for line in lines if "python -m agentrl.eval" in line)
    argv = shlex.split(cmd)
    assert argv[:3] == ["python", "-m", "agentrl.eval"] and f"model={run_dir}" in argv
    assert not any(a.startswith(("trainer.", "run_name=")) for a in argv)
    assert any("python -m agentrl.run env=" in line for line in lines), out
    # the printed command runs as printed (here on 2 tasks) and evaluates this run's checkpoint
    r = subprocess.run([sys.executable, *argv[1:], "tasks=2", "n=1", "eval.report=false"], capture_output=True,
                       text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (run_dir / "eval" / "guess-test" / "summary.json").exists()


def test_the_eval_command_of_a_tiny_recipe_run_names_the_recipe(monkeypatch, tmp_path):
    from agentrl.trainer import eval_command

    monkeypatch.setattr(sys, "argv", ["agentrl/run.py", "env=webshop", "trainer.steps=3", "seed=1"])
    cmd = eval_command(load_config(["env=webshop", "trainer.steps=3", "seed=1"]), tmp_path / "run")
    assert shlex.split(cmd) == ["python", "-m", "agentrl.eval", "env=webshop_warmup", "seed=1",
                                f"model={tmp_path / 'run'}", "n=8"]
