"""Generation backends behind one protocol: ``local`` (in-process), ``sglang`` and ``vllm`` (HTTP clients).

``make_backend(cfg.rollout, model=..., tokenizer=...)`` builds the one a config names.
"""

from __future__ import annotations

from typing import Any

from agentrl.rollout.backends.base import (Backend, BackendError, BackendFatalError, Generation,
                                           SamplingParams)


def make_backend(cfg: Any, model: Any = None, tokenizer: Any = None, autocast_dtype: Any = None) -> Backend:
    """The backend ``cfg.backend`` names (``cfg`` is a :class:`~agentrl.config.schema.RolloutConfig`).

    ``local`` needs ``model`` (a transformers module, possibly the learner's own). ``sglang``/``vllm`` need
    ``cfg.urls``; with ``cfg.launch`` servers are started on those URLs' ports (the backend's ``close()`` stops
    them): SGLang on ``model`` given as a checkpoint path, vLLM on a checkpoint path or on the model object
    (saved with ``tokenizer`` for the server; ``--max-model-len`` is ``cfg.max_context_tokens``).
    """
    kind = cfg.backend
    if kind == "local":
        if model is None or isinstance(model, str):
            raise ValueError("rollout.backend=local needs the model object (make_backend(cfg, model=...))")
        from agentrl.rollout.backends.local import LocalBackend

        return LocalBackend(model, max_batch_size=cfg.max_batch_size, tokenizer=tokenizer,
                            autocast_dtype=autocast_dtype)
    if kind == "sglang":
        from agentrl.rollout.backends.sglang import SGLangBackend

        urls = list(cfg.urls) or (["http://127.0.0.1:30000"] if cfg.launch else [])
        if cfg.launch:
            from agentrl.rollout.launch import launch_sglang

            return launch_sglang(model, urls, request_timeout_s=cfg.request_timeout_s)
        return SGLangBackend(urls, request_timeout_s=cfg.request_timeout_s)
    if kind == "vllm":
        from agentrl.rollout.backends.vllm import VLLMBackend

        if cfg.launch:
            from agentrl.rollout.backends.vllm_launch import launch_vllm

            urls = list(cfg.urls) or ["http://127.0.0.1:8000"]
            return launch_vllm(model, urls, tokenizer=tokenizer, max_model_len=cfg.max_context_tokens,
                               request_timeout_s=cfg.request_timeout_s, wait=True)
        return VLLMBackend(list(cfg.urls), request_timeout_s=cfg.request_timeout_s)
    raise ValueError(f"unknown rollout.backend {kind!r}; accepted: 'local', 'sglang', 'vllm'")


__all__ = ["Backend", "BackendError", "BackendFatalError", "Generation", "SamplingParams", "make_backend"]
