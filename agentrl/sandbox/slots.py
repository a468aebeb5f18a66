"""Concurrency slots: how many sandboxes run at once in this process, and the private uid of each slot."""

from __future__ import annotations

import os
import threading

from agentrl.sandbox.limits import SandboxError

MAX_SLOTS = 64  # uids per host process: slots 0..31 for one-shot runs, 32..62 long-lived, 63 for probes
RUN_SLOTS = 32
PROBE_SLOT = MAX_SLOTS - 1
_interactive_free: list[int] = list(range(RUN_SLOTS, PROBE_SLOT))
_slot_lock = threading.Lock()
_slot_cond = threading.Condition(_slot_lock)
_slots_free: list[int] = []
_slots_busy: set[int] = set()
_max_conc = 0


def _default_concurrency() -> int:
    env = os.environ.get("AGENTRL_SANDBOX_CONCURRENCY")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"AGENTRL_SANDBOX_CONCURRENCY={env!r} is not an integer") from None
        return n
    return max(2, os.cpu_count() or 2)


def max_concurrency() -> int:
    """How many sandboxes may run at once in this process."""
    with _slot_lock:
        _init_slots()
        return _max_conc


def set_max_concurrency(n: int) -> None:
    """Change the process-wide concurrency limit (1..32). Running sandboxes are not affected."""
    global _max_conc
    if not isinstance(n, int) or not 1 <= n <= RUN_SLOTS:
        raise ValueError(f"max concurrency must be an integer in 1..{RUN_SLOTS}, got {n!r}")
    with _slot_cond:
        _max_conc = n
        _slots_free[:] = [i for i in range(n) if i not in _slots_busy]
        _slot_cond.notify_all()


def _init_slots() -> None:
    global _max_conc
    if _max_conc == 0:
        n = _default_concurrency()
        if not 1 <= n <= RUN_SLOTS:
            raise ValueError(f"sandbox concurrency must be in 1..{RUN_SLOTS}, got {n}")
        _max_conc = n
        _slots_free[:] = list(range(n))


def acquire_slot(timeout: float | None = None, long_lived: bool = False) -> int:
    """A free slot (and so a uid). Long-lived processes mostly wait on their pipes, so they draw from their
    own pool and never hold up one-shot runs (nor are held up by them)."""
    with _slot_cond:
        if long_lived:
            if not _slot_cond.wait_for(lambda: bool(_interactive_free), timeout=timeout):
                raise SandboxError(f"no free slot for a long-lived sandbox within {timeout} s "
                                   f"({PROBE_SLOT - RUN_SLOTS} long-lived slots may run at once); close ones you "
                                   "no longer use")
            slot = _interactive_free.pop(0)
            _slots_busy.add(slot)
            return slot
        _init_slots()
        if not _slot_cond.wait_for(lambda: bool(_slots_free), timeout=timeout):
            raise SandboxError(f"no free sandbox slot within {timeout} s (max concurrency {_max_conc})")
        slot = _slots_free.pop(0)
        _slots_busy.add(slot)
        return slot


def release_slot(slot: int) -> None:
    """Give a slot back (its processes must be dead)."""
    with _slot_cond:
        _slots_busy.discard(slot)
        if slot >= RUN_SLOTS:
            if slot not in _interactive_free:
                _interactive_free.append(slot)
            _slot_cond.notify_all()
            return
        if slot < _max_conc and slot not in _slots_free:
            _slots_free.append(slot)
        _slot_cond.notify()


def slot_uid(slot: int) -> int:
    """The private uid of ``slot`` (used when this process is root)."""
    return 100_000_000 + 64 * os.getpid() + slot
