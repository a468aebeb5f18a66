"""Two-process FSDP2 (gloo, CPU) gives the loss and the updated parameters of one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parent / "learner_fsdp_worker.py"


def run_worker(tmp_path: Path, world: int) -> dict:
    out = tmp_path / f"world{world}.pt"
    proc = subprocess.run([sys.executable, str(WORKER), str(out), str(world)], capture_output=True, text=True,
                          timeout=1500)  # a generous bound: a loaded machine is slow
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out, weights_only=False)


@pytest.mark.timeout(3200)
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_two_process_fsdp2_matches_one_process(tmp_path):
    one = run_worker(tmp_path, 1)
    two = run_worker(tmp_path, 2)
    m1, m2 = one["metrics"], two["metrics"]
    assert m1["route/tau"] > 0 and m1["route/solve_none"] > 0
    assert m2["loss"] == pytest.approx(m1["loss"], rel=1e-5, abs=1e-8)
    assert m2["grad_norm"] == pytest.approx(m1["grad_norm"], rel=1e-5)
    assert m1["grad_norm"] > 0.05, "the test should exercise gradient clipping"
    assert m2["tokens/agent"] == m1["tokens/agent"]
    assert one["params"].keys() == two["params"].keys()
    for k, v in one["params"].items():
        assert torch.allclose(two["params"][k], v, atol=1e-6, rtol=1e-5), (k, (two["params"][k] - v).abs().max())
