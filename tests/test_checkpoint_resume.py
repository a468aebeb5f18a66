"""Issue 28 item 6 end to end: a run whose newest checkpoint had 64 KiB overwritten in the middle of its
``model.safetensors`` resumes from the previous good step with a warning naming what failed (never silently
from the corrupted weights), and with no good checkpoint left it stops with one clear line."""

from __future__ import annotations

import math
import json
import shutil
from pathlib import Path

import agentrl
from agentrl.cli import main
from agentrl.run import train


def _overrides(cache: Path, out: Path, *extra: str) -> list[str]:
    return ["env=guess", "env.kwargs.high=16", "env.kwargs.max_turns=4", f"model.cache_dir={cache}",
            "model.tiny.sft_episodes=40", "model.tiny.sft_epochs=1", "model.tiny.hidden_size=64",
            "model.tiny.num_layers=2", "model.tiny.intermediate_size=128", "model.tiny.vocab_size=512",
            "rollout.max_new_tokens=8", "trainer.tasks_per_step=2", "algo.group_size=4", "trainer.eval_every=0",
            "trainer.log.progress=false", "trainer.save_every=2", f"trainer.output_dir={out}", *extra]


def _overwrite_middle(f: Path, n: int = 64 << 10) -> None:
    size = f.stat().st_size
    assert size > 4 * n, size
    with open(f, "r+b") as fh:
        fh.seek(size // 2 - n // 2)
        fh.write(bytes((i * 97 + 13) % 256 for i in range(n)))
    assert f.stat().st_size == size


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_resume_after_weights_overwritten_uses_the_previous_good_step(tmp_path, capsys):
    args = _overrides(tmp_path / "cache", tmp_path, "run_name=hit")
    run_dir = agentrl.train(args + ["trainer.steps=4"])
    shutil.copytree(run_dir, tmp_path / "both")
    _overwrite_middle(run_dir / "checkpoints" / "step_0000004" / "model.safetensors")
    capsys.readouterr()

    run_dir = agentrl.train(args + ["trainer.steps=5", "trainer.resume=true"])
    err = capsys.readouterr().err
    assert "step_0000004: model.safetensors does not match its sha256 digest" in err
    assert "resuming from" in err and "step_0000002" in err and "from step 2" in err
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]  # steps 3-4 redone from step 2's weights
    assert all(math.isfinite(v) for r in rows for v in r.values() if isinstance(v, float))
    assert [p.name for p in sorted((run_dir / "checkpoints").glob("step_*"))] == ["step_0000004", "step_0000005"]

    # every checkpoint overwritten: one line, exit 2, nothing deleted
    both = tmp_path / "both" / "checkpoints"
    for step in ("step_0000002", "step_0000004"):
        _overwrite_middle(both / step / "model.safetensors")
    capsys.readouterr()
    assert main("run", train, _overrides(tmp_path / "cache", tmp_path, "run_name=both", "trainer.steps=5",
                                         "trainer.resume=true")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no intact checkpoint") and err.count("\n") == 1 and "Traceback" not in err
    assert err.count("model.safetensors does not match its sha256 digest") == 2
    assert sorted(p.name for p in both.glob("step_*")) == ["step_0000002", "step_0000004"]
