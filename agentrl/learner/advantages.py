"""Advantages and SC-GRPO routing (ALGORITHM.md, "Routing by group outcome").

Everything here works on plain Python lists of trajectories and floats; no model is involved. A step's groups
become :class:`GroupPlan` objects that say, for each rollout, its advantage, whether its loss is weighted by
f(D) and which verified trajectory τ (if any) conditions its self-teacher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from agentrl.config.schema import AlgoConfig
    from agentrl.trajectory import Trajectory

#: Routing cases, as reported in the step metrics (``route/<case>``: share of groups).
ROUTES = ("tau", "solve_none", "few_correct", "all_correct", "no_correct", "mixed", "empty")


def sc_enabled(cfg: AlgoConfig) -> bool:
    """Self-conditioning is on for ``name: sc_grpo`` and for any algorithm with ``sc.enabled: true``."""
    return cfg.name == "sc_grpo" or cfg.sc.enabled


def is_correct(traj: Trajectory, success_threshold: float) -> bool:
    """A rollout is correct (verified) when the env said so or its reward reaches the threshold."""
    return bool(traj.success) or traj.reward >= success_threshold


def normalize(values: list[float], eps: float = 1e-6, unbiased: bool = True) -> list[float]:
    """``(v - mean) / (std + eps)``; all zeros for fewer than two values. ``unbiased`` picks the std estimator."""
    if len(values) < 2:
        return [0.0] * len(values)
    t = torch.tensor(values, dtype=torch.float64)
    return ((t - t.mean()) / (t.std(unbiased=unbiased) + eps)).tolist()


def overlong_penalty(length: int, max_tokens: int, cache_tokens: int) -> float:
    """DAPO's soft overlong penalty: 0 up to ``max - cache`` tokens, linear to -1 at ``max``, -1 beyond."""
    start = max_tokens - cache_tokens
    if length <= start:
        return 0.0
    if length > max_tokens:
        return -1.0
    return (start - length) / cache_tokens


def shaped_reward(traj: Trajectory, cfg: AlgoConfig) -> float:
    """The reward the advantage sees: the env reward, plus ``success_bonus`` when the rollout is correct, plus
    the overlong penalty on agent tokens, if enabled."""
    r = float(traj.reward)
    if cfg.success_bonus and is_correct(traj, cfg.success_threshold):
        r += cfg.success_bonus
    if cfg.overlong_penalty:
        r += overlong_penalty(traj.num_agent_tokens, cfg.overlong_max_tokens, cfg.overlong_cache_tokens)
    return r


def is_informative(group: list[Trajectory], cfg: AlgoConfig | None = None) -> bool:
    """Whether a group carries a learning signal (DAPO dynamic sampling keeps only these).

    True when the non-failed rollouts' rewards are not all equal. With self-conditioning and the solve-none
    signal on, a group with no correct rollout (and at least 3 usable ones) is informative too: its rollouts
    get the diversity pseudo-advantage.
    """
    valid = [t for t in group if not t.failed]
    if len(valid) < 2:
        return False
    if len({float(t.reward) for t in valid}) > 1:
        return True
    if cfg is not None and sc_enabled(cfg) and cfg.sc.solve_none and len(valid) >= 3:
        return not any(is_correct(t, cfg.success_threshold) for t in valid)
    return False


@dataclass
class RolloutPlan:
    """What the learner does with one rollout.

    Attributes:
        traj: the rollout.
        advantage: its (final) advantage; solve-none rollouts get theirs from :func:`diversity_advantages`.
        reference: τ, the trajectory in the teacher's system prompt; ``None`` for plain rollouts.
        verified: τ is a verified (correct) rollout; ``False`` for the solve-none reference o_r.
        sc: the loss is weighted by f(D) (else by 1).
        excluded: the solve-none reference o_r itself: weight 0 (counted in the denominators, never forwarded).
    """

    traj: Trajectory
    advantage: float = 0.0
    reference: Trajectory | None = None
    verified: bool = True
    sc: bool = False
    excluded: bool = False


@dataclass
class GroupPlan:
    """One group's routing case and its rollouts' plans (failed rollouts are already left out)."""

    route: str
    n_correct: int
    rollouts: list[RolloutPlan] = field(default_factory=list)
    reference_index: int | None = None  # solve-none: index of o_r in ``rollouts``


def route_group(group: list[Trajectory], cfg: AlgoConfig, rng: np.random.Generator) -> GroupPlan:
    """Route one group by its number of correct rollouts n_c (failed rollouts are excluded first).

    * ``min_correct <= n_c < G`` (``tau``): every rollout gets τ drawn uniformly from the correct rollouts
      other than itself, GRPO advantage, weight f(D);
    * ``n_c = 0`` with ``sc.solve_none`` and G >= 3 (``solve_none``): o_r drawn uniformly is τ for all others;
      their advantage is α·Â_div (filled in later from D), o_r is excluded;
    * otherwise plain GRPO: ``few_correct`` (0 < n_c < min_correct), ``all_correct``, ``no_correct``, and
      ``mixed`` (an SC-free algorithm's group with 0 < n_c < G).
    """
    valid = [t for t in group if not t.failed]
    g = len(valid)
    correct = [is_correct(t, cfg.success_threshold) for t in valid]
    n_c = sum(correct)
    advantages = normalize([shaped_reward(t, cfg) for t in valid], cfg.adv_eps, cfg.adv_std_unbiased)
    plans = [RolloutPlan(t, a) for t, a in zip(valid, advantages)]
    if g == 0:
        return GroupPlan("empty", 0, plans)
    sc = sc_enabled(cfg)
    if n_c == g:
        return GroupPlan("all_correct", n_c, plans)
    if n_c == 0:
        if sc and cfg.sc.solve_none and g >= 3:
            r = int(rng.integers(g))
            for i, p in enumerate(plans):
                p.advantage = 0.0
                if i == r:
                    p.excluded = True
                else:
                    p.reference, p.sc, p.verified = valid[r], True, False
            return GroupPlan("solve_none", 0, plans, reference_index=r)
        return GroupPlan("no_correct", 0, plans)
    if not sc:
        return GroupPlan("mixed", n_c, plans)
    if n_c < cfg.sc.min_correct:
        return GroupPlan("few_correct", n_c, plans)
    correct_idx = [j for j in range(g) if correct[j]]
    for i, p in enumerate(plans):
        candidates = [j for j in correct_idx if j != i]
        if candidates:  # always, unless min_correct = 1 leaves a lone correct rollout: it stays plain
            p.reference, p.sc = valid[candidates[int(rng.integers(len(candidates)))]], True
    return GroupPlan("tau", n_c, plans)


def percentile_c(d: torch.Tensor, percentile: float, c_min: float) -> float:
    """c = max(P<percentile> of D, c_min) (linear interpolation, as numpy's default); c_min when D is empty."""
    if d.numel() == 0:
        return float(c_min)
    q = torch.quantile(d.detach().double().flatten(), percentile / 100.0) if d.numel() < (1 << 24) else \
        torch.from_numpy(np.asarray(np.percentile(d.detach().double().cpu().numpy(), percentile)))
    return max(float(q), float(c_min))


def f_weight(d: torch.Tensor, c: float) -> torch.Tensor:
    """f(D) = D / (D + c), in [0, 1)."""
    return d / (d + c)


def diversity_advantages(d_per_rollout: list[torch.Tensor], reference_len: int, *, alpha: float, c: float,
                         eps: float = 1e-6, unbiased: bool = True,
                         keep: list[torch.Tensor] | None = None) -> list[float]:
    """The solve-none pseudo-advantages α·Â_div for the non-reference rollouts of a group.

    ``d_per_rollout[i]`` holds D over rollout i's agent tokens (in order); s_i is the mean of f(D) over its
    first L_i = min(|o_i|, |o_r|) agent tokens and Â_div normalises s over the group. ``keep[i]`` (bool, one
    per agent token; async training) leaves tokens dropped for staleness out of that mean. A rollout with no
    (kept) token among its first L_i gets 0 and stays out of the mean/std.
    """
    scores, idx = [], []
    for i, d in enumerate(d_per_rollout):
        n = min(int(d.numel()), reference_len)
        d = d[:n] if keep is None else d[:n][keep[i][:n].to(d.device)]
        if d.numel() > 0:
            scores.append(float(f_weight(d.double(), c).mean()))
            idx.append(i)
    out = [0.0] * len(d_per_rollout)
    for i, a in zip(idx, normalize(scores, eps, unbiased)):
        out[i] = alpha * a
    return out
