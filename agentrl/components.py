"""Build the parts of a run from a config: model, tokenizer, chat format, policy, env factory, backend.

Shared by ``agentrl.run`` (training) and ``agentrl.eval`` so both see the model exactly the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrl.chat import ChatFormat
from agentrl.config.schema import Config
from agentrl.env import AgentEnv


@dataclass
class Components:
    """Everything a run needs besides the learner."""

    cfg: Config
    model: Any
    tokenizer: Any
    fmt: ChatFormat
    policy: Any
    env_factory: Callable[[], AgentEnv]
    device: str
    model_dir: str


def pick_device(want: str) -> str:
    """``cpu``/``cuda``, or the best available for ``auto``; a clear error when CUDA is asked but absent."""
    import torch

    if want == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("trainer.device=cuda but CUDA is not available; use trainer.device=cpu or auto")
    return want


def autocast_dtype(cfg: Config, device: str) -> Any:
    """The autocast dtype of forwards on ``device`` (``None`` = plain float32), from ``model.autocast``."""
    import torch

    mode = cfg.model.autocast
    if mode == "off" or (mode == "auto" and not str(device).startswith("cuda")):
        return None
    return torch.bfloat16


def resolve_model_dir(cfg: Config, log: Callable[[str], None] = print) -> str:
    """The directory (or hub id) to load: builds the embedded tiny model when ``model.path=tiny``, converts a
    packaged model (``smollm2``) or a ``.gguf`` file once (:mod:`agentrl.pretrained`)."""
    from agentrl.pretrained import is_pretrained_spec, resolve_pretrained

    if cfg.model.path == "tiny":
        from agentrl.tiny import build_tiny

        return str(build_tiny(cfg, log=log))
    if is_pretrained_spec(cfg.model.path):
        return resolve_pretrained(cfg.model.path, cfg.model.cache_dir, log)
    return cfg.model.path


def load_model(path: str, cfg: Config, device: str) -> tuple[Any, Any]:
    """Load a transformers causal LM and its tokenizer from a directory or hub id."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.model.dtype]
    if device == "cpu" and dtype != torch.float32:
        dtype = torch.float32  # bf16 matmuls on CPU are slow and lossy; the learner computes in fp32 anyway
    from agentrl.model_path import check_local_model

    check_local_model(path, "model.path")  # a missing local path fails here, never at the hub
    local = Path(path).expanduser()
    src = str(local) if local.exists() else path
    tok = AutoTokenizer.from_pretrained(src, trust_remote_code=cfg.model.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=dtype, trust_remote_code=cfg.model.trust_remote_code)
    model.to(device)
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.eval()
    return model, tok


def build_components(cfg: Config, log: Callable[[str], None] = print, model_dir: str | None = None) -> Components:
    """Model, tokenizer, chat format (checked for prefix preservation), policy and env factory for ``cfg``."""
    from agentrl.lora import apply_lora, load_plan
    from agentrl.registry import make
    from policies import make as make_policy

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # agentrl draws its own progress; no per-file bars on save/load
    device = pick_device(cfg.trainer.device)
    env_factory = lambda: make(cfg.env.id, **cfg.env.kwargs)  # noqa: E731
    probe_env = env_factory()  # fail fast on a bad env before the model is built
    policy = make_policy(cfg.env.policy, env=probe_env, **cfg.env.policy_kwargs)
    probe_env.close()
    path = model_dir or resolve_model_dir(cfg, log)
    base, adapters = load_plan(path, cfg.model.lora)  # a LoRA checkpoint: its base model + its adapters
    model, tok = load_model(base, cfg, device)
    model = apply_lora(model, cfg.model.lora, base_path=base, adapter_dir=adapters, seed=cfg.seed)
    fmt = ChatFormat(tok, chat_template=cfg.model.chat_template, template_kwargs=cfg.model.template_kwargs,
                     name=cfg.model.chat_template or path)
    return Components(cfg, model, tok, fmt, policy, env_factory, device, path)
