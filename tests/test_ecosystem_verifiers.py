"""verifiers adapter on the real verifiers (0.4.0, ``verifiers.v1``): a single-turn taskset and a multi-turn env
built from verifiers' own classes with in-memory rows (tests/fixtures/ecosystem/vf_sums.py, vf_guess.py): the
env checker, rows as tasks, the rubric scored by verifiers, the env's own run() stepped turn by turn, errors,
and a short training run."""

from __future__ import annotations

import math

import pytest
from gymnasium.utils.env_checker import check_env

import agentrl
from tests.ecosystem_fixtures import play, tiny_run, with_fixtures_on_path

pytest.importorskip("verifiers.v1", reason="the ecosystem extra is not installed (pip install 'agentrl[ecosystem]')")
with_fixtures_on_path()


@pytest.fixture(scope="module")
def sums():
    env = agentrl.make("verifiers:vf_sums")
    yield env
    env.close()


@pytest.fixture(scope="module")
def guess():
    env = agentrl.make("verifiers:vf_guess", max_turns=8)
    yield env
    env.close()


def test_env_checker_passes(sums, guess):
    check_env(sums)
    check_env(guess)


def test_rows_are_tasks_and_the_weighted_rubric_is_the_reward(sums):
    import vf_sums

    assert len(sums.task_ids("train")) + len(sums.task_ids("test")) == len(vf_sums.ROWS) == 36
    assert len(sums.task_ids("test")) == 8  # the last 20% of the rows
    obs, info = sums.reset(options={"task_id": "test-0"})
    a, b = vf_sums.ROWS[28]
    assert obs == f"What is {a}+{b}? Reply with the number only." and info["row_id"] == f"{a}+{b}"
    *_, (obs, reward, info) = play(sums, "test-0", lambda _: str(a + b))
    assert reward == pytest.approx(1.0) and info["success"] and info["rewards"] == {"correct": 1.0, "brief": 1.0}
    *_, (obs, reward, info) = play(sums, "test-0", lambda _: "I think the sum is " + str(a + b))
    assert reward == 0.0 and info["success"] is False  # neither exact nor brief
    *_, (obs, reward, info) = play(sums, "test-0", lambda _: "99")
    assert reward == pytest.approx(0.2) and info["success"] is False and "brief=1" in obs  # weight 0.2


def test_a_multi_turn_env_runs_its_own_loop_through_agentrl_steps(guess):
    lo, hi = 1, 16

    def bisect(obs: str) -> str:
        nonlocal lo, hi
        if obs == "higher":
            lo = bisect.last + 1
        elif obs == "lower":
            hi = bisect.last - 1
        bisect.last = (lo + hi) // 2
        return f"guess {bisect.last}"

    steps = play(guess, "train-3", bisect)  # answer (3*7)%16+1 = 6: 8 lower, 4 higher, 6
    assert [s[0] for s in steps[1:-1]] == ["lower", "higher"] and steps[-1][1] == 1.0 and steps[-1][2]["success"]
    steps = play(guess, "train-3", lambda _: "guess 1")  # the env's own limit: 5 guesses, then the rubric
    assert len(steps) == 6 and steps[-1][1] == 0.0 and steps[-1][2]["end_reason"] == "terminated"
    steps = play(guess, "train-3", lambda _: "maybe?")
    assert steps[1][0] == "Invalid: reply with guess N."


def test_an_episode_cut_by_agentrls_turn_limit_leaves_the_env_reusable():
    env = agentrl.make("verifiers:vf_guess", max_turns=2)
    steps = play(env, "train-3", lambda _: "guess 1")
    assert steps[-1][2]["end_reason"] == "truncated" and steps[-1][2]["success"] is False
    assert env.reset(options={"task_id": "train-4"})[0].startswith("Find my number")
    env.close()


def test_bad_ids_and_tasks_are_one_line_errors(sums):
    with pytest.raises(ValueError, match="verifiers:no_such_taskset: taskset 'no_such_taskset' not found") as e:
        agentrl.make("verifiers:no_such_taskset")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"unknown task_id 'test-8'"):
        sums.reset(options={"task_id": "test-8"})
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        sums.task_ids("dev")


@pytest.mark.slow
def test_a_short_training_run_completes(tmp_path):
    rows = tiny_run(tmp_path / "cache", tmp_path, "verifiers:vf_sums", "vf")
    assert [r["step"] for r in rows] == [0, 1, 2] and "eval/success" in rows[2]
    assert all(math.isfinite(r["loss"]) and r["failed"] == 0 and r["trajectories"] >= 4 for r in rows[1:])
