"""Async training: agent tokens dropped for staleness (``keep`` = 0) count nowhere -- not in c's percentile, not
in the solve-none s_i, not in the loss denominators. A batch whose stale tokens sit at the end of rollouts must
train exactly like the same batch with those tokens cut off (causal attention: the kept tokens' log-probs and D
do not see what follows them)."""

from __future__ import annotations

import copy

import pytest
import torch
from learner_fixtures import base_model, fmt, policy  # noqa: F401 - fixtures
from learner_utils import make_group

from agentrl.config.schema import AlgoConfig
from agentrl.learner import Learner
from agentrl.trajectory import Trajectory


def cut_tail(t: Trajectory, keep_tokens: int) -> Trajectory:
    """``t`` ending after its first ``keep_tokens`` agent tokens (its last turn shortened)."""
    pos = [i for i, m in enumerate(t.loss_mask) if m]
    end = pos[keep_tokens - 1] + 1
    c = copy.deepcopy(t)
    c.token_ids, c.loss_mask, c.logprobs, c.versions = (x[:end] for x in (t.token_ids, t.loss_mask, t.logprobs,
                                                                          t.versions))
    c.turns = [turn for turn in c.turns if turn.gen_start < end]
    c.turns[-1].gen_end = min(c.turns[-1].gen_end, end)
    c.check()
    return c


def mark_stale(t: Trajectory, keep_tokens: int) -> Trajectory:
    """``t`` whose agent tokens after the first ``keep_tokens`` were sampled one version back (-1)."""
    c = copy.deepcopy(t)
    c._sync_versions()
    seen = 0
    for i, m in enumerate(c.loss_mask):
        if m:
            seen += 1
            c.versions[i] = 0 if seen <= keep_tokens else -1
    return c


@pytest.fixture(scope="module")
def batches(fmt, policy, base_model):
    """(stale batch, the same batch cut) for a τ group, a solve-none group and an n_c = 1 group; only rollouts
    that are never a reference get a stale tail (cutting a reference would change the teacher's τ)."""
    v = len(fmt.tokenizer)
    groups = [make_group(fmt, policy, "a", [1, 0, 1, 0, 0], seed=1, turns=3, vocab=v),
              make_group(fmt, policy, "b", [0, 0.3, 0, 0.1, 0], seed=2, turns=3, vocab=v),
              make_group(fmt, policy, "c", [1, 0, 0, 0], seed=3, turns=3, vocab=v)]
    probe = Learner(copy.deepcopy(base_model), fmt, policy, AlgoConfig(name="sc_grpo"))
    probe.step_count = 1
    plans = probe.route(groups)[0]
    refs = {id(p.reference) for gp in plans for p in gp.rollouts if p.reference is not None}
    stale, cut = [], []
    for g in groups:
        sg, cg = [], []
        for k, t in enumerate(g):
            n = t.num_agent_tokens
            keep = n if id(t) in refs else max(1, n - 3 - 2 * k)  # every rollout keeps some tokens
            sg.append(mark_stale(t, keep))
            cg.append(cut_tail(t, keep) if keep < n else copy.deepcopy(t))
        stale.append(sg)
        cut.append(cg)
    assert sum(t.num_agent_tokens for g in cut for t in g) < sum(t.num_agent_tokens for g in groups for t in g)
    return stale, cut


def run(base_model, fmt, policy, cfg, groups):
    model = copy.deepcopy(base_model)
    learner = Learner(model, fmt, policy, cfg, optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    learner.max_staleness = 0
    m = learner.step(groups)
    return m, torch.cat([(a - b).flatten() for a, b in zip(base_model.parameters(), model.parameters())])


@pytest.mark.parametrize("agg,scope", [("seq-mean-token-mean", "micro_batch"), ("token-mean", "step"),
                                       ("seq-mean-token-mean", "step")])
def test_stale_tokens_count_nowhere(base_model, fmt, policy, batches, agg, scope):
    stale, cut = batches
    cfg = AlgoConfig(name="sc_grpo", loss_agg=agg, micro_batch_tokens=100_000, sc={"c_scope": scope})
    m_stale, g_stale = run(base_model, fmt, policy, cfg, stale)
    m_cut, g_cut = run(base_model, fmt, policy, cfg, cut)
    assert m_cut["route/solve_none"] > 0 and m_cut["route/tau"] > 0 and abs(m_cut["loss"]) > 1e-6
    assert m_stale["sc/c_mean"] == pytest.approx(m_cut["sc/c_mean"], rel=1e-5)           # c over kept D
    assert m_stale["sc/active_tokens"] == m_cut["sc/active_tokens"]
    assert m_stale["loss"] == pytest.approx(m_cut["loss"], rel=1e-4, abs=1e-7)          # the denominators
    assert float((g_stale - g_cut).norm() / g_cut.norm()) < 1e-4                         # s_i and the rest
