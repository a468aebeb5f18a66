"""Client of SGLang's native HTTP API (``python -m sglang.launch_server``), token in, token out.

Fields relied on (SGLang ``GenerateReqInput`` / ``SamplingParams`` in ``sglang/srt/managers/io_struct.py`` and
``sglang/srt/sampling/sampling_params.py``; endpoints in ``sglang/srt/entrypoints/http_server.py``):

* ``POST /generate`` with ``input_ids`` (list of ints), ``rid``, ``return_logprob: true`` and
  ``sampling_params`` = ``temperature, top_p, top_k, max_new_tokens, stop_token_ids, sampling_seed,
  skip_special_tokens: false, no_stop_trim: true``. The answer's ``output_ids`` are the generated ids,
  ``meta_info.output_token_logprobs`` is a list of ``[logprob, token_id, text|null]`` and
  ``meta_info.finish_reason`` is ``{"type": "stop"|"length"|"abort", ...}``.
* ``POST /abort_request`` ``{"rid": ...}`` — sent when a request times out or is cancelled, so the server does
  not keep decoding for nobody. ``agentrl.serve`` lets a client abort only its own requests: the client asks
  each server once for a client token (``POST /client_token``; SGLang answers 404 and none is used) and sends
  it as ``X-Agentrl-Client-Token`` with its generations and aborts.
* ``GET /health_generate`` — 200 once the server can generate (readiness).
* ``POST /flush_cache`` — 200 when flushed, 400 while requests are running (we retry).
* ``POST /update_weights_from_disk`` ``{"model_path", "load_format"?}`` -> ``{"success", "message"}``.
* ``POST /init_weights_update_group`` ``{"master_address", "master_port", "rank_offset", "world_size",
  "group_name", "backend"}`` and ``POST /update_weights_from_distributed`` ``{"names", "dtypes", "shapes",
  "group_name", "flush_cache"}``: the NCCL path. The trainer broadcasts the tensors from its rank 0 in the
  same group (torch.distributed) while this request is in flight.

Behind an ``sglang-router`` (``python -m sglang_router.launch_router``): generation, ``/health_generate`` and
``/flush_cache`` go through the router, but the weight-update endpoints and ``/abort_request`` are not routed
(HTTP 404). The router lists its workers at ``GET /workers`` (``{"workers": [{"url", "is_healthy"}, ...]}``,
sglang-router 0.3), so weight updates and aborts are sent to every worker behind it; ``worker_urls=[...]``
names them explicitly for a router that does not list them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from agentrl.rollout.backends.base import BackendError, BackendFatalError, Generation, SamplingParams
from agentrl.rollout.backends.http import HTTPBackendBase

log = logging.getLogger(__name__)


class SGLangBackend(HTTPBackendBase):
    """Generation on one or more SGLang servers, or on sglang-routers (weight sync then reaches their workers).

    ``worker_urls`` (optional) are the servers that weight updates and aborts go to, when ``urls`` are routers
    that do not list their workers at ``GET /workers``; by default they are discovered.
    """

    def __init__(self, urls: list[str] | str, *, worker_urls: list[str] | None = None, **kw: Any):
        super().__init__(urls, **kw)
        self._explicit_workers = [u.rstrip("/") for u in worker_urls] if worker_urls else None
        self._routers: dict[str, list[str]] = {}  # router URL -> its workers (refreshed at each weight sync)
        self._client_headers: dict[str, dict[str, str]] = {}  # server URL -> its client-token header (or {})
        self._identity_lock: asyncio.Lock | None = None

    async def _identity(self, url: str) -> dict[str, str]:
        """The header naming this client to the server at ``url`` (an ``agentrl.serve`` client token; {} for
        servers without ``/client_token``), asked once per server."""
        if url in self._client_headers:
            return self._client_headers[url]
        if self._identity_lock is None:
            self._identity_lock = asyncio.Lock()
        async with self._identity_lock:  # one token per server, however many requests start at once
            return await self._fetch_identity(url)

    async def _fetch_identity(self, url: str) -> dict[str, str]:
        if url not in self._client_headers:
            headers: dict[str, str] = {}
            try:
                status, body = await self.request("POST", url + "/client_token", {}, timeout_s=10.0)
                if status == 200 and isinstance(body, dict) and isinstance(body.get("client_token"), str):
                    headers = {str(body.get("header") or "X-Agentrl-Client-Token"): body["client_token"]}
            except BackendError:
                pass
            self._client_headers[url] = headers
        return self._client_headers[url]

    async def discover_workers(self) -> list[str]:
        """The servers weight updates go to: ``worker_urls`` if given, else each URL or the workers of the
        router at that URL (``GET /workers``; workers it reports unhealthy are skipped); refreshed on every call."""
        if self._explicit_workers is not None:
            return list(self._explicit_workers)
        out: list[str] = []
        for url in self.urls:
            workers = await self._router_workers(url)
            if workers is None:
                out.append(url)
            else:
                self._routers[url] = workers
                out.extend(w for w in workers if w not in out)
        return out

    async def _router_workers(self, url: str) -> list[str] | None:
        """The worker URLs an sglang-router at ``url`` lists, or None when ``url`` is not a router."""
        try:
            status, body = await self.request("GET", url + "/workers", timeout_s=30.0)
        except BackendError:
            return None
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("workers"), list):
            return None
        listed = [w for w in body["workers"] if isinstance(w, dict) and w.get("url")]
        workers = [str(w["url"]).rstrip("/") for w in listed if w.get("is_healthy", True) is not False]
        down = [str(w["url"]) for w in listed if w.get("is_healthy", True) is False]
        if down:  # the router sends them nothing while unhealthy; a restarted worker loads its own checkpoint
            log.warning("sglang-router %s: skipping unhealthy workers %s", url, down)
        if not workers:
            raise BackendFatalError(f"the sglang-router at {url} lists no healthy workers (GET /workers: "
                                    f"{len(listed)} listed); weight sync has nowhere to go")
        return workers

    async def generate(self, input_ids: list[int], sampling: SamplingParams, *,
                       session_id: str | None = None) -> Generation:
        """``POST /generate``; raises :class:`BackendError` (retryable) or :class:`BackendFatalError`."""
        url = self.pick(session_id)
        rid = uuid.uuid4().hex
        sp: dict[str, Any] = {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k if sampling.top_k > 0 else -1,
            "max_new_tokens": sampling.max_new_tokens,
            "skip_special_tokens": False,
            "no_stop_trim": True,
        }
        if sampling.stop_token_ids:
            sp["stop_token_ids"] = list(sampling.stop_token_ids)
        if sampling.seed is not None:
            sp["sampling_seed"] = int(sampling.seed)
        payload = {"input_ids": list(input_ids), "sampling_params": sp, "return_logprob": True, "rid": rid,
                   "stream": False}
        self.inflight[url] += 1
        ident: dict[str, str] | None = None
        try:
            ident = await self._identity(url)
            status, body = await self.request("POST", url + "/generate", payload, headers=ident)
            if status == 400 and "X-Agentrl-Client-Token" in str(body):  # a restarted server: a new token
                self._client_headers.pop(url, None)
                ident = await self._identity(url)
                status, body = await self.request("POST", url + "/generate", payload, headers=ident)
        except (BackendError, asyncio.CancelledError):
            self.unstick(session_id)
            await self._abort(url, rid, ident)
            raise
        finally:
            self.inflight[url] -= 1
        if status >= 400:
            raise BackendFatalError(f"{url}/generate answered HTTP {status}: {str(body)[:300]}")
        return parse_generate_response(body, len(input_ids))

    async def _abort(self, url: str, rid: str, ident: dict[str, str] | None = None) -> None:
        """Best effort ``/abort_request`` (the server may be what failed); a router's workers get it instead,
        since the router does not route aborts."""
        targets = self._explicit_workers or self._routers.get(url) or [url]

        async def one(u: str) -> None:
            try:
                status, _ = await self.request("POST", u + "/abort_request", {"rid": rid}, timeout_s=5.0,
                                               headers=ident if u == url else self._client_headers.get(u))
                if status == 404 and u == url and url not in self._routers:
                    workers = await self._router_workers(url)  # a router: abort on its workers
                    if workers:
                        self._routers[url] = workers
                        await asyncio.gather(*(one(w) for w in workers))
            except (BackendError, BackendFatalError):
                pass
        try:
            await asyncio.shield(asyncio.gather(*(one(u) for u in targets)))
        except asyncio.CancelledError:
            pass

    async def wait_ready(self, timeout_s: float = 600.0, interval_s: float = 1.0) -> None:
        """Wait until every server answers ``GET /health_generate`` with 200."""
        deadline = time.monotonic() + timeout_s
        for url in self.urls:
            while True:
                try:
                    status, _ = await self.request("GET", url + "/health_generate", timeout_s=interval_s * 30)
                    if status == 200:
                        break
                except BackendError:
                    pass
                if time.monotonic() > deadline:
                    raise BackendError(f"{url} was not ready (GET /health_generate) within {timeout_s:.0f}s")
                await asyncio.sleep(interval_s)

    async def flush_cache(self, timeout_s: float = 60.0, interval_s: float = 0.5) -> None:
        """``POST /flush_cache`` on every server, retried while a server answers 400 (requests running)."""
        async def one(url: str) -> None:
            deadline = time.monotonic() + timeout_s
            while True:
                status, body = await self.request("POST", url + "/flush_cache")
                if status < 400:
                    return
                if time.monotonic() > deadline:
                    raise BackendError(f"{url}/flush_cache still refused after {timeout_s:.0f}s: {body}")
                await asyncio.sleep(interval_s)
        await asyncio.gather(*(one(u) for u in self.urls))

    async def update_weights(self, model_path: str | None = None, *, load_format: str | None = None,
                             flush_cache: bool = True, **_: Any) -> list[Any]:
        """Load new weights from ``model_path`` (a directory every server can read) on every server."""
        if model_path is None:
            raise ValueError("SGLangBackend.update_weights needs model_path (a saved checkpoint directory); "
                             "for the NCCL path call init_weights_update_group + update_weights_from_distributed")
        payload: dict[str, Any] = {"model_path": model_path}
        if load_format is not None:
            payload["load_format"] = load_format
        bodies = await self._post_workers("/update_weights_from_disk", payload)
        if flush_cache:
            await self.flush_cache()
        return bodies

    async def init_weights_update_group(self, master_address: str, master_port: int, world_size: int, *,
                                        group_name: str = "weight_update_group", backend: str = "nccl",
                                        ranks_per_server: int = 1) -> list[Any]:
        """Join every server to the trainer's process group (trainer = rank 0; server i starts at
        ``1 + i * ranks_per_server``, its tensor-parallel ranks follow)."""
        workers = await self.discover_workers()

        async def one(i: int, url: str) -> Any:
            return await self._post_checked(url, "/init_weights_update_group", {
                "master_address": master_address, "master_port": int(master_port),
                "rank_offset": 1 + i * ranks_per_server, "world_size": int(world_size),
                "group_name": group_name, "backend": backend})
        return list(await asyncio.gather(*(one(i, u) for i, u in enumerate(workers))))

    async def update_weights_from_distributed(self, names: list[str], dtypes: list[str],
                                              shapes: list[list[int]], *,
                                              group_name: str = "weight_update_group",
                                              flush_cache: bool = True) -> list[Any]:
        """Tell every server to receive these tensors by broadcast (the trainer broadcasts concurrently)."""
        return await self._post_workers("/update_weights_from_distributed", {
            "names": list(names), "dtypes": list(dtypes), "shapes": [list(s) for s in shapes],
            "group_name": group_name, "flush_cache": flush_cache})

    async def _post_workers(self, path: str, payload: Any) -> list[Any]:
        """POST a weight-update request to every worker (behind routers too); bodies in worker order."""
        workers = await self.discover_workers()
        return list(await asyncio.gather(*(self._post_checked(u, path, payload) for u in workers)))

    async def _post_checked(self, url: str, path: str, payload: Any) -> Any:
        """POST and check ``{"success": ...}``: a failure raises :class:`BackendFatalError` with the server's
        own message; a 404 says how to configure a router."""
        status, body = await self.request("POST", url + path, payload)
        if isinstance(body, dict) and body.get("success") is False:
            raise BackendFatalError(f"{url}{path} failed: {body.get('message')}")
        if status == 404:
            raise BackendFatalError(
                f"{url}{path} answered HTTP 404. If {url} is an sglang-router, it does not route weight updates "
                "and lists no workers at GET /workers: pass the SGLang servers behind it as "
                "SGLangBackend(urls, worker_urls=[...]) or set rollout.urls to the servers themselves")
        if status >= 400:
            raise BackendFatalError(f"{url}{path} answered HTTP {status}: {str(body)[:300]}")
        return body


def parse_generate_response(body: Any, prompt_len: int = 0) -> Generation:
    """A :class:`Generation` from SGLang's non-streaming ``/generate`` answer (checks its consistency)."""
    if isinstance(body, list):  # a batch answer; we always send one prompt
        body = body[0]
    if not isinstance(body, dict) or "meta_info" not in body:
        raise BackendError(f"unexpected /generate answer: {str(body)[:300]}")
    meta = body["meta_info"]
    pairs = meta.get("output_token_logprobs") or []
    ids = body.get("output_ids")
    if ids is None:
        ids = [int(p[1]) for p in pairs]
    ids = [int(t) for t in ids]
    if any(p[0] is None for p in pairs):
        raise BackendError("/generate answer: output_token_logprobs holds null log-probs "
                           f"(positions {[i for i, p in enumerate(pairs) if p[0] is None][:10]})")
    logprobs = [float(p[0]) for p in pairs]
    if len(logprobs) != len(ids) or any(int(p[1]) != t for p, t in zip(pairs, ids)):
        raise BackendError("/generate answer: output_ids and output_token_logprobs disagree "
                           f"({len(ids)} ids, {len(logprobs)} logprobs)")
    fr = meta.get("finish_reason") or {}
    kind = fr.get("type") if isinstance(fr, dict) else str(fr)
    if kind not in ("stop", "length", "abort"):
        kind = "abort"
    return Generation(ids, logprobs, kind, prompt_tokens=int(meta.get("prompt_tokens", prompt_len)),
                      meta={"id": meta.get("id"), "weight_version": meta.get("weight_version")})
