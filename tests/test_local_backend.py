"""LocalBackend: continuous batching gives each request the ids it would get alone, exact log-probs,
sampling controls, cancellation and in-place weight updates."""

from __future__ import annotations

import asyncio

import pytest
import torch

from agentrl.models import tiny_qwen3
from agentrl.rollout.backends import BackendFatalError, SamplingParams
from agentrl.rollout.backends.local import LocalBackend

VOCAB = 300


@pytest.fixture(scope="module")
def model():
    return tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=1)


def recompute_logprobs(model, prompt, ids, temperature=1.0):
    """What a learner computes: one full forward over prompt + generated ids, no cache, no padding."""
    with torch.no_grad():
        logits = model(torch.tensor([prompt + ids])).logits[0].float() / temperature
    lp = torch.log_softmax(logits, -1)
    return [lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(ids)]


def prompts(n):
    g = torch.Generator().manual_seed(0)
    return [torch.randint(3, VOCAB, (int(torch.randint(2, 40, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]


async def test_batched_ids_equal_solo_ids_and_logprobs_are_exact(model):
    backend = LocalBackend(model, max_batch_size=6)  # 16 requests > 6 rows: requests join as rows free up
    ps = prompts(16)
    sps = [SamplingParams(temperature=1.0, max_new_tokens=4 + 3 * (i % 5), seed=100 + i) for i in range(16)]
    together = await asyncio.gather(*(backend.generate(p, s) for p, s in zip(ps, sps)))
    assert backend.stats.max_running == 6
    for p, s, g in zip(ps, sps, together):
        alone = await backend.generate(p, s)
        assert alone.ids == g.ids
        assert g.finish_reason == "length" and len(g.ids) == s.max_new_tokens
        ref = recompute_logprobs(model, p, g.ids)
        assert max(abs(a - b) for a, b in zip(ref, g.logprobs)) < 1e-4
    await backend.close()


async def test_requests_join_a_running_batch(model):
    backend = LocalBackend(model, max_batch_size=8)
    long = asyncio.ensure_future(backend.generate([5, 6, 7], SamplingParams(max_new_tokens=60, seed=0)))
    while backend.stats.decode_steps < 5:  # the long request is decoding alone
        await asyncio.sleep(0.001)
    short = await backend.generate([9, 10], SamplingParams(max_new_tokens=3, seed=1))
    assert not long.done(), "the short request had to wait for the long one to finish"
    assert len(short.ids) == 3 and backend.stats.max_running == 2
    assert len((await long).ids) == 60
    await backend.close()


async def test_greedy_matches_transformers_generate(model):
    backend = LocalBackend(model)
    p = [11, 12, 13, 14]
    g = await backend.generate(p, SamplingParams(temperature=0, max_new_tokens=12))
    with torch.no_grad():
        ref = model.generate(torch.tensor([p]), max_new_tokens=12, do_sample=False, eos_token_id=None,
                             pad_token_id=0)[0, len(p):].tolist()
    assert g.ids == ref
    assert max(abs(a - b) for a, b in zip(recompute_logprobs(model, p, g.ids), g.logprobs)) < 1e-4
    await backend.close()


async def test_stop_tokens_top_k_top_p_and_seeds(model):
    backend = LocalBackend(model)
    p = [20, 21, 22]
    free = await backend.generate(p, SamplingParams(max_new_tokens=30, seed=3))
    stop = free.ids[4]
    first = free.ids.index(stop)
    stopped = await backend.generate(p, SamplingParams(max_new_tokens=30, seed=3, stop_token_ids=(stop,)))
    assert stopped.finish_reason == "stop" and stopped.ids == free.ids[:first + 1]  # stop token kept
    greedy = await backend.generate(p, SamplingParams(temperature=0, max_new_tokens=10))
    assert (await backend.generate(p, SamplingParams(top_k=1, max_new_tokens=10, seed=5))).ids == greedy.ids
    assert (await backend.generate(p, SamplingParams(top_p=1e-6, max_new_tokens=10, seed=6))).ids == greedy.ids
    other = [(await backend.generate(p, SamplingParams(max_new_tokens=30, seed=s))).ids for s in (4, 5)]
    assert free.ids not in other and other[0] != other[1]
    # top-k=5: every sampled token is among the 5 most likely at its position
    g = await backend.generate(p, SamplingParams(top_k=5, max_new_tokens=15, seed=9))
    with torch.no_grad():
        logits = model(torch.tensor([p + g.ids])).logits[0]
    for i, t in enumerate(g.ids):
        assert t in logits[len(p) - 1 + i].topk(5).indices.tolist()
    await backend.close()


async def test_cancelled_request_leaves_the_batch(model):
    backend = LocalBackend(model)
    task = asyncio.ensure_future(backend.generate([1, 2, 3], SamplingParams(max_new_tokens=100_000 // 100)))
    while backend.stats.decode_steps < 3:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        if backend.num_active == 0:
            break
        await asyncio.sleep(0.005)
    assert backend.num_active == 0
    assert len((await backend.generate([4, 5], SamplingParams(max_new_tokens=2))).ids) == 2  # still serving
    await backend.close()
    assert not backend.running


async def test_context_limit_and_bad_input(model):
    backend = LocalBackend(model, max_context_tokens=10)
    g = await backend.generate(list(range(1, 8)), SamplingParams(max_new_tokens=50, seed=0))
    assert g.finish_reason == "length" and len(g.ids) == 3
    full = await backend.generate(list(range(1, 11)), SamplingParams(max_new_tokens=5))
    assert full.ids == [] and full.finish_reason == "length"
    with pytest.raises(BackendFatalError, match="outside the model's vocabulary"):
        await backend.generate([1, VOCAB + 5], SamplingParams())
    with pytest.raises(BackendFatalError, match="empty"):
        await backend.generate([], SamplingParams())
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)
    await backend.close()


async def test_update_weights_in_place_and_from_state_dict():
    model = tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=1)
    backend = LocalBackend(model)
    p = [7, 8, 9]
    sp = SamplingParams(temperature=0, max_new_tokens=8)
    before = await backend.generate(p, sp)
    other = tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=2)
    assert await backend.update_weights(other.state_dict()) == 1
    after = await backend.generate(p, sp)
    assert after.logprobs != before.logprobs
    assert max(abs(a - b) for a, b in zip(recompute_logprobs(other, p, after.ids), after.logprobs)) < 1e-4
    with torch.no_grad():  # in place: the learner changes the very module the backend holds
        model.load_state_dict(tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=1).state_dict())
    assert await backend.update_weights() == 2
    again = await backend.generate(p, sp)
    assert again.ids == before.ids and again.logprobs == before.logprobs
    await backend.close()


async def test_session_prefix_is_reused_and_exact(model):
    backend = LocalBackend(model, max_batch_size=4)
    p = prompts(1)[0]
    first = await backend.generate(p, SamplingParams(max_new_tokens=10, seed=1), session_id="s")
    nxt = p + first.ids + [5, 6, 7, 8]  # the next turn: history + an observation
    second = await backend.generate(nxt, SamplingParams(max_new_tokens=10, seed=2), session_id="s")
    assert backend.stats.reused_prefix_tokens == len(p) + len(first.ids) - 1
    fresh = await backend.generate(nxt, SamplingParams(max_new_tokens=10, seed=2))
    assert second.ids == fresh.ids
    assert max(abs(a - b) for a, b in zip(recompute_logprobs(model, nxt, second.ids), second.logprobs)) < 1e-4
    other = await backend.generate([9] + nxt[1:], SamplingParams(max_new_tokens=3), session_id="s")
    assert backend.stats.reused_prefix_tokens == len(p) + len(first.ids) - 1  # a different prefix: no reuse
    assert len(other.ids) == 3
    await backend.close()


async def test_arrival_takes_a_finished_rows_place_with_the_ids_it_gets_alone(model):
    """A request admitted into the row a finished request left (no cache copy) gets the ids and exact
    log-probs it gets alone, and the rows decoding beside it are unchanged."""
    backend = LocalBackend(model, max_batch_size=8, admit_wait_steps=1)
    ps = prompts(7)
    long_sps = [SamplingParams(temperature=1.0, max_new_tokens=40, seed=10 + i) for i in range(5)]
    longs = [asyncio.ensure_future(backend.generate(p, s)) for p, s in zip(ps[:5], long_sps)]
    short = asyncio.ensure_future(backend.generate(ps[5][:20], SamplingParams(max_new_tokens=2, seed=3)))
    await short  # its row is a hole now: one of six rows is not enough to compact the batch
    assert not any(f.done() for f in longs)
    late_sp = SamplingParams(temperature=1.0, max_new_tokens=6, seed=4)
    late = await backend.generate(ps[6][:8], late_sp)
    assert backend.stats.hole_admissions >= 1
    together = await asyncio.gather(*longs)
    assert late.ids == (await backend.generate(ps[6][:8], late_sp)).ids
    ref = recompute_logprobs(model, ps[6][:8], late.ids)
    assert max(abs(a - b) for a, b in zip(ref, late.logprobs)) < 1e-4
    for p, s, g in zip(ps[:5], long_sps, together):
        assert (await backend.generate(p, s)).ids == g.ids
    await backend.close()


async def test_session_prefix_cache_is_bounded_in_bytes():
    """A real model's KV is large (SmolLM2: 46 KB a token): the session cache holds what fits its byte bound,
    evicting the oldest sessions, however many tokens the token bound would allow."""
    big = tiny_qwen3(64, hidden_size=64, num_layers=4, num_heads=4, num_kv_heads=4)  # 2 KiB of KV a token
    backend = LocalBackend(big, prefix_cache_tokens=1 << 18, prefix_cache_bytes=40 * 2048)
    assert backend.prefix_cache_tokens == 40
    sp = SamplingParams(max_new_tokens=4, seed=0)
    for k in range(6):  # six sessions of ~13 tokens: only the newest three fit
        await backend.generate([3 + k] + list(range(10, 18)), sp, session_id=f"s{k}")
    assert 0 < backend._prefix_tokens <= 40
    assert list(backend._prefixes) == ["s3", "s4", "s5"]
    await backend.close()
