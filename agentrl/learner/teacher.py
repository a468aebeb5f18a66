"""The self-conditioned teacher: inputs with τ in the system prompt, and its hidden states at agent tokens.

Teacher input = the teacher's system message (base prompt + guide + τ rendered as the model wrote it, see
:mod:`agentrl.learner.reference`) followed by the rollout's own tokens after its system prompt. Its *prefix* (teacher system + the task prompt) is the same for
every rollout that uses the same τ, so it is run once and its KV cache is copied into a batch of rollout
suffixes. The prefixes of many τ run together, right-padded, and the suffixes of all of them are batched
against the cache rows they need. Only the final hidden states at agent-token positions are kept (``[agent tokens, H]``, small); the
chunked head turns them into teacher distributions later (:mod:`agentrl.learner.logprobs`).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agentrl.chat import ChatFormat
from agentrl.learner.batching import pack_by_tokens, pad_right
from agentrl.learner.reference import TauRender, TeacherPrompt
from agentrl.trajectory import Trajectory
from policies.base import Policy


def teacher_system_ids(fmt: ChatFormat, policy: Policy, reference: Trajectory, *, verified: bool = True,
                       tau_render: TauRender = "trajectory", tau_max_tokens: int | None = None) -> list[int]:
    """Token ids of the teacher's system message: base prompt + guide + the rendered reference τ."""
    return TeacherPrompt(fmt, policy, tau_render, tau_max_tokens).system_ids(reference, verified)


def teacher_input_ids(fmt: ChatFormat, policy: Policy, traj: Trajectory, reference: Trajectory, *,
                      verified: bool = True, tau_render: TauRender = "trajectory",
                      tau_max_tokens: int | None = None) -> list[int]:
    """The whole teacher sequence: teacher system ids + the rollout's tokens after its own system prompt."""
    return teacher_system_ids(fmt, policy, reference, verified=verified, tau_render=tau_render,
                              tau_max_tokens=tau_max_tokens) + traj.token_ids[traj.system_len:]


def agent_positions(traj: Trajectory) -> list[int]:
    """Indices t of the agent tokens (mask 1) of a trajectory; position t - 1 predicts each of them."""
    return [t for t, m in enumerate(traj.loss_mask) if m]


@dataclass
class TeacherJob:
    """One rollout whose teacher hidden states are wanted, conditioned on ``reference`` (a verified solution,
    or with ``verified=False`` an unverified one: SC-GRPO's solve-none o_r)."""

    traj: Trajectory
    reference: Trajectory
    verified: bool = True


def _select_cache(cache: Any, rows: torch.Tensor, last_use: bool = False) -> Any:
    """The KV cache with batch rows ``rows`` of ``cache`` (rows may repeat): a new cache whose tensors are
    gathered (``cache`` itself is untouched), or on its ``last_use`` ``cache`` itself, re-indexed in place."""
    if last_use:
        out = cache
    elif hasattr(cache, "layers"):  # transformers >= 4.56: re-indexing a layer replaces its tensors
        out = copy.copy(cache)
        out.layers = [copy.copy(layer) for layer in cache.layers]
    else:  # pragma: no cover - older caches keep their tensors in lists
        out = copy.deepcopy(cache)
    out.batch_select_indices(rows)
    return out


@dataclass
class _Call:
    """One planned teacher forward: a prefix pass (``prefix_lens`` set: one right-padded row per distinct
    prefix, its KV cache kept) or a batch of sequences (``cache_from``: rollout suffixes that extend rows
    ``cache_rows`` of that prefix pass's cache)."""

    ids: list[list[int]]
    offsets: list[int] = field(default_factory=list)   # rollout index t sits at sequence index t - offset
    members: list[int] = field(default_factory=list)   # job indices, one per sequence
    prefix_lens: list[int] | None = None               # prefix pass: the cached length of each row
    cache_from: int | None = None                      # suffix batch: the index of its prefix pass
    cache_rows: list[int] = field(default_factory=list)


def plan_teacher(prompt: TeacherPrompt, jobs: Sequence[TeacherJob], *, token_budget: int,
                 share_prefix_cache: bool = True) -> tuple[list[_Call], int]:
    """The teacher forwards for ``jobs``, in order (known before any runs, so ranks can agree on a count), and
    the number of distinct teacher prefixes.

    With ``share_prefix_cache`` the distinct prefixes (teacher system with τ + task prompt, minus the last
    token) run right-padded in as few passes as ``token_budget`` allows, each followed by the suffix batches
    of every job whose prefix it holds (packed across prefixes); without it whole sequences are packed."""
    by_prefix: dict[tuple[int, ...], list[int]] = {}
    for j, job in enumerate(jobs):
        sys_ids = prompt.system_ids(job.reference, job.verified)
        prefix = tuple(sys_ids + job.traj.token_ids[job.traj.system_len:job.traj.prompt_len])
        by_prefix.setdefault(prefix, []).append(j)
    calls: list[_Call] = []
    whole = [(p, m) for p, m in by_prefix.items() if not share_prefix_cache or len(p) <= 1]
    if whole:  # every job of these runs its whole teacher sequence
        seqs, offsets, members = [], [], []
        for prefix, ms in whole:
            for j in ms:
                t = jobs[j].traj
                seqs.append(list(prefix) + t.token_ids[t.prompt_len:])
                offsets.append(t.prompt_len - len(prefix))
                members.append(j)
        for batch in pack_by_tokens([len(s) for s in seqs], token_budget):
            calls.append(_Call([seqs[b] for b in batch], [offsets[b] for b in batch], [members[b] for b in batch]))
    cached = [p for p in by_prefix if share_prefix_cache and len(p) > 1]
    for pass_ in pack_by_tokens([len(p) - 1 for p in cached], token_budget):
        prefixes = [cached[i] for i in pass_]
        # the cached part stops one token short: that token's hidden state predicts the first agent token
        calls.append(_Call([list(p[:-1]) for p in prefixes], prefix_lens=[len(p) - 1 for p in prefixes]))
        source = len(calls) - 1
        seqs, offsets, members, rows = [], [], [], []
        for row, prefix in enumerate(prefixes):
            for j in by_prefix[prefix]:
                t = jobs[j].traj
                seqs.append(t.token_ids[t.prompt_len - 1:])
                offsets.append(t.prompt_len - 1)
                members.append(j)
                rows.append(row)
        for batch in pack_by_tokens([len(s) for s in seqs], token_budget):
            calls.append(_Call([seqs[b] for b in batch], [offsets[b] for b in batch], [members[b] for b in batch],
                               cache_from=source, cache_rows=[rows[b] for b in batch]))
    return calls, len(by_prefix)


@torch.no_grad()
def teacher_hidden_states(scorer: torch.nn.Module, fmt: ChatFormat | TeacherPrompt, policy: Policy | None,
                          jobs: Sequence[TeacherJob], *, token_budget: int, share_prefix_cache: bool = True,
                          device: torch.device | None = None,
                          autocast: Callable[[], object] | None = None,
                          sync: Callable[[int], int] | None = None) -> tuple[list[torch.Tensor], dict]:
    """Teacher final hidden states at the positions that predict each job's agent tokens.

    Returns one ``[agent tokens, H]`` tensor per job (in job order) and counters: ``forwards`` (calls of the
    scorer), ``prefixes`` (distinct teacher prefixes), ``tokens`` (teacher tokens run, padding excluded), and
    what the teacher saw (:meth:`TeacherPrompt.stats`). ``fmt`` may be a :class:`TeacherPrompt` (then
    ``policy`` is ``None``): it sets how τ is rendered and cut; a plain ``(fmt, policy)`` renders the whole
    trajectory.

    With ``share_prefix_cache`` each distinct prefix minus its last token runs once -- the prefixes of many τ
    together, right-padded -- and the suffixes (the last prompt token + the rollout after the prompt) of all
    of them run in batches against the rows of that KV cache they need, the padded prefix positions masked
    out and their positions counted from each prefix's own length. Without it every job runs its whole
    sequence. ``sync(planned) -> target`` lets data-parallel ranks agree on a number of forwards: the missing
    ones run as 1-token dummy passes (FSDP2 gathers weights in each).
    """
    device = device or next(scorer.parameters()).device
    ctx = autocast or _nullcontext
    prompt = fmt if isinstance(fmt, TeacherPrompt) else TeacherPrompt(fmt, policy)
    calls, n_prefixes = plan_teacher(prompt, jobs, token_budget=token_budget,
                                     share_prefix_cache=share_prefix_cache)
    target = sync(len(calls)) if sync is not None else len(calls)
    out: list[torch.Tensor | None] = [None] * len(jobs)
    caches: dict[int, Any] = {}  # a prefix pass's cache lives until its last suffix batch
    uses = Counter(c.cache_from for c in calls if c.cache_from is not None)
    stats = {"forwards": len(calls), "prefixes": n_prefixes, "tokens": 0, **prompt.stats()}
    no_rows = torch.zeros(0, dtype=torch.long, device=device)
    for i, call in enumerate(calls):
        x = pad_right(call.ids, device)
        stats["tokens"] += sum(len(s) for s in call.ids)
        if call.prefix_lens is not None:
            with ctx():
                _, caches[i] = scorer(x, no_rows, use_cache=True)
            continue
        width = x.shape[1]
        rows = [b * width + t - 1 - off for b, (j, off) in enumerate(zip(call.members, call.offsets))
                for t in agent_positions(jobs[j].traj)]
        kw: dict[str, Any] = {}
        if call.cache_from is not None:
            src = calls[call.cache_from]
            uses[call.cache_from] -= 1
            last = not uses[call.cache_from]
            cache = caches.pop(call.cache_from) if last else caches[call.cache_from]
            kw["past_key_values"] = _select_cache(cache, torch.tensor(call.cache_rows, device=device), last)
            kw["use_cache"] = True
            lens = [src.prefix_lens[r] for r in call.cache_rows]
            full = max(src.prefix_lens)
            if min(lens) < full:  # some rows' prefixes are shorter than the cache: mask their padding
                mask = torch.ones(len(lens), full + width, dtype=torch.long)
                for b, n in enumerate(lens):
                    mask[b, n:full] = 0
                kw["attention_mask"] = mask.to(device)
                kw["position_ids"] = (torch.tensor(lens)[:, None] + torch.arange(width)).to(device)
        with ctx():
            h = scorer(x, torch.tensor(rows, dtype=torch.long, device=device), **kw)
        h = h[0] if isinstance(h, tuple) else h
        start = 0
        for j in call.members:
            n = jobs[j].traj.num_agent_tokens
            out[j] = h[start:start + n]
            start += n
    for _ in range(target - len(calls)):
        with ctx():
            scorer(torch.zeros(1, 1, dtype=torch.long, device=device), torch.zeros(1, dtype=torch.long,
                                                                                   device=device))
    return out, stats  # type: ignore[return-value]


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
