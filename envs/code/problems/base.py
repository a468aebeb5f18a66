"""The shape of an authored code problem, and the small input-building helpers the problem files share."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Problem:
    """One authored task: statement, reference and wrong solutions, public examples, hidden-input generator."""

    id: str
    title: str
    statement: str
    ref: str
    wrong: str
    public: list[tuple[str, str]]
    gen: Callable[[random.Random], str]
    kind: str = "stdin"  # or "call"
    func_name: str | None = None
    starter: str = ""
    edge: list[str] = field(default_factory=list)
    difficulty: str = "easy"
    n_hidden: int = 8


def ints(r: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return [r.randint(lo, hi) for _ in range(n)]


def line(xs) -> str:
    return " ".join(map(str, xs))


def counted(xs, *head, per_line: bool = False) -> str:
    """The usual stdin input: the count of ``xs`` and any further ``head`` values on the first line, then
    ``xs`` on one line (or one per line)."""
    body = "\n".join(map(str, xs)) if per_line else line(xs)
    return f"{line((len(xs), *head))}\n{body}\n"


def args(*xs) -> str:
    """Input of a call test: one JSON value per line."""
    return "\n".join(json.dumps(x) for x in xs)


def word(r: random.Random, lo=1, hi=8, alpha="abcde") -> str:
    return "".join(r.choice(alpha) for _ in range(r.randint(lo, hi)))
