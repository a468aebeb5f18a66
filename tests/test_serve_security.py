"""``agentrl.serve`` under hostile or broken clients (issue 15, finding 5), against a real server on loopback:
admin routes need the token or a loopback peer, weight updates are validated and atomic, a client aborts only
its own requests, bad sampling values and over-long prompts answer 400 naming the field, log-probs are valid
JSON, and a disconnected client's request is cancelled."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
import torch
from aiohttp import web

from agentrl.models import tiny_qwen3
from agentrl.rollout.backends.local import LocalBackend
from agentrl.serve import CLIENT_TOKEN_HEADER, SERVER_KEY, GenerateServer, start_server

VOCAB = 300
CONTEXT = 512


@pytest.fixture(scope="module")
def model():
    return tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=3)


@pytest.fixture
async def served(model):
    backend = LocalBackend(model, max_context_tokens=CONTEXT, eos_token_ids=[])
    runner, url = await start_server(backend)
    async with aiohttp.ClientSession() as http:
        yield backend, url, runner.app[SERVER_KEY], http
    await runner.cleanup()
    await backend.close()


def _strict_json(text: str):
    def reject(c):
        raise ValueError(f"non-JSON constant {c}")
    return json.loads(text, parse_constant=reject)


async def _post(http, url, body, headers=None):
    async with http.post(url, json=body, headers=headers or {}) as r:
        text = await r.text()
        if r.content_type != "application/json":
            return r.status, text
        return r.status, _strict_json(text) if text else {}


@pytest.mark.parametrize("field,value,named,accepted", [
    ("sampling_seed", "abc", "sampling_params.sampling_seed", "[0, "),
    ("sampling_seed", -1, "sampling_params.sampling_seed", "[0, "),
    ("sampling_seed", 1.5, "sampling_params.sampling_seed", "[0, "),
    ("temperature", 1e-320, "sampling_params.temperature", "0 (greedy) or a number in [0.001, 100]"),
    ("temperature", "hot", "sampling_params.temperature", "[0.001, 100]"),
    ("top_p", 0, "sampling_params.top_p", "(0, 1]"),
    ("top_k", -5, "sampling_params.top_k", ">= 1"),
    ("max_new_tokens", 0, "sampling_params.max_new_tokens", "[1, "),
    ("stop_token_ids", [VOCAB + 5], "sampling_params.stop_token_ids", f"[0, {VOCAB})"),
])
async def test_bad_sampling_values_answer_400_naming_field_and_range(served, field, value, named, accepted):
    _, url, _, http = served
    status, body = await _post(http, url + "/generate", {"input_ids": [1, 2, 3], "sampling_params": {field: value}})
    assert status == 400, body
    msg = body["error"]["message"]
    assert named in msg and accepted in msg and repr(value) in msg


async def test_vllm_route_validates_too_and_logprobs_are_always_json(served):
    _, url, _, http = served
    status, body = await _post(http, url + "/v1/completions", {"prompt": [1, 2], "temperature": 1e-320})
    assert status == 400 and "temperature must be" in body["error"]["message"]
    status, body = await _post(http, url + "/v1/completions", {"prompt": [1, 2], "seed": "x"})
    assert status == 400 and "seed must be" in body["error"]["message"]
    # the coldest accepted temperature still gives finite, strictly valid JSON log-probs
    for route, payload in (("/generate", {"input_ids": [1, 2], "sampling_params": {"temperature": 1e-3,
                                                                                   "max_new_tokens": 8}}),
                           ("/v1/completions", {"prompt": [1, 2], "temperature": 1e-3, "max_tokens": 8,
                                                "logprobs": 1})):
        status, body = await _post(http, url + route, payload)
        assert status == 200, body
        lps = ([x[0] for x in body["meta_info"]["output_token_logprobs"]] if route == "/generate"
               else body["choices"][0]["logprobs"]["token_logprobs"])
        assert len(lps) == 8 and all(x is None or isinstance(x, float) for x in lps)


async def test_prompt_longer_than_the_context_answers_400(served):
    _, url, _, http = served
    status, body = await _post(http, url + "/generate", {"input_ids": [1] * (CONTEXT + 10)})
    assert status == 400 and f"the context holds {CONTEXT}" in body["error"]["message"]
    status, body = await _post(http, url + "/v1/completions", {"prompt": [1] * CONTEXT})
    assert status == 400 and "context holds" in body["error"]["message"]


async def _wait_for(cond, timeout=60.0):
    for _ in range(int(timeout / 0.01)):
        if cond():
            return True
        await asyncio.sleep(0.01)
    return cond()


async def _client_token(http, url) -> dict[str, str]:
    status, body = await _post(http, url + "/client_token", {})
    assert status == 200, body
    return {CLIENT_TOKEN_HEADER: body["client_token"]}


async def _start_long(http, url, server, headers, rids):
    long = {"max_new_tokens": CONTEXT, "sampling_seed": 0}
    tasks = [asyncio.ensure_future(_post(http, url + "/generate", {"input_ids": [1, 2, k], "rid": rid,
                                                                  "sampling_params": long}, headers))
             for k, rid in enumerate(rids)]
    assert await _wait_for(lambda: all(r in server.running for r in rids))
    return tasks


async def test_a_client_aborts_only_its_own_requests(served):
    _, url, server, http = served
    a, b = await _client_token(http, url), await _client_token(http, url)
    assert a != b
    tasks = await _start_long(http, url, server, a, ["a-0", "a-1", "a-2"])
    # another client: abort_all and A's rids do nothing to A
    assert await _post(http, url + "/abort_request", {"abort_all": True}, b) == (200, {"aborted": 0})
    assert await _post(http, url + "/abort_request", {"rid": "a-0"}, b) == (200, {"aborted": 0})
    # a token the server did not sign (A's nonce, a guessed signature) is refused, naming the header
    nonce = a[CLIENT_TOKEN_HEADER].split(".")[0]
    status, body = await _post(http, url + "/abort_request", {"abort_all": True},
                               {CLIENT_TOKEN_HEADER: nonce + "." + "0" * 32})
    assert status == 400 and CLIENT_TOKEN_HEADER in body["error"]["message"]
    # a rid in use cannot be taken over
    status, body = await _post(http, url + "/generate", {"input_ids": [1], "rid": "a-1"}, b)
    assert status == 400 and "already in use" in body["error"]["message"]
    assert sorted(server.running) == ["a-0", "a-1", "a-2"]
    # A aborts its own
    assert await _post(http, url + "/abort_request", {"rid": "a-0"}, a) == (200, {"aborted": 1})
    assert await _post(http, url + "/abort_request", {"abort_all": True}, a) == (200, {"aborted": 2})
    results = await asyncio.gather(*tasks)
    assert [r[1]["meta_info"]["finish_reason"]["type"] for r in results] == ["abort"] * 3


async def test_a_spoofed_client_header_aborts_nothing(served):
    """Issue 28 item 7: ``X-Agentrl-Client: trainer-A`` with ``abort_all`` aborted another client's requests;
    and clients without a header shared one identity per address."""
    _, url, server, http = served
    spoof = {"X-Agentrl-Client": "trainer-A"}
    tasks = await _start_long(http, url, server, spoof, [f"victim-{k}" for k in range(3)])
    tasks += await _start_long(http, url, server, {}, ["headerless-0", "headerless-1"])
    async with aiohttp.ClientSession() as attacker:  # same address, its own connections
        assert await _post(attacker, url + "/abort_request", {"abort_all": True}, spoof) == (200, {"aborted": 0})
        assert await _post(attacker, url + "/abort_request", {"abort_all": True}) == (200, {"aborted": 0})
        assert await _post(attacker, url + "/abort_request", {"rid": "victim-0"}, spoof) == (200, {"aborted": 0})
    assert len(server.running) == 5
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert await _wait_for(lambda: not server.running)


async def test_sglang_backend_aborts_with_its_own_token(served):
    """The SGLang client fetches a client token per server and sends it, so its aborts reach its requests."""
    from agentrl.rollout.backends.base import SamplingParams
    from agentrl.rollout.backends.sglang import SGLangBackend

    _, url, server, _ = served
    client = SGLangBackend([url])
    task = asyncio.ensure_future(client.generate([1, 2, 3], SamplingParams(max_new_tokens=CONTEXT, seed=0)))
    assert await _wait_for(lambda: len(server.running) == 1)
    assert all(o.startswith("token:") for o in server.owners.values())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await _wait_for(lambda: not server.running)
    server._client_key = b"a restarted server signs with a new key"  # the old token is no longer valid
    gen = await client.generate([1, 2, 3], SamplingParams(max_new_tokens=2, seed=0))
    assert len(gen.ids) == 2  # the client asked for a new token instead of failing
    await client.close()


async def test_disconnected_clients_request_is_cancelled(served):
    backend, url, server, _ = served
    host, port = url.split("//")[1].split(":")
    body = json.dumps({"input_ids": [1, 2, 3], "sampling_params": {"max_new_tokens": CONTEXT}}).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    assert await _wait_for(lambda: len(server.running) == 1)
    writer.close()
    assert await _wait_for(lambda: server.cancelled_on_disconnect == 1 and not server.running)
    assert await _wait_for(lambda: backend.num_active == 0)


# ---------------------------------------------------------------------------------------------- weights
def _save(dirpath, tensors):
    from safetensors.torch import save_file

    dirpath.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dirpath / "model.safetensors"))
    return str(dirpath)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


async def test_weight_updates_are_validated_and_atomic(tmp_path):
    model = tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=4)
    backend = LocalBackend(model, eos_token_ids=[])
    runner, url = await start_server(backend, weights_root=tmp_path)
    sd = model.state_dict()
    names = list(sd)
    good = {n: torch.randn_like(sd[n]) for n in names[:2]}
    before = _snapshot(model)
    cases = {
        "shape": ({**good, names[2]: torch.zeros(3, 3)}, "has shape [3, 3]"),
        "name": ({**good, "not.a.param": torch.zeros(2)}, "'not.a.param' is not a parameter"),
        "dtype": ({**good, names[2]: sd[names[2]].to(torch.float64)}, "dtype torch.float64"),
        "nan": ({**good, names[2]: torch.full_like(sd[names[2]], float("nan"))}, "NaN or infinite"),
    }
    try:
        async with aiohttp.ClientSession() as http:
            for key, (tensors, why) in cases.items():
                path = _save(tmp_path / key, tensors)
                status, body = await _post(http, url + "/update_weights_from_disk", {"model_path": path})
                assert status == 400 and not body["success"] and why in body["message"], (key, body)
                assert "NOT updated" in body["message"]
                after = _snapshot(model)
                assert all(torch.equal(before[n], after[n]) for n in before), f"{key}: a failed update changed weights"
                assert backend.version == 0
            outside = tmp_path.parent / f"{tmp_path.name}-outside"
            status, body = await _post(http, url + "/update_weights_from_disk",
                                       {"model_path": _save(outside, good)})
            assert status == 400 and "outside weights_root" in body["message"]
            status, body = await _post(http, url + "/update_weights_from_disk",
                                       {"model_path": _save(tmp_path / "ok", good)})
            assert status == 200 and body["success"] and body["weight_version"] == "1"
            assert all(torch.equal(model.state_dict()[n], good[n]) for n in good)
    finally:
        await runner.cleanup()
        await backend.close()


def _outside_ip() -> str | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


async def test_admin_routes_need_token_or_loopback(model, tmp_path):
    backend = LocalBackend(model, eos_token_ids=[])
    with pytest.raises(ValueError, match="needs a shared-secret token"):
        await start_server(backend, host="0.0.0.0")
    # with a token: every route but /health needs it
    runner, url = await start_server(backend, token="tok-123")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/health") as r:
                assert r.status == 200
            for route, body in (("/generate", {"input_ids": [1]}), ("/flush_cache", {}),
                                ("/update_weights_from_disk", {"model_path": str(tmp_path)}),
                                ("/abort_request", {"abort_all": True, "all_clients": True})):
                status, _ = await _post(http, url + route, body)
                assert status == 401, route
            status, _ = await _post(http, url + "/flush_cache", {}, {"Authorization": "Bearer tok-123"})
            assert status == 200
    finally:
        await runner.cleanup()
    # without a token, admin routes answer only loopback peers
    ip = _outside_ip()
    if ip is None:
        await backend.close()
        pytest.skip("this machine has no non-loopback address to connect from")
    server = GenerateServer(backend)
    app_runner = web.AppRunner(server.app(), access_log=None)
    await app_runner.setup()
    site = web.TCPSite(app_runner, ip, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://{ip}:{port}"
            for route, body in (("/flush_cache", {}), ("/update_weights_from_disk", {"model_path": str(tmp_path)}),
                                ("/abort_request", {"abort_all": True, "all_clients": True})):
                status, reply = await _post(http, base + route, body)
                assert status == 403 and "loopback" in json.dumps(reply), route
            status, reply = await _post(http, base + "/generate", {"input_ids": [1], "sampling_params":
                                                                   {"max_new_tokens": 2}})
            assert status == 200  # generation itself is open when no token is set
    finally:
        await app_runner.cleanup()
        await backend.close()
