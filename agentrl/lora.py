"""LoRA adapters on the policy model, through ``peft`` (``model.lora.*``).

:func:`apply_lora` wraps the loaded transformers model in a ``peft`` ``PeftModel``: the adapters are the only
parameters with ``requires_grad``, so the learner's optimizer holds them alone. The wrapper forwards
``get_decoder()`` / ``get_output_embeddings()`` / ``config`` to the base model, whose Linear layers peft
replaced in place, so the learner's scorer, the SC-GRPO teacher (the same module, no copy) and the local
backend (the same module object) all compute with the adapted weights.

A saved model directory (:func:`save_model`: checkpoints, the server backends' ``weights_sync``) is a plain
transformers directory holding the *merged* weights (``merge_and_unload`` on a copy), loadable by
``agentrl.eval``, vLLM and SGLang, plus ``adapter/`` (peft's ``adapter_config.json`` and
``adapter_model.safetensors``): a resumed run loads the base model named there and these adapters
(:func:`load_plan`), so it continues exactly.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from agentrl.config.schema import LoraConfig

ADAPTER_DIR = "adapter"


def is_lora(model: Any) -> bool:
    """Whether ``model`` is a peft-wrapped model (has adapters)."""
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft absent: nothing can be wrapped
        return False
    return isinstance(model, PeftModel)


def _import_peft() -> Any:
    try:
        import peft
    except ImportError as e:
        raise ImportError("model.lora.enabled=true needs the peft package: pip install 'agentrl[lora]'") from e
    return peft


def apply_lora(model: Any, cfg: LoraConfig, *, base_path: str | None = None,
               adapter_dir: str | Path | None = None, seed: int = 0) -> Any:
    """``model`` with trainable LoRA adapters (``cfg``), or ``model`` itself when ``cfg.enabled`` is false.

    ``adapter_dir`` (a saved ``adapter/``) loads trained adapters instead of fresh ones (B = 0: the model's
    outputs are unchanged), initialised from ``seed`` alone (the global RNG is left as it was, so a run's
    adapters do not depend on what ran before). ``base_path`` is recorded in the adapter config as the base to load them onto.
    Bad target module names fail with a one-line ``ValueError`` naming them.
    """
    if not cfg.enabled:
        return model
    import torch

    peft = _import_peft()
    training = model.training
    if adapter_dir is not None:
        wrapped = peft.PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)
    else:
        targets = cfg.target_modules
        pcfg = peft.LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                               target_modules=targets if isinstance(targets, str) else list(targets),
                               task_type="CAUSAL_LM", bias="none")
        try:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                wrapped = peft.get_peft_model(model, pcfg)
        except ValueError as e:
            raise ValueError(f"model.lora.target_modules={targets!r}: {str(e).splitlines()[0]} (accepted: "
                             "'all-linear' or names of Linear modules, e.g. [q_proj, v_proj])") from None
    if base_path is not None:
        wrapped.peft_config["default"].base_model_name_or_path = str(base_path)
    wrapped.train(training)
    return wrapped


def load_plan(path: str, cfg: LoraConfig) -> tuple[str, Path | None]:
    """(directory to load the model from, adapter directory to load onto it or None) for a model at ``path``.

    A directory saved by :func:`save_model` with LoRA on is resumed from its base model (named in its adapter
    config) and its adapters; anything else is loaded as it is (with ``cfg.enabled`` false, a saved
    directory's merged weights).
    """
    adapters = Path(path) / ADAPTER_DIR
    if not cfg.enabled or not (adapters / "adapter_config.json").is_file():
        return path, None
    base = json.loads((adapters / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{adapters / 'adapter_config.json'} names no base model (base_model_name_or_path)")
    return str(base), adapters


def merged_copy(model: Any) -> Any:
    """A plain transformers model with the adapters merged into its weights (``model`` is left untouched)."""
    merged = copy.deepcopy(model).merge_and_unload()
    merged.eval()
    return merged


def save_model(model: Any, out_dir: str | Path) -> None:
    """``model.save_pretrained`` (safetensors); with adapters: the merged weights plus ``adapter/``."""
    out = Path(out_dir)
    if not is_lora(model):
        model.save_pretrained(out, safe_serialization=True)
        return
    merged_copy(model).save_pretrained(out, safe_serialization=True)
    model.save_pretrained(out / ADAPTER_DIR, safe_serialization=True)
