"""Off-policy bookkeeping for asynchronous training (``trainer.async.steps_ahead > 0``).

The loss is the decoupled PPO objective of AReaL (Fu et al. 2025, "AReaL: A Large-Scale Asynchronous
Reinforcement Learning System for Language Reasoning", arXiv:2505.24298, Eq. 5): the clipped ratio is taken
against the *proximal* policy π_prox (the learner's weights at the start of the step, which recompute
``old_logp``), and each token is weighted by the behaviour importance weight π_prox/π_behav, where π_behav is
the policy that actually sampled the token (its recorded rollout log-prob, whatever weight version it was).
The weight is truncated at C, min(π_prox/π_behav, C), as in truncated importance sampling (Yao et al. 2025,
"Your Efficient RL Framework Secretly Brings You Off-Policy RL Training"): that is
:func:`agentrl.learner.loss.truncated_is`, made mandatory in async mode. Turns sampled by weights more than
``max_staleness`` versions behind the learner get weight 0 (:func:`stale_keep`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from agentrl.trajectory import Trajectory


def token_versions(traj: Trajectory) -> list[int]:
    """The weight version of each agent token (mask 1) of ``traj``, in order."""
    return traj.agent_versions()


def stale_keep(plans: Sequence[Any], version: int, max_staleness: int | None,
               device: torch.device | None = None) -> torch.Tensor | None:
    """1.0 on the agent tokens of ``plans`` (rollout plans, in micro-batch row order) sampled at most
    ``max_staleness`` versions before ``version``, 0.0 on older ones; None when no bound is set."""
    if max_staleness is None:
        return None
    v = torch.tensor([x for p in plans for x in token_versions(p.traj)], dtype=torch.long)
    keep = ((version - v) <= max_staleness).float()
    return keep.to(device) if device is not None else keep


def staleness_stats(groups: Sequence[Sequence[Trajectory]], version: int,
                    max_staleness: int | None) -> dict[str, float]:
    """Per-step figures over the agent tokens of the completed rollouts trained on at ``version``:
    mean/max versions behind, share of off-policy tokens (sampled by older weights), tokens dropped."""
    lags = [version - v for g in groups for t in g if not t.failed for v in token_versions(t)]
    n = max(len(lags), 1)
    bound = max_staleness if max_staleness is not None else float("inf")
    return {"async/staleness_mean": sum(lags) / n, "async/staleness_max": float(max(lags, default=0)),
            "async/offpolicy_token_share": sum(1 for x in lags if x > 0) / n,
            "async/dropped_tokens": float(sum(1 for x in lags if x > bound))}
