"""Authoring source of the bundled code tasks (original problems written for agentrl).

Each problem has a statement, a reference solution, a deliberately wrong solution (a plausible bug), public
examples with hand-written expected outputs, and a generator of hidden inputs. ``build_bundled.py`` turns
this into ``data/bundled.jsonl`` (LiveCodeBench layout): it runs the reference in the sandbox to get the hidden
outputs, checks the reference against the hand-written examples and checks that the wrong solution fails.
"""

from __future__ import annotations

from envs.code.problems import call, stdin
from envs.code.problems.base import Problem

__all__ = ["Problem", "problems"]


def problems() -> list[Problem]:
    """All authored problems, stdin ones first (ids are unique)."""
    out = stdin.P + call.P
    ids = [p.id for p in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"duplicate problem ids: {sorted(dup)}")
    return out
