"""Published WebShop setups: verl-agent's prompt, ReAct's turns, success_reward, think_action, agent_context."""

from __future__ import annotations

import json

import pytest

import policies
from envs.webshop import WebShopEnv
from policies.react_webshop import ReActWebShopPolicy
from policies.verl_agent_webshop import VerlAgentWebShopPolicy, format_page


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(agent_context=True, max_turns=15, success_reward=10.0, think_action=True)


def test_agent_context_carries_the_page_actions_and_the_shown_history(env):
    obs, _ = env.reset(options={"task_id": "3"})
    ctx = json.loads(obs)
    instr = env.goal.instruction_text
    assert ctx["instruction"] == instr and ctx["step"] == 0 and ctx["history"] == []
    assert ctx["observation"] == f"WebShop [SEP] Instruction: [SEP] {instr} [SEP] Search"
    assert ctx["has_search_bar"] and ctx["clickables"] == ["search"] and ctx["page"] == "search"
    obs, *_ = env.step("search[deodorant]")
    ctx = json.loads(obs)
    assert ctx["step"] == 1 and ctx["page"] == "results"
    assert ctx["history"] == [{"observation": f"WebShop [SEP] Instruction: [SEP] {instr} [SEP] Search",
                               "action": "search[deodorant]"}]        # the page the action was taken on
    assert [n[1] for n in ctx["nodes"][:4]] == ["text", "text", "button", "text"]


def test_success_reward_scales_like_verl_agent_and_keeps_the_score(env):
    env.reset(options={"task_id": "5"})
    while not env.done:
        _, r, term, _, info = env.step(env.oracle_action())
    assert term and r == 10.0 and info["success"] and info["task_score"] == 1.0
    env.reset(options={"task_id": "5"})
    env.step("search[office chair]")
    asin = env.page.clickables[2]
    env.step(f"click[{asin}]")
    _, r, term, _, info = env.step("click[buy now]")
    assert term and info["task_score"] < 1.0 and r == 0.0 and not info["success"]
    with pytest.raises(ValueError, match="success_reward must be a number or null, got 'ten'"):
        WebShopEnv(success_reward="ten")


def test_verl_agent_prompt_structure_history_and_parsing(env):
    pol = policies.make("verl_agent_webshop")
    assert isinstance(pol, VerlAgentWebShopPolicy) and pol.system() is None
    obs, _ = env.reset(options={"task_id": "2"})
    instr = env.goal.instruction_text
    _, first = pol.message(obs, 0)
    assert f"{instr}." in first and "'Search'" in first
    assert "[\n'search[<your query>]',\n'click[search]',\n]" in first       # verl-agent lists click[search] too
    assert "step(s)" not in first                                           # no history on the first step
    reply = "<think>Search for it.</think><action>search[Running Shoes]</action>"
    assert pol.parse_action(reply) == "search[running shoes]" and pol.well_formed(reply)
    obs, *_ = env.step(pol.parse_action(reply))
    obs, *_ = env.step("click[next >]")
    obs, *_ = env.step("click[< prev]")
    _, text = pol.message(obs, 3)
    ctx = json.loads(obs)
    assert "You have taken 3 step(s)" in text and "This is step 4" in text
    assert "[Observation 2: '" in text and "Action 2: 'click[next >]']" in text
    assert "Observation 1:" not in text                                     # only the last 2 steps
    assert format_page(ctx["observation"], instr) in text
    assert format_page(ctx["observation"], instr).startswith("'Back to Search' [SEP] 'Page 1 (Total results: 50)'")
    assert "'click[back to search]',\n'click[next >]'," in text
    assert pol.parse_action("no tags at all, just words here") == "t all, just words here"[-20:]
    assert not pol.well_formed("<action>click[x]</action>")
    with pytest.raises(ValueError, match="needs WebShopEnv\\(agent_context=True\\)"):
        pol.message("WebShop [SEP] Instruction: [SEP] x [SEP] Search", 0)


def test_react_turns_think_option_clicks_and_invalid_actions(env):
    pol = policies.make("react_webshop")
    assert isinstance(pol, ReActWebShopPolicy) and "Action: click[Buy Now]" in pol.system()
    obs, _ = env.reset(options={"task_id": "1"})
    _, first = pol.message(obs, 0)
    assert first == f"Observation:\nWebShop \nInstruction: \n{env.goal.instruction_text} \n[Search] \n\nAction:"
    obs, r, *_ = env.step(pol.parse_action("Action: think[I should search first.]\nmore"))
    assert json.loads(obs)["observation"] == "OK." and r == 0.0 and pol.message(obs, 1)[1].startswith(
        "Observation:\nOK.\n")
    obs, *_ = env.step(pol.parse_action("search[" + env.instruction_query() + "]"))
    _, page = pol.message(obs, 2)
    assert page.startswith("Observation:\n[Back to Search] \nPage 1 (Total results: 50) \n[Next >] \n[B")
    assert env.goal.instruction_text not in page
    asin = env.page.clickables[2]
    obs, *_ = env.step(f"click[{asin}]")
    _, item = pol.message(obs, 3)
    group, values = next(iter(env.catalog.by_asin[asin.upper()].options.items()))
    assert f"\n{group} [{values[0]}]" in item and "[Buy Now]" in item
    obs, *_ = env.step(f"click[{values[0]}]")
    assert pol.message(obs, 4)[1] == f"Observation:\nYou have clicked {values[0]}.\n\nAction:"
    obs, *_ = env.step("click[no such button]")
    assert pol.message(obs, 5)[1] == "Observation:\nInvalid action!\n\nAction:"
    obs, *_ = env.step("click[< prev]")
    obs, *_ = env.step(f"click[{asin}]")
    assert f"[[{values[0]}]]" not in pol.message(obs, 7)[1]                  # a new visit: nothing selected
    obs, *_ = env.step(f"click[{values[0]}]")
    obs, *_ = env.step("click[description]")
    obs, *_ = env.step("click[< prev]")
    assert f"[[{values[0]}]]" in pol.message(obs, 10)[1]                     # selected values are marked
    obs, r, term, *_ = env.step("click[buy now]")
    assert term and pol.message(obs, 11)[1].startswith("Observation:\nYour score (min 0.0, max 1.0): ")


def test_configs_of_the_published_setups():
    from agentrl.config import load_config

    cfg = load_config(["env=webshop_verl_agent"])
    assert cfg.env.policy == "verl_agent_webshop"
    kw = dict(cfg.env.kwargs)
    assert kw["max_turns"] == 15 and kw["success_reward"] == 10.0 and kw["agent_context"]
    assert kw["variant"] == "faithful"
    cfg = load_config(["env=webshop_react"])
    assert cfg.env.policy == "react_webshop" and cfg.env.kwargs["think_action"]
    from agentrl.registry import make

    env = make(cfg.env.id, **dict(cfg.env.kwargs))
    pol = policies.make(cfg.env.policy, env)
    obs, _ = env.reset(options={"task_id": "0"})
    while not env.done:                      # the oracle's actions through the policy's view and parser
        pol.message(obs, env.turn)
        obs, r, *_ = env.step(pol.parse_action(env.oracle_action()))
    assert r == 1.0 and env.max_turns == 15
