"""Conformance of token-in/token-out trajectories across chat templates.

For every supported template a multi-turn conversation is built turn by turn (prompt, generated ids,
observation deltas) and compared with the template's own rendering of the whole conversation: the ids must
be identical, the mask must be 1 exactly on the generated ids, and generated ids must never be changed.
"""

from __future__ import annotations

import pytest

from agentrl import ChatFormat, TemplateError, Trajectory
from tests.conftest import template_text

SYSTEM = "You are a helpful assistant. Solve the task step by step."
CONVERSATION = [  # (assistant reply, next env message, its role)
    ("guess[16]", "16 is wrong; the number is higher.", "user"),
    ("guess[24]", "Execution successful.\nOutput: 24 is wrong", "tool"),
    ("guess[20]", "Correct, the number is 20.", "user"),
]
THINK_CONVERSATION = [
    ("<think>\nThe range is 1..32, so start in the middle.\n</think>\n\nguess[16]", "16 is wrong; higher.", "user"),
    ("<think>\nNow 17..32.\n</think>\n\nguess[24]", "24 is wrong; lower.", "user"),
]

TEMPLATES = {  # name -> (template, template_kwargs, conversation)
    "tiny (built-in)": ("tiny", {}, CONVERSATION),
    "chatml (Qwen2.5 style)": (template_text("chatml"), {}, CONVERSATION),
    "llama3": (template_text("llama3"), {}, CONVERSATION),
    "smollm2 (ChatML with a default system message)": (template_text("smollm2"), {}, CONVERSATION),
    "qwen3_keep_think (thinking)": ("qwen3_keep_think", {}, THINK_CONVERSATION),
    "qwen3_keep_think (no thinking)": ("qwen3_keep_think", {"enable_thinking": False}, CONVERSATION),
}


def _build(fmt: ChatFormat, conversation, *, stop: bool = True, generated_ids=None):
    first = "I am thinking of an integer between 1 and 32. Answer with guess[N]."
    traj = Trajectory.start(fmt, "t0", first, system=SYSTEM)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": first}]
    stop_id = fmt.stop_token_ids[0]
    for i, (reply, obs, role) in enumerate(conversation):
        ids = generated_ids[i] if generated_ids else fmt.encode(reply) + ([stop_id] if stop else [])
        traj.add_generation(ids, [-0.5] * len(ids), text=reply)
        traj.add_message(fmt, obs, role)
        messages += [{"role": "assistant", "content": reply}, {"role": role, "content": obs}]
    return traj, messages


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_multi_turn_ids_match_full_rendering(bpe_tokenizer, name):
    template, kwargs, conversation = TEMPLATES[name]
    fmt = ChatFormat(bpe_tokenizer, chat_template=template, template_kwargs=kwargs)
    traj, messages = _build(fmt, conversation)
    expected = fmt.encode(fmt.render(messages, add_generation_prompt=True))
    assert traj.token_ids == expected
    traj.check()
    # the mask is 1 exactly on the generated spans, and those hold reply + stop token
    for turn, (reply, _, _) in zip(traj.turns, conversation):
        span = traj.token_ids[turn.gen_start:turn.gen_end]
        assert span == fmt.encode(reply) + [fmt.stop_token_ids[0]]
        assert all(traj.loss_mask[turn.gen_start:turn.gen_end])
        assert traj.logprobs[turn.gen_start:turn.gen_end] == [-0.5] * len(span)
    assert traj.num_agent_tokens == sum(t.gen_end - t.gen_start for t in traj.turns)
    # the system part is exactly the rendered system message (what a self-teacher replaces)
    assert traj.token_ids[:traj.system_len] == fmt.system_ids(SYSTEM)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_generated_ids_are_kept_verbatim_even_when_not_canonical(bpe_tokenizer, name):
    """A model may sample a non-canonical tokenisation; agentrl keeps those exact ids (no drift)."""
    template, kwargs, conversation = TEMPLATES[name]
    fmt = ChatFormat(bpe_tokenizer, chat_template=template, template_kwargs=kwargs)
    odd = []
    for reply, _, _ in conversation:  # one token per byte: decodes to the same text, different ids
        byte_ids = [bpe_tokenizer.convert_tokens_to_ids(t) for t in bpe_tokenizer.tokenize(reply)]
        split = [i for tok_id in byte_ids for i in _bytes_of(bpe_tokenizer, tok_id)]
        odd.append(split + [fmt.stop_token_ids[0]])
    traj, _ = _build(fmt, conversation, generated_ids=odd)
    for turn, ids in zip(traj.turns, odd):
        assert traj.token_ids[turn.gen_start:turn.gen_end] == ids
    assert [traj.token_ids[i] for i, m in enumerate(traj.loss_mask) if m] == [i for ids in odd for i in ids]
    traj.check()


def _bytes_of(tok, token_id):
    """Split one BPE token into its single-character (byte-level) tokens, where they exist."""
    piece = tok.convert_ids_to_tokens(token_id)
    if piece in tok.added_tokens_encoder:
        return [token_id]
    ids = [tok.convert_tokens_to_ids(ch) for ch in piece]
    return ids if all(i is not None and i != tok.unk_token_id for i in ids) else [token_id]


@pytest.mark.parametrize("name", ["tiny (built-in)", "chatml (Qwen2.5 style)", "llama3",
                                  "smollm2 (ChatML with a default system message)"])
def test_cut_off_generation_is_closed_by_template_tokens_with_mask_zero(bpe_tokenizer, name):
    template, kwargs, conversation = TEMPLATES[name]
    fmt = ChatFormat(bpe_tokenizer, chat_template=template, template_kwargs=kwargs)
    traj, messages = _build(fmt, conversation, stop=False)  # no stop token: every turn hit max_new_tokens
    assert traj.token_ids == fmt.encode(fmt.render(messages, add_generation_prompt=True))
    stop = fmt.stop_token_ids[0]
    for turn in traj.turns:
        assert stop not in traj.token_ids[turn.gen_start:turn.gen_end]
        assert traj.token_ids[turn.gen_end] == stop and traj.loss_mask[turn.gen_end] == 0
    traj.check()


def test_history_rewriting_template_is_refused_with_name_and_fix(bpe_tokenizer):
    with pytest.raises(TemplateError) as e:
        ChatFormat(bpe_tokenizer, chat_template=template_text("qwen3"), name="qwen3-fixture")
    msg = str(e.value)
    assert "qwen3-fixture" in msg and "not prefix-preserving" in msg
    assert "qwen3_keep_think" in msg and "model.chat_template" in msg


def test_template_that_changes_assistant_content_is_refused(bpe_tokenizer):
    upper = ("{%- for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] | upper + '<|end|>' }}"
             "{%- endfor %}{%- if add_generation_prompt %}{{ '<|assistant|>' }}{%- endif %}")
    with pytest.raises(TemplateError, match="content was changed"):
        ChatFormat(bpe_tokenizer, chat_template=upper, name="upper")


def test_missing_template_and_unknown_builtin_are_clear_errors(bpe_tokenizer):
    import copy

    tok = copy.deepcopy(bpe_tokenizer)
    tok.chat_template = None
    with pytest.raises(TemplateError, match="has no chat template"):
        ChatFormat(tok)
    with pytest.raises(ValueError, match="unknown built-in chat template 'nope'.*tiny"):
        ChatFormat(bpe_tokenizer, chat_template="nope")


def test_stop_tokens_follow_the_template(bpe_tokenizer):
    tiny = ChatFormat(bpe_tokenizer, chat_template="tiny")
    llama = ChatFormat(bpe_tokenizer, chat_template=template_text("llama3"))
    assert bpe_tokenizer.convert_ids_to_tokens(tiny.stop_token_ids[0]) == "<|end|>"
    assert bpe_tokenizer.convert_ids_to_tokens(llama.stop_token_ids[0]) == "<|eot_id|>"
