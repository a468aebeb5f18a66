"""The policy (agent format) interface: system prompt, observation -> message, model text -> env action.

A policy owns everything about *how the model talks to an env* and nothing about sampling or learning:

* :meth:`Policy.system` — the system prompt; given a rendered trajectory ``reference`` it returns the
  self-teacher's system prompt (base prompt + guide instruction + reference), as SC-GRPO needs: the
  ``guide`` for a verified solution, ``guide_unverified`` for a reference that is not one (solve-none o_r);
* :meth:`Policy.message` — an env observation as a chat message ``(role, content)``;
* :meth:`Policy.parse_action` — the env action in the model's text (invalid text is passed on so the env
  answers with its own "invalid action" observation; the turn counts);
* :meth:`Policy.render_reference` — the layout of a reference for a teacher prompt: the task, then each turn's
  reply (as the model wrote it, see :mod:`agentrl.learner.reference`) and what the env answered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


def strip_think(text: str) -> str:
    """``text`` without ``<think>...</think>`` blocks (an unclosed ``<think>`` drops everything after it)."""
    text = _THINK.sub("", text)
    i = text.find("<think>")
    return text if i < 0 else text[:i]


class Policy:
    """Default agent format: observations as user messages, the reply (minus ``<think>`` blocks) as action."""

    name = "default"
    system_prompt = "You are an agent acting in a text environment. Reply with your next action only."
    guide = "A verified solution to this task follows; use it as a hint.\n\n"
    guide_unverified = "An earlier attempt at this task follows; it was not verified and may be wrong.\n\n"

    def __init__(self, system_prompt: str | None = None, guide: str | None = None,
                 guide_unverified: str | None = None):
        if system_prompt is not None:
            self.system_prompt = system_prompt
        if guide is not None:
            self.guide = guide
        if guide_unverified is not None:
            self.guide_unverified = guide_unverified

    def system(self, reference: str | None = None, verified: bool = True) -> str:
        """The system prompt; with ``reference`` (a rendered trajectory) the self-teacher's one, whose guide
        instruction says whether the reference is a verified solution."""
        if reference is None:
            return self.system_prompt
        return f"{self.system_prompt}\n\n{self.guide if verified else self.guide_unverified}{reference}"

    def message(self, observation: str, turn: int) -> tuple[str, str]:
        """The chat message ``(role, content)`` for an env observation; ``turn`` 0 is the first one."""
        return "user", observation

    def parse_action(self, text: str) -> str:
        """The env action in the model's reply (the reply without ``<think>`` blocks, stripped)."""
        return strip_think(text).strip()

    def render_reference(self, task: str, steps: Sequence[tuple[str, str | None]], omitted: int = 0) -> str:
        """A reference as text: the task, a marker if the first ``omitted`` turns were cut, then per turn the
        reply and the env's observation (``None``: none followed)."""
        lines = [f"Task: {task}"]
        if omitted:
            lines.append(f"[... {omitted} earlier step{'s' if omitted > 1 else ''} omitted ...]")
        for i, (reply, observation) in enumerate(steps, omitted + 1):
            lines.append(f"Step {i} reply: {reply}")
            if observation is not None:
                lines.append(f"Step {i} observation: {observation}")
        return "\n".join(lines)
