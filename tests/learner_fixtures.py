"""Fixtures and spies shared by the learner tests: a chat format, a policy, a tiny model whose D is readable,
and patches that record what the learner computed."""

from __future__ import annotations

import copy

import pytest
import torch

import agentrl.learner.learner as learner_mod
from agentrl.chat import ChatFormat
from agentrl.learner import Learner
from agentrl.learner.logprobs import TokenScorer
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
    # initializer_range 0.1 (not 0.02) makes the random model attend to its context, so τ moves the teacher
    # by D ~ 0.1 as in the paper; with D ~ 1e-4 float32 KL has no significant digits left to compare.
    return tiny_qwen3(len(bpe_tokenizer), hidden_size=32, num_layers=2, intermediate_size=64, seed=2,
                      initializer_range=0.1)


def spy_sc_weights(monkeypatch) -> list:
    """Patch the learner's f(D) weighting to record the active D of every call; returns that list."""
    used: list = []
    real = learner_mod.sc_token_weights

    def spy(kl, active, **kw):
        used.append(kl[active].detach().clone())
        return real(kl, active, **kw)

    monkeypatch.setattr(learner_mod, "sc_token_weights", spy)
    return used


def record_learner_steps(monkeypatch) -> list[tuple[int, list]]:
    """Patch Learner.step to record (weight version during the step, groups) of every learner step."""
    seen: list[tuple[int, list]] = []
    real = Learner.step

    def step(self, groups):
        seen.append((self.step_count, copy.deepcopy(list(groups))))
        return real(self, groups)

    monkeypatch.setattr(Learner, "step", step)
    return seen


def d_direct(model, fmt, policy, plans) -> torch.Tensor:
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
