"""Helpers for running sandbox tests in every isolation mode the project permits (bwrap and unshare)."""

from __future__ import annotations

import contextlib
import os

import pytest

from agentrl import sandbox as sb
from agentrl.sandbox.isolation import CONTAINED, FORCE_ENV

#: The permitted (contained) modes, as pytest params; one not available here skips with the reason.
MODES = [pytest.param(m, id=m) for m in CONTAINED]


@contextlib.contextmanager
def forced(mode: str):
    """Force ``mode`` for the duration (skips the test when the mode cannot contain code here)."""
    why = sb.why_not(mode)
    if why is not None:
        pytest.skip(f"isolation mode {mode!r} is not available here: {why}")
    old = os.environ.get(FORCE_ENV)
    os.environ[FORCE_ENV] = mode
    sb._reset_isolation_cache()
    try:
        assert sb.isolation() == mode
        yield mode
    finally:
        if old is None:
            os.environ.pop(FORCE_ENV, None)
        else:
            os.environ[FORCE_ENV] = old
        sb._reset_isolation_cache()
