"""The JSON wire format shared by the env server and :class:`~agentrl.env_server.remote.RemoteEnv`.

``POST /sessions`` ``{"env_id"?, "kwargs"?}`` -> ``{"session_id", "env_id"}``;
``POST /sessions/{id}/reset`` ``{"seed"?, "options"?}`` -> ``{"observation", "info"}``;
``POST /sessions/{id}/step`` ``{"action"}`` -> ``{"observation", "reward", "terminated", "truncated", "info"}``;
``POST /sessions/{id}/oracle`` -> ``{"action"}``; ``DELETE /sessions/{id}``;
``GET /tasks?split=`` -> ``{"task_ids"}``; ``GET /health`` -> ``{"env_id", "sessions", "default_policy"}``.
Errors are ``{"error": reason, "type": kind}`` with 400 (malformed), 404 (unknown session), 409 (session
crashed or closed), 422 (the env refused the call, e.g. ``step`` before ``reset``), 503 (server full).
"""

from __future__ import annotations

import json
from typing import Any


def to_jsonable(x: Any) -> Any:
    """``x`` with NumPy scalars/arrays and other odd values made JSON-serialisable."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if hasattr(x, "tolist"):  # numpy scalar or array
        return x.tolist()
    return str(x)


def dumps(x: Any) -> str:
    return json.dumps(to_jsonable(x))
