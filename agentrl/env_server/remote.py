"""``remote``: an env served by ``python -m agentrl.env_server.serve``, used like a local one.

``agentrl.make("remote", url="http://host:8100", env_id="webshop")`` opens a session on the server and
forwards ``reset``/``step``/``task_ids``/``oracle_action``/``close``. Calls are synchronous (the rollout
engine runs env calls in threads) over one keep-alive connection per env; a dropped connection is retried
once on a fresh one. Errors keep their meaning: the env refusing a call (e.g. ``step`` before ``reset``)
raises ``RuntimeError``, a crash on the server raises :class:`RemoteEnvError`. A server that cannot be reached
(or refuses the token) when the env is created raises :class:`RemoteEnvUnavailable`, and a server serving
another env or a malformed url raises :class:`RemoteEnvConfigError`: both are user errors, so the command
line prints them on one line (exit 2).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from agentrl.env import AgentEnv, StepResult
from agentrl.errors import UserError


class RemoteEnvError(RuntimeError):
    """The env server failed the call (env crash, unknown session, server full or unreachable)."""


class RemoteEnvUnavailable(RemoteEnvError, UserError):
    """The env server could not be reached, or refused the token, when the env was created."""


class RemoteEnvConfigError(ValueError, UserError):
    """The ``url`` or ``env_id`` given does not fit the server."""


class RemoteEnv(AgentEnv):
    """A session of an env server.

    Args:
        url: the server (``http://host:port``).
        env_id: the env the server must be serving (checked; ``None`` accepts whatever it serves).
        timeout_s: per-call socket timeout.
        token: the server's shared secret (default: the ``AGENTRL_ENV_TOKEN`` environment variable).
        **kwargs: must be empty: the server fixes its env's kwargs when it starts (it answers 400 otherwise).
    """

    def __init__(self, url: str, env_id: str | None = None, *, timeout_s: float = 120.0, token: str | None = None,
                 **kwargs: Any):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteEnvConfigError(f"url must look like http://host:port, got {url!r}")
        self._parts = parts
        self._timeout = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self._token = token if token is not None else (os.environ.get("AGENTRL_ENV_TOKEN") or None)
        self.url = url.rstrip("/")
        try:
            health = self._request("GET", "/health")
        except RemoteEnvError as e:
            raise RemoteEnvUnavailable(f"the env server at {self.url} does not answer ({e}); start it with "
                                       f"python -m agentrl.env_server.serve env={env_id or 'ID'} port="
                                       f"{parts.port or 8100}, or fix the url") from e
        served = health.get("env_id")
        if env_id is not None and served != env_id:
            raise RemoteEnvConfigError(f"the env server at {url} serves {served!r}, not env_id={env_id!r}")
        self.env_id = served
        self.default_policy = health.get("default_policy")
        try:
            created = self._request("POST", "/sessions", {"env_id": served, "kwargs": kwargs})
        except RemoteEnvError as e:
            if "HTTP 401" in str(e) or "HTTP 400" in str(e):  # a wrong token, env kwargs the server fixes
                raise RemoteEnvUnavailable(str(e)) from e
            raise
        self.session_id: str | None = created["session_id"]
        super().__init__(max_turns=int(created.get("max_turns") or 10))

    # ------------------------------------------------------------------ transport
    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        return cls(self._parts.hostname, self._parts.port, timeout=self._timeout)

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request(method, path, body=data, headers=headers)
                resp = self._conn.getresponse()
                payload = resp.read()
                status = resp.status
                break
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self._conn.close()
                self._conn = None
                if attempt == 1 or isinstance(e, TimeoutError):
                    raise RemoteEnvError(f"{method} {self.url}{path} failed: {type(e).__name__}: {e}") from e
        try:
            out = json.loads(payload) if payload else {}
        except json.JSONDecodeError:
            out = {"error": payload[:200].decode(errors="replace")}
        if status == 422:
            raise RuntimeError(out.get("error", "the env refused the call"))
        if status == 400 and path.startswith("/tasks"):
            raise ValueError(out.get("error"))
        if status >= 400:
            raise RemoteEnvError(f"{method} {self.url}{path} answered HTTP {status}: {out.get('error', out)}")
        return out

    def _path(self, what: str) -> str:
        if self.session_id is None:
            raise RuntimeError("this RemoteEnv is closed")
        return f"/sessions/{quote(self.session_id)}/{what}"

    # ------------------------------------------------------------------ env API
    def task_ids(self, split: str = "train") -> Sequence[str]:
        return self._request("GET", f"/tasks?split={quote(split)}")["task_ids"]

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        out = self._request("POST", self._path("reset"), {"seed": seed, "options": options})
        info = out["info"]
        self.task_id, self.turn, self._done = info.get("task_id"), 0, False
        self._last_obs = out["observation"]
        return out["observation"], info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"action must be a str, got {type(action).__name__}: {action!r}")
        out = self._request("POST", self._path("step"), {"action": action})
        info = out["info"]
        self.turn = int(info.get("turn", self.turn + 1))
        self._done = bool(out["terminated"] or out["truncated"])
        self._last_obs = out["observation"]
        return out["observation"], float(out["reward"]), bool(out["terminated"]), bool(out["truncated"]), info

    def _reset_task(self, task_id: str) -> tuple[str, dict[str, Any]]:  # pragma: no cover - reset is remote
        raise NotImplementedError

    def _step(self, action: str) -> StepResult:  # pragma: no cover - step is remote
        raise NotImplementedError

    def oracle_action(self) -> str | None:
        if self.session_id is None or self.done:
            return None
        return self._request("POST", self._path("oracle"))["action"]

    def close(self) -> None:
        if self.session_id is not None:
            try:
                self._request("DELETE", f"/sessions/{quote(self.session_id)}")
            except (RemoteEnvError, RuntimeError):
                pass  # the server may be gone or may have expired the session
            self.session_id = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        super().close()
