"""Compose a run config from ``configs/`` and command-line overrides, then validate it.

``configs/config.yaml`` names a default option per group (``env``, ``algo``, ``model``, ``rollout``,
``trainer``); each option is ``configs/<group>/<name>.yaml``. Overrides come Hydra-style:

* ``env=webshop`` picks a group option (for ``env``, any registered env id works too; for ``model``, a path or
  hub id that is not a config name becomes ``model.path``);
* ``trainer.steps=10`` sets a value (parsed as YAML: ``10`` is an int, ``[a, b]`` a list, ``null`` None).

A group option may also set values outside its own section under a top-level ``_global_`` key (as Hydra's
``@package _global_``): ``configs/model/tiny.yaml`` raises ``algo.lr`` because a tiny model needs a larger
learning rate. These apply after every group is selected and before command-line values.

An env option may say what the embedded tiny model (``model.path=tiny``) can do with it, under ``_tiny_``:

* ``recipe: <env option>``: with the tiny model, that option is used instead (``env=webshop`` runs the
  ``webshop_warmup`` recipe, the simplified pages and warm start the tiny model learns from); the run says so
  at the start (``env.notice``);
* ``unlearnable: <why>``: the tiny model cannot learn this env at all; the trainer refuses to start with it
  (``env.tiny_unlearnable``) unless ``model.tiny.allow_unlearnable=true``.

OmegaConf does the merging and value parsing; pydantic (:mod:`agentrl.config.schema`) the validation. Errors
are :class:`ConfigError` with the dotted key, the bad value, what is accepted, and a close match.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from pydantic import BaseModel, ValidationError

from agentrl.config.schema import Config

GROUPS = ("env", "algo", "model", "rollout", "trainer")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key, the value and what is accepted."""


def config_dir() -> Path:
    """The ``configs/`` directory (works from a source checkout and from an installed wheel)."""
    return Path(str(resources.files("configs")))


def group_options(group: str, root: Path | None = None) -> list[str]:
    """Names of the YAML options in ``configs/<group>/``."""
    d = (root or config_dir()) / group
    return sorted(p.stem for p in d.glob("*.yaml"))


def _load_yaml(path: Path) -> dict[str, Any]:
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping, got {type(data).__name__}")
    return data


def _select_group(group: str, name: str, root: Path) -> dict[str, Any]:
    options = group_options(group, root)
    if name in options:
        return _load_yaml(root / group / f"{name}.yaml")
    if group == "env":
        from agentrl.registry import ecosystem_prefixes, list_envs, prefixed_spec

        envs = list_envs()
        if name in envs or prefixed_spec(name) is not None:
            return {"id": name}
        known = sorted(set(options) | set(envs) | {f"{p}:<name>" for p in ecosystem_prefixes()})
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"env={name!r}: no config configs/env/{name}.yaml and no registered env of that id."
                          f"{hint} Accepted: {', '.join(known)}.")
    if group == "model" and ("/" in name or Path(name).expanduser().exists()):
        return {"path": name}
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    extra = " (or a model path / hub id containing '/')" if group == "model" else ""
    raise ConfigError(f"{group}={name!r} is not a config in configs/{group}/.{hint} "
                      f"Accepted: {', '.join(options)}{extra}.")


def compose(overrides: list[str] | None = None, root: Path | None = None) -> dict[str, Any]:
    """The merged (unvalidated) config dict for ``overrides``."""
    root = root or config_dir()
    merged, tiny = _compose(overrides, root)
    if merged.get("model", {}).get("path") != "tiny" or not tiny:
        return merged
    unknown = sorted(set(tiny) - {"recipe", "unlearnable"})
    if unknown:
        raise ConfigError(f"env option {merged['env'].get('id')!r}: unknown _tiny_ key(s) {unknown}; "
                          "accepted: recipe, unlearnable")
    if tiny.get("recipe"):
        asked = next(v for k, v in _choices(overrides, root) if k == "env")
        recipe = str(tiny["recipe"])
        merged, _ = _compose([*(overrides or []), f"env={recipe}"], root)
        merged["env"]["notice"] = (f"env={asked} with the embedded tiny model runs its tiny recipe env={recipe} "
                                   f"(configs/env/{recipe}.yaml); a pretrained model (model=<path or hub id>) "
                                   f"gets env={asked} as configured")
        merged["env"]["recipe"] = recipe
    if tiny.get("unlearnable"):
        merged["env"]["tiny_unlearnable"] = " ".join(str(tiny["unlearnable"]).split())
    return merged


def _choices(overrides: list[str] | None, root: Path) -> list[tuple[str, str]]:
    """(group, option) pairs in force: config.yaml's defaults, then ``group=option`` overrides."""
    choices = dict(_load_yaml(root / "config.yaml").get("defaults", {}) or {})
    for item in overrides or []:
        key, _, value = item.partition("=")
        key = key.strip().lstrip("+")
        if key in GROUPS and value and not value.lstrip().startswith(("{", "[")):
            choices[key] = value.strip()
    return list(choices.items())


def _compose(overrides: list[str] | None, root: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The merged dict for ``overrides`` and the env option's ``_tiny_`` mapping (None without one)."""
    base = _load_yaml(root / "config.yaml")
    choices = dict(base.pop("defaults", {}) or {})
    sets: list[str] = []
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. env=math, trainer.steps=10)")
        key, value = item.split("=", 1)
        key = key.strip().lstrip("+")
        if key in GROUPS and value and not value.lstrip().startswith(("{", "[")):
            choices[key] = value.strip()
        else:
            sets.append(f"{key}={value}")
    merged = OmegaConf.create(base)
    globals_: list[tuple[str, dict[str, Any]]] = []
    tiny: dict[str, Any] | None = None
    for group in GROUPS:
        if choices.get(group):
            option = _select_group(group, str(choices[group]), root)
            if group == "env" and "_tiny_" in option:
                tiny = option.pop("_tiny_")
                if not isinstance(tiny, dict):
                    raise ConfigError(f"configs/env/{choices[group]}.yaml: _tiny_ must be a mapping "
                                      "(recipe: <env option> or unlearnable: <why>)")
            extra = option.pop("_global_", None)
            if extra is not None:
                if not isinstance(extra, dict):
                    raise ConfigError(f"configs/{group}/{choices[group]}.yaml: _global_ must be a mapping")
                globals_.append((group, extra))
            merged = OmegaConf.merge(merged, {group: option})
    # an env option's _global_ goes last: a task recipe (env=webshop_warmup) is more specific than a model's
    for _, extra in sorted(globals_, key=lambda g: g[0] == "env"):
        merged = OmegaConf.merge(merged, extra)
    if sets:
        try:
            dotlist = OmegaConf.from_dotlist(sets)
        except Exception as e:  # noqa: BLE001 - OmegaConf raises several grammar errors
            raise ConfigError(f"could not parse overrides {sets}: {e}") from e
        merged = OmegaConf.merge(merged, dotlist)
    return OmegaConf.to_container(merged, resolve=True), tiny  # type: ignore[return-value]


def _fields_at(model: type[BaseModel], path: tuple) -> list[str]:
    """Field names of the section at ``path`` (for suggestions)."""
    cls: Any = model
    def names(c: Any) -> dict[str, Any]:  # a field's alias (``async``) is the name configs use
        return {f.alias or k: f for k, f in getattr(c, "model_fields", {}).items()}

    for part in path:
        field = names(cls).get(part)
        if field is None:
            return []
        cls = field.annotation
    return list(names(cls))


def validate(data: dict[str, Any]) -> Config:
    """Validate a composed dict into a :class:`Config`; raises :class:`ConfigError` with readable messages."""
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not isinstance(p, int))
            dotted = ".".join(map(str, err["loc"]))
            if err["type"] == "extra_forbidden":
                fields = _fields_at(Config, loc[:-1])
                close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.5)
                hint = f" Did you mean '{'.'.join(map(str, loc[:-1] + (close[0],)))}'?" if close else ""
                lines.append(f"unknown key '{dotted}'.{hint} Keys accepted there: {', '.join(fields)}.")
            else:
                value = err.get("input")
                lines.append(f"'{dotted}' = {value!r} ({type(value).__name__}): {err['msg']}.")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from None


def load_config(overrides: list[str] | None = None, root: Path | None = None) -> Config:
    """Compose ``configs/`` with ``overrides`` and validate: the one call entry points use."""
    return validate(compose(overrides, root))


def to_yaml(cfg: Config) -> str:
    """The resolved config as YAML (what ``--print-config`` shows)."""
    return OmegaConf.to_yaml(OmegaConf.create(cfg.model_dump(mode="json")))
