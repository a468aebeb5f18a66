"""Agent formats: how observations become chat messages and model text becomes env actions.

``policies.make(name, env)`` builds one by name; ``"default"`` resolves to the env class's
``default_policy`` attribute (math -> ``answer``, webshop -> ``react``, code/appworld -> ``code``; envs
without one get the base :class:`Policy`). Your own format is a :class:`Policy` subclass overriding
``system_prompt`` / ``message`` / ``parse_action``; pass it to ``make`` as ``"pkg.module:Class"`` or
:func:`register` it.
"""

from __future__ import annotations

import importlib
from typing import Any

from policies.answer import AnswerPolicy
from policies.base import Policy, strip_think
from policies.code import CodePolicy
from policies.react import ReActPolicy

_POLICIES: dict[str, type[Policy]] = {"base": Policy, "answer": AnswerPolicy, "react": ReActPolicy,
                                      "code": CodePolicy}
_POLICIES.update(__import__("policies.webshop_formats", fromlist=["FORMATS"]).FORMATS)  # verl_agent/react_webshop


def register(name: str, cls: type[Policy]) -> None:
    """Make ``cls`` available to :func:`make` (and ``env.policy=<name>`` in configs) as ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise TypeError(f"policy {name!r} must be a Policy subclass, got {cls!r}")
    _POLICIES[name] = cls


def list_policies() -> list[str]:
    """Names :func:`make` accepts (besides ``"default"`` and ``"pkg.module:Class"``)."""
    return sorted(_POLICIES)


def make(name: str = "default", env: Any = None, **kwargs: Any) -> Policy:
    """The policy ``name`` (``"default"`` = the env's ``default_policy``), constructed with ``kwargs``."""
    if name == "default":
        name = getattr(env.unwrapped if env is not None else None, "default_policy", None) or "base"
    if ":" in name:
        module, _, attr = name.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, Policy)):
            raise TypeError(f"{name!r} is not a Policy subclass")
    else:
        try:
            cls = _POLICIES[name]
        except KeyError:
            raise ValueError(f"unknown policy {name!r}; accepted: 'default', {list_policies()} or "
                             "'package.module:Class'") from None
    return cls(**kwargs)


__all__ = ["AnswerPolicy", "CodePolicy", "Policy", "ReActPolicy", "list_policies", "make", "register",
           "strip_think"]
