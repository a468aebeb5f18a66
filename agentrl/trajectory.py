"""Token-in/token-out trajectories.

A :class:`Trajectory` is one growing list of token ids with a parallel loss mask (1 exactly on tokens the
model generated, 0 on prompt, observation and template tokens) and the rollout log-probs of the generated
tokens, and the weight version that sampled each generated token (for asynchronous training: how many
learner steps the sampling weights had seen). Generated ids are appended exactly as the backend returned them; environment messages are appended
as chat-template deltas (:class:`agentrl.chat.ChatFormat`). Nothing generated is ever re-tokenised.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agentrl.chat import ChatFormat


@dataclass
class Turn:
    """One agent turn: the generated span ``[gen_start, gen_end)`` and what the env answered."""

    gen_start: int
    gen_end: int
    text: str = ""
    action: str | None = None
    observation: str | None = None
    reward: float = 0.0
    finish_reason: str = ""
    weight_version: int = -1  # the oldest weight version that sampled a token of this turn (-1: none)


@dataclass
class Trajectory:
    """One episode, token by token.

    Attributes:
        token_ids: the whole context: prompt, generated tokens, template tokens, observations.
        loss_mask: 1 on generated tokens, 0 elsewhere (same length as ``token_ids``).
        logprobs: rollout log-prob of each generated token, 0.0 elsewhere (same length).
        versions: the weight version that sampled each generated token, -1 elsewhere (same length; empty in
            trajectories saved before versions were recorded).
        system_len: tokens of the rendered system message at the start (a teacher may replace them).
        prompt_len: tokens before the first generated token.
        turns: per-turn spans, generated text, parsed action and the env's observation.
        reward / success: the episode's outcome.
        end_reason: ``terminated`` | ``truncated`` | ``context_limit`` | ``error`` | ``timeout`` | ``""``.
        error: set when the episode failed (env exception, timeout, backend gave up); the learner skips it.
    """

    task_id: str
    token_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    system_len: int = 0
    prompt_len: int = 0
    turns: list[Turn] = field(default_factory=list)
    reward: float = 0.0
    success: bool = False
    end_reason: str = ""
    error: str | None = None
    system_prompt: str | None = None
    first_observation: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    @classmethod
    def start(cls, fmt: ChatFormat, task_id: str, observation: str, system: str | None = None) -> Trajectory:
        """A trajectory holding the rendered ``[system?, user=observation]`` prompt, ready to generate."""
        ids, system_len = fmt.prompt_ids(observation, system)
        traj = cls(task_id=task_id, system_len=system_len, system_prompt=system, first_observation=observation)
        traj._extend(ids, 0)
        traj.prompt_len = len(ids)
        return traj

    def add_generation(self, ids: list[int], logprobs: list[float], text: str = "",
                       finish_reason: str = "", versions: list[int] | int = 0) -> Turn:
        """Append tokens exactly as the backend sampled them (mask 1) and open a new turn.

        ``versions``: the weight version of each token (one int for all of them)."""
        if len(ids) != len(logprobs):
            raise ValueError(f"got {len(ids)} generated ids but {len(logprobs)} logprobs")
        versions = [int(versions)] * len(ids) if isinstance(versions, int) else [int(v) for v in versions]
        if len(versions) != len(ids):
            raise ValueError(f"got {len(ids)} generated ids but {len(versions)} weight versions")
        self._sync_versions()
        self.versions.extend(versions)
        start = len(self.token_ids)
        self.token_ids.extend(int(i) for i in ids)
        self.loss_mask.extend([1] * len(ids))
        self.logprobs.extend(float(x) for x in logprobs)
        turn = Turn(start, len(self.token_ids), text=text, finish_reason=finish_reason,
                    weight_version=min(versions, default=-1))
        self.turns.append(turn)
        return turn

    def close_turn(self, fmt: ChatFormat) -> None:
        """Append the template's end-of-assistant tokens the model did not emit itself (mask 0)."""
        last = self.turns[-1] if self.turns else None
        generated = self.token_ids[last.gen_start:last.gen_end] if last else []
        self._extend(fmt.close_ids(generated), 0)

    def add_message(self, fmt: ChatFormat, content: str, role: str = "user") -> None:
        """Close the last assistant turn and append a new env message plus the generation prompt (mask 0)."""
        self.close_turn(fmt)
        self._extend(fmt.message_ids(content, role), 0)

    def _extend(self, ids: list[int], mask: int) -> None:
        self._sync_versions()
        self.token_ids.extend(int(i) for i in ids)
        self.loss_mask.extend([mask] * len(ids))
        self.logprobs.extend([0.0] * len(ids))
        self.versions.extend([-1] * len(ids))

    def _sync_versions(self) -> None:
        """Bring ``versions`` level with ``token_ids`` (a trajectory built without it: version 0, -1 off-mask)."""
        if len(self.versions) < len(self.token_ids):
            self.versions.extend(0 if m else -1 for m in self.loss_mask[len(self.versions):])

    # ------------------------------------------------------------------ views
    @property
    def failed(self) -> bool:
        """True when the episode did not complete normally; the learner excludes failed trajectories."""
        return self.error is not None

    def agent_versions(self) -> list[int]:
        """The weight version of every generated token, in order (0 where none was recorded)."""
        if len(self.versions) != len(self.token_ids):
            return [0] * self.num_agent_tokens
        return [v for v, m in zip(self.versions, self.loss_mask) if m]

    @property
    def num_agent_tokens(self) -> int:
        return sum(self.loss_mask)

    def agent_token_ids(self) -> list[int]:
        return [t for t, m in zip(self.token_ids, self.loss_mask) if m]

    def check(self) -> None:
        """Raise ``AssertionError`` if the parallel lists or turn spans are inconsistent."""
        n = len(self.token_ids)
        assert len(self.loss_mask) == n and len(self.logprobs) == n, "token_ids/loss_mask/logprobs lengths differ"
        assert not self.versions or len(self.versions) == n, "versions and token_ids lengths differ"
        assert all(m in (0, 1) for m in self.loss_mask), "loss_mask holds values other than 0/1"
        assert not any(self.loss_mask[: self.prompt_len]), "prompt tokens are masked in"
        covered = [0] * n
        for t in self.turns:
            assert 0 <= t.gen_start <= t.gen_end <= n, f"turn span {t.gen_start}:{t.gen_end} out of range"
            for i in range(t.gen_start, t.gen_end):
                covered[i] = 1
        assert covered == self.loss_mask, "loss_mask is not exactly the generated spans"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (see :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trajectory:
        d = dict(d)
        d["turns"] = [Turn(**t) for t in d.get("turns", [])]
        return cls(**d)
