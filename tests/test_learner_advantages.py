"""f(D), c with its floor, GRPO/DAPO advantages and every SC-GRPO routing case on hand-made groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from learner_fixtures import fmt  # noqa: F401 - fixture
from learner_utils import make_group

from agentrl.config.schema import AlgoConfig
from agentrl.learner.advantages import (diversity_advantages, f_weight, is_informative, normalize,
                                        overlong_penalty, percentile_c, route_group)
from agentrl.learner.loss import sc_token_weights
from policies.base import Policy


@pytest.fixture(scope="module")
def policy():
    return Policy(system_prompt="SYS")


def group(fmt, policy, rewards, seed=0):
    return make_group(fmt, policy, f"task-{seed}", rewards, seed=seed, turns=1, gen_len=4)


# ---------------------------------------------------------------- f(D) and c
def test_c_is_the_75th_percentile_and_f_is_half_there():
    d = torch.tensor([0.01, 0.5, 0.02, 0.2, 0.07, 0.0, 0.9, 0.03])
    c = percentile_c(d, 75.0, 1e-4)
    assert c == pytest.approx(float(np.percentile(d.numpy(), 75)), rel=1e-6)
    w = f_weight(d, c)
    assert torch.all((w >= 0) & (w < 1))
    assert float(f_weight(torch.tensor(c), c)) == pytest.approx(0.5)
    assert torch.allclose(w, d / (d + c))


def test_c_has_a_floor():
    d = torch.full((10,), 1e-7)
    assert percentile_c(d, 75.0, 1e-4) == 1e-4
    assert percentile_c(torch.zeros(0), 75.0, 1e-4) == 1e-4
    w, c = sc_token_weights(d, torch.ones(10, dtype=torch.bool), c_min=1e-4)
    assert c == 1e-4 and torch.allclose(w, d / (d + 1e-4))


def test_weights_only_on_active_tokens_and_c_only_from_them():
    kl = torch.tensor([0.1, 0.2, 0.3, 0.4, 100.0, 200.0])
    active = torch.tensor([True, True, True, True, False, False])
    w, c = sc_token_weights(kl, active)
    assert c == pytest.approx(float(np.percentile([0.1, 0.2, 0.3, 0.4], 75)))
    assert torch.all(w[~active] == 1) and torch.allclose(w[active], kl[active] / (kl[active] + c))


# ---------------------------------------------------------------- advantages
def test_grpo_advantage_formula():
    r = [1.0, 0.0, 0.0, 1.0, 0.5]
    t = torch.tensor(r, dtype=torch.float64)
    assert normalize(r) == pytest.approx(((t - t.mean()) / (t.std() + 1e-6)).tolist())
    assert normalize(r, unbiased=False) == pytest.approx(((t - t.mean()) / (t.std(unbiased=False) + 1e-6)).tolist())
    assert normalize([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0] and normalize([3.0]) == [0.0]


def test_soft_overlong_penalty():
    assert overlong_penalty(700, 1000, 200) == 0.0
    assert overlong_penalty(800, 1000, 200) == 0.0
    assert overlong_penalty(900, 1000, 200) == pytest.approx(-0.5)
    assert overlong_penalty(1000, 1000, 200) == pytest.approx(-1.0)
    assert overlong_penalty(5000, 1000, 200) == -1.0


def test_overlong_penalty_enters_the_advantage(fmt, policy):
    g = group(fmt, policy, [1.0, 1.0, 0.0, 0.0])
    cfg = AlgoConfig(name="dapo", overlong_penalty=True, overlong_max_tokens=g[0].num_agent_tokens,
                     overlong_cache_tokens=g[0].num_agent_tokens - 1)
    shaped = [t.reward + overlong_penalty(t.num_agent_tokens, cfg.overlong_max_tokens, cfg.overlong_cache_tokens)
              for t in g]
    assert any(s != t.reward for s, t in zip(shaped, g))
    plan = route_group(g, cfg, np.random.default_rng(0))
    assert [p.advantage for p in plan.rollouts] == pytest.approx(normalize(shaped))


def test_success_bonus_lifts_only_correct_rollouts(fmt, policy):
    g = group(fmt, policy, [1.0, 0.9, 0.5, 0.0, 1.2])           # partial credit: only 1.0 and 1.2 succeed
    plain = route_group(g, AlgoConfig(name="grpo"), np.random.default_rng(0))
    bonus = route_group(g, AlgoConfig(name="grpo", success_bonus=1.0), np.random.default_rng(0))
    assert [p.advantage for p in plain.rollouts] == pytest.approx(normalize([1.0, 0.9, 0.5, 0.0, 1.2]))
    assert [p.advantage for p in bonus.rollouts] == pytest.approx(normalize([2.0, 0.9, 0.5, 0.0, 2.2]))
    gap = lambda plan: plan.rollouts[0].advantage - plan.rollouts[1].advantage  # noqa: E731
    assert gap(bonus) > 5 * gap(plain)                           # a near miss no longer scores like a success


def test_dynamic_sampling_filter(fmt, policy):
    assert is_informative(group(fmt, policy, [1, 0, 0]))
    assert not is_informative(group(fmt, policy, [1, 1, 1]))
    assert not is_informative(group(fmt, policy, [0, 0, 0]))
    assert not is_informative(group(fmt, policy, [1, 0])[:1])
    failed = group(fmt, policy, [1, 0, 0])
    failed[0].error = "env crashed"
    assert not is_informative(failed), "a failed rollout's reward must not make a group informative"
    # with SC-GRPO's solve-none signal a group without a correct rollout still teaches something
    assert is_informative(group(fmt, policy, [0, 0, 0]), AlgoConfig(name="sc_grpo"))
    assert not is_informative(group(fmt, policy, [0, 0, 0]), AlgoConfig(name="sc_grpo", sc={"solve_none": False}))


# ---------------------------------------------------------------- routing
def test_mid_groups_get_a_reference_that_is_correct_and_never_itself(fmt, policy):
    rewards = [1, 0, 1, 0, 0, 1, 0, 0]
    g = group(fmt, policy, rewards)
    cfg = AlgoConfig(name="sc_grpo")
    correct = {i for i, r in enumerate(rewards) if r}
    seen: dict[int, set[int]] = {i: set() for i in range(8)}
    for seed in range(60):
        plan = route_group(g, cfg, np.random.default_rng(seed))
        assert plan.route == "tau" and plan.n_correct == 3
        assert [p.advantage for p in plan.rollouts] == pytest.approx(normalize([float(r) for r in rewards]))
        for i, p in enumerate(plan.rollouts):
            j = next(k for k, t in enumerate(g) if t is p.reference)
            assert p.sc and not p.excluded and j in correct and j != i
            seen[i].add(j)
    for i in range(8):  # uniform draw: every allowed reference shows up
        assert seen[i] == correct - {i}


def test_solve_none_reference_is_excluded_and_conditions_the_others(fmt, policy):
    g = group(fmt, policy, [0.0, 0.2, 0.0, 0.0, 0.1])
    refs = set()
    for seed in range(30):
        plan = route_group(g, AlgoConfig(name="sc_grpo"), np.random.default_rng(seed))
        assert plan.route == "solve_none" and plan.n_correct == 0
        r = plan.reference_index
        refs.add(r)
        assert plan.rollouts[r].excluded and not plan.rollouts[r].sc and plan.rollouts[r].reference is None
        for i, p in enumerate(plan.rollouts):
            if i != r:
                assert p.sc and p.reference is g[r] and not p.excluded
    assert refs == set(range(5))


def test_diversity_advantage_formula_with_truncation():
    d = [torch.tensor([0.1, 0.4, 5.0]), torch.tensor([0.02, 0.03]), torch.tensor([1.0, 1.0, 1.0, 1.0])]
    c, ref_len, alpha = 0.2, 2, 0.1
    s = [float((x[:min(len(x), ref_len)] / (x[:min(len(x), ref_len)] + c)).mean()) for x in d]
    s_t = torch.tensor(s, dtype=torch.float64)
    want = (alpha * (s_t - s_t.mean()) / (s_t.std() + 1e-6)).tolist()
    assert diversity_advantages(d, ref_len, alpha=alpha, c=c) == pytest.approx(want)
    # an empty rollout gets 0 and does not move the others
    got = diversity_advantages(d + [torch.zeros(0)], ref_len, alpha=alpha, c=c)
    assert got[:3] == pytest.approx(want) and got[3] == 0.0


@pytest.mark.parametrize("rewards,route", [([1, 0, 0, 0], "few_correct"), ([1, 1, 1, 1], "all_correct")])
def test_one_or_all_correct_is_plain_grpo(fmt, policy, rewards, route):
    g = group(fmt, policy, rewards)
    plan = route_group(g, AlgoConfig(name="sc_grpo"), np.random.default_rng(0))
    assert plan.route == route
    assert all(not p.sc and p.reference is None and not p.excluded for p in plan.rollouts)
    assert [p.advantage for p in plan.rollouts] == pytest.approx(normalize([float(r) for r in rewards]))


def test_min_correct_and_sc_off(fmt, policy):
    g = group(fmt, policy, [1, 1, 0, 0])
    assert route_group(g, AlgoConfig(name="sc_grpo", sc={"min_correct": 3}), np.random.default_rng(0)).route \
        == "few_correct"
    plan = route_group(g, AlgoConfig(name="grpo"), np.random.default_rng(0))
    assert plan.route == "mixed" and not any(p.sc for p in plan.rollouts)
    assert route_group(g, AlgoConfig(name="dapo", sc={"enabled": True}), np.random.default_rng(0)).route == "tau"
    assert route_group(group(fmt, policy, [0, 0, 0]), AlgoConfig(name="grpo"),
                       np.random.default_rng(0)).route == "no_correct"
    assert route_group(group(fmt, policy, [0, 0]), AlgoConfig(name="sc_grpo"),
                       np.random.default_rng(0)).route == "no_correct", "solve-none needs >= 3 rollouts"


def test_success_flag_or_threshold_makes_a_rollout_correct(fmt, policy):
    g = group(fmt, policy, [0.9, 0.95, 0.0, 0.0])
    g[0].success = True
    cfg = AlgoConfig(name="sc_grpo", success_threshold=0.95)
    assert route_group(g, cfg, np.random.default_rng(0)).n_correct == 2


def test_failed_rollouts_are_excluded(fmt, policy):
    g = group(fmt, policy, [1, 0, 1, 0, 1])
    g[1].error = "backend gave up"
    plan = route_group(g, AlgoConfig(name="sc_grpo"), np.random.default_rng(0))
    assert len(plan.rollouts) == 4 and all(p.traj is not g[1] for p in plan.rollouts)
    assert all(p.reference is not g[1] for p in plan.rollouts)
    assert [p.advantage for p in plan.rollouts] == pytest.approx(normalize([1.0, 1.0, 0.0, 1.0]))


def test_micro_batches_respect_the_token_budget():
    from agentrl.learner.batching import pack_by_tokens, pad_right

    lengths = [5, 30, 12, 12, 7, 50, 3]
    batches = pack_by_tokens(lengths, 40)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 40
    assert [5] in batches  # 50 > budget: alone
    x = pad_right([[1, 2, 3], [4]], pad_id=9)
    assert x.tolist() == [[1, 2, 3], [4, 9, 9]]


def test_clipped_surrogate_with_clip_higher_and_tis():
    from agentrl.learner.loss import policy_loss, row_scales, truncated_is

    old = torch.zeros(6)
    ratio = torch.tensor([0.5, 0.9, 1.25, 1.5, 0.5, 1.5])
    adv = torch.tensor([1.0, 1.0, 1.0, 1.0, -1.0, -1.0])
    w = torch.tensor([1.0, 0.5, 1.0, 1.0, 1.0, 0.2])
    logp = ratio.log().requires_grad_()
    out = policy_loss(logp, old, adv, w, clip_low=0.2, clip_high=0.28, row_scale=torch.ones(6))
    # A > 0: min(ρA, clip(ρ)A) takes the clipped value only above 1 + ε_high; A < 0: only below 1 - ε_low
    want = -w * torch.tensor([0.5, 0.9, 1.25, 1.28, -0.8, -1.5])
    assert torch.allclose(out.per_token, want, atol=1e-6)
    assert out.clipped.tolist() == [False, False, False, True, True, False]
    out.loss.backward()
    # clipped tokens get no gradient; the others get -w·A·ρ
    grad_want = -w * adv * ratio * torch.tensor([1, 1, 1, 0, 0, 1.0])
    assert torch.allclose(logp.grad, grad_want, atol=1e-6)
    tis = truncated_is(torch.tensor([0.0, 0.0, -1.0]), torch.tensor([-1.0, 0.0, 0.0]), 2.0)
    assert torch.allclose(tis, torch.tensor([2.0, 1.0, float(torch.exp(torch.tensor(-1.0)))]))
    scale = row_scales([2, 3], "seq-mean-token-mean", num_seqs=4, num_tokens=10)
    assert torch.allclose(scale, torch.tensor([1 / 8, 1 / 8, 1 / 12, 1 / 12, 1 / 12]))
    assert torch.allclose(row_scales([2, 3], "token-mean", 4, 10), torch.full((5,), 0.1))
    with pytest.raises(ValueError, match="token-sum"):
        row_scales([1], "token-sum", 1, 1)
