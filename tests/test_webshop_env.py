"""WebShopEnv: pages, pagination, options, sub-pages, invalid actions, oracle, checker, registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agentrl.registry import make
from envs.webshop import WebShopEnv

FIXTURES = Path(__file__).parent / "fixtures" / "webshop"


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv()


def run(env: WebShopEnv, *actions: str):
    out = None
    for a in actions:
        out = env.step(a)
    return out


def first_asin(info) -> str:
    return next(c for c in info["clickables"] if c.startswith("b0"))


def test_search_page(env):
    obs, info = env.reset(options={"task_id": "0"})
    instr = env.goal.instruction_text
    assert obs == f"WebShop [SEP] Instruction: [SEP] {instr} [SEP] Search"      # the original's text exactly
    assert info["page"] == "search" and info["has_search_bar"] is True and info["clickables"] == ["search"]
    assert info["task_id"] == "0" and info["valid_action"] is True


def test_results_page_and_pagination(env):
    env.reset(options={"task_id": "1"})
    obs, r, term, trunc, info = env.step("search[Deodorant]")
    assert (r, term, trunc) == (0.0, False, False)
    assert info["page"] == "results" and info["has_search_bar"] is False
    assert obs.startswith(f"Instruction: [SEP] {env.goal.instruction_text} [SEP] Back to Search [SEP] "
                          "Page 1 (Total results: 50) [SEP] Next > [SEP] ")      # no "WebShop" heading
    assert "< Prev" not in obs
    assert info["clickables"][:2] == ["back to search", "next >"]
    asins = [c for c in info["clickables"] if c.startswith("b0")]
    assert len(asins) == 10
    p = env.catalog.by_asin[asins[0].upper()]
    assert f"[SEP] {p.asin} [SEP] {p.title} [SEP] {p.price_tag}" in obs
    seen = set(asins)
    for page in range(2, 6):
        obs, _, _, _, info = env.step("click[next >]")
        assert f"Page {page} (Total results: 50)" in obs and "< Prev" in obs
        page_asins = {c for c in info["clickables"] if c.startswith("b0")}
        assert len(page_asins) == 10 and not (page_asins & seen)
        seen |= page_asins
    assert "next >" in info["clickables"]              # page 5 of 50 is the last, but the original shows Next >
    obs, _, _, _, info = env.step("click[next >]")
    assert info["valid_action"] and obs.endswith("Page 6 (Total results: 50) [SEP] < Prev [SEP] Next >")
    env.step("click[< prev]")
    obs, _, _, _, info = env.step("click[< prev]")
    assert "Page 4 (Total results: 50)" in obs and info["valid_action"]
    assert len(seen) == 50


def test_item_page_options_and_sub_pages(env):
    env.reset(options={"task_id": "2"})
    target = env.catalog.by_asin[env.goal.asin]
    obs, _, _, _, info = env.step(f"search[{target.title}]")
    obs, _, _, _, info = env.step(f"click[{target.asin.lower()}]")
    assert info["page"] == "item"
    assert info["clickables"][:6] == ["back to search", "< prev", "description", "features", "reviews", "buy now"]
    groups = list(target.options)
    assert groups, "generated products always have option groups"
    expected = " [SEP] ".join(["Instruction:", env.goal.instruction_text, "Back to Search", "< Prev"]
                              + [t for g in groups for t in [g, *target.options[g]]]
                              + [target.title, f"Price: {target.price_tag}", "Rating: N.A.",
                                 "Description", "Features", "Reviews", "Buy Now"])
    assert obs == expected                             # the original never loads reviews: Rating N.A.
    g0 = groups[0]
    v0, v1 = target.options[g0][:2]
    _, _, _, _, info = env.step(f"click[{v0.upper()}]")       # case-insensitive
    assert info["selected_options"] == {g0: v0} and info["page"] == "item"
    _, _, _, _, info = env.step(f"click[{v1}]")
    assert info["selected_options"] == {g0: v1}               # one value per group
    obs, _, _, _, info = env.step("click[description]")
    assert info["page"] == "description" and obs.split(" [SEP] ")[4] == target.description
    assert info["clickables"] == ["back to search", "< prev"]
    _, _, _, _, info = env.step("click[< prev]")
    assert info["page"] == "item" and info["selected_options"] == {g0: v1}    # options kept
    obs, _, _, _, info = env.step("click[features]")
    assert info["page"] == "features" and target.bullet_points[0] in obs
    env.step("click[< prev]")
    obs, _, _, _, info = env.step("click[reviews]")
    assert info["page"] == "reviews"
    assert obs == f"Instruction: [SEP] {env.goal.instruction_text} [SEP] Back to Search [SEP] < Prev"
    env.step("click[< prev]")
    obs, _, _, _, info = env.step("click[< prev]")             # item -> results, same page
    assert info["page"] == "results" and "Page 1 (Total results:" in obs
    assert info["selected_options"] == {}
    obs, _, _, _, info = env.step("click[back to search]")
    assert info["page"] == "search" and obs.startswith("WebShop [SEP] Instruction: [SEP]")


def test_buy_now_ends_with_reward_components(env):
    env.reset(options={"task_id": "3"})
    asin = first_asin(env.step("search[wireless earbuds]")[4])
    env.step(f"click[{asin}]")
    obs, r, term, trunc, info = env.step("click[buy now]")
    assert term and not trunc and info["page"] == "done"
    for k in ("r_type", "r_att", "r_option", "r_price", "title_score", "query_match", "category_match"):
        assert k in info
    assert info["asin"] == asin.upper() and info["goal_asin"] == env.goal.asin
    assert info["success"] == (r == 1.0) and info["end_reason"] == "terminated"
    assert obs.startswith(f"Thank you for shopping with us! [SEP] Your code: [SEP] None [SEP] (Paste it in your "
                          f"MTurk interface.) [SEP] Purchased [SEP] asin [SEP] {asin.upper()} [SEP] options [SEP] {{}}")
    assert obs.endswith(f"Your score (min 0.0, max 1.0) [SEP] {r} [SEP] Reward Details [SEP] None")
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step("click[buy now]")


def test_invalid_actions_are_silent_no_ops_like_the_original(env):
    obs0, _ = env.reset(options={"task_id": "4"})
    for action in ("buy it please", "click[buy now]", "click[search]", "search[]", "Search[shoes]", "search [tea]",
                   "SEARCH[tea]", "I will search[tea]", "Thought: buy\nclick[x]"):
        obs, r, term, trunc, info = env.step(action)
        assert obs == obs0 and info["valid_action"] is False and r == 0.0 and not term, action
    # the original's grammar matches a prefix, greedily: trailing text is ignored
    _, _, _, _, info = env.step("search[deodorant] now")
    assert info["page"] == "results" and env.keywords == "deodorant"
    _, _, _, _, info = env.step("click[next >] please")
    assert info["valid_action"] and env.results_page == 2
    _, _, _, _, info = env.step("click[buy now")                  # no closing bracket: nothing happens
    assert info["valid_action"] is False


def test_invalid_action_feedback_and_lenient_actions_are_options():
    env = WebShopEnv(invalid_action_feedback=True, show_available_actions=True, lenient_actions=True)
    obs0, info0 = env.reset(options={"task_id": "4"})
    cases = {
        "buy it please": "is not search[query] or click[element]",
        "click[buy now]": "'buy now' is not clickable on this page",
        "click[search]": "'search' is not clickable on this page",
        "search[]": "is not search[query] or click[element]",
        "click[  ]": "click[] needs a non-empty argument",
    }
    for action, why in cases.items():
        obs, r, term, trunc, info = env.step(action)
        assert why in obs, (action, obs[:200])
        assert obs.startswith("Invalid action: ") and "Available actions: search[<your query>]" in obs
        assert obs0 in obs                                         # the page itself is unchanged
        assert info["valid_action"] is False and info["page"] == "search" and r == 0.0 and not term
    _, _, _, _, info = env.step("  Search[ Running Shoes ]  ")    # lenient on case and spaces
    assert info["valid_action"] and info["page"] == "results"


def test_search_is_accepted_from_any_page_like_the_original(env):
    env.reset(options={"task_id": "5"})
    asin = first_asin(env.step("search[office chair]")[4])
    env.step(f"click[{asin}]")
    obs, _, _, _, info = env.step("search[coffee beans]")
    assert info["page"] == "results" and info["valid_action"]


def test_no_turn_limit_by_default_and_max_turns_truncates(env):
    env.reset(options={"task_id": "6"})
    for _ in range(40):
        *_, trunc, info = env.step("click[nothing]")
        assert not trunc
    env = WebShopEnv(max_turns=15)
    env.reset(options={"task_id": "6"})
    for _ in range(14):
        *_, trunc, info = env.step("click[nothing]")
        assert not trunc
    _, r, term, trunc, info = env.step("click[nothing]")
    assert trunc and not term and info["success"] is False and info["end_reason"] == "truncated"


def test_oracle_scores_one_on_every_test_goal(env):
    ids = env.task_ids("test")
    assert len(ids) == 500
    for tid in ids:
        env.reset(options={"task_id": tid})
        while not env.done:
            obs, r, term, trunc, info = env.step(env.oracle_action())
        assert term and r == 1.0 and info["success"], (tid, info)


def test_random_clicks_score_low(env):
    rng = np.random.default_rng(0)
    rewards = []
    for tid in env.task_ids("test")[:60]:
        _, info = env.reset(options={"task_id": tid})
        words = env.goal.instruction_text.split()
        done, r = False, 0.0
        while not done:
            if info["has_search_bar"]:
                action = f"search[{' '.join(rng.choice(words, size=3))}]"
            else:
                choices = [c for c in info["clickables"] if c != "search"]
                action = f"click[{choices[int(rng.integers(len(choices)))]}]"
            _, r, term, trunc, info = env.step(action)
            done = term or trunc
        rewards.append(r)
    assert np.mean(rewards) < 0.5 and np.mean(np.array(rewards) == 1.0) < 0.2


def test_splits_and_bad_task_ids(env):
    assert len(env.task_ids("eval")) == 1000 and env.task_ids("train")[0] == "1500"
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        env.task_ids("dev")
    with pytest.raises(ValueError, match="unknown task_id 'abc'"):
        env.reset(options={"task_id": "abc"})
    with pytest.raises(ValueError, match="unknown task_id '5000'"):
        env.reset(options={"task_id": "5000"})


def test_seeded_reset_is_deterministic():
    e1, e2 = WebShopEnv(), WebShopEnv()
    o1, i1 = e1.reset(seed=7)
    o2, i2 = e2.reset(seed=7)
    assert o1 == o2 and i1["task_id"] == i2["task_id"]
    assert int(i1["task_id"]) >= 1500                          # default split is train


def test_available_actions_line_is_an_option():
    env = WebShopEnv(show_available_actions=True)
    obs, _ = env.reset(options={"task_id": "0"})
    assert obs == (f"WebShop [SEP] Instruction: [SEP] {env.goal.instruction_text} [SEP] Search\n"
                   "Available actions: search[<your query>]")


def test_selected_options_are_shown_only_when_asked():
    plain, marked = WebShopEnv(), WebShopEnv(show_selected_options=True)
    pages = []
    for env in (plain, marked):
        env.reset(options={"task_id": "1"})
        env.step(f"search[{env.instruction_query()}]")
        env.step(f"click[{env.page.clickables[-1]}]")        # the first product (by ASIN)
        groups = env.page.option_groups
        first = next(iter(groups))                           # a value of the first option group
        second = next(v for v in groups if groups[v] != groups[first])   # one of another group
        before, *_ = env.step(f"click[{first}]")
        after, *_ = env.step(f"click[{second}]")
        pages.append((before, after))
    (p_before, p_after), (m_before, m_after) = pages
    assert p_before == p_after and "You have clicked" not in p_after        # the original text mode
    assert m_before.startswith(f"You have clicked {first}.\nInstruction: [SEP]")
    assert m_after.startswith(f"You have clicked {first}.\nYou have clicked {second}.\nInstruction: [SEP]")
    assert m_after.endswith(p_after)
    m_results, *_ = marked.step("click[< prev]")
    assert "You have clicked" not in m_results                              # only item pages, only selections


def test_env_on_original_format_fixture_files():
    env = WebShopEnv(data_dir=str(FIXTURES), show_reviews=True)
    assert len(env.catalog.products) == 3 and len(env.catalog.goals) == 3
    assert env.task_ids("test") == ["0", "1", "2"] and env.task_ids("train") == []
    for tid in env.task_ids("test"):
        env.reset(options={"task_id": tid})
        while not env.done:
            _, r, term, _, info = env.step(env.oracle_action())
        assert r == 1.0, (tid, info)
    tid = next(str(i) for i, g in enumerate(env.catalog.goals) if g.asin == "B000TEST01")
    env.reset(options={"task_id": tid})
    env.step("search[citrus deodorant]")
    obs, _, _, _, info = env.step("click[b000test01]")
    assert "scent [SEP] bright citrus [SEP] lavender [SEP] size [SEP] 3 ounce" in obs
    assert "Price: $10.99 [SEP] Rating: 4.5" in obs
    obs, *_ = env.step("click[reviews]")
    assert '"Works great" [SEP] 5 [SEP] No irritation at all.' in obs
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        WebShopEnv(data_dir=str(FIXTURES / "missing"))


def test_registry_and_gymnasium_checker():
    env = make("webshop", max_turns=5)
    assert isinstance(env, WebShopEnv) and env.max_turns == 5 and WebShopEnv.default_policy == "react"
    check_env(env, skip_render_check=False)


def test_agentrl_rules_can_exceed_one_with_extra_options_and_clip_caps_it():
    """agentrl's earlier option rule (``variant="agentrl"``) credits a chosen value found in the product text,
    so extra options can push it above 1; the original's (default) cannot."""
    from dataclasses import replace

    base = WebShopEnv()
    # a goal without options whose product offers a value that also appears in its title
    cat = base.catalog
    gi = next(i for i, g in enumerate(cat.goals) if not g.goal_options and cat.by_asin[g.asin].options)
    g = cat.goals[gi]
    p = cat.by_asin[g.asin]
    group, value = next(iter(p.options.items()))[0], next(iter(p.options.values()))[0]
    product = replace(p, title=f"{p.title} {value}")
    from envs.webshop.data import Catalog
    custom = Catalog([product if q.asin == p.asin else q for q in cat.products], cat.prices, cat.goals)
    for clip, expected in ((False, (len(g.attributes) + 2) / (len(g.attributes) + 1)), (True, 1.0)):
        env = WebShopEnv(catalog=custom, index=base.index, clip_reward=clip, variant="agentrl")
        env.reset(options={"task_id": str(gi)})
        while env.page.kind != "item" or env.asin != g.asin:
            env.step(env.oracle_action())
        env.step(f"click[{value}]")
        _, r, term, _, info = env.step("click[buy now]")
        assert term and r == pytest.approx(expected)
        assert info["raw_reward"] == pytest.approx((len(g.attributes) + 2) / (len(g.attributes) + 1))
        assert info["num_option_matches"] == 1 and info["r_option"] is None
    faithful = WebShopEnv(catalog=custom, index=base.index)
    faithful.reset(options={"task_id": str(gi)})
    while faithful.page.kind != "item" or faithful.asin != g.asin:
        faithful.step(faithful.oracle_action())
    faithful.step(f"click[{value}]")
    _, r, *_ = faithful.step("click[buy now]")
    assert r == pytest.approx(1.0)                 # the goal has no options: the extra choice earns nothing
