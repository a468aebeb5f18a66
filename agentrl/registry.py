"""Environment registry: ``register``, ``make``, ``list_envs``.

Entries are stored as ``"pkg.module:Class"`` strings and imported on ``make``, so importing agentrl never
imports an env's heavy dependencies. Third-party packages add envs through the ``agentrl.envs`` entry-point
group (name = env id, value = ``pkg.module:Class``). Every entry is mirrored into Gymnasium's registry as
``agentrl/<id>``, so ``gymnasium.make("agentrl/math")`` works too.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import gymnasium

from agentrl.env import AgentEnv

ENTRY_POINT_GROUP = "agentrl.envs"
GYM_NAMESPACE = "agentrl"


@dataclass(frozen=True)
class EnvSpec:
    """A registered environment: its id, where its class lives and its default keyword arguments."""

    id: str
    entry_point: str | Callable[..., AgentEnv]
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str = "register"

    def load(self) -> Callable[..., AgentEnv]:
        """Import and return the env class (or factory)."""
        if callable(self.entry_point):
            return self.entry_point
        module_name, _, attr = self.entry_point.partition(":")
        if not module_name or not attr:
            raise ValueError(
                f"env {self.id!r}: entry_point {self.entry_point!r} must look like 'package.module:ClassName'")
        module = importlib.import_module(module_name)
        try:
            return getattr(module, attr)
        except AttributeError:
            raise ImportError(f"env {self.id!r}: module {module_name!r} has no attribute {attr!r}") from None


_REGISTRY: dict[str, EnvSpec] = {}
_entry_points_loaded = False

# Built-in environments: registered by name only; their modules are imported on make().
_BUILTINS: dict[str, str] = {
    "guess": "envs.guess:GuessNumberEnv",
    "math": "envs.math:MathEnv",
    "webshop": "envs.webshop:WebShopEnv",
    "appworld": "envs.appworld:AppWorldEnv",
    "code": "envs.code:CodeEnv",
    "reasoning_gym": "envs.reasoning_gym:ReasoningGymEnv",
    "remote": "agentrl.env_server.remote:RemoteEnv",
}

# The ecosystem's packages: ``<prefix>:<name>`` makes the adapter with ``name=<name>`` (README, "Ecosystem envs").
_PREFIXES: dict[str, str] = {
    "textarena": "envs.ecosystem.textarena:TextArenaEnv",
    "verifiers": "envs.ecosystem.verifiers:VerifiersEnv",
    "openenv": "envs.ecosystem.openenv:OpenEnvEnv",
}


def ecosystem_prefixes() -> list[str]:
    """The id prefixes of the ecosystem adapters (``textarena``, ``verifiers``, ``openenv``)."""
    return sorted(_PREFIXES)


def prefixed_spec(id: str) -> EnvSpec | None:
    """The :class:`EnvSpec` of an ecosystem id ``<prefix>:<name>`` (``textarena:Wordle-v0``) or ``<prefix>``
    (the adapter, named by its kwargs), else ``None``."""
    prefix, sep, name = id.partition(":")
    if prefix not in _PREFIXES:
        return None
    if not sep:  # the adapter itself, its env named by kwargs (env=openenv env.kwargs.server=<url>)
        return EnvSpec(id, _PREFIXES[prefix], {}, source=f"{prefix} adapter")
    if not name:
        raise ValueError(f"env id {id!r} names no {prefix} env; write {prefix}:<name>")
    return EnvSpec(id, _PREFIXES[prefix], {"name": name}, source=f"{prefix} adapter")


def register(id: str, entry_point: str | Callable[..., AgentEnv], **defaults: Any) -> EnvSpec:
    """Register an environment under ``id``.

    ``entry_point`` is ``"pkg.module:Class"`` (imported lazily) or a callable returning an
    :class:`~agentrl.AgentEnv`. ``defaults`` are keyword arguments for the constructor, overridden by
    those given to :func:`make`. Registering an id again replaces the entry.
    """
    if not isinstance(id, str) or not id or any(c.isspace() for c in id):
        raise ValueError(f"env id must be a non-empty string without spaces, got {id!r}")
    if not (callable(entry_point) or (isinstance(entry_point, str) and ":" in entry_point)):
        raise ValueError(
            f"entry_point for {id!r} must be 'package.module:ClassName' or a callable, got {entry_point!r}")
    spec = EnvSpec(id, entry_point, dict(defaults))
    _REGISTRY[id] = spec
    _mirror_to_gymnasium(spec)
    return spec


def _mirror_to_gymnasium(spec: EnvSpec) -> None:
    gym_id = f"{GYM_NAMESPACE}/{spec.id}"
    try:
        gymnasium.register(id=gym_id, entry_point=spec.entry_point, kwargs=dict(spec.defaults),
                           disable_env_checker=True, order_enforce=False)
    except Exception:  # an id gymnasium's own parser refuses is simply not mirrored
        pass


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            spec = EnvSpec(ep.name, ep.value, {}, source=f"entry point of {ep.dist.name if ep.dist else '?'}")
            _REGISTRY[ep.name] = spec
            _mirror_to_gymnasium(spec)


def _ensure_builtins() -> None:
    for env_id, entry in _BUILTINS.items():
        if env_id not in _REGISTRY:
            spec = EnvSpec(env_id, entry, {}, source="builtin")
            _REGISTRY[env_id] = spec
            _mirror_to_gymnasium(spec)
    _load_entry_points()


def list_envs() -> list[str]:
    """Ids of all registered environments (built-ins, ``register`` calls and entry points), sorted."""
    _ensure_builtins()
    return sorted(_REGISTRY)


def spec(id: str) -> EnvSpec:
    """The :class:`EnvSpec` of ``id``; raises ``KeyError`` listing close matches when unknown."""
    _ensure_builtins()
    try:
        return _REGISTRY[id]
    except KeyError:
        pass
    found = prefixed_spec(id)
    if found is None:
        raise UnknownEnvError(id, list(_REGISTRY) + [f"{p}:<name>" for p in _PREFIXES])
    return found


def make(id: str, **kwargs: Any) -> AgentEnv:
    """Construct the environment registered as ``id`` with its defaults updated by ``kwargs``."""
    s = spec(id)
    factory = s.load()
    params = {**s.defaults, **kwargs}
    try:
        env = factory(**params)
    except TypeError as e:
        raise TypeError(f"could not construct env {id!r} with arguments {sorted(params)}: {e}") from e
    if not isinstance(env, gymnasium.Env):
        raise TypeError(f"env {id!r}: entry point returned {type(env).__name__}, not a gymnasium.Env")
    gym_id = f"{GYM_NAMESPACE}/{id}"
    if gym_id in gymnasium.registry and env.unwrapped.spec is None:
        env.unwrapped.spec = dataclasses.replace(gymnasium.spec(gym_id), kwargs=params)
    return env


class UnknownEnvError(KeyError):
    """Raised by :func:`make` for an id that is not registered; lists the close matches."""

    def __init__(self, id: str, known: list[str]):
        self.id = id
        self.close = difflib.get_close_matches(id, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, self.close))}?" if self.close else ""
        super().__init__(f"unknown env {id!r}.{hint} Registered envs: {', '.join(sorted(known))}.")

    def __str__(self) -> str:
        return str(self.args[0])
