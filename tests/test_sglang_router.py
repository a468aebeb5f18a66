"""The SGLang client through a real ``sglang-router`` (PyPI, runs on CPU) in front of two ``agentrl.serve`` workers.

Marked ``sglang_router`` (deselected by ``make test``; ``.ci/run`` runs it after ``make router-venv``). Without the
router's venv (or ``AGENTRL_SGLANG_ROUTER_PYTHON``) it skips, saying so.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from agentrl.models import tiny_qwen3
from agentrl.rollout.backends import BackendError, SamplingParams
from agentrl.rollout.backends.sglang import SGLangBackend

pytestmark = [pytest.mark.sglang_router, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]
ROUTER_VERSION = "0.3.2"
VOCAB = 300


def _router_python() -> str:
    env = os.environ.get("AGENTRL_SGLANG_ROUTER_PYTHON")
    venv = REPO / f".venv-sglang-router-{ROUTER_VERSION}" / "bin" / "python"
    if env:
        return env
    if venv.exists():
        return str(venv)
    pytest.skip(f"NO REAL sglang-router TESTED: {venv} is missing (make router-venv)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _until(check, what: str, timeout_s: float = 300.0):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = await check()
            if result:
                return result
        except BackendError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:.0f}s")
        await asyncio.sleep(0.5)


@pytest.fixture
async def cluster(tmp_path):
    """Two agentrl.serve workers (same tiny weights) behind a real sglang-router."""
    python = _router_python()
    ports = [_free_port(), _free_port()]
    workers = [subprocess.Popen([sys.executable, "-m", "agentrl.serve", "model=tiny", f"vocab_size={VOCAB}",
                                 "seed=1", f"port={p}"], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=open(tmp_path / f"worker-{p}.log", "wb"), start_new_session=True)
               for p in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    probe = SGLangBackend(urls)
    await probe.wait_ready(timeout_s=300)
    rport = _free_port()
    router = subprocess.Popen([python, "-m", "sglang_router.launch_router", "--host", "127.0.0.1", "--port",
                               str(rport), "--worker-urls", *urls, "--health-check-interval-secs", "1",
                               "--health-failure-threshold", "1", "--log-level", "warn"],
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "router.log", "wb"),
                              start_new_session=True)
    rurl = f"http://127.0.0.1:{rport}"

    async def listed():
        status, body = await probe.request("GET", rurl + "/workers", timeout_s=5)
        return status == 200 and len([w for w in body["workers"] if w["is_healthy"]]) == 2
    await _until(listed, "the router listing both workers healthy")
    yield rurl, urls, workers, probe
    await probe.close()
    for p in [router, *workers]:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in [router, *workers]:
        p.wait(60)


def recompute(model, prompt, ids):
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([prompt + ids])).logits[0].float(), -1)
    return [lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(ids)]


async def test_generation_and_weight_sync_through_the_router(cluster, tmp_path):
    rurl, urls, _, probe = cluster
    client = SGLangBackend([rurl])
    old = tiny_qwen3(VOCAB, seed=1)
    prompts = [[3 + i, 50, 60] for i in range(8)]
    gens = await asyncio.gather(*(client.generate(p, SamplingParams(max_new_tokens=8, seed=i))
                                  for i, p in enumerate(prompts)))
    for p, g in zip(prompts, gens):
        assert len(g.ids) == 8 and max(abs(a - b) for a, b in zip(recompute(old, p, g.ids), g.logprobs)) < 1e-4
    assert sorted(await client.discover_workers()) == sorted(urls)
    new = tiny_qwen3(VOCAB, seed=7)
    new.save_pretrained(tmp_path / "new")
    bodies = await client.update_weights(str(tmp_path / "new"))  # the router answers 404 here itself
    assert [b["success"] for b in bodies] == [True, True]
    for u in urls:  # both workers, not the router, loaded the new weights
        status, info = await probe.request("GET", u + "/get_model_info")
        assert status == 200 and info["weight_version"] == "1"
    gens = await asyncio.gather(*(client.generate(p, SamplingParams(max_new_tokens=8, seed=i))
                                  for i, p in enumerate(prompts)))
    for p, g in zip(prompts, gens):  # whichever worker the router picked serves the new weights
        assert max(abs(a - b) for a, b in zip(recompute(new, p, g.ids), g.logprobs)) < 1e-4
    await client.close()


async def test_a_worker_killed_mid_batch(cluster, tmp_path):
    """Requests on the killed worker fail retryably and succeed on a retry; the next weight sync goes to the
    surviving worker only (the router reports the dead one unhealthy)."""
    rurl, urls, workers, probe = cluster
    client = SGLangBackend([rurl])

    async def with_retries(i):
        for attempt in range(60):
            try:
                return await client.generate([5, 6, i], SamplingParams(max_new_tokens=150, seed=i)), attempt
            except BackendError:
                await asyncio.sleep(1.0)
        raise AssertionError("request never succeeded")
    batch = [asyncio.ensure_future(with_retries(i)) for i in range(12)]
    await asyncio.sleep(0.3)
    os.killpg(workers[1].pid, signal.SIGKILL)
    workers[1].wait(30)
    results = await asyncio.gather(*batch)
    assert all(len(g.ids) == 150 for g, _ in results)
    print("attempts per request after the kill:", [a for _, a in results])

    async def dead_is_unhealthy():
        _, body = await probe.request("GET", rurl + "/workers", timeout_s=5)
        return any(w["url"] == urls[1] and not w["is_healthy"] for w in body["workers"])
    await _until(dead_is_unhealthy, "the router marking the killed worker unhealthy")
    tiny_qwen3(VOCAB, seed=7).save_pretrained(tmp_path / "new")
    bodies = await client.update_weights(str(tmp_path / "new"))
    assert len(bodies) == 1 and bodies[0]["success"] is True
    await client.close()
