"""Where the SC-GRPO step spends its teacher work: never in backward, once per self-conditioned token, and the
D the update uses equals D taken directly from the step's starting weights."""

from __future__ import annotations

import copy

import pytest
import torch
from learner_fixtures import base_model, d_direct, fmt, policy, spy_sc_weights  # noqa: F401 - fixtures
from learner_utils import make_group
from torch.utils.checkpoint import set_checkpoint_early_stop

import agentrl.learner.logprobs as logprobs_mod
from agentrl.config.schema import AlgoConfig
from agentrl.learner import Learner
from agentrl.learner.logprobs import token_scores


@pytest.fixture(scope="module")
def groups(fmt, policy):
    v = len(fmt.tokenizer)
    return [make_group(fmt, policy, "a", [1, 0, 1, 0, 0], seed=1, vocab=v),      # tau
            make_group(fmt, policy, "b", [0, 0.3, 0, 0.1], seed=2, vocab=v),     # solve-none
            make_group(fmt, policy, "c", [1, 0, 0], seed=3, vocab=v)]            # n_c = 1


@pytest.fixture
def teacher_rows(monkeypatch):
    """Rows the chunked head projects through the teacher, one entry per call (with grad mode at call time)."""
    calls: list[int] = []
    real = logprobs_mod._teacher_kl

    def spy(logp_all, teacher, rows, *args):
        calls.append(int(rows.numel()))
        return real(logp_all, teacher, rows, *args)

    monkeypatch.setattr(logprobs_mod, "_teacher_kl", spy)
    return calls


@pytest.mark.parametrize("early_stop", [True, False])
def test_backward_never_projects_the_teacher(teacher_rows, early_stop):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(40, 16, generator=g, requires_grad=True)
    w = torch.randn(300, 16, generator=g, requires_grad=True)
    y = torch.randint(0, 300, (40,), generator=g)
    rows = torch.tensor([0, 5, 6, 20, 39])
    with set_checkpoint_early_stop(early_stop):  # the skip holds whether or not checkpoint stops early
        s = token_scores(h, w, y, teacher_hidden=torch.randn(5, 16, generator=g), teacher_rows=rows, chunk=8)
    forward = list(teacher_rows)
    assert sum(forward) == 5 and len(forward) == 3  # the chunks 0, 2 and 4 hold teacher rows
    s.logp.sum().backward()
    assert teacher_rows == forward and h.grad is not None


def test_each_self_conditioned_token_meets_the_teacher_once(base_model, fmt, policy, groups, teacher_rows):
    learner = Learner(copy.deepcopy(base_model), fmt, policy, AlgoConfig(name="sc_grpo", micro_batch_tokens=120))
    learner.step(groups)
    probe = Learner(copy.deepcopy(base_model), fmt, policy, learner.cfg)
    probe.step_count = 1
    sc_tokens = sum(p.traj.num_agent_tokens for gp in probe.route(groups)[0] for p in gp.rollouts if p.sc)
    assert sum(teacher_rows) == sc_tokens  # the solve-none rows in the no-gradient pass only, none in backward


@pytest.mark.parametrize("tokens", [100_000, 120])
def test_the_updates_d_equals_d_from_the_starting_weights(base_model, fmt, policy, groups, monkeypatch, tokens):
    used = spy_sc_weights(monkeypatch)
    cfg = AlgoConfig(name="sc_grpo", micro_batch_tokens=tokens)
    Learner(copy.deepcopy(base_model), fmt, policy, cfg).step(groups)
    probe = Learner(copy.deepcopy(base_model), fmt, policy, cfg)
    probe.step_count = 1
    want = d_direct(base_model, fmt, policy, [p for gp in probe.route(groups)[0] for p in gp.rollouts])
    got = torch.cat(used)
    assert got.numel() == want.numel() and float(want.mean()) > 1e-2
    assert torch.allclose(got.sort().values, want.sort().values, atol=1e-6, rtol=1e-5)
