"""WebShopEnv options for learnable demonstrations: the ``instruction`` oracle and ``results_per_page``."""

from __future__ import annotations

import pytest

from envs.webshop import WebShopEnv


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(oracle="instruction")


def play(env: WebShopEnv, task_id: str, *first: str):
    """``first`` actions, then the oracle until the end; returns (actions, last info)."""
    _, info = env.reset(options={"task_id": task_id})
    actions = list(first)
    for a in first:
        *_, info = env.step(a)
    while not env.done:
        actions.append(env.oracle_action())
        *_, info = env.step(actions[-1])
    return actions, info


def test_default_oracle_is_still_the_title_search():
    env = WebShopEnv()
    assert env.oracle == "title"
    env.reset(options={"task_id": "0"})
    assert env.oracle_action() == f"search[{env.catalog.by_asin[env.goal.asin].title.lower()}]"


def test_instruction_oracle_succeeds_on_every_test_goal_from_what_the_page_shows(env):
    fallbacks = first_result = 0
    for tid in env.task_ids("test"):
        actions, info = play(env, tid)
        assert info["success"], (tid, actions, info)
        goal, title = env.goal, env.catalog.by_asin[env.goal.asin].title.lower()
        query = goal.instruction_text.split(", and price lower than")[0]
        assert actions[0] == f"search[{query}]" and "price lower than" not in actions[0]
        fallbacks += any(a == f"search[{title}]" for a in actions)
        top = env.catalog.products[env.index.search(query, 1)[0]].asin.lower()
        first_result += actions[1] == f"click[{top}]"
        assert actions[-1] == "click[buy now]"
    # the target's title is never needed on the bundled test goals; the top result is bought most of the time
    assert fallbacks == 0
    assert first_result / len(env.task_ids("test")) > 0.6


def test_instruction_oracle_opens_the_first_product_that_satisfies_the_goal(env):
    """Buying any product shown before the one the oracle opens (with the goal's options) does not succeed."""
    checked = 0
    for tid in env.task_ids("test")[:80]:
        env.reset(options={"task_id": tid})
        _, _, _, _, info = env.step(env.oracle_action())
        click = env.oracle_action()
        shown = [c for c in info["clickables"] if c.startswith("b0")]
        if click not in (f"click[{c}]" for c in shown[1:]):
            continue
        for earlier in shown[: shown.index(click[6:-1])]:
            _, info = env.reset(options={"task_id": tid})
            env.step(f"search[{env.instruction_query()}]")
            _, r, term, _, info = env.step(f"click[{earlier}]")
            assert env.oracle_action() == "click[< prev]"          # the oracle would back out of it
            product = env.catalog.by_asin[earlier.upper()]
            for value in env._goal_choices(product).values():
                env.step(f"click[{value}]")
            _, r, term, _, info = env.step("click[buy now]")
            assert term and not info["success"], (tid, earlier, r)
            checked += 1
    assert checked >= 5


def test_instruction_oracle_recovers_from_a_useless_search_and_a_wrong_product(env):
    actions, info = play(env, "3", "search[zzz qqq]")
    assert info["success"], actions
    env.reset(options={"task_id": "3"})
    env.step(f"search[{env.instruction_query()}]")
    shown = [c for c in env.page.clickables if c.startswith("b0")]
    bad = next((c for c in shown if not env.qualifies(c.upper())), None)
    if bad is None:        # every shown product qualifies: take one from elsewhere in the catalog
        env.step("search[hdmi cable braided]" if "hdmi" not in env.goal.instruction_text else "search[lipstick]")
        bad = next(c for c in env.page.clickables if c.startswith("b0") and not env.qualifies(c.upper()))
    env.step(f"click[{bad}]")
    assert env.oracle_action() == "click[< prev]"
    while not env.done:
        *_, info = env.step(env.oracle_action())
    assert info["success"]


def test_results_per_page_shortens_pages_and_keeps_all_fifty_results():
    env = WebShopEnv(results_per_page=3, show_available_actions=False, max_turns=30)
    env.reset(options={"task_id": "1"})
    _, _, _, _, info = env.step("search[deodorant]")
    seen = []
    for page in range(1, 18):
        shown = [c for c in info["clickables"] if c.startswith("b0")]
        assert len(shown) == (3 if page < 17 else 2)              # 50 = 16 * 3 + 2
        assert "next >" in info["clickables"]                    # the original always shows it
        assert f"Page {page} (Total results: 50)" in env.page.text
        seen += shown
        if page < 17:
            _, _, _, _, info = env.step("click[next >]")
    assert len(set(seen)) == 50
    _, _, _, _, info = env.step("click[next >]")                  # past the last page: an empty page
    assert "Page 18 (Total results: 50)" in env.page.text and not [c for c in info["clickables"] if c.startswith("b0")]
    full = WebShopEnv()
    full.reset(options={"task_id": "1"})
    full.step("search[deodorant]")
    assert [c for c in full.page.clickables if c.startswith("b0")] == seen[:10]   # same ranking, smaller pages


@pytest.mark.parametrize("per_page", [1, 3])
def test_short_pages_with_the_instruction_oracle_still_succeed(per_page):
    env = WebShopEnv(oracle="instruction", results_per_page=per_page, show_available_actions=False)
    for tid in env.task_ids("test")[:100]:
        _, info = play(env, tid)
        assert info["success"], tid


def test_instruction_oracle_under_the_warmup_turn_limit():
    """configs/env/webshop_warmup.yaml: one result per page, 8 turns; paging past misfits costs turns."""
    env = WebShopEnv(oracle="instruction", results_per_page=1, show_available_actions=False, max_turns=8,
                     product_links="rank")
    wins = [play(env, tid)[1]["success"] for tid in env.task_ids("test")]
    assert 0.9 <= sum(wins) / len(wins) < 1.0          # 482 / 500 on the bundled catalog


def test_rank_links_show_and_open_the_same_products_as_asins():
    by_asin = WebShopEnv(results_per_page=3)
    by_rank = WebShopEnv(results_per_page=3, product_links="rank", invalid_action_feedback=True)
    for e in (by_asin, by_rank):
        e.reset(options={"task_id": "2"})
        e.step("search[black running shoes]")
        e.step("click[next >]")
    asins = [c for c in by_asin.page.clickables if c.startswith("b0")]
    assert by_rank.page.clickables == ["back to search", "< prev", "next >", "4", "5", "6"]
    title = by_asin.catalog.by_asin[asins[1].upper()].title
    assert f"[SEP] 5 [SEP] {title} [SEP]" in by_rank.page.text and asins[1].upper() not in by_rank.page.text
    obs, _, _, _, info = by_rank.step(f"click[{asins[0]}]")          # an ASIN is not a link in rank mode
    assert info["valid_action"] is False and "is not clickable" in obs
    by_rank.step("click[5]")
    by_asin.step(f"click[{asins[1]}]")
    assert by_rank.asin == by_asin.asin == asins[1].upper() and by_rank.page.kind == "item"
    by_rank.step("click[< prev]")
    assert by_rank.page.clickables[-3:] == ["4", "5", "6"]             # back on the same results page


def test_instruction_oracle_with_rank_links_succeeds():
    env = WebShopEnv(oracle="instruction", results_per_page=1, product_links="rank")
    for tid in env.task_ids("test")[:100]:
        actions, info = play(env, tid)
        assert info["success"] and actions[1] in ("click[1]", "click[next >]"), (tid, actions)


@pytest.mark.parametrize("kwargs, message", [
    ({"oracle": "target"}, "unknown WebShop oracle 'target'; accepted: \\['title', 'instruction'\\]"),
    ({"product_links": "title"}, "unknown WebShop product_links 'title'; accepted: \\['asin', 'rank'\\]"),
    ({"results_per_page": 0}, "results_per_page must be an integer >= 1, got 0"),
    ({"results_per_page": "3"}, "results_per_page must be an integer >= 1, got '3'"),
])
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WebShopEnv(**kwargs)


def test_title_oracle_with_rank_links_still_scores_one():
    env = WebShopEnv(product_links="rank")
    for tid in env.task_ids("test")[:200]:
        actions, info = play(env, tid)
        assert info["success"] and actions[1].startswith("click[") and actions[1][6:-1].isdigit(), (tid, actions)
