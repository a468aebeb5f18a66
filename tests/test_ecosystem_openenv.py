"""openenv adapter on the real openenv-core: a tiny env built from openenv-core's own server classes
(tests/fixtures/ecosystem/oe_guess_app.py) served by uvicorn on loopback, reached over OpenEnv's WebSocket
client: the env checker, scripted episodes, the server's errors as observations, seeds, bad names, a short run."""

from __future__ import annotations

import math
import re

import pytest
from gymnasium.utils.env_checker import check_env

import agentrl
from tests.ecosystem_fixtures import play, tiny_run, with_fixtures_on_path

pytest.importorskip("openenv.core", reason="the ecosystem extra is not installed (pip install 'agentrl[ecosystem]')")
with_fixtures_on_path()
APP = "openenv:oe_guess_app:app"


def _bisect():
    lo, hi, last = 1, 16, 8

    def policy(obs: str) -> str:
        nonlocal lo, hi, last
        if "higher" in obs:
            lo = last + 1
        elif "lower" in obs:
            hi = last - 1
        last = (lo + hi) // 2
        return f"guess {last}"
    return policy


@pytest.fixture(scope="module")
def env():
    e = agentrl.make(APP)
    yield e
    e.close()


def test_env_checker_passes(env):
    check_env(env)


def test_scripted_episodes_use_the_servers_text_reward_and_done(env):
    assert env.action_field == "message" and env.observation_field == "text"  # from the server's /schema
    wins = 0
    for task in env.task_ids("test")[:5]:
        steps = play(env, task, _bisect())
        assert steps[0][0].startswith("Find the number between 1 and 16")
        wins += steps[-1][2]["success"]
        assert steps[-1][1] == 1.0 and re.fullmatch(r"\d+ is right\.", steps[-1][0])
    assert wins == 5
    # a policy that never finds it: the server ends the episode after 6 guesses, reward 0, no success
    steps = play(env, "test-0", lambda _: "guess 0")
    assert len(steps) == 7 and steps[-1][2]["success"] is False and steps[-1][2]["end_reason"] == "terminated"


def test_a_refused_action_is_the_servers_one_line_error_and_the_session_goes_on(env):
    env.reset(options={"task_id": "train-1"})
    obs, reward, term, trunc, info = env.step("what?")
    assert obs.startswith("Invalid action 'what?'") and "not a guess" in obs and "\n" not in obs
    assert info["valid_action"] is False and not term and reward == 0.0
    obs, *_ = env.step("guess 8")
    assert "is wrong" in obs or "is right" in obs


def test_the_task_seed_fixes_the_servers_episode(env):
    a = play(env, "test-3", _bisect())
    other = agentrl.make(APP)  # a second session on the same (shared) server
    b = play(other, "test-3", _bisect())
    other.close()
    assert [s[0] for s in a] == [s[0] for s in b] and other.url == env.url


def test_a_server_url_works_too_and_bad_names_are_one_line_errors(env):
    by_url = agentrl.make("openenv", server=env.url)
    assert by_url.reset(options={"task_id": "test-2"})[0].startswith("Find the number")
    by_url.close()
    with pytest.raises(ValueError, match="Hugging Face Hub or Docker.*need the network or a container"):
        agentrl.make("openenv:echo_env")
    with pytest.raises(ValueError, match="did not start: .*no_such_module"):
        agentrl.make("openenv:no_such_module:app")
    with pytest.raises(ValueError, match=r"action_field='msg' is not a field.*\['message'\]"):
        agentrl.make(APP, action_field="msg")


@pytest.mark.slow
def test_a_short_training_run_completes(tmp_path):
    rows = tiny_run(tmp_path / "cache", tmp_path, APP, "oe", "env.kwargs.max_turns=3")
    assert [r["step"] for r in rows] == [0, 1, 2] and "eval/success" in rows[2]
    assert all(math.isfinite(r["loss"]) and r["failed"] == 0 and r["trajectories"] >= 4 for r in rows[1:])
