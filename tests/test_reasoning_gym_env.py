"""The reasoning-gym env on the real package: disjoint splits, the package's own scoring, clear errors."""

from __future__ import annotations

import pytest
from gymnasium.utils.env_checker import check_env

import agentrl
from envs.reasoning_gym import ReasoningGymEnv, extract_answer

EASY = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}


def test_train_and_test_never_share_a_question_even_on_a_small_task():
    env = ReasoningGymEnv("chain_sum", config=EASY, n_train=600, n_test=100)
    train = {e["question"] for e in env.entries("train")}
    test = {e["question"] for e in env.entries("test")}
    assert len(env.entries("train")) == 600 and len(env.entries("test")) == 100
    assert train and test and not train & test
    again = ReasoningGymEnv("chain_sum", config=EASY, n_train=600, n_test=100)
    assert [e["question"] for e in again.entries("test")] == [e["question"] for e in env.entries("test")]


@pytest.mark.parametrize("task", ["basic_arithmetic", "leg_counting", "letter_counting", "number_sorting"])
def test_the_reference_answer_scores_one_and_a_wrong_one_less(task):
    env = ReasoningGymEnv(task, n_train=8, n_test=4)
    for tid in env.task_ids("test"):
        obs, info = env.reset(options={"task_id": tid})
        assert "Answer: <answer>" in obs and info["task_id"] == tid
        assert env.oracle_action() == f"Answer: {env.entries('test')[int(tid.split('-')[1])]['answer']}"
        _, reward, terminated, _, info = env.step(f"Let me think.\n{env.oracle_action()}")
        assert reward == 1.0 and terminated and info["success"] and info["score"] == 1.0
        env.reset(options={"task_id": tid})
        _, reward, _, _, info = env.step("Answer: definitely not it")
        assert reward < 1.0 and not info["success"]


def test_no_answer_line_is_an_invalid_action_unless_lenient():
    strict = ReasoningGymEnv("chain_sum", config=EASY, n_train=4, n_test=4)
    obs, _ = strict.reset(options={"task_id": "test-0"})
    answer = strict.entries("test")[0]["answer"]
    _, reward, terminated, _, info = strict.step(f"The result is {answer}.")
    assert reward == 0.0 and terminated and info["valid_action"] is False
    lenient = ReasoningGymEnv("chain_sum", config=EASY, n_train=4, n_test=4, extract="lenient")
    lenient.reset(options={"task_id": "test-0"})
    assert lenient.step(f"The result is {answer}.")[1] == 1.0


def test_extraction_takes_the_last_answer_line():
    assert extract_answer("Answer: 3\nwait\nAnswer: 5.") == "5"
    assert extract_answer("**Answer:** 12") == "12"
    assert extract_answer("no line here 4 and 9") is None
    assert extract_answer("no line here 4 and 9", "lenient") == "9"


def test_bad_task_config_and_options_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown reasoning-gym task 'chain_summ'; did you mean 'chain_sum'"):
        ReasoningGymEnv("chain_summ")
    with pytest.raises(ValueError, match="bad config .*foo"):
        ReasoningGymEnv("chain_sum", config={"foo": 1})
    with pytest.raises(ValueError, match="extract='boxed' is not supported"):
        ReasoningGymEnv("chain_sum", extract="boxed")


def test_registered_and_passes_the_gymnasium_checker():
    env = agentrl.make("reasoning_gym", task="chain_sum", config=EASY, n_train=8, n_test=4)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    obs2, _ = env.reset(seed=3)
    assert obs == obs2
