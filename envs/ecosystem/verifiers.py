"""``verifiers:<taskset id>``: a verifiers environment (``verifiers==0.4.0``, its ``verifiers.v1`` API) as an
agentrl env, stepped by agentrl's engine instead of verifiers' own model client.

* **Tasks**: the taskset's rows (``Taskset.load()``, at most ``max_rows``), in order; the last
  ``test_fraction`` of them are ``test-<i>``, the rest ``train-<i>``.
* **Turns**: the env's own ``run(task, agents)`` drives the episode. Its agent seat is a bridge: each
  ``interaction.turn(message)`` becomes an agentrl observation and the model's reply (agentrl's action) comes
  back as the seat's assistant message. A plain taskset (verifiers' ``SingleAgentEnv``) is one turn: the
  task's system prompt and prompt, then the reply.
* **Reward**: the task's rubric, run by verifiers itself: ``await task.score(trace)`` over a real
  ``vf.Trace`` of the episode's messages (its ``@vf.reward`` functions, weighted, plus any reward the env's
  ``run`` recorded); the episode's reward is ``trace.reward`` and success is reaching ``success_threshold``.

Not supported (refused in one line or skipped): envs with more than one agent seat (user simulators, judges
as agents), tool calls (harness toolsets / MCP servers) and runtime- or container-bound tasks
(``NEEDS_CONTAINER``); rewards that need a runtime are skipped by verifiers' own scoring without one;
LLM judges call their model over the network. ``Env.finalize`` (cross-agent judgement) is not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import threading
from collections.abc import Sequence
from typing import Any

from agentrl.env import AgentEnv, StepResult


class _Seat:
    """The env's agent seat, played by agentrl: ``interaction()`` / ``run()`` as ``verifiers.v1.Agent`` offers."""

    def __init__(self, bridge: _Episode, name: str):
        self._bridge, self.name = bridge, name
        self.trainable = True

    @contextlib.asynccontextmanager
    async def interaction(self, task: Any):
        yield self._bridge.open(task, self.name)

    async def run(self, task: Any) -> Any:
        async with self.interaction(task) as interaction:
            await interaction.turn()
        return interaction.trace


class _Agents:
    def __init__(self, bridge: _Episode, names: list[str]):
        self._seats = {n: _Seat(bridge, n) for n in names}

    def __getattr__(self, name: str) -> _Seat:
        seats = self.__dict__.get("_seats") or {}
        if name not in seats:
            raise AttributeError(f"no agent {name!r}; this env declares {sorted(seats)}")
        return seats[name]


class _Interaction:
    """One seat's conversation: every ``turn`` hands an observation to agentrl and awaits the model's reply."""

    def __init__(self, bridge: _Episode, task: Any, seat: str):
        import verifiers.v1 as vf

        self._bridge, self._task = bridge, task
        self.trace = vf.Trace(task=vf.TraceTask(type=type(task).__name__, data=task.data, key=task.key,
                                                hash=task.hash),
                              agent=vf.AgentInfo(config=vf.AgentConfig(), name=seat))
        self._opened = False

    def _add(self, message: Any, sampled: bool = False) -> None:
        import verifiers.v1 as vf

        parent = len(self.trace.nodes) - 1 if self.trace.nodes else None
        self.trace.nodes.append(vf.MessageNode(parent=parent, message=message, sampled=sampled))

    async def turn(self, message: Any = None) -> Any:
        import verifiers.v1 as vf
        from verifiers.v1.agent import Segment
        from verifiers.v1.types import content_text

        parts = []
        if not self._opened:
            self._opened = True
            data = self._task.data
            if data.system_prompt:
                self._add(vf.SystemMessage(content=data.system_prompt))
                parts.append(data.system_prompt)
            if data.prompt:
                for m in ([vf.UserMessage(content=data.prompt)] if isinstance(data.prompt, str) else data.prompt):
                    self._add(m)
                parts.append(data.prompt_text)
        if message is not None:
            text = message if isinstance(message, str) else "\n\n".join(
                content_text(m.content) for m in message)
            self._add(vf.UserMessage(content=text))
            parts.append(text)
        reply = await self._bridge.ask("\n\n".join(p for p in parts if p))
        if reply is None:  # agentrl ended the episode (turn limit): the run ends here
            return Segment(messages=[], terminated=True)
        answer = vf.AssistantMessage(content=reply)
        self._add(answer, sampled=True)
        return Segment(messages=[answer])


class _Episode:
    """Runs ``env.run`` in a private event loop thread; the sync side exchanges observations and actions."""

    def __init__(self, loop: asyncio.AbstractEventLoop, env: Any, task: Any, seats: list[str]):
        self._loop, self._env, self._task = loop, env, task
        self._events: queue.Queue = queue.Queue()
        self._reply: asyncio.Future | None = None
        self._interactions: list[_Interaction] = []
        self._agents = _Agents(self, seats)
        self.future = asyncio.run_coroutine_threadsafe(self._main(), loop)

    def open(self, task: Any, seat: str) -> _Interaction:
        interaction = _Interaction(self, task, seat)
        self._interactions.append(interaction)
        return interaction

    async def ask(self, observation: str) -> str | None:
        self._reply = self._loop.create_future()
        self._events.put(("obs", observation))
        return await self._reply

    async def _main(self) -> None:
        try:
            await self._env.run(self._task, self._agents)
            rewards: dict[str, float] = {}
            total = 0.0
            for interaction in self._interactions:
                await interaction._task.score(interaction.trace)
                total += interaction.trace.reward
                rewards.update({k: r.score for k, r in interaction.trace.rewards.items() if r is not None})
            self._events.put(("done", total, rewards))
        except BaseException as e:  # noqa: BLE001 - handed to the sync side, which raises it
            self._events.put(("error", e))
            if isinstance(e, asyncio.CancelledError):
                raise

    def next_event(self, timeout: float) -> tuple:
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the verifiers env did not answer within {timeout:g}s") from None

    def answer(self, action: str | None) -> None:
        reply = self._reply
        self._reply = None
        if reply is not None:
            self._loop.call_soon_threadsafe(lambda: reply.done() or reply.set_result(action))

    def cancel(self) -> None:
        self.answer(None)
        self.future.cancel()


class VerifiersEnv(AgentEnv):
    """A verifiers taskset (and its env) as an agentrl env.

    Args:
        name: the taskset id verifiers loads (an installed module exporting a ``Taskset`` subclass in
            ``__all__``; a hub id ``owner/name@version`` loads its installed module).
        env_id: pair the taskset with another verifiers env (its ``--env.id``); default: the taskset's own.
        taskset_kwargs: fields of the taskset's config (e.g. ``{"game": "Wordle-v0"}``).
        max_rows: rows read from the taskset (tasksets may be infinite).
        test_fraction: share of the rows (the last ones) in the ``test`` split.
        success_threshold: ``trace.reward`` at or above which an episode is a success.
        timeout_s: how long one turn of the env (its run between two replies, then scoring) may take.
    """

    default_policy = "base"

    def __init__(self, name: str, *, env_id: str = "", taskset_kwargs: dict[str, Any] | None = None,
                 max_rows: int = 10_000, test_fraction: float = 0.2, success_threshold: float = 1.0,
                 max_turns: int = 20, timeout_s: float = 120.0, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
        try:
            import verifiers.v1 as vf
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("verifiers:<taskset> needs the verifiers package: pip install 'agentrl[ecosystem]'"
                              ) from e
        self.name, self.success_threshold, self.timeout_s = name, float(success_threshold), float(timeout_s)
        try:
            config = vf.env_config_type(name, env_id)(
                id=env_id, taskset=vf.taskset_config_type(name)(id=name, **(taskset_kwargs or {})))
            self._env = vf.load_environment(config)
        except (ModuleNotFoundError, AttributeError, TypeError) as e:
            raise ValueError(f"verifiers:{name}: {' '.join(str(e).split())}") from None
        except ValueError as e:  # pydantic's ValidationError is one
            raise ValueError(f"verifiers:{name}: bad taskset/env config: {' '.join(str(e).split())[:300]}"
                             ) from None
        task_cls = type(self._env.taskset).task_type()
        if task_cls.NEEDS_CONTAINER:
            raise ValueError(f"verifiers:{name}: its tasks need a container runtime, which agentrl's adapter "
                             "does not provide")
        self._seats = sorted(self._env._agent_specs)
        if len(self._seats) != 1:
            raise ValueError(f"verifiers:{name}: env {type(self._env).__name__} has agent seats {self._seats}; "
                             "only single-seat envs are supported")
        if task_cls.toolsets(self._env.taskset.config.task) or self._env.taskset.toolsets(
                self._env.taskset.config):
            raise ValueError(f"verifiers:{name}: its tasks use tools (toolsets), which the adapter does not "
                             "serve yet")
        rows = list(self._env.taskset.take(max_rows))
        if not rows:
            raise ValueError(f"verifiers:{name}: the taskset yielded no rows")
        n_test = max(1, math.ceil(test_fraction * len(rows))) if len(rows) > 1 else 1
        n_train = max(1, len(rows) - n_test)
        self._rows = {"train": rows[:n_train], "test": rows[-n_test:]}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"verifiers-{name}", daemon=True)
        self._thread.start()
        self._episode: _Episode | None = None
        self._task: Any = None

    # ------------------------------------------------------------------ agentrl hooks
    def task_ids(self, split: str = "train") -> Sequence[str]:
        if split not in self._rows:
            raise ValueError(f"unknown split {split!r}; accepted: {sorted(self._rows)}")
        return [f"{split}-{i}" for i in range(len(self._rows[split]))]

    def _reset_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        split, _, idx = task_id.rpartition("-")
        if split not in self._rows or not idx.isdigit() or int(idx) >= len(self._rows[split]):
            raise ValueError(f"unknown task_id {task_id!r}; expected '<split>-<i>' with split in "
                             f"{sorted(self._rows)} ({ {k: len(v) for k, v in self._rows.items()} } rows)")
        self._end_episode()
        self._task = self._rows[split][int(idx)]
        self._episode = _Episode(self._loop, self._env, self._task, self._seats)
        event = self._episode.next_event(self.timeout_s)
        if event[0] != "obs":
            self._raise(event)
        return event[1], {"row_id": self._task.data.id, "row_idx": self._task.data.idx}

    def _step(self, action: str) -> StepResult:
        assert self._episode is not None
        self._episode.answer(action)
        event = self._episode.next_event(self.timeout_s)
        if event[0] == "obs":
            return StepResult(event[1])
        if event[0] == "done":
            _, total, rewards = event
            self._episode = None
            shown = ", ".join(f"{k}={v:g}" for k, v in rewards.items())
            return StepResult(f"Episode over. Rewards: {shown or 'none'}.", reward=float(total), terminated=True,
                              success=total >= self.success_threshold, info={"rewards": rewards})
        self._raise(event)

    def _raise(self, event: tuple) -> None:
        self._episode = None
        err = event[1]
        if isinstance(err, BaseException):
            raise RuntimeError(f"verifiers:{self.name}: the env's run failed: {type(err).__name__}: {err}"
                               ) from err
        raise RuntimeError(f"verifiers:{self.name}: unexpected event {event[0]!r}")

    def _end_episode(self) -> None:
        if self._episode is not None:
            self._episode.cancel()
            self._episode = None

    def oracle_action(self) -> str | None:
        """The row's ``answer`` field, when the row has one (single-turn tasksets); ``None`` otherwise."""
        if self.done or self._task is None:
            return None
        answer = getattr(self._task.data, "answer", None)
        return None if answer is None else str(answer)

    def close(self) -> None:
        self._end_episode()
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        super().close()
