"""What the HTTP backends share: an aiohttp session, several servers, least-loaded routing, sticky sessions.

Errors are classified once here: connection failures, timeouts and 5xx/429 answers raise
:class:`BackendError` (the engine retries them with backoff, on another server when there is one); other 4xx
answers raise :class:`BackendFatalError` (retrying a malformed request cannot help).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

import aiohttp

from agentrl.rollout.backends.base import BackendError, BackendFatalError


class HTTPBackendBase:
    """Routing and JSON requests over a list of server URLs.

    A trajectory's ``session_id`` is pinned to the server that served its first turn (its prompt prefix is
    in that server's radix/prefix cache); new sessions go to the server with the fewest requests in flight.
    One URL of an sglang-router works too (the router then does the balancing).
    """

    def __init__(self, urls: list[str] | str, *, request_timeout_s: float = 300.0, max_sessions: int = 100_000):
        if isinstance(urls, str):
            urls = [urls]
        urls = [u.rstrip("/") for u in urls]
        if not urls:
            raise ValueError("an HTTP backend needs at least one server URL (rollout.urls=[http://host:port])")
        for u in urls:
            if not u.startswith(("http://", "https://")):
                raise ValueError(f"server URL {u!r} must start with http:// or https://")
        self.urls = urls
        self.request_timeout_s = float(request_timeout_s)
        self.inflight = {u: 0 for u in urls}
        self.version = 0  # the trainer's weight version the servers hold (the trainer sets it after each sync)
        self._sticky: OrderedDict[str, str] = OrderedDict()
        self._max_sessions = max_sessions
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ routing
    def pick(self, session_id: str | None) -> str:
        """The server for a request of ``session_id`` (sticky), else the least-loaded one."""
        if session_id is not None and session_id in self._sticky:
            self._sticky.move_to_end(session_id)
            return self._sticky[session_id]
        url = min(self.urls, key=lambda u: self.inflight[u])
        if session_id is not None:
            self._sticky[session_id] = url
            if len(self._sticky) > self._max_sessions:
                self._sticky.popitem(last=False)
        return url

    def unstick(self, session_id: str | None) -> None:
        """Forget a session's server (after it failed, so a retry may go elsewhere)."""
        if session_id is not None:
            self._sticky.pop(session_id, None)

    # ------------------------------------------------------------------ requests
    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # one connection pool per event loop; the limit is the engine's concurrency, not aiohttp's
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                                  timeout=aiohttp.ClientTimeout(total=None))
            self._session_loop = loop
        return self._session

    async def request(self, method: str, url: str, payload: Any = None, *, timeout_s: float | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send one JSON request; return ``(status, body)`` for 2xx/4xx, raise :class:`BackendError` else."""
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.request_timeout_s)
        try:
            async with self.session().request(method, url, json=payload, timeout=timeout, headers=headers) as resp:
                text = await resp.text()
                status = resp.status
        except asyncio.TimeoutError as e:
            raise BackendError(f"{method} {url} timed out after {timeout.total:.1f}s") from e
        except (aiohttp.ClientError, ConnectionError, OSError) as e:
            raise BackendError(f"{method} {url} failed: {type(e).__name__}: {e}") from e
        if status >= 500 or status == 429:
            raise BackendError(f"{method} {url} answered HTTP {status}: {text[:300]}")
        try:
            body = json.loads(text) if text else None
        except json.JSONDecodeError:
            body = text
        return status, body

    async def post_ok(self, url: str, payload: Any = None, *, timeout_s: float | None = None) -> Any:
        """POST and return the JSON body; any 4xx raises :class:`BackendFatalError` with the server's reason."""
        status, body = await self.request("POST", url, payload, timeout_s=timeout_s)
        if status >= 400:
            raise BackendFatalError(f"POST {url} answered HTTP {status}: {str(body)[:300]}")
        return body

    async def post_all(self, path: str, payload: Any = None, *, timeout_s: float | None = None) -> list[Any]:
        """POST ``path`` to every server concurrently; return their bodies in URL order."""
        return list(await asyncio.gather(*(self.post_ok(u + path, payload, timeout_s=timeout_s)
                                           for u in self.urls)))

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
