"""Backend faults injected on purpose, for the engine's fault-tolerance test and benchmark.

:func:`backend_faults` is an aiohttp middleware for agentrl's own server (``start_server(...,
middlewares=[...])``): a share of ``/generate`` requests answers HTTP 500, another share is served but has its
connection dropped before the answer (the server did the work; the client sees a reset). Counts go into
``counts`` under ``"http_500"`` and ``"dropped_connection"``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web


def backend_faults(rng: random.Random, counts: Counter, *, http_500: float = 0.01, dropped: float = 0.01
                   ) -> Callable[[web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]],
                                 Awaitable[web.StreamResponse]]:
    """A middleware failing ``http_500`` of ``/generate`` requests with HTTP 500 and dropping the connection of
    another ``dropped`` share after serving them."""
    if not (0 <= http_500 and 0 <= dropped and http_500 + dropped <= 1):
        raise ValueError(f"fault rates must be shares summing to at most 1, got http_500={http_500!r}, "
                         f"dropped={dropped!r}")

    @web.middleware
    async def inject(request: web.Request, handler):
        if request.path != "/generate":
            return await handler(request)
        x = rng.random()
        if x < http_500:
            counts["http_500"] += 1
            return web.Response(status=500, text="injected")
        if x < http_500 + dropped:  # the server did the work but the connection drops before the answer
            counts["dropped_connection"] += 1
            await handler(request)
            request.transport.close()
            raise ConnectionResetError("injected drop")
        return await handler(request)

    return inject
