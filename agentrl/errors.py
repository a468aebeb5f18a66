"""Errors that are the user's to fix: the command line prints their message on one line, without a traceback.

Set ``AGENTRL_DEBUG=1`` (or pass ``--debug``) to see the traceback anyway.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the input, the files or the servers a run was given (not a bug in agentrl)."""


class CheckpointError(UserError):
    """A run directory holds checkpoints but none of them can be loaded."""


class RunLockedError(UserError):
    """Another trainer is writing the run directory."""


class ServerUnavailable(UserError):
    """An inference server does not answer (at the start of a run or in the middle of one)."""


class NonFiniteWeightsError(CheckpointError):
    """Model weights hold NaN or infinite values (refused at save and at load)."""
