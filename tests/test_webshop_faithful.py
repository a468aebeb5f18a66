"""The faithful default against the original's rules, on a fixture in the original's data layout.

tests/fixtures/webshop_faithful holds three products with the original data's quirks: an empty description and
an empty bullet point, a whitespace-only description, ``$1,299.99`` (above every price cap), a price range,
``/`` in an option value, ``&`` and ``<`` in a title, ``attributes: []`` and a product with no attributes entry.
The expected pages and rewards below are worked out by hand from the original's templates, HTML-to-text rules
and ``engine/goal.py`` (``benchmarks/webshop_agreement.py`` and a replay against the original's code agree).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from envs.webshop import WebShopEnv

FIXTURE = Path(__file__).parent / "fixtures" / "webshop_faithful"


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(data_dir=str(FIXTURE), noun_tagger="pattern")


def goal_index(env: WebShopEnv, asin: str) -> str:
    return next(str(i) for i, g in enumerate(env.catalog.goals) if g.asin == asin)


def open_item(env: WebShopEnv, asin: str, query: str) -> str:
    env.reset(options={"task_id": goal_index(env, asin)})
    env.step(f"search[{query}]")
    return env.step(f"click[{asin.lower()}]")[0]


def test_loader_keeps_the_original_quirks(env):
    grinder, speaker, mill = (env.catalog.by_asin[a] for a in ("B0FAITH001", "B0FAITH002", "B0FAITH003"))
    assert grinder.attributes == [] and mill.attributes == ["DUMMY_ATTR"]    # [] stays []; no entry -> DUMMY_ATTR
    assert grinder.bullet_points == [""] and grinder.price_tag == "$1299.99"
    assert grinder.options == {"color": ["black | silver", "white"], "size": ["2 pound", "5 pound"]}
    g = env.catalog.goals[int(goal_index(env, "B0FAITH001"))]
    assert g.price_upper == 1_000_000 and g.instruction_text.endswith("light gray color")   # no cap above $990
    assert speaker.price_tag == "$10.99 to $15.99"


def test_item_and_sub_pages_byte_for_byte(env):
    obs = open_item(env, "B0FAITH001", "salt pepper grinder")
    instr = env.goal.instruction_text
    head = f"Instruction: [SEP] {instr} [SEP] Back to Search [SEP] < Prev"
    assert obs == (f"{head} [SEP] color [SEP] black | silver [SEP] white [SEP] size [SEP] 2 pound [SEP] 5 pound "
                   "[SEP] Salt & Pepper Grinder <Set> by Hearth [SEP] Price: $1299.99 [SEP] Rating: N.A. [SEP] "
                   "Description [SEP] Features [SEP] Reviews [SEP] Buy Now")
    assert env.step("click[description]")[0] == head                   # empty description: no text at all
    env.step("click[< prev]")
    assert env.step("click[features]")[0] == head + " [SEP] "          # the empty bullet is one empty segment
    env.step("click[< prev]")
    assert env.step("click[reviews]")[0] == head                       # the original never loads reviews
    obs = open_item(env, "B0FAITH002", "bluetooth speaker")
    instr = env.goal.instruction_text
    head = f"Instruction: [SEP] {instr} [SEP] Back to Search [SEP] < Prev"
    assert env.step("click[description]")[0] == head                   # whitespace with a newline: dropped
    env.step("click[< prev]")
    assert env.step("click[features]")[0] == head + " [SEP] Loud sound [SEP] "


def test_text_rich_marks_buttons_clicked_options_and_visited_products():
    env = WebShopEnv(data_dir=str(FIXTURE), noun_tagger="pattern", observation_mode="text_rich")
    env.reset(options={"task_id": goal_index(env, "B0FAITH001")})
    instr = env.goal.instruction_text
    assert env.page.rich() == f"WebShop\nInstruction: \n{instr}\n[button] Search [button_]\n"
    obs, *_ = env.step("search[pepper grinder]")
    assert obs.startswith(f"Instruction:\n{instr}\n[button] Back to Search [button_]\n"
                          "Page 1 (Total results: 2)\n[button] Next > [button_]\n\n[button] B0FAITH001 [button_]\n")
    env.step("click[b0faith001]")
    obs, *_ = env.step("click[white]")
    assert obs.startswith("You have clicked white.\nInstruction:\n")
    assert "  [clicked button] white [clicked button_]\n" in obs and "  [button] 2 pound [button_]\n" in obs
    obs, *_ = env.step("click[5 pound]")
    assert obs.startswith("You have clicked 5 pound.\nYou have clicked white.\nInstruction:\n")   # last one first
    obs, *_ = env.step("click[features]")
    assert obs.endswith("[button] < Prev [button_]\n \n")              # the empty bullet: one space
    env.step("click[< prev]")
    obs, *_ = env.step("click[< prev]")
    assert "\n[clicked button] B0FAITH001 [clicked button_]\n" in obs   # visited since the last search page
    assert "\n[button] B0FAITH003 [button_]\n" in obs


def test_rewards_follow_goal_py(env):
    # goal: attribute 'grinder set' (not a substring of the title's 'grinder <set>': no match), options '2 pound'
    # and 'light gray' (normalised to 'gray'), no price cap
    open_item(env, "B0FAITH001", "salt pepper grinder")
    env.step("click[5 pound]")              # fuzzy: '5 pound' vs '2 pound' scores 86 > 85
    env.step("click[white]")
    _, r, term, _, info = env.step("click[buy now]")
    assert term and info["num_attr_matches"] == 0 and info["num_option_matches"] == 1 and info["r_price"] is True
    assert r == pytest.approx((0 + 1 + 1) / 4)
    assert env.page.text.endswith(f"Your score (min 0.0, max 1.0) [SEP] {r} [SEP] Reward Details [SEP] None")
    assert '[SEP] options [SEP] {"color": "white", "size": "5 pound"} [SEP]' in env.page.text
    exact = WebShopEnv(data_dir=str(FIXTURE), noun_tagger="pattern", exact_size=True)
    open_item(exact, "B0FAITH001", "salt pepper grinder")
    exact.step("click[5 pound]")
    _, r, *_ = exact.step("click[buy now]")
    assert r == pytest.approx(1 / 4)                                  # the v2 branch's exact sizes
    # goal 'teal' on the speaker; buying 'navy blue' (-> 'blue'): no match, and no credit from 'Teal' in the title
    open_item(env, "B0FAITH002", "bluetooth speaker")
    env.step("click[navy blue]")
    _, r, *_ = env.step("click[buy now]")
    assert r == pytest.approx((1 + 0 + 1) / 3)
    fallback = WebShopEnv(data_dir=str(FIXTURE), noun_tagger="pattern", option_text_fallback=True)
    open_item(fallback, "B0FAITH002", "bluetooth speaker")
    fallback.step("click[navy blue]")
    _, r, *_ = fallback.step("click[buy now]")
    assert r == pytest.approx(1.0)                                    # 'teal' is in the title
    # 'wooden' and 'adjustable': the mill's DUMMY_ATTR matches nothing; both are in its text
    open_item(env, "B0FAITH003", "pepper mill")
    _, r, _, _, info = env.step("click[buy now]")
    assert info["num_attr_matches"] == 2 and info["r_option"] is None and r == 1.0


def test_wrong_type_purchase_and_grammar_on_the_fixture(env):
    env.reset(options={"task_id": goal_index(env, "B0FAITH002")})
    env.step("search[pepper]")
    obs0 = env.page.text
    assert env.step("Click[b0faith003]")[0] == obs0 and env.step("click [b0faith003]")[0] == obs0   # no-ops
    env.step("click[b0faith003] and look")                           # prefix match: a click
    _, r, _, _, info = env.step("click[buy now]")
    assert info["r_type"] == 0.0 and r == 0.0                          # no noun shared with the speaker's title


def test_faithful_reward_never_exceeds_one_over_every_option_combination():
    """Every option combination of every test goal's own product: master's rule stays <= 1, agentrl's did not."""
    import itertools

    from envs.webshop.nouns import make_noun_tagger
    from envs.webshop.reward import AGENTRL, FAITHFUL, purchase_reward

    env = WebShopEnv(noun_tagger="pattern")
    cat, (_, nouns) = env.catalog, make_noun_tagger("pattern")
    worst, above_agentrl = 0.0, 0
    for gi in env.task_ids("test"):
        g = cat.goals[int(gi)]
        p = cat.by_asin[g.asin]
        for combo in itertools.product(*p.options.values()):
            chosen = dict(zip(p.options, combo))
            worst = max(worst, purchase_reward(p, g, cat.prices[p.asin], chosen, nouns, FAITHFUL)[0])
            above_agentrl += purchase_reward(p, g, cat.prices[p.asin], chosen, nouns, AGENTRL)[0] > 1 + 1e-9
    assert worst == pytest.approx(1.0) and above_agentrl > 0
