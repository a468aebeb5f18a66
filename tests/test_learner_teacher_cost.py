"""Where the SC-GRPO step spends its teacher work: never in backward, once per self-conditioned token, and the
D the update uses equals D taken directly from the step's starting weights."""

from __future__ import annotations

import copy

import pytest
import torch
from learner_utils import make_group
from torch.utils.checkpoint import set_checkpoint_early_stop

import agentrl.learner.learner as learner_mod
import agentrl.learner.logprobs as logprobs_mod
from agentrl.chat import ChatFormat
from agentrl.config.schema import AlgoConfig
from agentrl.learner import Learner
from agentrl.learner.logprobs import TokenScorer, token_scores
from agentrl.learner.teacher import TeacherJob, agent_positions, teacher_hidden_states
from agentrl.models import tiny_qwen3
from policies.base import Policy


@pytest.fixture(scope="module")
def fmt(bpe_tokenizer):
    return ChatFormat(bpe_tokenizer, chat_template="tiny")


@pytest.fixture(scope="module")
def policy():
    return Policy(system_prompt="You are a helpful assistant.")


@pytest.fixture(scope="module")
def base_model(bpe_tokenizer):
    return tiny_qwen3(len(bpe_tokenizer), hidden_size=32, num_layers=2, intermediate_size=64, seed=2,
                      initializer_range=0.1)


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


def _d_direct(model, fmt, policy, plans):
    """D per self-conditioned rollout, one rollout at a time, teacher and student from ``model``."""
    scorer = TokenScorer(copy.deepcopy(model)).eval()
    sc = [p for p in plans if p.sc]
    with torch.no_grad():
        hidden, _ = teacher_hidden_states(scorer, fmt, policy, [TeacherJob(p.traj, p.reference, p.verified)
                                                                for p in sc], token_budget=10_000)
        out = []
        for p, h in zip(sc, hidden):
            pos = agent_positions(p.traj)
            s = scorer(torch.tensor([p.traj.token_ids]), torch.tensor([t - 1 for t in pos]),
                       targets=torch.tensor([p.traj.token_ids[t] for t in pos]), teacher_hidden=h,
                       teacher_rows=torch.arange(len(pos)))
            out.append(s.kl)
    return torch.cat(out)


@pytest.mark.parametrize("tokens", [100_000, 120])
def test_the_updates_d_equals_d_from_the_starting_weights(base_model, fmt, policy, groups, monkeypatch, tokens):
    used = []
    real = learner_mod.sc_token_weights

    def spy(kl, active, **kw):
        used.append(kl[active].detach().clone())
        return real(kl, active, **kw)

    monkeypatch.setattr(learner_mod, "sc_token_weights", spy)
    cfg = AlgoConfig(name="sc_grpo", micro_batch_tokens=tokens)
    Learner(copy.deepcopy(base_model), fmt, policy, cfg).step(groups)
    probe = Learner(copy.deepcopy(base_model), fmt, policy, cfg)
    probe.step_count = 1
    want = _d_direct(base_model, fmt, policy, [p for gp in probe.route(groups)[0] for p in gp.rollouts])
    got = torch.cat(used)
    assert got.numel() == want.numel() and float(want.mean()) > 1e-2
    assert torch.allclose(got.sort().values, want.sort().values, atol=1e-6, rtol=1e-5)
