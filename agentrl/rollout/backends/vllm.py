"""Client of vLLM's OpenAI-compatible server (``vllm serve M``), token in, token out.

Fields relied on (``vllm/entrypoints/openai/protocol.py``, ``CompletionRequest`` / ``CompletionResponse``):
``POST /v1/completions`` with ``prompt`` as a list of token ids, ``max_tokens``, ``temperature``, ``top_p``,
``top_k``, ``seed``, ``stop_token_ids``, ``logprobs: 0`` (the sampled token's log-prob only),
``skip_special_tokens: false``, ``include_stop_str_in_output: true`` and ``return_token_ids: true``
(vLLM >= 0.10.2). The answer's ``choices[0].token_ids`` are the generated ids,
``choices[0].logprobs.token_logprobs`` their log-probs and ``choices[0].finish_reason`` is
``"stop"|"length"|"abort"``. ``GET /v1/models`` names the served model and ``GET /health`` is readiness.
vLLM returns log-probs of the raw logits unless the server runs with ``--logprobs-mode processed_logprobs``.
Weight updates over HTTP are not part of vLLM's server API: restart it on a new checkpoint or use SGLang.
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

    async def update_weights(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("vLLM's OpenAI server has no weight-update endpoint; restart it on the new "
                                  "checkpoint, or use rollout.backend=sglang for in-place weight sync")


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
