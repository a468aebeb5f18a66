"""Stopping is prompt whatever the model's speed: SIGTERM or Ctrl-C during a rollout aborts the generation in
flight, saves the last completed step and exits 130 (no waiting for the rollout, the update or an eval)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agentrl.checkpoint import latest_checkpoint
from tests.conftest import reap
from tests.test_trainer import _overrides

ROOT = Path(__file__).resolve().parents[1]

# The injected fault: every decode step of the local backend takes 0.25 s longer and is counted in a file,
# standing in for a model too slow to finish a rollout before the user gives up on it.
DRIVER = textwrap.dedent("""
    import sys, time
    from agentrl.rollout.backends import local
    count_file = sys.argv[1]
    decode = local.LocalBackend._decode
    def slow_decode(self, *a, **k):
        with open(count_file, "a") as f:
            f.write(".")
        time.sleep(0.25)
        return decode(self, *a, **k)
    local.LocalBackend._decode = slow_decode
    from agentrl.run import cli
    sys.argv = ["agentrl.run", *sys.argv[2:]]
    cli()
""")


def _decodes(path: Path) -> int:
    return len(path.read_text()) if path.exists() else 0


@pytest.mark.parametrize("sig", [signal.SIGTERM], ids=["SIGTERM"])  # Ctrl-C takes the same handler
def test_a_stop_signal_aborts_the_rollout_in_flight_and_saves_the_last_step(tmp_path, sig):
    cache = tmp_path / "cache"
    args = _overrides(cache, tmp_path, "trainer.steps=50", "trainer.save_every=0", "trainer.eval_every=0",
                      "rollout.max_new_tokens=64", "run_name=stopped")
    import agentrl
    agentrl.train(args[:-1] + ["trainer.steps=0", "run_name=warm"])  # build the tiny model first
    counts, run_dir = tmp_path / "decodes", tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(counts), *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        end = time.monotonic() + 600
        while not ((run_dir / "metrics.jsonl").exists() and (run_dir / "metrics.jsonl").read_text().strip()):
            assert proc.poll() is None and time.monotonic() < end, proc.stderr.read() if proc.poll() else "timeout"
            time.sleep(0.1)
        mark = _decodes(counts)  # step 1 is done; wait until step 2's rollout is decoding
        while _decodes(counts) < mark + 2:
            assert proc.poll() is None and time.monotonic() < end
            time.sleep(0.05)
        os.killpg(proc.pid, sig)
        at_signal = _decodes(counts)
        out, err = proc.communicate(timeout=300)
    finally:
        reap(proc)
    assert proc.returncode == 130, err
    # the generation stopped within a decode step or two of the signal: the rollout was not run to its end
    assert _decodes(counts) - at_signal <= 2, (at_signal, _decodes(counts))
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    saved = int(latest_checkpoint(run_dir).name.split("_")[1])
    assert saved == max(r["step"] for r in rows)  # the last completed step, nothing of the aborted one
    assert "trainer.resume=true" in err or "resume=true" in err
