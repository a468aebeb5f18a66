"""The README's own-env example, saved as ``countdown.py`` and run as written, learns: test success rises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
    assert after[key] >= before[key] + 0.05, (before, after)  # measured: 0.115 -> 0.188 (seed 0, CPU)
    assert f"{before[key]:.2f} before RL" in r.stdout and f"{after[key]:.2f} after" in r.stdout
