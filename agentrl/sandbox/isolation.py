"""Which isolation mode runs sandboxed code here; fail closed when none contains it.

Modes:

* ``"bwrap"`` (bubblewrap): new pid, net, ipc, uts and cgroup namespaces; a minimal root made of read-only,
  nosuid binds of ``/usr``, the interpreter's prefix and a few ``/etc`` files; private size-limited tmpfs for
  the work dir ``/sandbox``, ``/tmp``, ``/var/tmp`` and ``/dev/shm``; dies with its parent.
* ``"unshare"`` (root only, no external tool): the same containment built by :data:`~agentrl.sandbox.boot.STAGE`
  with ``unshare(2)``, ``mount(2)`` and ``pivot_root(2)``.
* ``"none"``: rlimits and process groups only. It contains nothing, so it is used only when the environment
  variable ``AGENTRL_SANDBOX_ALLOW_UNCONTAINED_CODE=1`` says so, with a loud warning.

Every contained mode also drops to a private uid (as root), keeps no capability, sets ``no_new_privs`` and a
seccomp filter (no new namespaces, mounts, ptrace), and is admitted only after a probe run inside it shows
exactly that. ``AGENTRL_SANDBOX_ISOLATION`` forces a mode (one that does not work raises :class:`SandboxError`).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import Literal

from agentrl.sandbox.limits import SandboxError

log = logging.getLogger("agentrl.sandbox")

Isolation = Literal["bwrap", "unshare", "none"]
CONTAINED: tuple[str, ...] = ("bwrap", "unshare")
FORCE_ENV = "AGENTRL_SANDBOX_ISOLATION"
ALLOW_ENV = "AGENTRL_SANDBOX_ALLOW_UNCONTAINED_CODE"

_lock = threading.RLock()
_iso: str | None = None
_why: dict[str, str | None] = {}  # mode -> None (works) or why not


def allow_uncontained() -> bool:
    """Whether the user opted into running untrusted code without containment."""
    return os.environ.get(ALLOW_ENV, "").strip().lower() in ("1", "true", "yes")


def why_not(mode: str) -> str | None:
    """``None`` when ``mode`` contains code on this machine (probed once), else the reason it does not."""
    if mode == "none":
        return "mode 'none' contains nothing (rlimits only)"
    if mode not in CONTAINED:
        raise ValueError(f"unknown isolation mode {mode!r}; accepted: bwrap, unshare, none")
    with _lock:
        if mode not in _why:
            from agentrl.sandbox import launch
            _why[mode] = launch.probe(mode)
        return _why[mode]


def available_modes() -> list[str]:
    """The contained modes that work on this machine (each verified by a probe run)."""
    return [m for m in CONTAINED if why_not(m) is None]


def isolation() -> str:
    """The mode sandboxed code runs in: ``"bwrap"``, else ``"unshare"``; cached.

    Raises :class:`SandboxError` when no contained mode works (or a forced one does not), unless
    ``AGENTRL_SANDBOX_ALLOW_UNCONTAINED_CODE=1``, which selects ``"none"`` with a loud warning.
    """
    global _iso
    with _lock:
        if _iso is not None:
            return _iso
        forced = os.environ.get(FORCE_ENV, "").strip().lower()
        if forced and forced not in ("bwrap", "unshare", "none"):
            raise SandboxError(f"{FORCE_ENV}={forced!r}; accepted: bwrap, unshare, none")
        if forced in CONTAINED:
            why = why_not(forced)
            if why is not None:
                raise SandboxError(f"{FORCE_ENV}={forced} but {forced} does not contain code here: {why}")
            _iso = forced
            return _iso
        if not forced:
            for m in CONTAINED:
                if why_not(m) is None:
                    _iso = m
                    return _iso
        if not allow_uncontained():
            reasons = "; ".join(f"{m}: {why_not(m)}" for m in CONTAINED)
            raise SandboxError("agentrl sandbox: no isolation mode can contain untrusted code on this machine "
                               f"({reasons}). Install bubblewrap (apt-get install bubblewrap), or run as root for "
                               f"the 'unshare' mode; to run code UNCONTAINED anyway set {ALLOW_ENV}=1")
        msg = (f"agentrl sandbox: running untrusted code WITHOUT ISOLATION ({ALLOW_ENV}=1): it CAN USE THE "
               "NETWORK AND READ AND WRITE YOUR FILES. Install bubblewrap for real isolation.")
        log.error(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        _iso = "none"
        return _iso


def reset_cache() -> None:
    """Forget the chosen mode (tests use it after changing ``AGENTRL_SANDBOX_ISOLATION``); probes stay cached."""
    global _iso
    with _lock:
        _iso = None
