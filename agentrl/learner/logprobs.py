"""Memory-bounded per-token scores from hidden states: chosen-token log-prob, entropy, KL(teacher ‖ student).

A causal LM's head maps hidden states ``[N, H]`` to logits ``[N, V]``. With V ≈ 150k, the logits of a whole
batch do not fit, so :func:`token_scores` projects ``chunk`` rows at a time, takes a float32 log-softmax and
keeps only three numbers per row. With gradients on, each chunk runs under activation checkpointing, so the
backward pass recomputes one chunk's logits at a time too: peak memory is O(chunk × V), not O(N × V).

:class:`TokenScorer` wraps the causal LM in one ``nn.Module`` whose ``forward`` does both the decoder pass and
the chunked head. Everything the learner runs goes through that ``forward`` so that PyTorch FSDP2
(``fully_shard``) gathers the head's weights exactly when they are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from agentrl.kvcache import cache_kwargs, output_cache


@dataclass
class TokenScores:
    """Per-row results of :func:`token_scores` (all ``[N]`` float32).

    ``logp`` carries gradients when the hidden states do; ``entropy`` and ``kl`` never do. ``kl`` is
    KL(teacher ‖ student) on the rows that have a teacher and 0 elsewhere.
    """

    logp: torch.Tensor
    entropy: torch.Tensor
    kl: torch.Tensor


def _tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return logits if temperature == 1.0 else logits / temperature


def _teacher_kl(logp_all: torch.Tensor, teacher: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) at ``rows`` of the student's log-probs ``logp_all`` (no gradient)."""
    logq = _tempered(F.linear(teacher, weight, bias).float(), temperature).log_softmax(-1)
    diff = logp_all[rows].neg_().add_(logq)  # log q - log p
    return logq.exp_().mul_(diff).sum(-1)


def _chunk(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor,
           teacher: torch.Tensor | None, rows: torch.Tensor | None, temperature: float,
           stats: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Chosen-token log-probs of one chunk; appends (entropy, KL) to ``stats`` on the first call only.

    Under checkpointing the backward calls this again to recompute the log-softmax; entropy and D carry no
    gradient, so that second call skips them (the teacher is never projected in backward).
    """
    logp_all = _tempered(F.linear(hidden, weight, bias).float(), temperature).log_softmax(-1)
    logp = logp_all.gather(-1, targets[:, None]).squeeze(-1)
    if stats:
        return logp
    with torch.no_grad():  # statistics only: entropy and D are never differentiated
        logp_all = logp_all.detach()  # shared with autograd: never modified in place; temporaries are
        entropy = -logp_all.exp().mul_(logp_all).sum(-1)
        kl = torch.zeros_like(entropy)
        if teacher is not None and teacher.shape[0] > 0:
            kl[rows] = _teacher_kl(logp_all, teacher.to(hidden.dtype), rows, weight, bias, temperature)
    stats.append((entropy, kl))
    return logp


def token_scores(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *,
                 bias: torch.Tensor | None = None, teacher_hidden: torch.Tensor | None = None,
                 teacher_rows: torch.Tensor | None = None, chunk: int = 512, temperature: float = 1.0
                 ) -> TokenScores:
    """Chosen-token log-prob, entropy and KL(teacher ‖ student) per row, ``chunk`` rows of logits at a time.

    All three are taken under ``softmax(logits / temperature)``, the distribution the rollouts sampled from:
    scoring at T=1 tokens sampled at T≠1 would make every update off-policy.

    Args:
        hidden: student hidden states after the final norm, ``[N, H]`` (rows that predict ``targets``).
        weight, bias: the LM head (``[V, H]``, ``[V]``).
        targets: the chosen token of each row, ``[N]``.
        teacher_hidden: teacher hidden states ``[M, H]`` for the rows ``teacher_rows`` (``[M]``, increasing);
            the KL is computed only there.
        chunk: rows projected to the vocabulary at once.
        temperature: the sampling temperature (> 0).
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    n = hidden.shape[0]
    if teacher_hidden is not None:
        if teacher_rows is None or teacher_rows.shape[0] != teacher_hidden.shape[0]:
            raise ValueError("teacher_rows must give one row index per teacher hidden state")
        teacher_rows = teacher_rows.to(hidden.device)
        bounds = torch.searchsorted(teacher_rows, torch.arange(0, n + chunk, chunk, device=hidden.device))
    grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    logps, stats = [], []
    for k, start in enumerate(range(0, n, chunk)):
        end = min(start + chunk, n)
        t_h = rows = None
        if teacher_hidden is not None:
            lo, hi = int(bounds[k]), int(bounds[k + 1])
            t_h, rows = teacher_hidden[lo:hi], teacher_rows[lo:hi] - start
        args = (hidden[start:end], weight, bias, targets[start:end], t_h, rows, temperature, [])
        logps.append(checkpoint(_chunk, *args, use_reentrant=False) if grad else _chunk(*args))
        stats.append(args[-1][0])
    if not logps:
        empty = hidden.new_zeros(0, dtype=torch.float32)
        return TokenScores(empty, empty, empty)
    entropy, kl = (torch.cat(x) for x in zip(*stats))
    return TokenScores(torch.cat(logps), entropy, kl)


def lm_parts(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The decoder (returns final-norm hidden states) and the output head of a transformers causal LM."""
    head = model.get_output_embeddings()
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    if head is None or decoder is None or decoder is model:
        raise TypeError(f"{type(model).__name__} is not a transformers causal LM with a decoder and an output "
                        "head (get_decoder() / get_output_embeddings())")
    if getattr(model.config, "final_logit_softcapping", None) or getattr(model.config, "logit_scale", None):
        raise TypeError(f"{type(model).__name__} transforms its logits (softcapping/scale); not supported")
    return decoder, head


class TokenScorer(nn.Module):
    """A causal LM plus the chunked head, behind one ``forward`` (the unit FSDP2 shards as its root).

    ``forward(input_ids, rows=...)`` returns the final hidden states at the flat positions ``rows`` of the
    ``[B, T]`` batch (and the KV cache when ``use_cache``); with ``targets`` it returns :class:`TokenScores`
    of those rows instead. Batches are right-padded and need no attention mask: causal attention never lets a
    real token see the padding after it (the teacher's suffix batches pass one, with ``position_ids``, to mask
    the padding inside a shared KV cache). Scores are taken at the sampling ``temperature``.
    """

    def __init__(self, model: nn.Module, chunk_tokens: int = 512, temperature: float = 1.0):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.model = model
        self.chunk_tokens = chunk_tokens
        self.temperature = float(temperature)
        lm_parts(model)  # validate early

    def forward(self, input_ids: torch.Tensor, rows: torch.Tensor, *, targets: torch.Tensor | None = None,
                teacher_hidden: torch.Tensor | None = None, teacher_rows: torch.Tensor | None = None,
                past_key_values: Any = None, use_cache: bool = False, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> Any:
        decoder, head = lm_parts(self.model)
        extra = {k: v for k, v in (("attention_mask", attention_mask), ("position_ids", position_ids))
                 if v is not None}
        out = decoder(input_ids=input_ids, use_cache=use_cache, **cache_kwargs(decoder, past_key_values), **extra)
        hidden = out.last_hidden_state.flatten(0, 1)[rows]
        if targets is None:
            return (hidden, output_cache(out)) if use_cache else hidden
        return token_scores(hidden, head.weight, targets, bias=getattr(head, "bias", None),
                            teacher_hidden=teacher_hidden, teacher_rows=teacher_rows, chunk=self.chunk_tokens,
                            temperature=self.temperature)
