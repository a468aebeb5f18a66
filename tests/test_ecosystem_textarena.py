"""textarena:<game> on the real textarena package: the env checker, the game's own text, invalid moves and
reward, reproducible seeds, one-line errors, lazy imports, and a short training run."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest
from gymnasium.utils.env_checker import check_env

import agentrl
from tests.ecosystem_fixtures import play, tiny_run

pytest.importorskip("textarena", reason="the ecosystem extra is not installed (pip install 'agentrl[ecosystem]')")

GAME = "textarena:GuessTheNumber-v0"


def test_env_checker_passes():
    check_env(agentrl.make(GAME), skip_render_check=False)
    check_env(agentrl.make("textarena:TowerOfHanoi-v0"))


def test_the_games_own_prompt_feedback_and_reward_and_the_oracle_wins():
    env = agentrl.make(GAME)
    obs, info = env.reset(options={"task_id": "test-0"})
    assert "Guess The Number" in obs and "between 1 and 20" in obs and info["game"] == "GuessTheNumber-v0"
    wins = 0
    for task in env.task_ids("test")[:10]:
        steps = play(env, task, lambda _: env.oracle_action())
        assert all("target number is" in o for o, _, _ in steps[1:-1])  # the game's own hints
        wins += steps[-1][2]["success"]
        assert steps[-1][1] == 1.0 and steps[-1][2]["game_reward"] == 1.0
    assert wins == 10


def test_invalid_moves_get_the_games_warning_then_its_loss_and_partial_reward_is_no_success():
    env = agentrl.make(GAME)
    env.reset(options={"task_id": "train-5"})
    obs, reward, term, _, info = env.step("no number here")
    assert "invalid move" in obs.lower() and info["valid_action"] is False and not term
    obs, reward, term, _, info = env.step("still nothing")  # past TextArena's error allowance: the game ends
    assert term and "Game over" in obs and info["valid_action"] is False and info["success"] is False
    # losing on turns: TextArena's partial credit (< 1) is the reward, and it is not a success
    env.reset(options={"task_id": "train-5"})
    target = env.unwrapped._unwrapped().state.game_state["game_number"]
    for k in (k for k in range(1, 21) if k != target):
        obs, reward, term, _, info = env.step(f"[{k}]")
        if term:
            break
    assert term and 0.0 < reward < 1.0 and info["success"] is False and "turn limit" in info["game_reason"]


def test_episodes_replay_from_the_task_id_and_do_not_touch_the_callers_random():
    env = agentrl.make(GAME)
    random.seed(123)
    expected = random.random()
    random.seed(123)
    a = play(env, "test-7", lambda _: "[10]")
    assert random.random() == expected  # the game's draws used the env's own generator
    b = play(agentrl.make(GAME), "test-7", lambda _: "[10]")
    assert [s[0] for s in a] == [s[0] for s in b]
    targets = set()
    for t in env.task_ids("test")[:12]:
        env.reset(options={"task_id": t})
        targets.add(env.unwrapped._unwrapped().state.game_state["game_number"])
    assert len(targets) > 3  # tasks are different games


@pytest.mark.parametrize("env_id, message", [
    ("textarena:Wordle-v1", "unknown TextArena game 'Wordle-v1'. Close matches: Wordle-v0"),
    ("textarena:TicTacToe-v0", "'TicTacToe-v0' is not a single-player game"),
    ("textarena:Hangman-v0", "needs NLTK data 'words', which it downloads from the network"),
    ("textarena:", "names no textarena env"),
])
def test_bad_ids_are_one_line_errors(env_id, message):
    with pytest.raises(ValueError, match=message) as e:
        agentrl.make(env_id)
    assert "\n" not in str(e.value)


def test_importing_agentrl_and_making_a_builtin_env_imports_no_ecosystem_package():
    code = ("import sys, agentrl; agentrl.make('guess'); agentrl.registry.spec('textarena:Wordle-v0'); "
            "print(sorted(m for m in ('textarena', 'verifiers', 'openenv') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_short_training_run_completes(tmp_path):
    rows = tiny_run(tmp_path / "cache", tmp_path, GAME, "ta", "env.kwargs.max_turns=6")
    assert [r["step"] for r in rows] == [0, 1, 2] and "eval/success" in rows[2]
    assert all(math.isfinite(r["loss"]) and r["failed"] == 0 and r["trajectories"] >= 4 for r in rows[1:])


def test_the_config_accepts_prefixed_ids_and_names_the_prefixes_for_a_typo():
    from agentrl.config.compose import ConfigError, compose

    assert compose(["env=textarena:Mastermind-v0"])["env"]["id"] == "textarena:Mastermind-v0"
    assert compose(["env=textarena_guess"])["env"]["id"] == "textarena:GuessTheNumber-v0"
    with pytest.raises(ConfigError, match=r"Did you mean 'textarena:<name>'"):
        compose(["env=textarenna:Mastermind-v0"])
