"""The README's own-env example, saved as ``countdown.py`` and run as written, learns.

One seed's gain is a property of the CPU's floating-point path as much as of the recipe (the same file went
0.115 -> 0.188 test success on one machine, 0.073 -> 0.094 on another; a test asking +0.05 failed there), so
the claim is checked over three RL seeds -- the file as written (seed 0), and the same file at seeds 1 and 2
from the same cached warm start (``model.tiny.seed=0``) -- on two statistics: the mean test-success gain is
positive, and the mean train-reward gain (steps 21-30 against steps 1-10, 640 episodes each, per seed) clears
a floor that a run which does not learn misses by several standard errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: runs countdown.py as written, with every agentrl.train/evaluate call given `seed=S` (RL seed) and the warm
#: start of seed 0, the run under runs-seed<S>/
AT_SEED = """import runpy, sys
import agentrl
seed = int(sys.argv[1])
extra = [f"seed={seed}", "model.tiny.seed=0", f"trainer.output_dir=runs-seed{seed}"]
train, evaluate = agentrl.train, agentrl.evaluate
agentrl.train = lambda overrides: train(list(overrides) + extra)
agentrl.evaluate = lambda overrides: evaluate(list(overrides) + extra)
runpy.run_path("countdown.py", run_name="__main__")
"""
PRINTED = re.compile(r"test success \(avg@8\): (\d\.\d\d) before RL, (\d\.\d\d) after")
SEEDS = (0, 1, 2)
#: the least mean train-reward gain of the three seeds (steps 21-30 against 1-10). Measured +0.104 (seeds 0-2:
#: +0.119, +0.088, +0.106; test success 0.073 -> 0.094, 0.115, 0.115; 2-core AMD EPYC, 1 thread). Without
#: learning it is 0 +- 0.013 (one standard error of the mean of three differences of two 640-episode means)
MIN_TRAIN_GAIN = 0.05


def train_reward_gain(run_dir: Path) -> float:
    """Mean train reward of steps 21-30 minus that of steps 1-10."""
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    reward = {r["step"]: r["reward"] for r in rows if r["step"] > 0}
    assert sorted(reward) == list(range(1, 31)), sorted(reward)
    return sum(reward[s] for s in range(21, 31)) / 10 - sum(reward[s] for s in range(1, 11)) / 10


def readme_snippet() -> str:
    """The Python block under "### Your own environment" in README.md, verbatim."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Your own environment"):]
    start = section.index("```python\n") + len("```python\n")
    return section[start:section.index("```", start)]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_readme_countdown_as_written_improves_test_success(tmp_path):
    code = readme_snippet()
    assert "agentrl.train(" in code and "agentrl.evaluate(" in code
    (tmp_path / "countdown.py").write_text(code)
    (tmp_path / "at_seed.py").write_text(AT_SEED)
    # a fresh HOME: the tiny model is built from an empty cache, as on a new user's machine
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    r = subprocess.run([sys.executable, "countdown.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=3500)
    assert r.returncode == 0, r.stderr[-3000:]
    before = json.loads((tmp_path / "runs" / "eval-countdown" / "countdown-test" / "summary.json").read_text())
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.name.startswith("countdown-")]
    after = json.loads((run_dir / "eval" / "countdown-test" / "summary.json").read_text())
    key = next(k for k in after if k.startswith("avg@"))
    assert before["model"] == "tiny" and after["model"] == str(run_dir.relative_to(tmp_path))
    assert f"{before[key]:.2f} before RL" in r.stdout and f"{after[key]:.2f} after" in r.stdout
    gains = {0: after[key] - before[key]}
    train_gains = {0: train_reward_gain(run_dir)}
    for seed in SEEDS[1:]:  # the same file at other RL seeds, from the warm start built above (cached)
        s = subprocess.run([sys.executable, "at_seed.py", str(seed)], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=3500)
        assert s.returncode == 0, s.stderr[-3000:]
        assert "building the tiny model" not in s.stderr  # one warm start for every seed
        (seed_run,) = [p for p in (tmp_path / f"runs-seed{seed}").iterdir() if p.name.startswith("countdown-")]
        b = json.loads((tmp_path / f"runs-seed{seed}" / "eval-countdown" / "countdown-test" / "summary.json")
                       .read_text())[key]
        a = json.loads((seed_run / "eval" / "countdown-test" / "summary.json").read_text())[key]
        assert PRINTED.findall(s.stdout) == [(f"{b:.2f}", f"{a:.2f}")]
        assert b == before[key]  # the same warm start, the same seeded evaluation
        gains[seed] = a - b
        train_gains[seed] = train_reward_gain(seed_run)
    mean, train_mean = sum(gains.values()) / len(gains), sum(train_gains.values()) / len(train_gains)
    print(f"countdown gains by seed: test success {gains} (mean {mean:+.3f}), train reward {train_gains} "
          f"(mean {train_mean:+.3f})")
    assert mean > 0, gains
    assert train_mean >= MIN_TRAIN_GAIN, train_gains
