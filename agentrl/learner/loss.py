"""The clipped policy-gradient loss with per-token weights, and its aggregation (ALGORITHM.md, "Objective").

Per agent token: ``ℓ = -w · min(ρ·A, clip(ρ, 1 - ε_low, 1 + ε_high)·A) · tis`` with ``ρ = exp(logp - old_logp)``,
``w`` = f(D) for self-conditioned rollouts (1 for plain ones) and ``tis`` the optional truncated
importance-sampling weight ``min(exp(old_logp - rollout_logp), C)``. The batch loss is

* ``seq-mean-token-mean``: ``1/S Σ_i 1/|o_i| Σ_t ℓ_{i,t}`` (the paper's form; S rollouts in the batch), or
* ``token-mean``: ``1/T Σ_{i,t} ℓ_{i,t}`` (DAPO; T agent tokens in the batch).

The denominators S and T are those of the whole batch (all ranks), so summing the contributions of
micro-batches gives the batch loss exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agentrl.learner.advantages import f_weight, percentile_c


@dataclass
class PolicyLossOut:
    """Summed (not yet averaged) loss of a micro-batch and per-token diagnostics."""

    loss: torch.Tensor          # scalar: Σ over rows of the row's share of the batch loss
    per_token: torch.Tensor     # [N] ℓ_{i,t} (before aggregation)
    clipped: torch.Tensor       # [N] bool: the clipped branch was taken


def sc_token_weights(kl: torch.Tensor, active: torch.Tensor, *, percentile: float = 75.0, c_min: float = 1e-4
                     ) -> tuple[torch.Tensor, float]:
    """Weights for a micro-batch: f(D) on ``active`` rows with c = max(P75 of active D, c_min), 1 elsewhere."""
    c = percentile_c(kl[active], percentile, c_min)
    w = torch.ones_like(kl)
    w[active] = f_weight(kl[active], c)
    return w, c


def truncated_is(old_logp: torch.Tensor, rollout_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """min(exp(logp_train - logp_rollout), C): corrects the train/inference mismatch of a separate engine."""
    return torch.exp(old_logp - rollout_logp).clamp(max=cap)


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, weights: torch.Tensor,
                *, clip_low: float, clip_high: float, row_scale: torch.Tensor,
                tis: torch.Tensor | None = None) -> PolicyLossOut:
    """The weighted clipped surrogate of a micro-batch (one row per agent token).

    ``row_scale`` is each row's aggregation factor (``1/(S·|o_i|)`` or ``1/T``), so ``loss`` is this
    micro-batch's exact share of the batch loss.
    """
    ratio = torch.exp(logp - old_logp)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(unclipped, clipped) * weights
    if tis is not None:
        per_token = per_token * tis
    return PolicyLossOut((per_token * row_scale).sum(), per_token.detach(), (clipped > unclipped).detach())


def row_scales(lengths: list[int], mode: str, num_seqs: int, num_tokens: int,
               device: torch.device | None = None, counts: list[int] | None = None) -> torch.Tensor:
    """Per-row aggregation factors for rollouts with ``lengths`` agent tokens, in row order.

    ``counts[i]`` is rollout i's |o_i| in ``seq-mean-token-mean`` when it differs from its length (async
    training: the tokens kept after the staleness drop); a rollout with count 0 gets factor 0.
    """
    counts = lengths if counts is None else counts
    if mode == "seq-mean-token-mean":
        parts = [torch.full((n,), 1.0 / (num_seqs * k) if k else 0.0, dtype=torch.float32)
                 for n, k in zip(lengths, counts) if n]
    elif mode == "token-mean":
        parts = [torch.full((n,), 1.0 / num_tokens if k else 0.0, dtype=torch.float32)
                 for n, k in zip(lengths, counts) if n]
    else:
        raise ValueError(f"unknown loss aggregation {mode!r}; accepted: 'seq-mean-token-mean', 'token-mean'")
    out = torch.cat(parts) if parts else torch.zeros(0)
    return out.to(device) if device is not None else out
