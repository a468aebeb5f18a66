"""``textarena:<game id>``: a TextArena single-player game (``textarena==0.7.4``) as an agentrl env.

The game runs unchanged: its own prompt and messages are the observations (each turn shows what the game said
since the last action, since the chat already holds the earlier ones), its own parser judges the action (an
invalid move gets the game's own warning and, past the game's error allowance, ends the episode with the
game's reward), and its reward at the end of the game is the episode's reward; success is that reward
reaching 1 (a win; TextArena scores a loss with partial credit below 1). The game's action wrappers (e.g.
adding the square brackets a bare move lacks) apply as ``textarena.make`` would apply them.

Tasks are ``train-<i>`` / ``test-<i>``: each is a game seed derived from the game id and the task id.
TextArena draws from Python's process-wide ``random``; the adapter gives each game its own generator state,
swapped in under a lock around every call into the game, so episodes replay exactly whatever else runs.
"""

from __future__ import annotations

import difflib
import importlib
import random
import re
import threading
from collections.abc import Sequence
from typing import Any

from agentrl.env import AgentEnv, StepResult
from envs.ecosystem._tasks import SeededSplits

#: One lock for the process-wide ``random`` state every TextArena game shares.
_RANDOM_LOCK = threading.Lock()


def game_ids() -> list[str]:
    """Every id in TextArena's registry (single- and multi-player), sorted."""
    from textarena.envs.registration import ENV_REGISTRY

    return sorted(ENV_REGISTRY)


class TextArenaEnv(AgentEnv):
    """A TextArena game. ``name`` is its registry id (``Wordle-v0``, ``GuessTheNumber-v0-hardcore``, ...).

    Args:
        name: the TextArena game id.
        max_turns: agentrl's turn cap (every action counts, invalid ones too); the game's own turn limit
            usually ends the episode first.
        n_train, n_test: the number of seeded tasks per split.
        **game_kwargs: constructor arguments of the game, over its registered ones (e.g. ``max_number``).
    """

    default_policy = "base"

    def __init__(self, name: str, *, max_turns: int = 40, n_train: int = 1000, n_test: int = 100,
                 render_mode: str | None = None, **game_kwargs: Any):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        try:
            from textarena.envs.registration import ENV_REGISTRY
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("textarena:<game> needs the textarena package: pip install 'agentrl[ecosystem]'"
                              ) from e
        spec = ENV_REGISTRY.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(ENV_REGISTRY), n=5, cutoff=0.6)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            raise ValueError(f"unknown TextArena game {name!r}.{hint} ({len(ENV_REGISTRY)} ids in "
                             "textarena.envs.registration.ENV_REGISTRY)")
        self.name = name
        self._spec = spec
        self._kwargs = {**spec.kwargs, **game_kwargs}
        self._splits = SeededSplits(f"textarena/{name}", n_train, n_test)
        self._rng_state: object = random.Random(0).getstate()
        self._game: Any = None
        self._game = self._new_game()
        self._call(self._game.reset, num_players=1, seed=0)  # refuses multi-player games and missing data now

    # ------------------------------------------------------------------ the game
    def _new_game(self) -> Any:
        import textarena as ta

        entry = self._spec.entry_point
        if isinstance(entry, str):
            module, _, cls = entry.partition(":")
            try:
                entry = getattr(importlib.import_module(module), cls)
            except SyntaxError as e:
                raise ValueError(f"TextArena game {self.name!r} does not import on this Python: "
                                 f"{type(e).__name__}: {e}") from None
        try:
            game = entry(**self._kwargs)
        except LookupError as e:  # NLTK corpora (Wordle, Hangman, ...) are downloaded from the network
            m = re.search(r"Resource '?([\w./-]+)'? not found", str(e))
            what = f"NLTK data {m.group(1)!r}" if m else f"data ({' '.join(str(e).split())[:80]})"
            raise ValueError(f"TextArena game {self.name!r} needs {what}, which it downloads from the network; "
                             "install it first (python -m nltk.downloader <name>)") from None
        except TypeError as e:
            raise ValueError(f"TextArena game {self.name!r}: bad game arguments {sorted(self._kwargs)}: {e}"
                             ) from None
        for wrapper in self._spec.default_wrappers or []:
            if isinstance(wrapper, type) and issubclass(wrapper, ta.ActionWrapper):
                game = wrapper(game)
        return game

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call into the game with this env's own ``random`` state (restoring the caller's afterwards)."""
        with _RANDOM_LOCK:
            outer = random.getstate()
            random.setstate(self._rng_state)
            try:
                return fn(*args, **kwargs)
            except AssertionError as e:
                if "num_players" in str(e) or "number of players" in str(e):
                    raise ValueError(f"TextArena game {self.name!r} is not a single-player game ({e}); "
                                     "only single-player games are supported") from None
                raise
            finally:
                self._rng_state = random.getstate()
                random.setstate(outer)

    def _unwrapped(self) -> Any:
        import textarena as ta

        game = self._game
        while isinstance(game, ta.Wrapper):
            game = game.env
        return game

    def _messages(self) -> str:
        """What the game said to the player since the last action (its own echo of the action left out)."""
        import textarena as ta

        _, messages = self._game.get_observation()
        return "\n".join(str(text).strip() for _, text, kind in messages
                         if kind != ta.ObservationType.PLAYER_ACTION and str(text).strip())

    # ------------------------------------------------------------------ agentrl hooks
    def task_ids(self, split: str = "train") -> Sequence[str]:
        return self._splits.ids(split)

    def _reset_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        seed = self._splits.seed(task_id)
        self._rng_state = random.Random(seed).getstate()
        self._game = self._new_game()
        self._call(self._game.reset, num_players=1, seed=seed)
        return self._messages(), {"game": self.name, "game_seed": seed}

    def _step(self, action: str) -> StepResult:
        state = self._unwrapped().state
        errors_before = getattr(state, "error_count", 0)
        done, step_info = self._call(self._game.step, action)
        text = self._messages()
        invalid = bool(getattr(state, "made_invalid_move", False)) or getattr(state, "error_count", 0) > errors_before
        info: dict[str, Any] = {"valid_action": not invalid}
        if not done:
            return StepResult(text, info=info)
        rewards, game_info = self._call(self._game.close)
        reward = float((rewards or {}).get(0, 0.0))
        reason = str((game_info or {}).get(0, {}).get("reason") or "")
        if game_info and game_info.get(0, {}).get("invalid_move"):
            info["valid_action"] = False
        info.update(game_reward=reward, game_reason=reason)
        final = "\n".join(t for t in (text, f"Game over: {reason}" if reason else "Game over.") if t)
        return StepResult(final, reward=reward, terminated=True, success=reward >= 1.0, info=info)

    def oracle_action(self) -> str | None:
        """A scripted expert for GuessTheNumber (binary search over the game's own hints); ``None`` otherwise."""
        if self.done:
            return None
        game = self._unwrapped()
        if type(game).__name__ != "GuessTheNumberEnv":
            return None
        lo, hi = game.min_number, game.max_number
        for guess, hint in game.state.game_state["guess_history"]:
            if hint == "higher":
                lo = max(lo, guess + 1)
            else:
                hi = min(hi, guess - 1)
        return f"[{(lo + hi) // 2}]"
