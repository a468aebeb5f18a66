"""A normal run is quiet: no library deprecation warnings while training, no spurious warning from set-up."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What must not appear on a normal run's console (transformers' legacy-cache deprecations and the like).
NOISE = re.compile(r"FutureWarning|DeprecationWarning|is deprecated|past_key_values|cache_params")


def _short_run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["env=guess", "env.kwargs.high=16", "env.kwargs.max_turns=4", f"model.cache_dir={tmp_path / 'cache'}",
            "model.tiny.sft_episodes=20", "model.tiny.sft_epochs=1", "model.tiny.hidden_size=64",
            "model.tiny.num_layers=2", "model.tiny.intermediate_size=128", "model.tiny.vocab_size=512",
            "rollout.max_new_tokens=8", "trainer.tasks_per_step=2", "algo.group_size=4", "trainer.eval_tasks=4",
            "trainer.log.progress=false", f"trainer.output_dir={tmp_path / 'runs'}", "run_name=quiet",
            "trainer.steps=2", "trainer.eval_every=1", *extra]
    return subprocess.run([sys.executable, "-W", "default", "-m", "agentrl.run", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)


def test_local_backend_passes_the_new_cache_api(tmp_path):
    """Rollouts on the local backend (prefill, decode, session prefixes) warn about nothing."""
    import asyncio
    import warnings

    from agentrl.models import tiny_qwen3
    from agentrl.rollout.backends.base import SamplingParams
    from agentrl.rollout.backends.local import LocalBackend

    backend = LocalBackend(tiny_qwen3(64), max_batch_size=4)
    sp = SamplingParams(temperature=1.0, max_new_tokens=5, seed=0)

    async def go():
        first = await backend.generate([1, 2, 3], sp, session_id="s")
        await backend.generate([1, 2, 3] + first.ids + [4, 5], sp, session_id="s")
        await asyncio.gather(*(backend.generate([7, 8, 9, i], sp) for i in range(6)))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(go())
        backend.close_sync()
    assert not [str(w.message) for w in caught if NOISE.search(str(w.message))]


def test_a_short_training_run_prints_no_deprecation_warnings(tmp_path):
    r = _short_run(tmp_path)
    assert r.returncode == 0, r.stderr
    noisy = [line for line in (r.stdout + r.stderr).splitlines() if NOISE.search(line)]
    assert not noisy, "\n".join(noisy)


def test_setup_asks_for_no_extra_a_package_lacks():
    """pip resolves the project's dependencies (as ``make setup`` does) without 'does not provide the extra'."""
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-build-isolation", "--no-index",
                        "--find-links", "/nonexistent", "-e", ".[dev]"], capture_output=True, text=True, cwd=ROOT,
                       timeout=600)
    if r.returncode != 0 and "No matching distribution" in r.stderr:
        pytest.skip("a dependency is not installed here, so pip cannot resolve offline")
    assert r.returncode == 0, r.stderr
    assert "does not provide the extra" not in r.stdout + r.stderr


def test_cache_argument_name_follows_the_model_signature():
    """Newer transformers take ``cache=``; a model whose forward only knows ``past_key_values`` gets that."""
    from agentrl.kvcache import cache_arg, cache_kwargs
    from agentrl.models import tiny_qwen3

    class Legacy:
        def forward(self, input_ids=None, past_key_values=None, use_cache=False):
            return None

    assert cache_kwargs(Legacy(), "kv") == {"past_key_values": "kv"}
    model = tiny_qwen3(32)
    import inspect

    expected = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    assert cache_arg(model) == cache_arg(model.model) == expected
