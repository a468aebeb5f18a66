"""The self-conditioned teacher: inputs with τ in the system prompt, and its hidden states at agent tokens.

Teacher input = the teacher's system message (base prompt + guide + τ rendered as the model wrote it, see
:mod:`agentrl.learner.reference`) followed by the rollout's own tokens after its system prompt. Its *prefix* (teacher system + the task prompt) is the same for
every rollout that uses the same τ, so it is run once and its KV cache is copied into a batch of rollout
suffixes. Only the final hidden states at agent-token positions are kept (``[agent tokens, H]``, small); the
chunked head turns them into teacher distributions later (:mod:`agentrl.learner.logprobs`).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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


def _repeat_cache(cache, n: int, last_use: bool = False):
    """A batch-1 KV cache repeated ``n`` times along the batch: a fresh copy (the original is untouched), or on
    its ``last_use`` the cache itself (the forward then extends it in place)."""
    fresh = cache if last_use else copy.deepcopy(cache)
    if n > 1:
        fresh.batch_repeat_interleave(n)
    return fresh


def _take_cache(caches: dict, uses: Counter, key: tuple[int, ...], n: int):
    """The prefix cache ``key`` for a batch of ``n`` suffixes; its last use takes it without a copy."""
    uses[key] -= 1
    if uses[key]:
        return _repeat_cache(caches[key], n)
    return _repeat_cache(caches.pop(key), n, last_use=True)


@dataclass
class _Call:
    """One planned teacher forward: a prefix pass (``cache_key`` set) or a batch of sequences."""

    ids: list[list[int]]
    offsets: list[int] = field(default_factory=list)   # rollout index t sits at sequence index t - offset
    members: list[int] = field(default_factory=list)   # job indices, one per sequence
    cache_key: tuple[int, ...] | None = None          # prefix pass: keep its KV cache under this key
    use_cache: tuple[int, ...] | None = None          # suffix batch: start from this prefix's cache
    prefix: tuple[int, ...] = ()                      # the teacher prefix (system with τ + task) it belongs to


def plan_teacher(prompt: TeacherPrompt, jobs: Sequence[TeacherJob], *, token_budget: int,
                 share_prefix_cache: bool = True) -> list[_Call]:
    """The teacher forwards for ``jobs``, in order (known before any runs, so ranks can agree on a count)."""
    calls: list[_Call] = []
    by_prefix: dict[tuple[int, ...], list[int]] = {}
    for j, job in enumerate(jobs):
        sys_ids = prompt.system_ids(job.reference, job.verified)
        prefix = tuple(sys_ids + job.traj.token_ids[job.traj.system_len:job.traj.prompt_len])
        by_prefix.setdefault(prefix, []).append(j)
    for prefix, members in by_prefix.items():
        trajs = [jobs[j].traj for j in members]
        if share_prefix_cache and len(prefix) > 1:
            # the cached part stops one token short: that token's hidden state predicts the first agent token
            calls.append(_Call([list(prefix[:-1])], cache_key=prefix, prefix=prefix))
            seqs = [t.token_ids[t.prompt_len - 1:] for t in trajs]
            offsets = [t.prompt_len - 1 for t in trajs]
        else:
            seqs = [list(prefix[:len(prefix) - (t.prompt_len - t.system_len)]) + t.token_ids[t.system_len:]
                    for t in trajs]
            offsets = [t.system_len - (len(s) - (len(t.token_ids) - t.system_len)) for s, t in zip(seqs, trajs)]
        for batch in pack_by_tokens([len(s) for s in seqs], token_budget):
            calls.append(_Call([seqs[b] for b in batch], [offsets[b] for b in batch],
                               [members[b] for b in batch],
                               use_cache=prefix if share_prefix_cache and len(prefix) > 1 else None,
                               prefix=prefix))
    return calls


@torch.no_grad()
def teacher_hidden_states(scorer: torch.nn.Module, fmt: ChatFormat | TeacherPrompt, policy: Policy | None,
                          jobs: Sequence[TeacherJob], *, token_budget: int, share_prefix_cache: bool = True,
                          device: torch.device | None = None,
                          autocast: Callable[[], object] | None = None,
                          sync: Callable[[int], int] | None = None) -> tuple[list[torch.Tensor], dict]:
    """Teacher final hidden states at the positions that predict each job's agent tokens.

    Returns one ``[agent tokens, H]`` tensor per job (in job order) and counters: ``forwards`` (calls of the
    scorer), ``prefixes`` (distinct teacher prefixes), ``tokens`` (teacher tokens run), and what the teacher
    saw (:meth:`TeacherPrompt.stats`). ``fmt`` may be a :class:`TeacherPrompt` (then ``policy`` is ``None``):
    it sets how τ is rendered and cut; a plain ``(fmt, policy)`` renders the whole trajectory.

    With ``share_prefix_cache`` the prefix minus its last token runs once per distinct prefix and its KV
    cache is repeated for batches of suffixes (the last prompt token + the rollout after the prompt). Without
    it every job runs its whole sequence. ``sync(planned) -> target`` lets data-parallel ranks agree on a
    number of forwards: the missing ones run as 1-token dummy passes (FSDP2 gathers weights in each).
    """
    device = device or next(scorer.parameters()).device
    ctx = autocast or _nullcontext
    prompt = fmt if isinstance(fmt, TeacherPrompt) else TeacherPrompt(fmt, policy)
    calls = plan_teacher(prompt, jobs, token_budget=token_budget, share_prefix_cache=share_prefix_cache)
    target = sync(len(calls)) if sync is not None else len(calls)
    out: list[torch.Tensor | None] = [None] * len(jobs)
    caches: dict[tuple[int, ...], object] = {}  # a prefix's cache lives until its last suffix batch
    uses = Counter(c.use_cache for c in calls if c.use_cache is not None)
    stats = {"forwards": len(calls), "prefixes": len({c.prefix for c in calls}), "tokens": 0, **prompt.stats()}
    for call in calls:
        x = pad_right(call.ids, device)
        stats["tokens"] += sum(len(s) for s in call.ids)
        if call.cache_key is not None:
            with ctx():
                _, caches[call.cache_key] = scorer(x, torch.zeros(0, dtype=torch.long, device=device),
                                                   use_cache=True)
            continue
        width = x.shape[1]
        rows = [b * width + t - 1 - off for b, (j, off) in enumerate(zip(call.members, call.offsets))
                for t in agent_positions(jobs[j].traj)]
        cache = _take_cache(caches, uses, call.use_cache, len(call.ids)) if call.use_cache is not None else None
        with ctx():
            h = scorer(x, torch.tensor(rows, dtype=torch.long, device=device), past_key_values=cache,
                       use_cache=cache is not None)
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
