"""``openenv:<module>:<app>`` / ``openenv`` with ``server=<url>``: an OpenEnv server (``openenv-core==0.3.0``) as an
agentrl env, over OpenEnv's own WebSocket client (``GenericEnvClient``; one server session per agentrl env).

* ``openenv:my_pkg.server.app:app`` starts the app (the FastAPI app ``openenv.core.env_server.create_app``
  builds) with uvicorn in a subprocess on loopback, once per process and app, and connects to it;
* ``agentrl.make("openenv", server="http://127.0.0.1:8000")`` connects to a server already running.
  (On the command line: ``env=openenv env.kwargs.server=http://...``; a URL is not an env id because run
  directories are named after the id.)

Text actions: when the server's action schema (``GET /schema``) has one string field (``message``,
``command``, ...), the model's text fills it; otherwise the text must be a JSON object of the action's fields.
An action the server refuses (its pydantic validation, or the env raising) is answered with the server's
one-line error as the observation (``info["valid_action"] = False``); the turn counts. Observations are the
observation's text field when it has one string field, else its fields as ``name: value`` lines. Reward and
``done`` are the server's; success is the final step's reward reaching ``success_threshold``.

Tasks ``train-<i>`` / ``test-<i>`` reset the server's env with a seed derived from the task id
(``reset(seed=...)``), so an env that honours the seed replays exactly. Calls time out after ``timeout_s``
(as agentrl's own env server); a dropped connection at ``reset`` is retried once on a fresh one, a drop
mid-episode raises :class:`~agentrl.env_server.remote.RemoteEnvError` (the server's session is gone).

OpenEnv env *names* (``AutoEnv.from_env("echo_env")``) resolve through the Hugging Face Hub and Docker, which
need the network or a container: those are refused with that reason; start the server and pass its URL.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from agentrl.env import AgentEnv, StepResult
from agentrl.env_server.remote import RemoteEnvError
from envs.ecosystem._tasks import SeededSplits

_APP_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_SERVERS: dict[str, tuple[subprocess.Popen, str]] = {}
_SERVERS_LOCK = threading.Lock()
#: Observation fields that are the protocol's, not the env's text.
_PROTOCOL_FIELDS = {"done", "reward", "metadata"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback or the user's server
        return json.loads(resp.read())


def local_server(app: str, *, startup_timeout_s: float = 60.0) -> str:
    """The URL of a uvicorn server running ``app`` (``module:attr``) on loopback, started once per process."""
    with _SERVERS_LOCK:
        running = _SERVERS.get(app)
        if running is not None and running[0].poll() is None:
            return running[1]
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "ENABLE_WEB_INTERFACE": "false"}
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                                 "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                err = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
                raise ValueError(f"the OpenEnv app {app!r} did not start: {err[-1] if err else 'exited'}")
            try:
                _get_json(f"{url}/health", 2.0)
                break
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    _stop(proc)
                    raise TimeoutError(f"the OpenEnv app {app!r} did not answer /health within "
                                       f"{startup_timeout_s:g}s") from None
                time.sleep(0.2)
        _SERVERS[app] = (proc, url)
        return url


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@atexit.register
def stop_local_servers() -> None:
    """Stop the servers :func:`local_server` started (also run at exit)."""
    with _SERVERS_LOCK:
        for proc, _ in _SERVERS.values():
            _stop(proc)
        _SERVERS.clear()


class OpenEnvEnv(AgentEnv):
    """A session of an OpenEnv server.

    Args:
        name: ``module:app`` to start locally, or an ``http(s)://`` URL (same as ``server``).
        server: the URL of a running server (instead of ``name``).
        action_field: the action field the text fills (default: the schema's only string field; none = JSON).
        observation_field: the observation field shown (default: its only string field; none = all fields).
        success_threshold: final reward at or above which an episode is a success.
        max_turns, n_train, n_test: agentrl's turn cap and task counts.
        timeout_s: per-call timeout; startup_timeout_s: how long a local app may take to answer /health.
    """

    default_policy = "base"

    def __init__(self, name: str | None = None, *, server: str | None = None, action_field: str | None = None,
                 observation_field: str | None = None, success_threshold: float = 1.0, max_turns: int = 20,
                 n_train: int = 1000, n_test: int = 100, timeout_s: float = 120.0, startup_timeout_s: float = 60.0,
                 render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.success_threshold = float(success_threshold)
        self._client: Any = None
        if (name is None) == (server is None):
            raise ValueError("openenv needs exactly one of name='<module>:<app>' (started locally) or "
                             f"server='<url>', got name={name!r}, server={server!r}")
        target = name if name is not None else server
        if target.startswith(("http://", "https://")):
            self.url = target.rstrip("/")
        elif _APP_SPEC.match(target):
            self.url = local_server(target, startup_timeout_s=startup_timeout_s)
        else:
            raise ValueError(f"openenv:{target!r} is neither '<module>:<app>' nor a server URL; OpenEnv env "
                             "names resolve through the Hugging Face Hub or Docker (openenv.auto.AutoEnv), which "
                             "need the network or a container: start its server and pass env.kwargs.server=<url>")
        self.timeout_s = float(timeout_s)
        try:
            schema = _get_json(f"{self.url}/schema", self.timeout_s)
        except (OSError, ValueError) as e:
            raise RemoteEnvError(f"the OpenEnv server at {self.url} does not answer GET /schema: {e}") from e
        self.action_schema = schema.get("action") or {}
        self.observation_schema = schema.get("observation") or {}
        self.action_field = action_field or self._only_string_field(self.action_schema)
        self.observation_field = observation_field or self._only_string_field(self.observation_schema)
        for field, kind, sch in ((action_field, "action", self.action_schema),
                                 (observation_field, "observation", self.observation_schema)):
            if field is not None and field not in (sch.get("properties") or {}):
                raise ValueError(f"{kind}_field={field!r} is not a field of the server's {kind}; accepted: "
                                 f"{sorted(set(sch.get('properties') or {}) - _PROTOCOL_FIELDS)}")
        self._splits = SeededSplits(f"openenv/{target}", n_train, n_test)

    @staticmethod
    def _only_string_field(schema: dict[str, Any]) -> str | None:
        props = {k: v for k, v in (schema.get("properties") or {}).items() if k not in _PROTOCOL_FIELDS}
        strings = [k for k, v in props.items() if v.get("type") == "string"]
        return strings[0] if len(strings) == 1 else None

    # ------------------------------------------------------------------ transport
    def _connect(self) -> Any:
        from openenv.core.generic_client import GenericEnvClient

        return GenericEnvClient(base_url=self.url, connect_timeout_s=min(self.timeout_s, 30.0),
                                message_timeout_s=self.timeout_s).sync()

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001 - best effort on a broken connection
                pass
            self._client = None

    def close(self) -> None:
        self._drop()
        super().close()

    # ------------------------------------------------------------------ rendering
    def _text(self, observation: dict[str, Any]) -> str:
        if self.observation_field is not None:
            return str(observation.get(self.observation_field, ""))
        fields = {k: v for k, v in observation.items() if k not in _PROTOCOL_FIELDS}
        return "\n".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in fields.items())

    def _payload(self, action: str) -> dict[str, Any] | str:
        """The action dict for ``action``, or a one-line reason it is not one."""
        if self.action_field is not None:
            return {self.action_field: action}
        fields = sorted(set(self.action_schema.get("properties") or {}) - _PROTOCOL_FIELDS)
        try:
            payload = json.loads(action)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return f"Invalid action {action[:80]!r}: reply with a JSON object of the action's fields {fields}."
        return payload

    # ------------------------------------------------------------------ agentrl hooks
    def task_ids(self, split: str = "train") -> Sequence[str]:
        return self._splits.ids(split)

    def _reset_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        seed = self._splits.seed(task_id)
        for attempt in (0, 1):
            try:
                if self._client is None:
                    self._client = self._connect()
                result = self._client.reset(seed=seed)
                break
            except (ConnectionError, OSError, TimeoutError) as e:
                self._drop()
                if attempt == 1:
                    raise RemoteEnvError(f"reset on the OpenEnv server at {self.url} failed: "
                                         f"{type(e).__name__}: {e}") from e
        return self._text(result.observation), {"seed": seed}

    def _step(self, action: str) -> StepResult:
        payload = self._payload(action)
        if isinstance(payload, str):
            return StepResult(payload, info={"valid_action": False})
        try:
            result = self._client.step(payload)
        except RuntimeError as e:  # the server's error message: validation or the env raising on this action
            if "Server error" not in str(e):
                raise
            reason = " ".join(str(e).split())[:300]
            return StepResult(f"Invalid action {action[:80]!r}: {reason}", info={"valid_action": False})
        except (ConnectionError, OSError, TimeoutError) as e:
            self._drop()
            raise RemoteEnvError(f"step on the OpenEnv server at {self.url} failed mid-episode: "
                                 f"{type(e).__name__}: {e}") from e
        reward = float(result.reward or 0.0)
        return StepResult(self._text(result.observation), reward=reward, terminated=bool(result.done),
                          info={"valid_action": True})
