"""Task ids shared by the adapters: ``<split>-<i>``, each a reproducible seed (train and test disjoint)."""

from __future__ import annotations

from collections.abc import Sequence

from agentrl.env import rng_for


class SeededSplits:
    """Splits ``train`` (``n_train`` tasks) and ``test`` (``n_test``); task ``<split>-<i>`` has a fixed seed."""

    def __init__(self, namespace: str, n_train: int = 1000, n_test: int = 100):
        for name, n in (("n_train", n_train), ("n_test", n_test)):
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"{name} must be a positive integer, got {n!r}")
        self.namespace = namespace
        self.sizes = {"train": n_train, "test": n_test}

    def ids(self, split: str) -> Sequence[str]:
        """The task ids of ``split``; ``ValueError`` naming the splits otherwise."""
        if split not in self.sizes:
            raise ValueError(f"unknown split {split!r}; accepted: {sorted(self.sizes)}")
        return [f"{split}-{i}" for i in range(self.sizes[split])]

    def index(self, task_id: str) -> tuple[str, int]:
        """``(split, i)`` of ``task_id``; ``ValueError`` in one line when it is not a task of these splits."""
        split, _, idx = task_id.rpartition("-")
        if split not in self.sizes or not idx.isdigit() or int(idx) >= self.sizes[split]:
            raise ValueError(f"unknown task_id {task_id!r}; expected '<split>-<i>' with split in "
                             f"{sorted(self.sizes)} and i below {self.sizes}")
        return split, int(idx)

    def seed(self, task_id: str) -> int:
        """The game seed of ``task_id`` (a pure function of the namespace and the id)."""
        self.index(task_id)
        return int(rng_for(self.namespace, task_id).integers(0, 2**31 - 1))
