"""``agentrl.env_server.serve`` + ``agentrl.make("remote")``: 200 concurrent sessions identical to local envs,
malformed requests, crashed sessions, idle expiry, and the engine on a remote env."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

import agentrl
import policies
from agentrl import ChatFormat
from agentrl.config.schema import RolloutConfig
from agentrl.env_server.remote import RemoteEnv, RemoteEnvError
from agentrl.env_server.serve import start_env_server
from agentrl.env import rng_for
from envs.guess import GuessNumberEnv


class _Fragile(GuessNumberEnv):
    """Crashes on the action 'crash' (an env bug, not an invalid action)."""

    def _step(self, action):
        if action == "crash":
            raise ZeroDivisionError("env bug")
        return super()._step(action)


agentrl.register("test-fragile-guess", _Fragile)


class ServerThread:
    """An env server running in its own event loop thread (RemoteEnv is a synchronous client)."""

    def __init__(self, env_id: str, **kw):
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.runner, self.url, self.server = self.loop.run_until_complete(start_env_server(env_id, **kw))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(30)

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self):
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def server():
    s = ServerThread("test-fragile-guess", workers=32, idle_timeout_s=600)
    yield s
    s.stop()


def raw(url, method, path, body=None, raw_body=None, headers=None, with_headers=False):
    p = urlsplit(url)
    conn = http.client.HTTPConnection(p.hostname, p.port, timeout=30)
    data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read() or b"{}")
    hdrs = dict(resp.getheaders())
    conn.close()
    return (*out, hdrs) if with_headers else out


def episode(env, task_id: str, seed: int):
    """A seeded random-ish episode (oracle moves mixed with invalid and wrong actions)."""
    rng = rng_for("episode", task_id, seed)
    log = [env.reset(seed=seed, options={"task_id": task_id})]
    while not env.done:
        r = rng.random()
        action = (env.oracle_action() if r < 0.4 else "nonsense" if r < 0.6
                  else f"guess[{int(rng.integers(1, 33))}]")
        log.append((action, env.step(action)))
    return log


def test_200_concurrent_sessions_match_local_envs(server):
    tasks = [(f"train-{i}", i) for i in range(200)]
    local = [episode(_Fragile(), t, s) for t, s in tasks]
    barrier = threading.Barrier(200)

    def remote(job):
        env = agentrl.make("remote", url=server.url, env_id="test-fragile-guess")
        barrier.wait(30)  # all 200 sessions exist at once
        try:
            return episode(env, *job)
        finally:
            env.close()

    with ThreadPoolExecutor(200) as pool:
        results = list(pool.map(remote, tasks))
    assert results == local
    assert len(server.server.sessions) == 0  # every session was closed


def test_malformed_requests_get_4xx_with_a_reason(server):
    url = server.url
    assert raw(url, "POST", "/sessions", raw_body=b"{not json")[0] == 400
    status, body = raw(url, "POST", "/sessions", {"env_id": "webshop"})
    assert status == 400 and "serves env 'test-fragile-guess'" in body["error"]
    status, body = raw(url, "POST", "/sessions", {"kwargs": {"high": 1}})
    assert status == 400 and "fixed when it starts" in body["error"] and "'high'" in body["error"]
    status, body = raw(url, "POST", "/sessions/nope/step", {"action": "guess[1]"})
    assert status == 404 and "unknown session" in body["error"]
    sid = raw(url, "POST", "/sessions", {})[1]["session_id"]
    status, body = raw(url, "POST", f"/sessions/{sid}/step", {"action": 5})
    assert status == 400 and "action must be a string" in body["error"]
    status, body = raw(url, "POST", f"/sessions/{sid}/reset", {"seed": "x"})
    assert status == 400 and "seed" in body["error"]
    status, body = raw(url, "POST", f"/sessions/{sid}/step", {"action": "guess[1]"})
    assert status == 422 and "call reset() first" in body["error"]  # env refusal, session still usable
    status, body = raw(url, "POST", f"/sessions/{sid}/reset", {"options": {"task_id": "train-99999"}})
    assert status == 422 and "unknown task_id" in body["error"]
    assert raw(url, "POST", f"/sessions/{sid}/reset", {"options": {"task_id": "train-1"}})[0] == 200
    status, body = raw(url, "GET", "/tasks?split=nope")
    assert status == 400 and "accepted" in body["error"]
    with pytest.raises(ValueError, match="serves 'test-fragile-guess'"):
        RemoteEnv(server.url, env_id="guess")
    with pytest.raises(ValueError, match="http://host:port"):
        RemoteEnv("localhost:1")


def test_a_crashed_session_does_not_take_down_others(server):
    a = RemoteEnv(server.url)
    b = RemoteEnv(server.url)
    a.reset(options={"task_id": "train-0"})
    b.reset(options={"task_id": "train-0"})
    with pytest.raises(RemoteEnvError, match="ZeroDivisionError"):
        a.step("crash")
    with pytest.raises(RemoteEnvError, match="crashed earlier"):
        a.step("guess[3]")
    assert b.step("guess[16]")[0].startswith("16 is wrong") or b.done  # b is unaffected
    assert a.default_policy is None and len(b.task_ids("test")) == 100
    a.close()
    b.close()


def test_idle_sessions_expire():
    s = ServerThread("guess", idle_timeout_s=0.2)
    try:
        env = RemoteEnv(s.url, env_id="guess")
        env.reset(options={"task_id": "train-0"})
        for _ in range(100):
            if not s.server.sessions:
                break
            threading.Event().wait(0.05)
        assert not s.server.sessions
        with pytest.raises(RemoteEnvError, match="unknown session"):
            env.step("guess[1]")
    finally:
        s.stop()


async def test_engine_on_remote_envs_matches_local(bpe_tokenizer, server):
    from agentrl.models import tiny_qwen3
    from agentrl.rollout.backends.local import LocalBackend
    from agentrl.rollout.engine import RolloutEngine

    fmt = ChatFormat(bpe_tokenizer, chat_template="tiny")
    backend = LocalBackend(tiny_qwen3(len(bpe_tokenizer), hidden_size=64, num_layers=2))
    cfg = RolloutConfig(max_new_tokens=8, max_context_tokens=1024)
    out = []
    for factory in (lambda: _Fragile(max_turns=6), lambda: RemoteEnv(server.url, env_id="test-fragile-guess")):
        engine = RolloutEngine(backend, fmt, factory, policies.Policy(), cfg)
        out.append(await engine.collect(["train-0", "train-1"], 2, seed=3))
        engine.close()
    view = lambda gs: [(t.token_ids, t.reward, t.end_reason, [x.observation for x in t.turns])  # noqa: E731
                       for g in gs for t in g]
    assert view(out[0]) == view(out[1]) and not any(t.failed for g in out[1] for t in g)
    await backend.close()


# ---------------------------------------------------------------------------------------------- security (issue 15)
def _crafted_tasks(tmp_path):
    import base64
    import pickle
    import zlib

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('ran as the server')",))

    blob = base64.b64encode(zlib.compress(pickle.dumps(Payload()))).decode()
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"question_content": "x", "private_test_cases": blob,
                                "public_test_cases": [{"input": "1", "output": "1", "testtype": "stdin"}]}) + "\n")
    return path, marker


def test_clients_cannot_choose_env_kwargs_run_code_or_lift_sandbox_limits(tmp_path):
    """Findings 1 and 2: per-session kwargs (a task file to unpickle, bigger sandbox limits) are refused; the
    server's own limits hold for every session."""
    path, marker = _crafted_tasks(tmp_path)
    s = ServerThread("code", env_kwargs={"max_turns": 1})
    try:
        status, body = raw(s.url, "POST", "/sessions", {"kwargs": {"tasks": str(path)}})
        assert status == 400 and "fixed when it starts" in body["error"]
        assert not marker.exists(), "a client made the server run code from a task file"
        status, body = raw(s.url, "POST", "/sessions", {"kwargs": {"memory_mb": 1000000, "timeout_s": 600}})
        assert status == 400 and "'memory_mb'" in body["error"] and "'timeout_s'" in body["error"]
        sid = raw(s.url, "POST", "/sessions", {})[1]["session_id"]
        status, body = raw(s.url, "POST", f"/sessions/{sid}/reset",
                           {"options": {"task_id": s.server._probe.task_ids("train")[0], "memory_mb": 10 ** 6}})
        assert status == 400 and "'memory_mb'" in body["error"] and "accepted: ['task_id', 'split']" in body["error"]
        env = RemoteEnv(s.url, env_id="code")
        task = env.task_ids("train")[0]
        env.reset(options={"task_id": task})
        # 1.5 GB is past the server's memory limit (1024 MB) whatever the client wants
        _, reward, _, _, info = env.step("```python\nx = b'1' * (1536 << 20)\nprint(len(x))\n```")
        assert reward == 0.0 and info["hidden_passed"] == 0
        env.close()
    finally:
        s.stop()


def test_token_auth_and_no_open_bind_without_it():
    s = ServerThread("guess", token="s3cret-token")
    try:
        assert raw(s.url, "GET", "/health")[0] == 200  # health stays open for probes
        status, body = raw(s.url, "POST", "/sessions", {})
        assert status == 401 and "token" in body["error"]
        assert raw(s.url, "POST", "/sessions", {}, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert raw(s.url, "GET", "/tasks", headers={"Authorization": "Bearer s3cret-token"})[0] == 200
        with pytest.raises(RemoteEnvError, match="401"):
            RemoteEnv(s.url, env_id="guess")
        env = RemoteEnv(s.url, env_id="guess", token="s3cret-token")
        env.reset(options={"task_id": "train-0"})
        env.close()
    finally:
        s.stop()

    async def open_bind():
        return await start_env_server("guess", host="0.0.0.0", port=0)

    with pytest.raises(ValueError, match="needs a shared-secret token"):
        asyncio.run(open_bind())


def test_full_server_answers_503_with_retry_after():
    s = ServerThread("guess", max_sessions=2, idle_timeout_s=300)
    try:
        for _ in range(2):
            assert raw(s.url, "POST", "/sessions", {})[0] == 200
        status, body, headers = raw(s.url, "POST", "/sessions", {}, with_headers=True)
        assert status == 503 and "retry in" in body["error"]
        assert 1 <= int(headers["Retry-After"]) <= 301
        assert raw(s.url, "GET", "/health")[0] == 200
    finally:
        s.stop()


def _wait_closed(sock, timeout=30.0) -> bool:
    """Whether the server closes ``sock`` (reads until EOF) within ``timeout``."""
    import socket as _socket

    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except (TimeoutError, _socket.timeout):
        return False
    except OSError:
        return True


def test_slowloris_and_connection_cap_leave_health_answering():
    """Finding 6: connections that never finish their request head are closed after the header timeout; at the
    connection cap the oldest idle connection gives way, so /health still answers."""
    import socket

    s = ServerThread("guess", max_connections=8, header_timeout_s=1.0)
    host, port = urlsplit(s.url).hostname, urlsplit(s.url).port
    socks = []
    try:
        for _ in range(20):  # more than the cap
            c = socket.create_connection((host, port), timeout=10)
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(c)
        assert raw(s.url, "GET", "/health")[0] == 200  # answered while saturated
        assert all(_wait_closed(c) for c in socks)  # evicted or timed out, none held forever
        g = s.server.guard
        assert g.evicted + g.timed_out >= 20 and len(g.conns) <= 8
    finally:
        for c in socks:
            c.close()
        s.stop()


def test_body_read_timeout():
    import socket

    s = ServerThread("guess", body_timeout_s=0.5)
    try:
        p = urlsplit(s.url)
        c = socket.create_connection((p.hostname, p.port), timeout=30)
        c.sendall(b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{\"kw")
        reply = c.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive" in reply
        c.close()
    finally:
        s.stop()
