"""``agentrl.eval`` of a run's model takes the run's own config (issue 32 item 4): the command a finished
``agentrl.train([...])`` prints evaluates the run's env, run as printed."""

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
from agentrl.eval import load_eval_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def guess_run(tmp_path_factory):
    """A 2-step run on guess (6 test tasks, guesses up to 16) from Python, and what it printed."""
    tmp = tmp_path_factory.mktemp("evalcfg")
    args = ["env=guess", "env.kwargs.high=16", "env.kwargs.max_turns=4", "env.kwargs.n_test=6",
            f"model.cache_dir={tmp / 'cache'}", "model.tiny.sft_episodes=20", "model.tiny.sft_epochs=1",
            "model.tiny.hidden_size=64", "model.tiny.num_layers=2", "model.tiny.intermediate_size=128",
            "model.tiny.vocab_size=512", "rollout.max_new_tokens=8", "trainer.tasks_per_step=2",
            "algo.group_size=4", "trainer.eval_every=0", "trainer.log.progress=false",
            f"trainer.output_dir={tmp / 'runs'}", "run_name=from-python", "trainer.steps=2"]
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        run_dir = agentrl.train(args)
    return run_dir, err.getvalue()


def test_the_eval_config_of_a_run_is_the_runs_env_unless_overridden(guess_run):
    run_dir, _ = guess_run
    cfg = load_eval_config([f"model={run_dir}", "eval.n=2"])
    assert cfg.env.id == "guess" and cfg.env.kwargs == {"high": 16, "max_turns": 4, "n_test": 6}
    assert cfg.rollout.max_new_tokens == 8 and cfg.model.path == str(run_dir) and cfg.eval.n == 2
    # one value of the run's env changed; the rest kept
    cfg = load_eval_config([f"model={run_dir}", "env.kwargs.n_test=3"])
    assert cfg.env.id == "guess" and cfg.env.kwargs == {"high": 16, "max_turns": 4, "n_test": 3}
    # another env chosen on the command line replaces the run's
    cfg = load_eval_config([f"model={run_dir}", "env=math"])
    assert cfg.env.id == "math" and "high" not in cfg.env.kwargs and cfg.env.kwargs == load_eval_config(
        ["env=math"]).env.kwargs
    # a checkpoint of the run counts as the run's model too
    ckpt = next((run_dir / "checkpoints").glob("step_*"))
    assert load_eval_config([f"model={ckpt}"]).env.id == "guess"


def test_the_printed_eval_command_evaluates_the_runs_env(guess_run):
    run_dir, printed = guess_run
    m = re.search(r"(python -m agentrl\.eval [^\n]*)", printed)
    assert m, printed
    argv = shlex.split(m.group(1))
    assert argv[:3] == ["python", "-m", "agentrl.eval"] and f"model={run_dir}" in argv and "n=8" in argv
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shown = subprocess.run([sys.executable, *argv[1:], "--print-config"], capture_output=True, text=True, cwd=ROOT,
                           env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^env:\n  id: guess$", shown.stdout, re.M), shown.stdout
    r = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "env=guess (the run's" in r.stderr
    summary = json.loads((run_dir / "eval" / "guess-test" / "summary.json").read_text())
    assert summary["env"] == "guess" and summary["n"] == 8 and summary["tasks"] == 6
