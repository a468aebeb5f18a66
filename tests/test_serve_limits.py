"""``agentrl.serve`` against slow and greedy clients (issue 28 item 5), with real sockets on loopback: half-open
connections do not make ``/health`` unreachable, a request head or body that never completes is cut off, and
a server over capacity answers 503 with ``Retry-After``."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from agentrl.models import tiny_qwen3
from agentrl.rollout.backends.local import LocalBackend
from agentrl.serve import SERVER_KEY, start_server

CONTEXT = 512


@pytest.fixture(scope="module")
def model():
    return tiny_qwen3(300, hidden_size=64, num_layers=2, seed=3)


async def test_300_half_open_connections_leave_health_answering(model):
    """The finding: 300 connections that never finish their request head made /health time out, and none was
    closed in 30 s. With a cap of 64 connections the idle ones are evicted, /health answers within 5 s, and
    the header timeout (1 s) closes whatever the cap did not."""
    backend = LocalBackend(model, max_context_tokens=CONTEXT, eos_token_ids=[])
    runner, url = await start_server(backend, max_connections=64, header_timeout_s=1.0)
    host, port = url.split("//")[1].split(":")
    conns = []
    try:
        for _ in range(300):
            r, w = await asyncio.open_connection(host, int(port))
            w.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            conns.append((r, w))
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/health", timeout=aiohttp.ClientTimeout(total=5)) as resp:
                assert resp.status == 200
        assert time.monotonic() - t0 < 5
        for r, _ in conns:  # read() returns at EOF; a connection held open would time out here
            await asyncio.wait_for(r.read(), 10)
            assert r.at_eof()
        guard = runner.app[SERVER_KEY].guard
        assert guard.evicted >= 300 - 64 and guard.evicted + guard.timed_out >= 300
    finally:
        for _, w in conns:
            w.close()
        await runner.cleanup()
        await backend.close()


@pytest.fixture
async def limited(model):
    backend = LocalBackend(model, max_context_tokens=CONTEXT, eos_token_ids=[])
    runner, url = await start_server(backend, max_connections=8, header_timeout_s=1.0, body_timeout_s=0.5,
                                     max_requests=2)
    yield backend, url, runner.app[SERVER_KEY]
    await runner.cleanup()
    await backend.close()


async def test_slowloris_is_cut_off_and_the_cap_evicts_idle_connections(limited):
    _, url, server = limited
    host, port = url.split("//")[1].split(":")
    writers = []
    for _ in range(20):  # more than the cap of 8
        r, w = await asyncio.open_connection(host, int(port))
        w.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        writers.append((r, w))
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/health", timeout=aiohttp.ClientTimeout(total=5)) as resp:
            assert resp.status == 200
    for r, _ in writers:  # each is closed by the server (evicted, or after the 1 s header timeout)
        await asyncio.wait_for(r.read(), 10)  # returns at EOF; a connection held open would time out here
        assert r.at_eof()
    g = server.guard
    assert g.evicted + g.timed_out >= 20 and len(g.conns) <= 8
    for _, w in writers:
        w.close()


async def test_a_body_that_never_arrives_answers_408(limited):
    _, url, _ = limited
    host, port = url.split("//")[1].split(":")
    r, w = await asyncio.open_connection(host, int(port))
    w.write(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
            b"\r\n{\"input")
    reply = await asyncio.wait_for(r.read(4096), 10)
    assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive" in reply
    w.close()


async def test_over_capacity_answers_503_with_retry_after(limited):
    _, url, server = limited
    long = {"input_ids": [1, 2, 3], "sampling_params": {"max_new_tokens": CONTEXT, "sampling_seed": 0}}
    async with aiohttp.ClientSession() as http:
        tasks = [asyncio.ensure_future(http.post(url + "/generate", json=long)) for _ in range(2)]
        for _ in range(3000):
            if len(server.running) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(server.running) == 2
        for route, body in (("/generate", long), ("/v1/completions", {"prompt": [1, 2], "max_tokens": 4})):
            async with http.post(url + route, json=body) as resp:
                assert resp.status == 503
                assert int(resp.headers["Retry-After"]) >= 1
                assert "max_requests" in (await resp.json())["error"]["message"]
        async with http.get(url + "/health") as resp:
            assert resp.status == 200
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
