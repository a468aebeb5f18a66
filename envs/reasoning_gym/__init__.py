"""``reasoning_gym``: the procedural tasks of the ``reasoning-gym`` package as a single-turn env.

Each task is one of reasoning-gym's generators (``task="chain_sum"``, ``"leg_counting"``, … — 106 of them);
its options (difficulty ranges and the like) pass through ``config`` to the package's own dataset config, and
the package's own ``score_answer`` is the reward. Splits partition the *question space*: a question belongs to
``test`` when the hash of its text falls in the first ``test_share`` of the range, else to ``train``; each split
draws from the generator under its own seed and keeps only its own questions. So ``train`` and ``test`` never
share a question, even on tasks with few distinct questions (two one-digit terms have 200).

The agent writes free text and ends with a line ``Answer: <answer>``; what follows the last ``Answer:`` is
scored. ``extract="lenient"`` falls back to the last number in the reply when there is no such line (small
models often state the result without the format); the run's config says which is used.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentrl.env import AgentEnv, StepResult

INSTRUCTION = "End your reply with a line of the form 'Answer: <answer>'."
EXTRACT_MODES = ("answer_line", "lenient")
_ANSWER = re.compile(r"answer\s*[:：]\s*(.*)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_TEST_SEED_OFFSET = 1_000_003  # reasoning-gym seeds item i with seed + i: keep the two splits' seeds far apart


def _share(question: str) -> float:
    """Where a question's text hashes to in [0, 1): decides its split, the same on every machine."""
    return int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big") / 2.0**64


def task_names() -> list[str]:
    """The generator names reasoning-gym registers."""
    from reasoning_gym.factory import DATASETS

    return sorted(DATASETS)


def extract_answer(reply: str, mode: str = "answer_line") -> str | None:
    """The answer in ``reply``: the rest of the line after its last ``Answer:``; with ``lenient``, else the
    reply's last number. ``None`` when there is none."""
    hits = _ANSWER.findall(reply)
    if hits:
        answer = hits[-1].strip().strip("*").strip()
        return answer.rstrip(".") if answer else None
    if mode == "lenient":
        numbers = _NUMBER.findall(reply)
        return numbers[-1] if numbers else None
    return None


class ReasoningGymEnv(AgentEnv):
    """Answer one reasoning-gym question in one turn; the reward is the package's ``score_answer``.

    Args:
        task: a reasoning-gym generator name (see :func:`task_names`).
        config: options of that generator's dataset config (e.g. ``{"min_terms": 2, "max_terms": 2}``).
        n_train, n_test: split sizes (draws, so a split of a small question space repeats questions).
        seed: seed of the train split; the test split uses a seed far from it.
        test_share: share of the question space held out for ``test``.
        extract: ``"answer_line"`` (the last ``Answer:`` line) or ``"lenient"`` (else the last number).
        instruction: appended to each question (``""`` for none).

    ``info`` after the step: ``score`` (the package's, in [0, 1]), ``extracted``, ``answer`` (the reference)
    and ``valid_action`` (``False`` when no answer could be extracted). Success is ``score == 1``.
    """

    default_policy = "base"

    def __init__(self, task: str = "chain_sum", *, config: Mapping[str, Any] | None = None, n_train: int = 2000,
                 n_test: int = 200, seed: int = 0, test_share: float = 0.2, extract: str = "answer_line", instruction: str = INSTRUCTION,
                 max_turns: int = 1, **kw: Any):
        if max_turns != 1:
            raise ValueError(f"the reasoning_gym env is single-turn: max_turns must be 1, got {max_turns!r}")
        super().__init__(max_turns=1, **kw)
        try:
            import reasoning_gym
        except ImportError:
            raise ImportError("env reasoning_gym needs the reasoning-gym package: "
                              "pip install 'agentrl[reasoning]'") from None
        names = task_names()
        if task not in names:
            close = difflib.get_close_matches(str(task), names, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else f"; accepted: {names}"
            raise ValueError(f"unknown reasoning-gym task {task!r}{hint}")
        if extract not in EXTRACT_MODES:
            raise ValueError(f"extract={extract!r} is not supported; accepted: {list(EXTRACT_MODES)}")
        for name, n in (("n_train", n_train), ("n_test", n_test)):
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"{name} must be a positive integer, got {n!r}")
        if not 0 < test_share < 1:
            raise ValueError(f"test_share must be in (0, 1), got {test_share!r}")
        self.task_name, self.extract, self.instruction = task, extract, instruction
        options = dict(config or {})
        self._splits: dict[str, list[dict[str, Any]]] = {
            "train": self._draw(reasoning_gym, options, n_train, seed, lambda h: h >= test_share),
            "test": self._draw(reasoning_gym, options, n_test, seed + _TEST_SEED_OFFSET, lambda h: h < test_share)}
        self._entry: dict[str, Any] | None = None

    def _draw(self, reasoning_gym: Any, options: dict[str, Any], n: int, seed: int, keep: Any) -> list[dict]:
        """``n`` entries of the generator under ``seed`` whose question's hash ``keep`` accepts."""
        size = n * 2
        for _ in range(6):
            try:
                ds = reasoning_gym.create_dataset(self.task_name, size=size, seed=seed, **options)
            except (TypeError, ValueError, AssertionError) as e:  # an option the generator's config refuses
                raise ValueError(f"reasoning-gym task {self.task_name!r}: bad config {options}: {e}") from None
            self.dataset = ds  # score_answer is the generator's, the same whichever split
            out = [entry for entry in ds if keep(_share(entry["question"]))][:n]
            if len(out) == n:
                return out
            size *= 4
        raise ValueError(f"reasoning-gym task {self.task_name!r} with config {options}: could not draw {n} "
                         f"questions for a split ({len(out)} of {size} draws fell in it)")

    def entries(self, split: str = "train") -> list[dict[str, Any]]:
        """The dataset entries (``question``, ``answer``, ``metadata``) of ``split``."""
        if split not in self._splits:
            raise ValueError(f"unknown split {split!r}; accepted: {sorted(self._splits)}")
        return self._splits[split]

    def task_ids(self, split: str = "train") -> Sequence[str]:
        return [f"{split}-{i}" for i in range(len(self.entries(split)))]

    def _reset_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        split, _, idx = task_id.rpartition("-")
        if split not in self._splits or not idx.isdigit() or int(idx) >= len(self._splits[split]):
            sizes = {s: len(e) for s, e in self._splits.items()}
            raise ValueError(f"unknown task_id {task_id!r}; expected '<split>-<i>' with split sizes {sizes}")
        self._entry = self._splits[split][int(idx)]
        question = self._entry["question"].strip()
        obs = f"{question}\n\n{self.instruction}" if self.instruction else question
        return obs, {"source": f"reasoning_gym:{self.task_name}"}

    def _step(self, action: str) -> StepResult:
        assert self._entry is not None
        extracted = extract_answer(action, self.extract)
        info: dict[str, Any] = {"extracted": extracted, "answer": self._entry["answer"],
                                "valid_action": extracted is not None}
        if extracted is None:
            return StepResult("No answer found (no 'Answer:' line). Episode over.", reward=0.0, terminated=True,
                              success=False, info=info | {"score": 0.0})
        score = float(self.dataset.score_answer(answer=extracted, entry=self._entry) or 0.0)
        info["score"] = score
        obs = "Correct." if score >= 1.0 else f"Incorrect (score {score:.2f})."
        return StepResult(obs, reward=score, terminated=True, success=score >= 1.0, info=info)

    def oracle_action(self) -> str | None:
        if self.done or self._entry is None:
            return None
        return f"Answer: {self._entry['answer']}"
