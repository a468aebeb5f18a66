"""The credit diagnostic (benchmarks/sc_credit.py): parsing the written work, mapping it to tokens, and D / f(D)
on routed groups equal to what a learner step computes, on the tiny random model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from agentrl.chat import ChatFormat
from agentrl.config.schema import AlgoConfig
from agentrl.learner import Learner
from agentrl.trajectory import Trajectory
from policies.base import Policy
from tests.learner_fixtures import base_model, spy_sc_weights  # noqa: F401

_spec = importlib.util.spec_from_file_location(
    "sc_credit", Path(__file__).resolve().parents[1] / "benchmarks" / "sc_credit.py")
sc_credit = importlib.util.module_from_spec(_spec)
sys.modules["sc_credit"] = sc_credit
_spec.loader.exec_module(sc_credit)


def test_parse_steps_and_pivot():
    text = "First, 3 + 4 = 7. Then 7 + 2 = 10.\nAnswer: 10"
    steps = sc_credit.parse_steps(text)
    assert [(s.lhs, s.value, s.expected, s.right) for s in steps] == [("3 + 4", 7, 7, True), ("7 + 2", 10, 9, False)]
    span, kind = sc_credit.pivot_span(text)
    assert kind == "step" and text[span[0]:span[1]] == "10" and span[0] < text.index("Answer")
    # right work, wrong answer: the pivot is the final answer
    text = "3 - 5 + 4 = 2\nAnswer: 3"
    span, kind = sc_credit.pivot_span(text)
    assert kind == "answer" and text[span[0]:span[1]] == "3" and span[0] > text.index("Answer")
    assert sc_credit.parse_steps("2 * 3 + 1 = 7 and 8 / 0 = 1")[0].right
    assert sc_credit.pivot_span("no numbers here") == (None, "none")
    assert sc_credit.pivot_span("it is 5 or 6")[0] == (11, 12)  # no Answer line: the last number


def test_token_char_spans_cover_the_text(bpe_tokenizer):
    text = "So 12 + 7 = 19, then 19 - 3 = 16.\nAnswer: 16"
    ids = bpe_tokenizer.encode(text, add_special_tokens=False)
    decoded, spans = sc_credit.token_char_spans(bpe_tokenizer, ids)
    assert decoded == text and len(spans) == len(ids)
    assert "".join(decoded[a:b] for a, b in spans) == text
    span, _ = sc_credit.pivot_span(text)  # 19 - 3 = 16 is right, so the pivot is the answer
    hit = sc_credit.tokens_in_span(spans, span)
    assert "".join(decoded[a:b] for (a, b), h in zip(spans, hit) if h).strip() == "16"


def _reply(fmt, policy, task_id, text, success):
    t = Trajectory.start(fmt, task_id, "What is 3 + 4 + 2?", system=policy.system())
    ids = fmt.encode(text)
    t.add_generation(ids, [-0.5] * len(ids), text=text)
    t.close_turn(fmt)
    t.success, t.reward = success, float(success)
    t.check()
    return t


def test_credit_rows_match_the_learner(bpe_tokenizer, base_model, monkeypatch):  # noqa: F811
    fmt = ChatFormat(bpe_tokenizer, chat_template="tiny")
    policy = Policy(system_prompt="Solve the task.")
    right = "3 + 4 = 7, 7 + 2 = 9.\nAnswer: 9"
    tau_group = [_reply(fmt, policy, "a", right, True), _reply(fmt, policy, "a", right, True),
                 _reply(fmt, policy, "a", "3 + 4 = 8, 8 + 2 = 10.\nAnswer: 10", False),
                 _reply(fmt, policy, "a", "3 + 4 = 7, 7 + 2 = 9.\nAnswer: 7", False)]
    none_group = [_reply(fmt, policy, "b", f"3 + 4 = {v}.\nAnswer: {v}", False) for v in (5, 6, 8, 1)]
    groups = [tau_group, none_group]
    cfg = AlgoConfig(name="sc_grpo", lr=1e-12)
    learner = Learner(base_model, fmt, policy, cfg, seed=3)
    rows, plans = sc_credit.credit_rows(learner, groups, bpe_tokenizer)
    assert sorted(gp.route for gp in plans) == ["solve_none", "tau"] and learner.step_count == 0
    assert sorted(r.route for r in rows) == ["solve_none"] * 3 + ["tau"] * 4
    for r in rows:
        assert r.d.shape == r.w.shape == r.pivot.shape and bool(((r.w >= 0) & (r.w < 1)).all())
        assert r.pivot.any() and "".join(t for t, p in zip(r.token_strs, r.pivot.tolist()) if p).strip().isdigit()
    wrong_step = next(r for r in rows if r.route == "tau" and r.text.startswith("3 + 4 = 8"))
    assert wrong_step.pivot_kind == "step"
    assert "".join(t for t, p in zip(wrong_step.token_strs, wrong_step.pivot.tolist()) if p).strip() == "8"
    # the learner's own step (same seed and step count, so the same τ draws) sees the same D
    used = spy_sc_weights(monkeypatch)
    learner.step(groups)
    ours = torch.sort(torch.cat([r.d for r in rows])).values
    theirs = torch.sort(torch.cat(used)).values
    assert ours.shape == theirs.shape and torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    res = sc_credit.summarize(rows)
    assert res["active_tokens"] == ours.numel() and res["focus_tau_wrong"]["rollouts"] == 2
    assert res["focus_solve_none"]["rollouts"] == 3 and res["focus_solve_none"]["pooled"] > 0
    assert "solve-none (o_r guide)" in sc_credit.table(res)
    heat = sc_credit.heatmaps(rows, 3)
    assert len(heat) == 3 and not heat[0].title.count("right")


def test_bad_arguments_are_one_line_errors(capsys):
    with pytest.raises(SystemExit):
        sc_credit.main(["--tasks", "0"])
    assert "--tasks 0" in capsys.readouterr().err
