"""Avg@k and the unbiased Pass@k estimator (Chen et al., 2021)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k samples is correct) from n samples with c correct.

    ``1 - C(n - c, k) / C(n, k)``; requires ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not (0 <= c <= n):
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not (1 <= k <= n):
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def avg_at_k(successes: Sequence[bool | float]) -> float:
    """Mean success over the k samples of one task (Avg@k for that task)."""
    if not successes:
        raise ValueError("avg_at_k needs at least one sample")
    return sum(float(s) for s in successes) / len(successes)


def summarize(per_task: Mapping[str, Sequence[bool | float]], ks: Sequence[int] | None = None
              ) -> dict[str, float | int]:
    """Avg@n and Pass@k (for each k <= n) averaged over tasks, and ``tasks`` (an int); every task must have
    the same n samples."""
    if not per_task:
        raise ValueError("summarize needs at least one task")
    ns = {len(v) for v in per_task.values()}
    if len(ns) != 1:
        raise ValueError(f"every task needs the same number of samples, got {sorted(ns)}")
    n = ns.pop()
    ks = sorted(set(ks or [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= n]))
    out = {f"avg@{n}": sum(avg_at_k(v) for v in per_task.values()) / len(per_task)}
    for k in ks:
        out[f"pass@{k}"] = sum(pass_at_k(n, sum(bool(s) for s in v), k) for v in per_task.values()) / len(per_task)
    out["tasks"] = len(per_task)
    return out


def reading(summary: Mapping[str, float | int]) -> str:
    """One line that says what a summary's numbers mean, e.g. ``avg@4 0.625: a sample succeeds 62% of the
    time; pass@1 0.625, pass@2 0.750, pass@4 0.833: the share of tasks that at least one of k samples solves
    (3 tasks, 0 failed)``."""
    avg = next((k for k in summary if k.startswith("avg@")), None)
    passes = [k for k in summary if k.startswith("pass@")]
    parts = []
    if avg is not None:
        parts.append(f"{avg} {summary[avg]:.3f}: a sample succeeds {100 * summary[avg]:.0f}% of the time")
    if passes:
        parts.append(", ".join(f"{k} {summary[k]:.3f}" for k in passes)
                     + ": the share of tasks that at least one of k samples solves")
    counts = [f"{summary[k]} {k}" for k in ("tasks", "failed") if k in summary]
    return "; ".join(parts) + (f" ({', '.join(counts)})" if counts else "")
