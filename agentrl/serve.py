"""Serve an in-process model over SGLang's native HTTP protocol (and vLLM's token-id completions).

``python -m agentrl.serve model=PATH [host=127.0.0.1] [port=30000] [max_batch_size=32] [dtype=float32]``

``model`` is a transformers checkpoint directory or ``tiny`` (a random tiny Qwen3, for tests; ``vocab_size=``
``seed=``). The server wraps a :class:`~agentrl.rollout.backends.local.LocalBackend`, so requests are decoded
with continuous batching. It speaks the subset of SGLang's API that agentrl's client uses — ``/generate``
(``input_ids`` in, ``output_ids`` + ``meta_info.output_token_logprobs`` out), ``/health``,
``/health_generate``, ``/flush_cache``, ``/abort_request``, ``/update_weights_from_disk``,
``/get_model_info`` — plus vLLM's ``/v1/completions`` with token-id prompts and ``return_token_ids``. It lets
the SGLang and vLLM clients run end to end on a CPU; it is not a replacement for either server.

Trust: with a token (``token=`` or ``AGENTRL_SERVE_TOKEN``) every route but ``/health`` needs
``Authorization: Bearer <token>``, and binding a non-loopback address requires one. The admin routes
(``/update_weights_from_disk``, ``/flush_cache``, ``/abort_request`` of every client's requests) need the
token, or, without one, a loopback peer. ``weights_root=DIR`` confines weight updates to directories under
DIR. A weight update is atomic: every tensor's name, shape, dtype and finiteness is checked before any is
copied; on failure nothing changes and the 400 reply says why. Bad sampling values answer 400 naming the
field and the accepted range; a prompt that fills the context answers 400; log-probs are always finite JSON
numbers or ``null``; a request whose client disconnects is cancelled.

Abort identity: a client aborts only its own requests (``rid``; ``abort_all`` covers all of its own). A
client's identity is a token the server issues: ``POST /client_token`` answers ``{"client_token": ...}``
(a random nonce signed with a key that lives only in the server process), and the client sends it as
``X-Agentrl-Client-Token`` with its ``/generate`` and ``/abort_request`` calls; a token the server did not
sign answers 400. A request without one belongs to its own TCP connection, so no other client (and no
header, such as the old ``X-Agentrl-Client``) can abort it; closing the connection cancels it.

Against abuse (as the env server): a complete request head within ``header_timeout_s``, a body within
``body_timeout_s`` (else 408), at most ``max_connections`` open connections (idle ones are evicted first, so
``/health`` answers while saturated; 503 with ``Retry-After`` when every one is busy), and at most
``max_requests`` generations in flight (503 with ``Retry-After`` beyond).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import secrets
import signal
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from agentrl.cli import fail, parse_key_values
from agentrl.net import (GuardedRunner, is_loopback, require_token_off_loopback, resolve_token, serve_guarded,
                         token_middleware, token_ok)
from agentrl.rollout.backends.base import BackendFatalError, Generation, SamplingParams
from agentrl.rollout.backends.local import LocalBackend

log = logging.getLogger(__name__)

#: Environment variable holding the model server's shared secret.
TOKEN_ENV = "AGENTRL_SERVE_TOKEN"
#: Temperatures in (0, MIN_TEMPERATURE) overflow the logits (1e-320 gave NaN); 0 means greedy.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 100.0
_SEED_MAX = 2 ** 63 - 1
#: the header carrying a client's identity token (from ``POST /client_token``)
CLIENT_TOKEN_HEADER = "X-Agentrl-Client-Token"


class BadRequest(ValueError):
    """A malformed request (answered with HTTP 400 and the reason)."""


class Busy(Exception):
    """The server holds ``max_requests`` generations already (answered with 503 and ``Retry-After``)."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validated_sampling(temperature: Any = 1.0, top_p: Any = 1.0, top_k: Any = -1, max_new_tokens: Any = 128,
                       stop_token_ids: Any = None, seed: Any = None, *, names: dict[str, str],
                       vocab: int | None = None) -> SamplingParams:
    """SamplingParams from client values, or :class:`BadRequest` naming the field (``names`` maps our names to
    the wire's) and the accepted range."""
    def bad(field: str, want: str, got: Any) -> BadRequest:
        return BadRequest(f"{names[field]} must be {want}, got {got!r}")

    if not _is_num(temperature) or not (temperature == 0 or MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise bad("temperature", f"0 (greedy) or a number in [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]", temperature)
    if not _is_num(top_p) or not 0 < top_p <= 1:
        raise bad("top_p", "a number in (0, 1]", top_p)
    if not _is_int(top_k) or top_k < -1:
        raise bad("top_k", "an integer: -1 or 0 (off) or >= 1", top_k)
    # more than the context leaves is clipped to it (finish_reason "length"), as before
    if not _is_int(max_new_tokens) or not 1 <= max_new_tokens <= 1 << 30:
        raise bad("max_new_tokens", f"an integer in [1, {1 << 30}]", max_new_tokens)
    stops = stop_token_ids if stop_token_ids is not None else []
    hi = vocab if vocab is not None else 1 << 31
    if not isinstance(stops, list) or len(stops) > 1024 or not all(_is_int(t) and 0 <= t < hi for t in stops):
        raise bad("stop_token_ids", f"a list of at most 1024 token ids in [0, {hi})", stop_token_ids)
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= _SEED_MAX):
        raise bad("seed", f"null or an integer in [0, {_SEED_MAX}]", seed)
    return SamplingParams(temperature=float(temperature), top_p=float(top_p), top_k=int(top_k),
                          max_new_tokens=int(max_new_tokens), stop_token_ids=tuple(stops), seed=seed)


_SGLANG_NAMES = {"temperature": "sampling_params.temperature", "top_p": "sampling_params.top_p",
                 "top_k": "sampling_params.top_k", "max_new_tokens": "sampling_params.max_new_tokens",
                 "stop_token_ids": "sampling_params.stop_token_ids", "seed": "sampling_params.sampling_seed"}
_VLLM_NAMES = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "max_new_tokens": "max_tokens",
               "stop_token_ids": "stop_token_ids", "seed": "seed"}


def _sampling_from_sglang(sp: dict[str, Any], **kw: Any) -> SamplingParams:
    if not isinstance(sp, dict):
        raise BadRequest(f"sampling_params must be an object, got {type(sp).__name__}")
    known = {"temperature", "top_p", "top_k", "max_new_tokens", "stop_token_ids", "sampling_seed",
             "skip_special_tokens", "no_stop_trim", "ignore_eos"}
    unknown = sorted(set(sp) - known)
    if unknown:
        raise BadRequest(f"unsupported sampling_params {unknown}; accepted: {sorted(known)}")
    return validated_sampling(sp.get("temperature", 1.0), sp.get("top_p", 1.0), sp.get("top_k", -1),
                              sp.get("max_new_tokens", 128), sp.get("stop_token_ids"), sp.get("sampling_seed"),
                              names=_SGLANG_NAMES, **kw)


def _finite(xs: list[float]) -> list[float | None]:
    """Log-probs as JSON can carry them: non-finite values (never sampled in practice) become null."""
    return [x if math.isfinite(x) else None for x in xs]


def _token_ids(x: Any, field: str) -> list[int]:
    if not isinstance(x, list) or not x or not all(isinstance(t, int) and not isinstance(t, bool) for t in x):
        raise BadRequest(f"{field} must be a non-empty list of token ids (integers)")
    return x


class GenerateServer:
    """The aiohttp application around a :class:`LocalBackend`."""

    def __init__(self, backend: LocalBackend, *, model_path: str = "local", tokenizer: Any = None,
                 token: str | None = None, weights_root: str | os.PathLike | None = None,
                 body_timeout_s: float = 30.0, max_requests: int = 1024, retry_after_s: int = 1):
        if max_requests < 1:
            raise ValueError(f"max_requests must be >= 1, got {max_requests!r}")
        if body_timeout_s <= 0:
            raise ValueError(f"body_timeout_s must be positive, got {body_timeout_s!r}")
        self.backend = backend
        self.body_timeout_s = float(body_timeout_s)
        self.max_requests = int(max_requests)
        self.retry_after_s = int(retry_after_s)
        self.guard: Any = None  # the connection guard, once listening (see start_server)
        self._client_key = secrets.token_bytes(32)  # signs client tokens; never leaves this process
        self.model_path = model_path
        self.tokenizer = tokenizer
        self.token = resolve_token(token, TOKEN_ENV)
        self.weights_root = Path(weights_root).resolve() if weights_root is not None else None
        self.running: dict[str, asyncio.Task[Generation]] = {}
        self.owners: dict[str, str] = {}  # rid -> client id
        self.cancelled_on_disconnect = 0
        self._update_lock = asyncio.Lock()

    # ------------------------------------------------------------------ limits of this model
    @property
    def vocab_size(self) -> int | None:
        return getattr(getattr(self.backend.model, "config", None), "vocab_size", None)

    @property
    def max_context(self) -> int:
        return int(self.backend.max_context_tokens)

    def _check_prompt(self, ids: list[int], field: str) -> None:
        if len(ids) >= self.max_context:
            raise BadRequest(f"{field} has {len(ids)} tokens; the context holds {self.max_context} (prompt and "
                             "generation), so at most {} prompt tokens are accepted".format(self.max_context - 1))
        v = self.vocab_size
        if v is not None:
            bad = next((t for t in ids if not 0 <= t < v), None)
            if bad is not None:
                raise BadRequest(f"{field} holds token id {bad}, outside the model's vocabulary [0, {v})")

    # ------------------------------------------------------------------ client identity
    def _sign(self, nonce: str) -> str:
        return hmac.new(self._client_key, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def issue_client_token(self) -> str:
        """A fresh client identity: ``<nonce>.<signature>`` (verifiable without any state kept per client)."""
        nonce = secrets.token_hex(16)
        return f"{nonce}.{self._sign(nonce)}"

    def client_id(self, request: web.Request) -> str:
        """Who a request belongs to: the client token it carries (see the module doc), else its connection.

        Raises :class:`BadRequest` for a token this server did not issue."""
        tok = request.headers.get(CLIENT_TOKEN_HEADER)
        if tok is not None:
            nonce, _, sig = tok.strip().partition(".")
            if not nonce or not hmac.compare_digest(sig.encode(), self._sign(nonce).encode()):
                raise BadRequest(f"{CLIENT_TOKEN_HEADER} is not a token issued by this server; get one from "
                                 "POST /client_token")
            return f"token:{nonce}"
        transport = request.transport
        return f"conn:{id(transport)}:{transport.get_extra_info('peername') if transport else None}"

    async def client_token(self, request: web.Request) -> web.Response:
        """``POST /client_token``: a new client identity to send as ``X-Agentrl-Client-Token``."""
        return web.json_response({"client_token": self.issue_client_token(), "header": CLIENT_TOKEN_HEADER})

    def is_admin(self, request: web.Request) -> bool:
        """Admin routes: the token when one is set, else a loopback peer."""
        if self.token is not None:
            return token_ok(request, self.token)
        return is_loopback(request.remote)

    def _busy(self, e: Busy) -> web.Response:
        return web.json_response({"error": {"message": str(e), "type": "busy"}}, status=503,
                                 headers={"Retry-After": str(self.retry_after_s)})

    def _forbidden(self, what: str) -> web.Response:
        how = "the server's token" if self.token is not None else "a loopback client (or a token on the server)"
        return web.json_response({"success": False, "error": {"message": f"{what} needs {how}"},
                                  "message": f"{what} needs {how}"}, status=403)

    def app(self, middlewares: list[Any] | None = None) -> web.Application:
        app = web.Application(middlewares=[token_middleware(self.token), *(middlewares or [])],
                              client_max_size=64 << 20)
        r = app.router
        r.add_post("/generate", self.generate)
        r.add_post("/v1/completions", self.completions)
        r.add_get("/v1/models", self.models)
        r.add_get("/health", self.health)
        r.add_route("*", "/health_generate", self.health_generate)
        r.add_route("*", "/flush_cache", self.flush_cache)
        r.add_post("/abort_request", self.abort_request)
        r.add_post("/client_token", self.client_token)
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
            raw = await asyncio.wait_for(request.read(), self.body_timeout_s)
        except asyncio.TimeoutError:
            raise web.HTTPRequestTimeout(text=json.dumps({"error": {"message": f"the request body did not arrive "
                                                                    f"within {self.body_timeout_s:g} s"}}),
                                         content_type="application/json") from None
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):  # any parse failure is the client's
            raise BadRequest("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(f"the request body must be a JSON object, got {type(body).__name__}")
        return body

    async def _run(self, rid: str, ids: list[int], sampling: SamplingParams, owner: str) -> Generation:
        if rid in self.running:
            raise BadRequest(f"rid {rid!r} is already in use by a running request; use a fresh one")
        if len(self.running) >= self.max_requests:
            raise Busy(f"the server is generating {self.max_requests} requests already (max_requests); retry in "
                       f"{self.retry_after_s} s")
        task = asyncio.ensure_future(self.backend.generate(ids, sampling))
        self.running[rid] = task
        self.owners[rid] = owner
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled() and not asyncio.current_task().cancelling():  # aborted via /abort_request
                return Generation([], [], "abort", prompt_tokens=len(ids))
            self.cancelled_on_disconnect += 1  # the client went away: the handler was cancelled, and so is task
            task.cancel()
            raise
        finally:
            self.running.pop(rid, None)
            self.owners.pop(rid, None)

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
            self._check_prompt(ids, "input_ids")
            sampling = _sampling_from_sglang(body.get("sampling_params") or {}, vocab=self.vocab_size)
            rid = str(body.get("rid") or uuid.uuid4().hex)
            gen = await self._run(rid, ids, sampling, self.client_id(request))
        except (BadRequest, BackendFatalError) as e:
            return web.json_response({"error": {"message": str(e)}}, status=400)
        except Busy as e:
            return self._busy(e)
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
                "output_token_logprobs": [[lp, t, None] for lp, t in zip(_finite(gen.logprobs), gen.ids)],
                "weight_version": str(self.backend.version),
            },
        })

    async def completions(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            if body.get("stream"):
                raise BadRequest("stream=true is not supported by agentrl.serve")
            ids = _token_ids(body.get("prompt"), "prompt")
            self._check_prompt(ids, "prompt")
            top_k = body.get("top_k", -1)
            sampling = validated_sampling(body.get("temperature", 1.0), body.get("top_p", 1.0),
                                          -1 if top_k in (None, 0) else top_k, body.get("max_tokens", 16),
                                          body.get("stop_token_ids"), body.get("seed"), names=_VLLM_NAMES,
                                          vocab=self.vocab_size)
            rid = "cmpl-" + uuid.uuid4().hex
            gen = await self._run(rid, ids, sampling, self.client_id(request))
        except (BadRequest, BackendFatalError) as e:
            return web.json_response({"error": {"message": str(e), "type": "BadRequestError"}}, status=400)
        except Busy as e:
            return self._busy(e)
        choice: dict[str, Any] = {"index": 0, "text": "", "finish_reason": gen.finish_reason,
                                  "logprobs": None}
        if body.get("logprobs") is not None:
            choice["logprobs"] = {"token_logprobs": _finite(gen.logprobs),
                                  "tokens": [f"token_id:{t}" for t in gen.ids]}
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
        if not self.is_admin(request):
            return self._forbidden("/flush_cache")
        if self.running:
            return web.Response(status=400, text="Cache not flushed: there are running requests.")
        return web.Response(text="Cache flushed.")

    async def abort_request(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            me = self.client_id(request)
        except BadRequest as e:
            return web.json_response({"error": {"message": str(e)}}, status=400)
        if body.get("abort_all") and body.get("all_clients"):
            if not self.is_admin(request):
                return self._forbidden("aborting every client's requests (all_clients)")
            rids = list(self.running)
        elif body.get("abort_all"):
            rids = [r for r in self.running if self.owners.get(r) == me]
        else:
            rid = str(body.get("rid"))
            rids = [rid] if rid in self.running and self.owners.get(rid) == me else []
        for r in rids:
            self.running[r].cancel()
        return web.json_response({"aborted": len(rids)})

    async def update_weights_from_disk(self, request: web.Request) -> web.Response:
        if not self.is_admin(request):
            return self._forbidden("/update_weights_from_disk")
        try:
            body = await self._json(request)
            path = Path(str(body.get("model_path", ""))).expanduser()
            if self.weights_root is not None:
                real = path.resolve()
                if real != self.weights_root and self.weights_root not in real.parents:
                    raise BadRequest(f"model_path {str(path)!r} is outside weights_root {str(self.weights_root)!r}")
            files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
            if not files:
                raise BadRequest(f"model_path {str(path)!r} is not a directory holding *.safetensors files")
            async with self._update_lock:
                n = await asyncio.to_thread(self._load_validated, files)
                version = await self.backend.update_weights(None)  # the copy is done: a new version
        except BadRequest as e:
            return web.json_response({"success": False, "message": f"weights NOT updated: {e}"}, status=400)
        self.model_path = str(path)
        return web.json_response({"success": True, "message": f"loaded {n} tensors from {path}",
                                  "num_paused_requests": 0, "weight_version": str(version)})

    def _load_validated(self, files: list[Path]) -> int:
        """Read every tensor, check it against the model, then copy them all (nothing is copied on failure)."""
        import torch
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        state: dict[str, Any] = {}
        for f in files:
            try:
                part = load_file(str(f))
            except (SafetensorError, OSError, ValueError) as e:
                raise BadRequest(f"{f.name} is not a readable safetensors file ({e})") from None
            dup = sorted(set(part) & set(state))
            if dup:
                raise BadRequest(f"tensor {dup[0]!r} appears in more than one file")
            state.update(part)
        if not state:
            raise BadRequest("the files hold no tensors")
        params = dict(self.backend.model.state_dict(keep_vars=True))
        for name, t in state.items():
            p = params.get(name)
            if p is None:
                raise BadRequest(f"tensor {name!r} is not a parameter of the served model")
            if tuple(t.shape) != tuple(p.shape):
                raise BadRequest(f"tensor {name!r} has shape {list(t.shape)}, the model's is {list(p.shape)}")
            if t.dtype != p.dtype:
                raise BadRequest(f"tensor {name!r} has dtype {t.dtype}, the model's is {p.dtype}")
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise BadRequest(f"tensor {name!r} holds NaN or infinite values")
        with self.backend.model_lock, torch.no_grad():
            for name, t in state.items():
                params[name].data.copy_(t)
        return len(state)

    async def unsupported(self, request: web.Request) -> web.Response:
        return web.json_response({"success": False, "message": f"{request.path} (NCCL weight sync) needs a GPU "
                                  "SGLang server; agentrl.serve supports /update_weights_from_disk"}, status=400)

    async def model_info(self, request: web.Request) -> web.Response:
        return web.json_response({"model_path": self.model_path, "is_generation": True,
                                  "weight_version": str(self.backend.version)})


#: where the app keeps its :class:`GenerateServer` (``runner.app[SERVER_KEY]``)
SERVER_KEY: web.AppKey[GenerateServer] = web.AppKey("server", GenerateServer)


async def start_server(backend: LocalBackend, host: str = "127.0.0.1", port: int = 0, *,
                       middlewares: list[Any] | None = None, max_connections: int | None = None,
                       header_timeout_s: float = 10.0, keepalive_timeout_s: float = 30.0,
                       **kw: Any) -> tuple[web.AppRunner, str]:
    """Start the server in the running loop; returns the runner (``await runner.cleanup()``) and its URL.

    ``kw`` goes to :class:`GenerateServer` (``token``, ``weights_root``, ``body_timeout_s``, ``max_requests``...).
    A non-loopback ``host`` needs a token. The listener is guarded (:func:`agentrl.net.serve_guarded`:
    ``max_connections``, ``header_timeout_s``). The :class:`GenerateServer` is ``runner.app[SERVER_KEY]``; its
    ``guard`` counts evicted, refused and timed-out connections.
    """
    server = GenerateServer(backend, **kw)
    require_token_off_loopback(host, server.token, "agentrl.serve", TOKEN_ENV)
    app = server.app(middlewares)
    app[SERVER_KEY] = server
    runner = GuardedRunner(app, access_log=None, handler_cancellation=True, keepalive_timeout=keepalive_timeout_s)
    await runner.setup()
    runner.listener, server.guard, url = await serve_guarded(runner, host, port, max_connections=max_connections,
                                                             header_timeout_s=header_timeout_s)
    return runner, url


USAGE = """usage: python -m agentrl.serve model=PATH|tiny [host=127.0.0.1] [port=30000] [max_batch_size=32]
                               [dtype=float32] [device=cpu] [vocab_size=2048] [seed=0]

Serve a local model over SGLang's /generate protocol (and vLLM's token-id /v1/completions).

  model=           a transformers checkpoint directory, or tiny (a random tiny Qwen3, for tests)
  host=, port=     where to listen (127.0.0.1:30000)
  max_batch_size=  requests decoded together (continuous batching)
  dtype=           torch dtype of the weights: float32, bfloat16, float16
  device=          cpu, cuda, cuda:1, ...
  vocab_size=, seed=   shape and seed of model=tiny
  token=           shared secret clients send (required to bind a non-loopback host; or AGENTRL_SERVE_TOKEN)
  weights_root=    the only directory /update_weights_from_disk may load from
  max_connections=, header_timeout_s=10, body_timeout_s=30   limits against slow or abusive clients
  max_requests=1024   generations in flight; more answer 503 with Retry-After
  -h, --help       show this help

example:
  python -m agentrl.serve model=runs/my-run/checkpoints/step_0000060 port=30000
"""

_INTS = ("port", "max_batch_size", "vocab_size", "seed", "max_connections", "max_requests")
_FLOATS = ("header_timeout_s", "body_timeout_s")
DTYPES = ("float32", "bfloat16", "float16")


def _parse_args(argv: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = parse_key_values(
        argv, {"model", "host", "port", "max_batch_size", "dtype", "vocab_size", "seed", "device", "token",
               "weights_root", "max_connections", "header_timeout_s", "body_timeout_s", "max_requests"}, USAGE)
    if "model" not in out:
        fail("model= is required: a transformers checkpoint directory, a hub id, or tiny (see --help)")
    for k in _INTS + _FLOATS:
        if k in out:
            try:
                out[k] = int(out[k]) if k in _INTS else float(out[k])
            except ValueError:
                fail(f"{k}={out[k]!r} is not {'an integer' if k in _INTS else 'a number'}")
    if out.get("dtype", "float32") not in DTYPES:
        fail(f"dtype={out['dtype']!r} is not accepted; accepted: {', '.join(DTYPES)}")
    return out


def _load(args: dict[str, Any]) -> tuple[Any, Any]:
    """The model and tokenizer ``args`` name; a user's mistake exits 2 with one line."""
    import torch

    from agentrl.errors import UserError
    from agentrl.model_path import check_local_model

    dtype = getattr(torch, args.get("dtype", "float32"))
    if args["model"] == "tiny":
        from agentrl.models import tiny_qwen3

        return tiny_qwen3(int(args.get("vocab_size", 2048)), seed=int(args.get("seed", 0))).to(dtype), None
    try:
        check_local_model(args["model"])
    except UserError as e:
        fail(str(e))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(args["model"], dtype=dtype).eval()
    except OSError as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        fail(f"model={args['model']!r} could not be loaded (not a local directory; the Hugging Face hub said: "
             f"{first})")
    try:
        tokenizer = AutoTokenizer.from_pretrained(args["model"])
    except Exception:  # noqa: BLE001 - a checkpoint without tokenizer files still serves input_ids
        tokenizer = None
    return model, tokenizer


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m agentrl.serve``; user errors exit 2 with one line."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    host = args.get("host", "127.0.0.1")
    if resolve_token(args.get("token"), TOKEN_ENV) is None and not is_loopback(host):
        try:  # before the model is loaded
            require_token_off_loopback(host, None, "agentrl.serve", TOKEN_ENV)
        except ValueError as e:
            fail(str(e))
    model, tokenizer = _load(args)
    if "device" in args:
        model = model.to(args["device"])
    backend = LocalBackend(model, max_batch_size=int(args.get("max_batch_size", 32)), tokenizer=tokenizer)
    logging.basicConfig(level=logging.INFO)

    async def serve() -> None:
        try:
            runner, url = await start_server(
                backend, host, args.get("port", 30000), model_path=args["model"], tokenizer=tokenizer,
                token=args.get("token"), weights_root=args.get("weights_root"),
                max_connections=args.get("max_connections"), header_timeout_s=args.get("header_timeout_s", 10.0),
                body_timeout_s=args.get("body_timeout_s", 30.0), max_requests=args.get("max_requests", 1024))
        except (ValueError, OSError) as e:  # a bad limit, a port in use
            fail(str(e))
        print(f"agentrl.serve: serving {args['model']} on {url}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)  # SIGTERM: a clean shutdown
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await backend.close()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
