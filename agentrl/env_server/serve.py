"""Serve a registered environment over HTTP (aiohttp), so env workers can run apart from the GPUs.

``python -m agentrl.env_server.serve env=webshop [host=127.0.0.1] [port=8100] [workers=32] [max_sessions=1024]
[idle_timeout_s=600] [kwargs='{"json": "object"}'] [token=SECRET] [max_connections=1024] [header_timeout_s=10]
[body_timeout_s=30]``

Each session is one env instance; its calls run one at a time in a thread pool, so a slow env does not block
the server. Malformed requests get 400 with the reason; an env exception answers 500 for that call and marks
only that session crashed (409 afterwards); sessions idle longer than ``idle_timeout_s`` are closed.
The wire format is documented in :mod:`agentrl.env_server.protocol`.

Trust: the env id, its constructor kwargs and so its sandbox limits and task files are fixed by whoever starts
the server; a client chooses only the task (``options.task_id``, ``options.split``) and the ``seed`` at reset.
With a token (``token=`` or ``AGENTRL_ENV_TOKEN``) every route but ``/health`` needs
``Authorization: Bearer <token>``; binding a non-loopback address requires one. Against abuse: a complete
request head within ``header_timeout_s``, a body within ``body_timeout_s``, at most ``max_connections`` open
connections (idle ones are evicted first, so ``/health`` answers while saturated), and a full server answers
503 with ``Retry-After`` (when the least recently used session will be reaped).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

import agentrl
from agentrl.cli import USER_ERRORS, one_line, fail, parse_key_values
from agentrl.env_server.protocol import dumps
from agentrl.net import GuardedRunner, require_token_off_loopback, resolve_token, serve_guarded, token_middleware

#: Environment variable holding the env server's shared secret.
TOKEN_ENV = "AGENTRL_ENV_TOKEN"
#: Keys of ``reset(options=...)`` a client may send (the task and the split it is drawn from).
RESET_OPTIONS = ("task_id", "split")

log = logging.getLogger(__name__)


@dataclass
class _Session:
    env: Any
    last_used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    crashed: str | None = None


def _err(status: int, reason: str, kind: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason, "type": kind}, status=status, dumps=dumps, headers=headers)


class EnvServer:
    """Sessions of one registered env behind an aiohttp app."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, *, workers: int = 32,
                 max_sessions: int = 1024, idle_timeout_s: float = 600.0, token: str | None = None,
                 body_timeout_s: float = 30.0):
        agentrl.spec(env_id)  # unknown ids fail now, listing the registered ones
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.token = resolve_token(token, TOKEN_ENV)
        self.body_timeout_s = body_timeout_s
        self.guard: Any = None  # the connection guard, once listening
        self.sessions: dict[str, _Session] = {}
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agentrl-envserver")
        self._probe = agentrl.make(env_id, **self.env_kwargs)  # for task lists and the default policy
        self._probe_lock = threading.Lock()
        self._reaper: asyncio.Task[None] | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 << 20, middlewares=[token_middleware(self.token)])
        r = app.router
        r.add_post("/sessions", self.create)
        r.add_post("/sessions/{sid}/reset", self.reset)
        r.add_post("/sessions/{sid}/step", self.step)
        r.add_post("/sessions/{sid}/oracle", self.oracle)
        r.add_delete("/sessions/{sid}", self.delete)
        r.add_get("/tasks", self.tasks)
        r.add_get("/health", self.health)
        app.on_startup.append(self._start_reaper)
        app.on_cleanup.append(self._cleanup)
        return app

    # ------------------------------------------------------------------ lifecycle
    async def _start_reaper(self, app: web.Application) -> None:
        self._reaper = asyncio.create_task(self._reap_loop())

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, min(5.0, self.idle_timeout_s / 4)))
            await self.reap_idle()

    async def reap_idle(self) -> int:
        """Close sessions idle longer than ``idle_timeout_s``; returns how many."""
        now = time.monotonic()
        idle = [sid for sid, s in self.sessions.items()
                if now - s.last_used > self.idle_timeout_s and not s.lock.locked()]
        for sid in idle:
            await self._close(sid)
        return len(idle)

    async def _cleanup(self, app: web.Application) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for sid in list(self.sessions):
            await self._close(sid)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _close(self, sid: str) -> None:
        s = self.sessions.pop(sid, None)
        if s is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, s.env.close)
            except Exception:  # noqa: BLE001 - closing a crashed env may fail too
                pass

    # ------------------------------------------------------------------ helpers
    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            raw = await asyncio.wait_for(request.read(), self.body_timeout_s)
        except asyncio.TimeoutError:
            raise web.HTTPRequestTimeout(text=dumps({"error": f"the request body did not arrive within "
                                                     f"{self.body_timeout_s} s", "type": "timeout"}),
                                         content_type="application/json") from None
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise web.HTTPBadRequest(text=dumps({"error": "the request body is not valid JSON",
                                                 "type": "bad_request"}), content_type="application/json")
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text=dumps({"error": "the request body must be a JSON object",
                                                 "type": "bad_request"}), content_type="application/json")
        return body

    def _session(self, request: web.Request) -> _Session | web.Response:
        sid = request.match_info["sid"]
        s = self.sessions.get(sid)
        if s is None:
            return _err(404, f"unknown session {sid!r} (closed, expired or never created)", "unknown_session")
        if s.crashed is not None:
            return _err(409, f"session {sid!r} crashed earlier ({s.crashed}); create a new session", "crashed")
        s.last_used = time.monotonic()
        return s

    async def _call(self, s: _Session, fn: Any, *args: Any, **kw: Any) -> Any:
        async with s.lock:
            try:
                return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args, **kw))
            finally:
                s.last_used = time.monotonic()

    async def _env_call(self, s: _Session, fn: Any, *args: Any, **kw: Any) -> Any:
        """Run an env method; env misuse (``RuntimeError``/``TypeError``/``ValueError``) -> 422, a crash -> 500."""
        try:
            return await self._call(s, fn, *args, **kw)
        except (RuntimeError, TypeError, ValueError) as e:
            return _err(422, f"{type(e).__name__}: {e}", "env_refused")
        except Exception as e:  # noqa: BLE001 - the env crashed: mark this session only
            s.crashed = f"{type(e).__name__}: {e}"
            log.warning("env session crashed: %s", s.crashed)
            return _err(500, f"the env raised {type(e).__name__}: {e}", "env_crashed")

    # ------------------------------------------------------------------ handlers
    async def create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        env_id = body.get("env_id", self.env_id)
        if env_id != self.env_id:
            return _err(400, f"this server serves env {self.env_id!r}, not {env_id!r}", "bad_request")
        kwargs = body.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            return _err(400, "kwargs must be a JSON object", "bad_request")
        if kwargs:
            return _err(400, f"this server's env kwargs are fixed when it starts; a session may not set "
                             f"{sorted(kwargs)} (a client chooses only {list(RESET_OPTIONS)} and seed at reset)",
                        "bad_request")
        if len(self.sessions) >= self.max_sessions:
            await self.reap_idle()
            if len(self.sessions) >= self.max_sessions:
                oldest = min(s.last_used for s in self.sessions.values())
                retry = max(1, int(oldest + self.idle_timeout_s - time.monotonic()) + 1)
                return _err(503, f"the server is full ({self.max_sessions} sessions); retry in {retry} s, when the "
                                 "least recently used session expires, or close sessions you no longer use", "full",
                            headers={"Retry-After": str(retry)})
        try:
            env = await asyncio.get_running_loop().run_in_executor(
                self._executor, lambda: agentrl.make(self.env_id, **self.env_kwargs))
        except Exception as e:  # noqa: BLE001 - the server's own kwargs: a server problem
            return _err(500, f"could not create env {self.env_id!r}: {type(e).__name__}: {e}", "env_crashed")
        sid = uuid.uuid4().hex
        self.sessions[sid] = _Session(env)
        return web.json_response({"session_id": sid, "env_id": self.env_id,
                                  "max_turns": getattr(env, "max_turns", None)}, dumps=dumps)

    async def reset(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        s = self._session(request)
        if isinstance(s, web.Response):
            return s
        seed, options = body.get("seed"), body.get("options")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            return _err(400, f"seed must be an integer or null, got {seed!r}", "bad_request")
        if options is not None and not isinstance(options, dict):
            return _err(400, "options must be a JSON object or null", "bad_request")
        bad = sorted(set(options or {}) - set(RESET_OPTIONS))
        if bad:
            return _err(400, f"reset options {bad} are not accepted; accepted: {list(RESET_OPTIONS)}", "bad_request")
        out = await self._env_call(s, s.env.reset, seed=seed, options=options)
        if isinstance(out, web.Response):
            return out
        obs, info = out
        return web.json_response({"observation": obs, "info": info}, dumps=dumps)

    async def step(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        s = self._session(request)
        if isinstance(s, web.Response):
            return s
        action = body.get("action")
        if not isinstance(action, str):
            return _err(400, f"action must be a string, got {type(action).__name__}", "bad_request")
        out = await self._env_call(s, s.env.step, action)
        if isinstance(out, web.Response):
            return out
        obs, reward, terminated, truncated, info = out
        return web.json_response({"observation": obs, "reward": reward, "terminated": terminated,
                                  "truncated": truncated, "info": info}, dumps=dumps)

    async def oracle(self, request: web.Request) -> web.Response:
        s = self._session(request)
        if isinstance(s, web.Response):
            return s
        out = await self._env_call(s, s.env.oracle_action)
        if isinstance(out, web.Response):
            return out
        return web.json_response({"action": out}, dumps=dumps)

    async def delete(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        if sid not in self.sessions:
            return _err(404, f"unknown session {sid!r}", "unknown_session")
        await self._close(sid)
        return web.json_response({"closed": True})

    async def tasks(self, request: web.Request) -> web.Response:
        split = request.query.get("split", "train")
        try:
            with self._probe_lock:
                ids = list(self._probe.task_ids(split))
        except ValueError as e:
            return _err(400, str(e), "bad_request")
        return web.json_response({"task_ids": ids}, dumps=dumps)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"env_id": self.env_id, "sessions": len(self.sessions),
                                  "max_sessions": self.max_sessions,
                                  "default_policy": getattr(type(self._probe), "default_policy", None)})


async def start_env_server(env_id: str, host: str = "127.0.0.1", port: int = 0, *, max_connections: int | None = None,
                           header_timeout_s: float = 10.0, keepalive_timeout_s: float = 30.0,
                           **kw: Any) -> tuple[web.AppRunner, str, EnvServer]:
    """Start an env server in the running loop; returns ``(runner, url, server)`` (``await runner.cleanup()``).

    Refuses a non-loopback ``host`` without a token. ``server.guard`` counts evicted, refused and timed-out
    connections.
    """
    server = EnvServer(env_id, **kw)
    require_token_off_loopback(host, server.token, "the env server", TOKEN_ENV)
    runner = GuardedRunner(server.app(), access_log=None, keepalive_timeout=keepalive_timeout_s)
    await runner.setup()
    runner.listener, server.guard, url = await serve_guarded(runner, host, port, max_connections=max_connections,
                                                             header_timeout_s=header_timeout_s)
    return runner, url, server


USAGE = """usage: python -m agentrl.env_server.serve env=ID [host=127.0.0.1] [port=8100] [workers=32] [max_sessions=1024]
                                    [idle_timeout_s=600] [kwargs='{"key": "value"}']

Serve a registered env over HTTP; connect with agentrl.make("remote", url=..., env_id=...).

  env=             a registered env id (python -c "import agentrl; print(agentrl.list_envs())")
  host=, port=     where to listen (127.0.0.1:8100)
  workers=         threads that step envs
  max_sessions=    env instances open at once
  idle_timeout_s=  close a session idle this long
  kwargs=          the env's constructor arguments, a JSON object (fixed at start; sessions choose only the
                   task, split and seed)
  token=           shared secret clients send (required to bind a non-loopback host; or AGENTRL_ENV_TOKEN)
  max_connections=, header_timeout_s=, body_timeout_s=   limits against slow or abusive clients
  -h, --help       show this help

example:
  python -m agentrl.env_server.serve env=webshop port=8100 kwargs='{"results_per_page": 5}'
"""


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m agentrl.env_server.serve``."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_key_values(argv, {"env", "host", "port", "workers", "max_sessions", "idle_timeout_s", "kwargs",
                                   "token", "max_connections", "header_timeout_s", "body_timeout_s"}, USAGE)
    if "env" not in args:
        fail(f"env= is required: python -m agentrl.env_server.serve env=ID [port=8100] ...; envs: "
             f"{agentrl.list_envs()}")
    try:
        kwargs = json.loads(args.get("kwargs", "{}"))
    except json.JSONDecodeError as e:
        fail(f"kwargs must be a JSON object: {e}")
    if not isinstance(kwargs, dict):
        fail(f"kwargs must be a JSON object, got {type(kwargs).__name__}")
    num: dict[str, Any] = {}
    for k, kind in (("port", int), ("workers", int), ("max_sessions", int), ("max_connections", int),
                    ("idle_timeout_s", float), ("body_timeout_s", float), ("header_timeout_s", float)):
        if k in args:
            try:
                num[k] = kind(args[k])
            except ValueError:
                fail(f"{k}={args[k]!r} is not {'an integer' if kind is int else 'a number'}")
    host, port = args.get("host", "127.0.0.1"), num.get("port", 8100)
    logging.basicConfig(level=logging.INFO)

    async def serve() -> None:
        try:
            runner, url, _ = await start_env_server(
                args["env"], host, port, env_kwargs=kwargs, workers=num.get("workers", 32),
                max_sessions=num.get("max_sessions", 1024), idle_timeout_s=num.get("idle_timeout_s", 600.0),
                token=args.get("token"), body_timeout_s=num.get("body_timeout_s", 30.0),
                max_connections=num.get("max_connections"), header_timeout_s=num.get("header_timeout_s", 10.0))
        except (*USER_ERRORS, ValueError, TypeError, OSError) as e:  # a bad env id or kwargs, a port in use
            fail(one_line(e))
        log.info("serving env %r on %s", args["env"], url)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
