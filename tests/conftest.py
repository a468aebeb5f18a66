"""Shared fixtures: tokenizers trained locally (no hub), chat templates shipped as test fixtures."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

_CORPUS = [
    "You are a helpful assistant. Solve the task step by step and answer briefly.",
    "I am thinking of an integer between 1 and 32. Answer with guess[N]. 17 is wrong; the number is higher.",
    "search[red cotton t-shirt under 20 dollars] click[buy now] click[< prev] Back to Search [SEP] Page 1",
    "def solve(n):\n    return sum(range(n))\nprint(solve(int(input())))\n",
    "What is 3/4 + 1/8? The answer is \\boxed{\\frac{7}{8}}. Answer: 7/8",
    "<think>\nLet me reason about it carefully.\n</think>\n\nThe result is 42.",
    "apis.supervisor.complete_task(answer='done') Execution successful. Traceback (most recent call last):",
]


def reap(proc: subprocess.Popen) -> None:
    """Kill a test's process group with SIGKILL if it is still running, and collect its output (cleanup)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def template_text(name: str) -> str:
    """A chat template shipped as a test fixture (tests/fixtures/templates/<name>.jinja)."""
    return (FIXTURES / "templates" / f"{name}.jinja").read_text()


@pytest.fixture(scope="session")
def bpe_tokenizer():
    """A byte-level BPE tokenizer trained here on a small corpus (vocab 600), with every special token."""
    from agentrl.bpe import train_bpe_tokenizer

    return train_bpe_tokenizer(_CORPUS * 20, vocab_size=600)
