"""The KV-cache argument of a transformers model, by the name its version uses.

transformers renamed ``past_key_values`` to ``cache`` (the old name warns with a ``FutureWarning`` and is to
be removed); older releases only know ``past_key_values``. ``model(**cache_kwargs(model, cache))`` passes a
:class:`transformers.DynamicCache` under the right name, and :func:`output_cache` reads it back from the output.
"""

from __future__ import annotations

import inspect
from typing import Any

_NAMES: dict[type, str] = {}


def cache_arg(model: Any) -> str:
    """``"cache"`` when ``model.forward`` takes it (newer transformers), else ``"past_key_values"``."""
    cls = type(model)
    name = _NAMES.get(cls)
    if name is None:
        try:
            inner = model.get_base_model() if hasattr(cls, "get_base_model") else model  # peft (LoRA): the base's
            params = inspect.signature(inner.forward).parameters  # follows the deprecation wrapper's __wrapped__
        except (TypeError, ValueError):  # pragma: no cover - a forward without a signature
            params = {}
        name = _NAMES[cls] = "cache" if "cache" in params else "past_key_values"
    return name


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """``{name: cache}`` for ``model(...)``: the KV cache under the name this transformers version uses."""
    return {cache_arg(model): cache}


def output_cache(out: Any) -> Any:
    """The KV cache of a model output (``out.cache``, or ``out.past_key_values`` on older transformers)."""
    if "cache" in getattr(type(out), "__dataclass_fields__", {}):
        return out.cache
    return out.past_key_values
