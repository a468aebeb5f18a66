"""The learner's loss and gradients against a reference written here from ALGORITHM.md's formula."""

from __future__ import annotations

import copy

import pytest
import torch
from learner_fixtures import base_model, fmt, policy  # noqa: F401 - fixtures
from learner_utils import make_group

import agentrl.learner.learner as learner_mod
from agentrl.config.schema import AlgoConfig
from agentrl.learner import Learner
from agentrl.learner.teacher import agent_positions, teacher_input_ids


@pytest.fixture(scope="module")
def groups(fmt, policy):
    v = len(fmt.tokenizer)
    return [make_group(fmt, policy, "a", [1, 0, 1, 0, 0], seed=1, vocab=v),      # tau
            make_group(fmt, policy, "b", [0, 0.3, 0, 0.1], seed=2, vocab=v),     # solve-none (partial rewards)
            make_group(fmt, policy, "c", [1, 0, 0], seed=3, vocab=v),            # n_c = 1
            make_group(fmt, policy, "d", [1, 1, 1], seed=4, vocab=v)]            # n_c = G


def sgd_learner(model, fmt, policy, cfg):
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    return Learner(model, fmt, policy, cfg, optimizer=opt)


def learner_grads(base_model, fmt, policy, cfg, groups):
    """(loss, gradient per parameter) of one learner step, read back from an SGD(lr=1) update."""
    model = copy.deepcopy(base_model)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    metrics = sgd_learner(model, fmt, policy, cfg).step(groups)
    return metrics, {k: before[k] - v.detach() for k, v in model.named_parameters()}


def reference(base_model, fmt, policy, cfg, groups):
    """The objective written directly from the formula, with full logits and autograd."""
    model = copy.deepcopy(base_model).train()
    probe = Learner(copy.deepcopy(base_model), fmt, policy, cfg)
    probe.step_count = 1  # the learner's first step draws τ with this step number
    plans, _ = probe.route(groups)
    num_seqs = sum(len(gp.rollouts) for gp in plans)
    num_tokens = sum(p.traj.num_agent_tokens for gp in plans for p in gp.rollouts)

    def student_logp_and_d(p):
        t = p.traj
        pos = agent_positions(t)
        ls = model(input_ids=torch.tensor([t.token_ids])).logits[0, [i - 1 for i in pos]].float().log_softmax(-1)
        logp = ls.gather(-1, torch.tensor([t.token_ids[i] for i in pos])[:, None]).squeeze(-1)
        d = None
        if p.sc:
            with torch.no_grad():
                model.eval()
                t_ids = teacher_input_ids(fmt, policy, t, p.reference, verified=p.verified)
                shift = len(t_ids) - len(t.token_ids)
                lt = model(input_ids=torch.tensor([t_ids])).logits[0, [i - 1 + shift for i in pos]]
                lt = lt.float().log_softmax(-1)
                model.train()
            d = (lt.exp() * (lt - ls.detach())).sum(-1)
        return logp, d

    rows = []
    for gp in plans:
        adv = [p.advantage for p in gp.rollouts]
        outs = [student_logp_and_d(p) if not p.excluded else (None, None) for p in gp.rollouts]
        if gp.route == "solve_none":  # s_i = mean f(D) over the first min(|o_i|, |o_r|) tokens, c of the group
            ref_len = gp.rollouts[gp.reference_index].traj.num_agent_tokens
            ds = torch.cat([d for (_, d), p in zip(outs, gp.rollouts) if not p.excluded])
            c = max(float(torch.quantile(ds.double(), 0.75)), cfg.sc.c_min)
            s = torch.tensor([float((d[:ref_len] / (d[:ref_len] + c)).mean())
                              for (_, d), p in zip(outs, gp.rollouts) if not p.excluded], dtype=torch.float64)
            a = (cfg.sc.alpha * (s - s.mean()) / (s.std() + cfg.adv_eps)).tolist()
            adv = [0.0 if p.excluded else a.pop(0) for p in gp.rollouts]
        for p, a, (logp, d) in zip(gp.rollouts, adv, outs):
            if not p.excluded:
                rows.append((p, a, logp, d))
    active = [d for _, _, _, d in rows if d is not None]
    c = max(float(torch.quantile(torch.cat(active).double(), 0.75)), cfg.sc.c_min) if active else None
    loss = 0.0
    for p, a, logp, d in rows:
        w = d / (d + c) if d is not None else torch.ones_like(logp)
        ratio = torch.exp(logp - logp.detach())
        surrogate = torch.minimum(ratio * a, ratio.clamp(1 - cfg.clip_low, 1 + cfg.clip_high) * a)
        tok = -w * surrogate
        if cfg.tis_cap is not None:
            rollout_lp = torch.tensor([p.traj.logprobs[i] for i in agent_positions(p.traj)])
            tok = tok * torch.exp(logp.detach() - rollout_lp).clamp(max=cfg.tis_cap)
        if cfg.loss_agg == "seq-mean-token-mean":
            loss = loss + tok.sum() / tok.numel() / num_seqs
        else:
            loss = loss + tok.sum() / num_tokens
    loss.backward()
    return float(loss.detach()), {k: v.grad if v.grad is not None else torch.zeros_like(v)
                         for k, v in model.named_parameters()}


@pytest.mark.parametrize("loss_agg,tis_cap", [("seq-mean-token-mean", None), ("token-mean", None),
                                              ("seq-mean-token-mean", 1.5)])
def test_sc_grpo_loss_and_gradients_equal_the_formula(base_model, fmt, policy, groups, loss_agg, tis_cap):
    cfg = AlgoConfig(name="sc_grpo", loss_agg=loss_agg, tis_cap=tis_cap, micro_batch_tokens=100_000,
                     max_grad_norm=1e9)
    metrics, grads = learner_grads(base_model, fmt, policy, cfg, groups)
    want_loss, want_grads = reference(base_model, fmt, policy, cfg, groups)
    assert metrics["route/tau"] == metrics["route/solve_none"] == 0.25
    assert metrics["loss"] == pytest.approx(want_loss, rel=1e-4, abs=1e-7)
    total = sum(float(g.abs().sum()) for g in want_grads.values())
    assert total > 1e-4
    for k, g in want_grads.items():
        assert torch.allclose(grads[k], g, atol=2e-5, rtol=1e-3), (k, (grads[k] - g).abs().max())


def test_all_weights_one_gives_grpo(base_model, fmt, policy, groups, monkeypatch):
    mid = [groups[0], make_group(fmt, policy, "e", [1, 1, 0, 0], seed=5, vocab=len(fmt.tokenizer))]
    grpo = learner_grads(base_model, fmt, policy, AlgoConfig(name="grpo", max_grad_norm=1e9), mid)
    sc = learner_grads(base_model, fmt, policy, AlgoConfig(name="sc_grpo", max_grad_norm=1e9), mid)
    assert sc[0]["loss"] != pytest.approx(grpo[0]["loss"], rel=1e-3), "f(D) must change the loss"
    monkeypatch.setattr(learner_mod, "sc_token_weights", lambda kl, active, **_: (torch.ones_like(kl), 1.0))
    forced = learner_grads(base_model, fmt, policy, AlgoConfig(name="sc_grpo", max_grad_norm=1e9), mid)
    assert forced[0]["route/tau"] == 1.0
    assert forced[0]["loss"] == pytest.approx(grpo[0]["loss"], rel=1e-5, abs=1e-8)
    for k in grpo[1]:
        assert torch.allclose(forced[1][k], grpo[1][k], atol=1e-6)


@pytest.mark.parametrize("loss_agg", ["seq-mean-token-mean", "token-mean"])
def test_micro_batching_accumulates_to_the_full_batch_gradient(base_model, fmt, policy, groups, loss_agg):
    big = learner_grads(base_model, fmt, policy, AlgoConfig(name="grpo", loss_agg=loss_agg,
                                                            micro_batch_tokens=100_000), groups)
    small = learner_grads(base_model, fmt, policy, AlgoConfig(name="grpo", loss_agg=loss_agg,
                                                              micro_batch_tokens=40), groups)
    assert small[0]["loss"] == pytest.approx(big[0]["loss"], rel=1e-5, abs=1e-8)
    assert small[0]["grad_norm"] == pytest.approx(big[0]["grad_norm"], rel=1e-4)
    for k in big[1]:
        assert torch.allclose(small[1][k], big[1][k], atol=1e-6)


def test_failed_rollouts_change_nothing(base_model, fmt, policy, groups):
    bad = copy.deepcopy(groups[0][1])
    bad.error, bad.reward, bad.success = "env crashed", 1.0, True
    with_failed = [groups[0] + [bad]] + groups[1:]
    a = learner_grads(base_model, fmt, policy, AlgoConfig(name="sc_grpo"), groups)
    b = learner_grads(base_model, fmt, policy, AlgoConfig(name="sc_grpo"), with_failed)
    assert b[0]["rollouts/failed"] == 1.0 and a[0]["loss"] == pytest.approx(b[0]["loss"], rel=1e-6)


def test_dynamic_sampling_drops_uninformative_groups(base_model, fmt, policy, groups):
    cfg = AlgoConfig(name="dapo", dynamic_sampling=True, clip_high=0.28, loss_agg="token-mean")
    m, g = learner_grads(base_model, fmt, policy, cfg, groups)
    assert m["groups/dropped"] == 1.0 and m["groups/kept"] == 3.0  # the all-correct group
    m2, g2 = learner_grads(base_model, fmt, policy, cfg, [groups[0], groups[1], groups[2]])
    assert m["loss"] == pytest.approx(m2["loss"])


def test_several_updates_per_batch_use_pi_old_from_before_the_first(base_model, fmt, policy, groups):
    cfg = AlgoConfig(name="sc_grpo", updates_per_batch=2, max_grad_norm=1e9)
    model = copy.deepcopy(base_model)
    m = Learner(model, fmt, policy, cfg, optimizer=torch.optim.SGD(model.parameters(), lr=50.0)).step(groups)
    assert m["pg_clipfrac"] > 0, "after the first update the ratio moves away from 1 and gets clipped"


def test_rejects_kl_penalty(base_model, fmt, policy):
    with pytest.raises(ValueError, match="kl_coef"):
        Learner(copy.deepcopy(base_model), fmt, policy, AlgoConfig(kl_coef=0.1))


def test_gradient_checkpointing_gives_the_same_update(base_model, fmt, policy, groups):
    cfg = AlgoConfig(name="sc_grpo", max_grad_norm=1e9)
    plain = learner_grads(base_model, fmt, policy, cfg, groups)
    model = copy.deepcopy(base_model)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    m = Learner(model, fmt, policy, cfg, optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
                gradient_checkpointing=True).step(groups)
    assert model.model.gradient_checkpointing
    assert m["loss"] == pytest.approx(plain[0]["loss"], rel=1e-5)
    for k, v in model.named_parameters():
        assert torch.allclose(before[k] - v.detach(), plain[1][k], atol=1e-6)


def test_malformed_input_is_named(base_model, fmt, policy, groups):
    learner = Learner(copy.deepcopy(base_model), fmt, policy, AlgoConfig())
    with pytest.raises(TypeError, match=r"groups\[0\] must be a list of Trajectory"):
        learner.step([groups[0][0]])
    bad = copy.deepcopy(groups[0])
    bad[2].loss_mask = bad[2].loss_mask[:-1]
    with pytest.raises(ValueError, match=r"groups\[1\]\[2\] \(task 'a'\) is malformed"):
        learner.step([groups[1], bad])
    assert learner.step_count == 0
