"""Serve an in-process model over SGLang's native HTTP protocol (and vLLM's token-id completions).

``python -m agentrl.serve model=PATH [host=127.0.0.1] [port=30000] [max_batch_size=32] [dtype=float32]``

``model`` is a transformers checkpoint directory or ``tiny`` (a random tiny Qwen3, for tests; ``vocab_size=``
``seed=``). The server wraps a :class:`~agentrl.rollout.backends.local.LocalBackend`, so requests are decoded
with continuous batching. It speaks the subset of SGLang's API that agentrl's client uses — ``/generate``
(``input_ids`` in, ``output_ids`` + ``meta_info.output_token_logprobs`` out), ``/health``,
``/health_generate``, ``/flush_cache``, ``/abort_request``, ``/update_weights_from_disk``,
``/get_model_info`` — plus vLLM's ``/v1/completions`` with token-id prompts and ``return_token_ids``. It lets
the SGLang and vLLM clients run end to end on a CPU; it is not a replacement for either server.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from agentrl.rollout.backends.base import BackendFatalError, Generation, SamplingParams
from agentrl.rollout.backends.local import LocalBackend

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    """A malformed request (answered with HTTP 400 and the reason)."""


def _sampling_from_sglang(sp: dict[str, Any]) -> SamplingParams:
    if not isinstance(sp, dict):
        raise BadRequest(f"sampling_params must be an object, got {type(sp).__name__}")
    known = {"temperature", "top_p", "top_k", "max_new_tokens", "stop_token_ids", "sampling_seed",
             "skip_special_tokens", "no_stop_trim", "ignore_eos"}
    unknown = sorted(set(sp) - known)
    if unknown:
        raise BadRequest(f"unsupported sampling_params {unknown}; accepted: {sorted(known)}")
    try:
        return SamplingParams(temperature=float(sp.get("temperature", 1.0)), top_p=float(sp.get("top_p", 1.0)),
                              top_k=int(sp.get("top_k", -1)), max_new_tokens=int(sp.get("max_new_tokens", 128)),
                              stop_token_ids=tuple(sp.get("stop_token_ids") or ()), seed=sp.get("sampling_seed"))
    except (TypeError, ValueError) as e:
        raise BadRequest(f"bad sampling_params: {e}") from None


def _token_ids(x: Any, field: str) -> list[int]:
    if not isinstance(x, list) or not x or not all(isinstance(t, int) and not isinstance(t, bool) for t in x):
        raise BadRequest(f"{field} must be a non-empty list of token ids (integers)")
    return x


class GenerateServer:
    """The aiohttp application around a :class:`LocalBackend`."""

    def __init__(self, backend: LocalBackend, *, model_path: str = "local", tokenizer: Any = None):
        self.backend = backend
        self.model_path = model_path
        self.tokenizer = tokenizer
        self.running: dict[str, asyncio.Task[Generation]] = {}

    def app(self, middlewares: list[Any] | None = None) -> web.Application:
        app = web.Application(middlewares=list(middlewares or []), client_max_size=64 << 20)
        r = app.router
        r.add_post("/generate", self.generate)
        r.add_post("/v1/completions", self.completions)
        r.add_get("/v1/models", self.models)
        r.add_get("/health", self.health)
        r.add_route("*", "/health_generate", self.health_generate)
        r.add_route("*", "/flush_cache", self.flush_cache)
        r.add_post("/abort_request", self.abort_request)
        r.add_post("/update_weights_from_disk", self.update_weights_from_disk)
        r.add_post("/init_weights_update_group", self.unsupported)
        r.add_post("/update_weights_from_distributed", self.unsupported)
        r.add_get("/get_model_info", self.model_info)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        for t in list(self.running.values()):
            t.cancel()

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except Exception:  # noqa: BLE001 - any parse failure is the client's
            raise BadRequest("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(f"the request body must be a JSON object, got {type(body).__name__}")
        return body

    async def _run(self, rid: str, ids: list[int], sampling: SamplingParams) -> Generation:
        task = asyncio.ensure_future(self.backend.generate(ids, sampling))
        self.running[rid] = task
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled() and not asyncio.current_task().cancelling():  # aborted via /abort_request
                return Generation([], [], "abort", prompt_tokens=len(ids))
            raise
        finally:
            self.running.pop(rid, None)

    async def generate(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            if body.get("stream"):
                raise BadRequest("stream=true is not supported by agentrl.serve")
            ids = body.get("input_ids")
            if ids is None and isinstance(body.get("text"), str) and self.tokenizer is not None:
                ids = self.tokenizer.encode(body["text"], add_special_tokens=False)
            if ids is None:
                raise BadRequest("give input_ids (a list of token ids)" +
                                 ("" if self.tokenizer is None else " or text"))
            if ids and isinstance(ids[0], list):
                raise BadRequest("batched input_ids (a list of lists) are not supported; send one prompt")
            ids = _token_ids(ids, "input_ids")
            sampling = _sampling_from_sglang(body.get("sampling_params") or {})
            rid = str(body.get("rid") or uuid.uuid4().hex)
            gen = await self._run(rid, ids, sampling)
        except (BadRequest, BackendFatalError) as e:
            return web.json_response({"error": {"message": str(e)}}, status=400)
        finish: dict[str, Any] = {"type": gen.finish_reason}
        if gen.finish_reason == "stop" and gen.ids:
            finish["matched"] = gen.ids[-1]
        elif gen.finish_reason == "length":
            finish["length"] = len(gen.ids)
        text = self.tokenizer.decode(gen.ids, skip_special_tokens=False) if self.tokenizer is not None else ""
        return web.json_response({
            "text": text,
            "output_ids": gen.ids,
            "meta_info": {
                "id": rid, "finish_reason": finish, "prompt_tokens": len(ids),
                "completion_tokens": len(gen.ids),
                "output_token_logprobs": [[lp, t, None] for lp, t in zip(gen.logprobs, gen.ids)],
                "weight_version": str(self.backend.version),
            },
        })

    async def completions(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            if body.get("stream"):
                raise BadRequest("stream=true is not supported by agentrl.serve")
            ids = _token_ids(body.get("prompt"), "prompt")
            try:
                sampling = SamplingParams(
                    temperature=float(body.get("temperature", 1.0)), top_p=float(body.get("top_p", 1.0)),
                    top_k=int(body.get("top_k", -1) or -1), max_new_tokens=int(body.get("max_tokens", 16)),
                    stop_token_ids=tuple(body.get("stop_token_ids") or ()), seed=body.get("seed"))
            except (TypeError, ValueError) as e:
                raise BadRequest(f"bad sampling fields: {e}") from None
            rid = "cmpl-" + uuid.uuid4().hex
            gen = await self._run(rid, ids, sampling)
        except (BadRequest, BackendFatalError) as e:
            return web.json_response({"error": {"message": str(e), "type": "BadRequestError"}}, status=400)
        choice: dict[str, Any] = {"index": 0, "text": "", "finish_reason": gen.finish_reason,
                                  "logprobs": None}
        if body.get("logprobs") is not None:
            choice["logprobs"] = {"token_logprobs": gen.logprobs, "tokens": [f"token_id:{t}" for t in gen.ids]}
        if body.get("return_token_ids"):
            choice["token_ids"] = gen.ids
            choice["prompt_token_ids"] = ids
        return web.json_response({"id": rid, "object": "text_completion", "created": int(time.time()),
                                  "model": self.model_path, "choices": [choice],
                                  "usage": {"prompt_tokens": len(ids), "completion_tokens": len(gen.ids),
                                            "total_tokens": len(ids) + len(gen.ids)}})

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model_path, "object": "model"}]})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def health_generate(self, request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(self.backend.generate([0], SamplingParams(temperature=0, max_new_tokens=1)),
                                   timeout=20)
        except Exception as e:  # noqa: BLE001 - health answers, never raises
            return web.Response(status=503, text=f"unhealthy: {e}")
        return web.Response(text="ok")

    async def flush_cache(self, request: web.Request) -> web.Response:
        # the local backend keeps no cache between requests; like SGLang, refuse while requests run
        if self.running:
            return web.Response(status=400, text="Cache not flushed: there are running requests.")
        return web.Response(text="Cache flushed.")

    async def abort_request(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
        except BadRequest as e:
            return web.json_response({"error": {"message": str(e)}}, status=400)
        if body.get("abort_all"):
            tasks = list(self.running.values())
        else:
            t = self.running.get(str(body.get("rid")))
            tasks = [t] if t is not None else []
        for t in tasks:
            t.cancel()
        return web.Response(status=200)

    async def update_weights_from_disk(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            path = Path(str(body.get("model_path", ""))).expanduser()
            files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
            if not files:
                raise BadRequest(f"model_path {str(path)!r} is not a directory holding *.safetensors files")
        except BadRequest as e:
            return web.json_response({"success": False, "message": str(e)}, status=400)
        from safetensors.torch import load_file

        state: dict[str, Any] = {}
        for f in files:
            state.update(load_file(str(f)))
        version = await self.backend.update_weights(state)
        self.model_path = str(path)
        return web.json_response({"success": True, "message": f"loaded {len(state)} tensors from {path}",
                                  "num_paused_requests": 0, "weight_version": str(version)})

    async def unsupported(self, request: web.Request) -> web.Response:
        return web.json_response({"success": False, "message": f"{request.path} (NCCL weight sync) needs a GPU "
                                  "SGLang server; agentrl.serve supports /update_weights_from_disk"}, status=400)

    async def model_info(self, request: web.Request) -> web.Response:
        return web.json_response({"model_path": self.model_path, "is_generation": True,
                                  "weight_version": str(self.backend.version)})


async def start_server(backend: LocalBackend, host: str = "127.0.0.1", port: int = 0, *,
                       middlewares: list[Any] | None = None, **kw: Any) -> tuple[web.AppRunner, str]:
    """Start the server in the running loop; returns the runner (``await runner.cleanup()``) and its URL."""
    server = GenerateServer(backend, **kw)
    runner = web.AppRunner(server.app(middlewares), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    real_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{real_port}"


USAGE = """usage: python -m agentrl.serve model=PATH|tiny [host=127.0.0.1] [port=30000] [max_batch_size=32]
                               [dtype=float32] [device=cpu] [vocab_size=2048] [seed=0]

Serve a local model over SGLang's /generate protocol (and vLLM's token-id /v1/completions).

  model=           a transformers checkpoint directory, or tiny (a random tiny Qwen3, for tests)
  host=, port=     where to listen (127.0.0.1:30000)
  max_batch_size=  requests decoded together (continuous batching)
  dtype=           torch dtype of the weights: float32, bfloat16, float16
  device=          cpu, cuda, cuda:1, ...
  vocab_size=, seed=   shape and seed of model=tiny
  -h, --help       show this help

example:
  python -m agentrl.serve model=runs/my-run/checkpoints/step_0000060 port=30000
"""


def _parse_args(argv: list[str]) -> dict[str, str]:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="")
        raise SystemExit(0)
    allowed = {"model", "host", "port", "max_batch_size", "dtype", "vocab_size", "seed", "device"}
    out: dict[str, str] = {}
    for a in argv:
        k, eq, v = a.partition("=")
        k = k.lstrip("-").replace("-", "_")
        if not eq or k not in allowed:
            raise SystemExit(f"bad argument {a!r}; use key=value with key in {sorted(allowed)} (see --help)")
        out[k] = v
    if "model" not in out:
        raise SystemExit(USAGE)
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m agentrl.serve``."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    dtype = getattr(torch, args.get("dtype", "float32"))
    tokenizer = None
    if args["model"] == "tiny":
        from agentrl.models import tiny_qwen3

        model = tiny_qwen3(int(args.get("vocab_size", 2048)), seed=int(args.get("seed", 0))).to(dtype)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args["model"], dtype=dtype).eval()
        try:
            tokenizer = AutoTokenizer.from_pretrained(args["model"])
        except Exception:  # noqa: BLE001 - a checkpoint without tokenizer files still serves input_ids
            tokenizer = None
    if "device" in args:
        model = model.to(args["device"])
    backend = LocalBackend(model, max_batch_size=int(args.get("max_batch_size", 32)), tokenizer=tokenizer)
    app = GenerateServer(backend, model_path=args["model"], tokenizer=tokenizer).app()
    logging.basicConfig(level=logging.INFO)
    web.run_app(app, host=args.get("host", "127.0.0.1"), port=int(args.get("port", 30000)))
    backend.close_sync()


if __name__ == "__main__":
    main()
