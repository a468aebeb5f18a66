"""The tiny model's warm start: demonstration examples, turn windows, observation loss, lr schedule."""

from __future__ import annotations

import math

import pytest
import torch

from agentrl.chat import ChatFormat
from agentrl.models import tiny_qwen3
from agentrl.tiny import _supervised, demonstration_examples, lr_factor
from policies.react import ReActPolicy


def test_lr_factor_constant_and_cosine():
    assert all(lr_factor(s, 100, 10, "constant") == 1.0 for s in (0, 50, 99))
    ramp = [lr_factor(s, 100, 10, "cosine") for s in range(10)]
    assert ramp == sorted(ramp) and ramp[0] == pytest.approx(0.1) and ramp[-1] == pytest.approx(1.0)
    decay = [lr_factor(s, 100, 10, "cosine") for s in range(10, 101)]
    assert decay[0] == pytest.approx(1.0) and decay[-1] == pytest.approx(0.0, abs=1e-9)
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)   # half-way through the decay
    with pytest.raises(ValueError, match="'linear'.*constant.*cosine"):
        lr_factor(0, 10, 1, "linear")


EPISODES = [
    [("Find a red mug.", "search[red mug]"), ("Results: 1 red mug", "click[1]"),
     ("Item: red mug", "click[buy now]")],
    [("Find a blue pen.", "search[blue pen]"), ("Results: 1 blue pen", "click[1]"),
     ("Item: blue pen", "click[buy now]")],
]


def _text(tok, ids):
    return tok.decode(ids, skip_special_tokens=False)


def test_demonstration_examples_add_later_turns_alone(bpe_tokenizer):
    fmt, policy = ChatFormat(bpe_tokenizer, chat_template="tiny"), ReActPolicy()
    whole = demonstration_examples(fmt, policy, EPISODES)
    assert len(whole) == 2
    ids, mask = whole[0]
    assert "Observation: Results: 1 red mug" in _text(bpe_tokenizer, ids)   # later turns in context, prefixed
    with_all = demonstration_examples(fmt, policy, EPISODES, turn_windows=1.0, seed=3)
    assert with_all[:2] == whole and len(with_all) == 2 + 4      # two later turns per episode
    windows = {_text(bpe_tokenizer, ids) for ids, _ in with_all[2:]}
    assert len(windows) == 4
    for ids, mask in with_all[2:]:
        text = _text(bpe_tokenizer, ids)
        assert text.count(policy.system()) == 1 and "Find a" not in text        # one page, not the episode
        assert "Observation:" not in text                                       # shown as a first message
        agent = _text(bpe_tokenizer, [i for i, m in zip(ids, mask) if m])
        assert agent.startswith(("click[1]", "click[buy now]")) and agent.count("click[") == 1
    assert len(demonstration_examples(fmt, policy, EPISODES, turn_windows=0.5, seed=3)) == 2 + 2
    with pytest.raises(ValueError, match="turn_windows.*1.5"):
        demonstration_examples(fmt, policy, EPISODES, turn_windows=1.5)


def _observation_loss(model, ids, mask) -> float:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="none")
    obs = 1.0 - torch.tensor(mask[1:], dtype=torch.float32)
    return float((ce * obs).sum() / obs.sum())


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_observation_weight_trains_the_page_tokens(bpe_tokenizer, schedule):
    fmt, policy = ChatFormat(bpe_tokenizer, chat_template="tiny"), ReActPolicy()
    examples = demonstration_examples(fmt, policy, EPISODES)

    def trained(weight: float):
        model = tiny_qwen3(len(bpe_tokenizer), hidden_size=32, num_layers=2, intermediate_size=64, seed=0)
        _supervised(model, examples, epochs=60, seed=0, lr=1e-2, observation_weight=weight, schedule=schedule,
                    log=lambda _: None)
        return model

    start = tiny_qwen3(len(bpe_tokenizer), hidden_size=32, num_layers=2, intermediate_size=64, seed=0)
    ids, mask = examples[0]
    before = _observation_loss(start, ids, mask)
    agent_only, with_pages = _observation_loss(trained(0.0), ids, mask), _observation_loss(trained(1.0), ids, mask)
    assert math.isfinite(before) and with_pages < 0.7 * before
    assert with_pages < 0.7 * agent_only     # the observation loss is what taught the pages


def test_copy_sequences_weight_only_tokens_an_induction_lookup_predicts():
    from agentrl.tiny import copy_sequences

    vocab = range(10, 60)
    ids, weight = copy_sequences(vocab, rows=4, length=128, gen=torch.Generator().manual_seed(0))
    assert ids.shape == weight.shape == (4, 128)
    assert int(ids.min()) >= 10 and int(ids.max()) < 60
    assert 0.15 < float(weight.mean()) < 0.5    # about (k - 1) / (2k + filler), less where a row is cut
    for r in range(4):
        row = ids[r].tolist()
        for j in torch.nonzero(weight[r]).flatten().tolist():
            # the token before j occurred earlier, followed by exactly this token: copying predicts it
            assert any(row[i - 1] == row[j - 1] and row[i] == row[j] for i in range(1, j)), (r, j)
    again, _ = copy_sequences(vocab, rows=4, length=128, gen=torch.Generator().manual_seed(0))
    assert torch.equal(ids, again)


def test_copy_pretrain_is_seeded_and_trains(bpe_tokenizer):
    from agentrl.tiny import copy_pretrain

    runs = []
    for _ in range(2):
        model = tiny_qwen3(64, hidden_size=32, num_layers=2, seed=0)
        before = [p.detach().clone() for p in model.parameters()]
        losses = copy_pretrain(model, range(4, 64), steps=3, seed=5, rows=2, length=64, log=lambda *a: None)
        assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
        assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
        assert not model.training
        runs.append(losses)
    assert runs[0] == runs[1]


def test_build_tiny_leading_turns_and_cached_copy_phase(tmp_path):
    """`sft_leading_turns` adds each of the first k turns of every train task alone; the copy phase is cached
    and reused by a rebuild that changes only the warm start's demonstrations."""
    import json

    from agentrl.config.compose import load_config
    from agentrl.registry import make
    from agentrl.tiny import build_tiny

    def build(*extra: str) -> tuple[dict, list[str]]:
        cfg = load_config(["env=guess", "env.kwargs.high=16", "env.kwargs.max_turns=4",
                           f"model.cache_dir={tmp_path}", "model.tiny.sft_episodes=4", "model.tiny.sft_epochs=1",
                           "model.tiny.hidden_size=32", "model.tiny.num_layers=1", "model.tiny.intermediate_size=64",
                           "model.tiny.vocab_size=300", "model.tiny.sft_noise=0", "model.tiny.copy_steps=2",
                           "model.tiny.sft_first_turns=1", *extra])
        logs: list[str] = []
        out = build_tiny(cfg, log=logs.append)
        return json.loads((out / "agentrl_tiny.json").read_text()), logs

    one, logs_one = build("model.tiny.sft_leading_turns=1")
    two, logs_two = build("model.tiny.sft_leading_turns=2")
    env = make("guess", high=16, max_turns=4)
    with_second_turn = 0
    for task in env.task_ids("train"):
        env.reset(options={"task_id": task})
        env.step(env.oracle_action())
        with_second_turn += not env.done
    assert with_second_turn > 0
    assert two["examples"] - one["examples"] == with_second_turn
    assert any("copy phase: 2 steps" in line for line in logs_one)
    assert any("copy phase: cached" in line for line in logs_two)        # same shape and seed: not trained again
    assert len(list((tmp_path / "tiny" / "copy-phase").glob("*.pt"))) == 1
    _, logs_wider = build("model.tiny.sft_leading_turns=2", "model.tiny.hidden_size=48")
    assert any("copy phase: 2 steps" in line for line in logs_wider)     # another shape: its own copy phase


def test_build_tiny_sets_the_threads_the_config_asks_for(tmp_path):
    """The warm start runs on ``trainer.threads`` intra-op threads (agentrl.eval and agentrl.serve build the
    tiny model too, without a trainer to set them)."""
    from agentrl.config.compose import load_config
    from agentrl.tiny import build_tiny

    before = torch.get_num_threads()
    want = 2 if before != 2 else 1
    cfg = load_config(["env=guess", "env.kwargs.high=8", "env.kwargs.max_turns=3", f"model.cache_dir={tmp_path}",
                       "model.tiny.sft_episodes=2", "model.tiny.sft_epochs=1", "model.tiny.hidden_size=32",
                       "model.tiny.num_layers=1", "model.tiny.intermediate_size=64", "model.tiny.vocab_size=300",
                       f"trainer.threads={want}"])
    try:
        assert (build_tiny(cfg, log=lambda *a: None) / "config.json").exists()
        assert torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)
