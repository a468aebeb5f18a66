"""Shared pieces of agentrl's HTTP servers: token auth, loopback checks, and a connection guard for aiohttp.

* :func:`resolve_token`: the shared secret from an argument or an environment variable (``None``: no auth).
* :func:`is_loopback`: whether a bind address or a peer address is loopback; :func:`require_token_off_loopback`
  refuses to bind elsewhere without a token.
* :func:`token_middleware`: ``Authorization: Bearer <token>`` (or ``X-Agentrl-Token``) on every route except
  the ones named open; constant-time comparison; 401 otherwise.
* :class:`ConnectionGuard`: an asyncio protocol factory around an aiohttp server that caps open connections
  (evicting the oldest connection with no request in progress, so ``/health`` still gets through while
  saturated; a clear 503 with ``Retry-After`` when every connection is busy) and closes a connection that has
  not sent a complete request head within ``header_timeout_s`` (slowloris); :class:`GuardedRunner` is the
  ``web.AppRunner`` whose guarded listener closes with it.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import resource
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web


def resolve_token(token: str | None, env_var: str) -> str | None:
    """``token`` if given, else the value of ``env_var`` (empty means none)."""
    t = token if token is not None else os.environ.get(env_var)
    return t or None


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is a loopback address."""
    if host in (None, ""):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def require_token_off_loopback(host: str, token: str | None, what: str, env_var: str) -> None:
    """Refuse (``ValueError``) to serve ``what`` on a non-loopback address without a token."""
    if token is None and not is_loopback(host):
        raise ValueError(f"{what} on host={host!r} (not loopback) needs a shared-secret token: pass token=... or set "
                         f"{env_var}; without one bind 127.0.0.1")


def request_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return request.headers.get("X-Agentrl-Token")


def token_ok(request: web.Request, token: str | None) -> bool:
    """Whether the request carries ``token`` (always true when no token is set)."""
    if token is None:
        return True
    got = request_token(request)
    return got is not None and hmac.compare_digest(got.encode(), token.encode())


def token_middleware(token: str | None, open_paths: frozenset[str] = frozenset({"/health"})):
    """aiohttp middleware answering 401 to requests without the token (paths in ``open_paths`` excepted)."""

    @web.middleware
    async def check(request: web.Request, handler):
        if token is not None and request.path not in open_paths and not token_ok(request, token):
            return web.json_response({"error": "missing or wrong token (send 'Authorization: Bearer <token>')",
                                      "type": "unauthorized"}, status=401)
        return await handler(request)

    return check


def default_max_connections() -> int:
    """Open connections a server accepts: 1024, or fewer when the open-file limit is lower."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(8, min(1024, soft - 64))


_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: %d\r\n"
         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s")


class _Guarded(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard, inner: Any):
        self.guard, self.inner = guard, inner
        self.transport: asyncio.Transport | None = None
        self.head_done = False
        self._tail = b""
        self.opened = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None

    def busy(self) -> bool:
        return bool(getattr(self.inner, "_request_in_progress", False) or getattr(self.inner, "_messages", None))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.guard._admit(self):
            return
        self.inner.connection_made(transport)
        self._timer = asyncio.get_running_loop().call_later(self.guard.header_timeout_s, self._head_deadline)

    def _head_deadline(self) -> None:
        if not self.head_done and self.transport is not None:
            self.guard.timed_out += 1
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self.head_done:
            if b"\r\n\r\n" in self._tail + data:
                self.head_done = True
                if self._timer is not None:
                    self._timer.cancel()
            else:
                self._tail = (self._tail + data)[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.guard.conns.pop(id(self), None) is not None:
            self.inner.connection_lost(exc)


class ConnectionGuard:
    """Protocol factory for ``loop.create_server`` around an aiohttp ``web.Server`` (see the module doc)."""

    def __init__(self, server: Any, *, max_connections: int | None = None, header_timeout_s: float = 10.0,
                 retry_after_s: int = 5):
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        if header_timeout_s <= 0:
            raise ValueError(f"header_timeout_s must be positive, got {header_timeout_s!r}")
        self.server = server
        self.max_connections = max_connections or default_max_connections()
        self.header_timeout_s = header_timeout_s
        self.retry_after_s = retry_after_s
        self.conns: OrderedDict[int, _Guarded] = OrderedDict()
        self.evicted = self.refused = self.timed_out = 0

    def __call__(self) -> _Guarded:
        return _Guarded(self, self.server())

    def _admit(self, p: _Guarded) -> bool:
        if len(self.conns) >= self.max_connections:
            victim = next((c for c in self.conns.values() if not c.busy()), None)
            if victim is None:
                body = (b'{"error": "the server has %d open connections, all busy; retry later", "type": "busy"}'
                        % self.max_connections)
                self.refused += 1
                p.transport.write(_BUSY % (self.retry_after_s, len(body), body))  # type: ignore[union-attr]
                p.transport.close()  # type: ignore[union-attr]
                return False
            self.evicted += 1
            self.conns.pop(id(victim), None)
            if victim.transport is not None:
                victim.transport.close()
            victim.inner.connection_lost(None)
        self.conns[id(p)] = p
        return True


class GuardedRunner(web.AppRunner):
    """An AppRunner whose guarded listening socket (see :func:`serve_guarded`) closes on ``cleanup()``."""

    listener: asyncio.base_events.Server | None = None

    async def cleanup(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        await super().cleanup()


async def serve_guarded(runner: web.BaseRunner, host: str, port: int, **guard_kw: Any
                        ) -> tuple[asyncio.base_events.Server, ConnectionGuard, str]:
    """Listen on ``host:port`` with a :class:`ConnectionGuard` around ``runner``'s server; returns the asyncio
    server (close it before ``runner.cleanup()``), the guard and the URL."""
    guard = ConnectionGuard(runner.server, **guard_kw)
    srv = await asyncio.get_running_loop().create_server(guard, host, port, backlog=256)
    real_port = srv.sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return srv, guard, f"http://{shown}:{real_port}"
