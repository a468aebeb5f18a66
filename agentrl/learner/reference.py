"""τ as the self-teacher sees it: a finished trajectory rendered as text for the teacher's system prompt.

``tau_render="trajectory"`` (the default, the paper's τ) decodes every agent turn from its *sampled ids* --
reasoning, ``<think>`` blocks and code included, special tokens dropped -- and interleaves the observations
the env returned. ``"actions"`` shows only the parsed actions (an ablation). A τ longer than ``max_tokens``
keeps the task and the last turns: the earliest turns are dropped, and a marker says how many; if the last
turn alone is still too long, its reply keeps only its end; if the task alone is, the task keeps only its start
(marked ``[...]``). A rendered τ is never over ``max_tokens``.

The layout of the text is the policy's (:meth:`policies.Policy.render_reference`); this module picks what
goes into it and enforces the token budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from agentrl.chat import ChatFormat
from agentrl.trajectory import Trajectory
from policies.base import Policy

TauRender = Literal["trajectory", "actions"]
TAU_RENDERS: tuple[str, ...] = ("trajectory", "actions")


@dataclass(frozen=True)
class RenderedTau:
    """A rendered reference: its text, its size in tokens after and before the cut, and whether it was cut."""

    text: str
    tokens: int
    full_tokens: int

    @property
    def cut(self) -> bool:
        return self.tokens < self.full_tokens


def reference_steps(fmt: ChatFormat, traj: Trajectory, mode: TauRender = "trajectory"
                    ) -> list[tuple[str, str | None]]:
    """``(reply, observation)`` per agent turn of ``traj``: the reply decoded from the sampled ids
    (``trajectory``) or the parsed action (``actions``)."""
    if mode not in TAU_RENDERS:
        raise ValueError(f"tau_render={mode!r} is not supported; accepted: {list(TAU_RENDERS)}")
    steps = []
    for turn in traj.turns:
        if mode == "trajectory":
            reply = fmt.tokenizer.decode(traj.token_ids[turn.gen_start:turn.gen_end], skip_special_tokens=True)
        else:
            reply = turn.action if turn.action is not None else turn.text
        steps.append((reply.strip(), turn.observation))
    return steps


def render_tau(fmt: ChatFormat, policy: Policy, traj: Trajectory, *, mode: TauRender = "trajectory",
               max_tokens: int | None = None) -> RenderedTau:
    """``traj`` as the text of a teacher reference, within ``max_tokens`` tokens (``None``: no limit)."""
    steps = reference_steps(fmt, traj, mode)
    task = traj.first_observation

    def size(text: str) -> int:
        return len(fmt.encode(text))

    text = policy.render_reference(task, steps)
    full = size(text)
    if max_tokens is None or full <= max_tokens:
        return RenderedTau(text, full, full)
    for k in range(1, len(steps)):  # drop the earliest turns first
        text = policy.render_reference(task, steps[k:], omitted=k)
        n = size(text)
        if n <= max_tokens:
            return RenderedTau(text, n, full)
    # the last turn alone is too long: keep the end of its reply (and drop its observation if need be)
    k = len(steps) - 1
    reply, obs = steps[-1] if steps else ("", None)
    ids = fmt.tokenizer.encode(reply, add_special_tokens=False)
    for observation in (obs, None):
        n = _largest(len(ids), lambda m: size(policy.render_reference(task, [(_tail(fmt, ids, m), observation)],
                                                                      omitted=k)) <= max_tokens)
        text = policy.render_reference(task, [(_tail(fmt, ids, n), observation)], omitted=k)
        size_n = size(text)
        if size_n <= max_tokens:
            return RenderedTau(text, size_n, full)
    # even the task with an empty reply is over the budget: the start of that text (the task's), marked
    ids = fmt.encode(policy.render_reference(task, [("...", None)], omitted=k))
    text = _head(fmt, ids, _largest(len(ids), lambda m: size(_head(fmt, ids, m)) <= max_tokens))
    return RenderedTau(text, size(text), full)


def _tail(fmt: ChatFormat, ids: list[int], m: int) -> str:
    """``...`` and the last ``m`` tokens of ``ids`` as text."""
    return "..." + fmt.tokenizer.decode(ids[len(ids) - m:], skip_special_tokens=True) if m else "..."


def _head(fmt: ChatFormat, ids: list[int], m: int) -> str:
    """The first ``m`` tokens of ``ids`` as text and ``[...]``."""
    return fmt.tokenizer.decode(ids[:m], skip_special_tokens=True).rstrip() + " [...]" if m else "[...]"


def _largest(hi: int, fits) -> int:
    """The largest ``m`` in ``0..hi`` with ``fits(m)`` (assumed monotone; 0 when none fits, checked last)."""
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    while lo > 0 and not fits(lo):  # re-encoding a cut text may not be monotone: step down until it fits
        lo -= 1
    return lo


def teacher_policy(policy: Policy, sc: object) -> Policy:
    """``policy`` with the guides that ``algo.sc`` sets explicitly (``guide``, ``guide_unverified``)."""
    import copy

    for key in ("guide", "guide_unverified"):
        if key in getattr(sc, "model_fields_set", ()):
            policy = copy.copy(policy)
            setattr(policy, key, getattr(sc, key))
    return policy


@dataclass
class TeacherPrompt:
    """Builds (and caches, for one learner step) the teacher's system ids for each reference.

    ``verified=False`` marks a reference that is not a verified solution (SC-GRPO's solve-none o_r): its
    guide says so (:attr:`policies.Policy.guide_unverified`). ``stats`` sums what the teacher saw.
    """

    fmt: ChatFormat
    policy: Policy
    mode: TauRender = "trajectory"
    max_tokens: int | None = None
    _cache: dict[tuple[int, bool], list[int]] = field(default_factory=dict, repr=False)
    _taus: dict[int, RenderedTau] = field(default_factory=dict, repr=False)
    _keep: list[Trajectory] = field(default_factory=list, repr=False)  # keeps ids() stable while cached

    def tau(self, reference: Trajectory) -> RenderedTau:
        key = id(reference)
        if key not in self._taus:
            self._taus[key] = render_tau(self.fmt, self.policy, reference, mode=self.mode,
                                         max_tokens=self.max_tokens)
            self._keep.append(reference)
        return self._taus[key]

    def system_ids(self, reference: Trajectory, verified: bool = True) -> list[int]:
        """Token ids of the teacher's system message: base prompt + guide + the rendered τ."""
        key = (id(reference), verified)
        if key not in self._cache:
            self._cache[key] = self.fmt.system_ids(self.policy.system(reference=self.tau(reference).text,
                                                                      verified=verified))
        return self._cache[key]

    def stats(self) -> dict[str, float]:
        """``tau_tokens`` (mean τ length in tokens), ``tau_cut`` (share of references cut) and
        ``tau_cut_tokens`` (share of τ tokens cut away), over the references rendered so far."""
        taus: Sequence[RenderedTau] = list(self._taus.values())
        if not taus:
            return {"tau_tokens": 0.0, "tau_cut": 0.0, "tau_cut_tokens": 0.0, "references": 0.0}
        full = sum(t.full_tokens for t in taus)
        return {"tau_tokens": sum(t.tokens for t in taus) / len(taus),
                "tau_cut": sum(t.cut for t in taus) / len(taus),
                "tau_cut_tokens": 1.0 - sum(t.tokens for t in taus) / max(full, 1),
                "references": float(len(taus))}
