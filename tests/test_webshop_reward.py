"""WebShop purchase reward: every component, partial matches and a wrong product type."""

from __future__ import annotations

from dataclasses import replace

import pytest

from envs.webshop.data import Goal, Product
from envs.webshop.nouns import make_noun_tagger
from envs.webshop.reward import (
    AGENTRL, FAITHFUL, attribute_reward, fuzzy_score, normalize_color, option_reward, purchase_reward, type_reward,
)

_, NOUNS = make_noun_tagger("pattern")

DEO_PATH = "Beauty & Personal Care › Personal Care › Deodorants & Antiperspirants › Deodorants"


def deodorant(**kw) -> Product:
    base = Product(
        asin="B000DEO001", title="Sunny Grove Citrus Deodorant Stick for Sensitive Skin",
        description="A gentle deodorant with citrus oils.", bullet_points=["Long lasting freshness"],
        attributes=["aluminum free", "sensitive skin"],
        options={"scent": ["bright citrus", "lavender"], "size": ["3 ounce", "3 ounce (pack of 2)"],
                 "color": ["navy blue", "black"]},
        pricing=[10.99], price_tag="$10.99", category="beauty", query="deodorant", product_category=DEO_PATH)
    return replace(base, **kw)


def goal(**kw) -> Goal:
    base = Goal(asin="B000DEO001", instruction_text="i need a deodorant", attributes=["aluminum free"],
                goal_options=["bright citrus", "3 ounce"], price_upper=20.0,
                name="Sunny Grove Citrus Deodorant Stick for Sensitive Skin", query="deodorant",
                category="beauty", product_category=DEO_PATH)
    return replace(base, **kw)


def test_full_match_scores_one():
    r, info = purchase_reward(deodorant(), goal(), 10.99, {"scent": "bright citrus", "size": "3 ounce"}, NOUNS)
    assert r == 1.0
    assert info["r_type"] == 1.0 and info["r_att"] == 1.0 and info["r_option"] == 1.0 and info["r_price"] is True
    assert info["w_att"] == pytest.approx(1 / 4) and info["w_option"] == pytest.approx(2 / 4)


def test_price_over_the_cap_loses_its_share():
    r, info = purchase_reward(deodorant(), goal(), 25.0, {"scent": "bright citrus", "size": "3 ounce"}, NOUNS)
    assert info["r_price"] is False
    assert r == pytest.approx(3 / 4)


def test_partial_attributes():
    g = goal(attributes=["aluminum free", "vegan", "paraben free"], goal_options=[])
    r_att, n = attribute_reward(deodorant(), g)
    assert n == 1 and r_att == pytest.approx(1 / 3)
    r, info = purchase_reward(deodorant(), g, 10.99, {}, NOUNS)
    assert r == pytest.approx((1 + 0 + 1) / (3 + 0 + 1))
    assert info["r_option"] is None                     # no goal options: nothing to score


def test_attribute_fuzzy_and_text_matches():
    # fuzzy token-set ratio > 85 against the product's attribute list ('free aluminum' == 'aluminum free')
    assert attribute_reward(deodorant(), goal(attributes=["free aluminum"]))[1] == 1
    # not an attribute, but a substring of title / bullet points / description
    assert attribute_reward(deodorant(), goal(attributes=["long lasting"]))[1] == 1      # bullet point
    assert attribute_reward(deodorant(), goal(attributes=["citrus oils"]))[1] == 1       # description
    assert attribute_reward(deodorant(), goal(attributes=["deodorant stick"]))[1] == 1   # title (lowercased)
    assert attribute_reward(deodorant(), goal(attributes=["cruelty free"]))[1] == 0


def test_partial_options_fuzzy_sizes_and_the_exact_size_option():
    p = deodorant()
    # one of two goal options chosen right ('3 ounce (pack of 2)' vs '3 ounce': token-set ratio 100)
    r_opt, n = option_reward(p, ["bright citrus", "3 ounce"], {"scent": "lavender", "size": "3 ounce (pack of 2)"})
    assert n == 1 and r_opt == 0.5
    # the original fuzzy-matches sizes too ('2 pound' vs '5 pound': rounded 86 > 85); the v2 branch's exact
    # size rule is an option
    assert option_reward(p, ["2 pound"], {"size": "5 pound"})[1] == 1
    exact = FAITHFUL.with_options(exact_size=True)
    assert option_reward(p, ["2 pound"], {"size": "5 pound"}, exact)[1] == 0
    assert option_reward(p, ["2 pound"], {"flavor": "5 pound"}, exact)[1] == 1       # other groups stay fuzzy
    assert option_reward(p, ["3 ounce"], {"size": "3 ounce"}, exact)[1] == 1
    # options never chosen do not count
    assert option_reward(p, ["bright citrus", "3 ounce"], {}) == (0.0, 0)
    r, info = purchase_reward(p, goal(), 10.99, {"scent": "lavender", "size": "3 ounce"}, NOUNS)
    assert info["r_option"] == 0.5 and r == pytest.approx((1 + 1 + 1) / 4)


def test_goal_side_loop_counts_each_goal_option_once_and_never_exceeds_one():
    p = deodorant()
    # two chosen values both match the one goal option: still one match
    assert option_reward(p, ["lavender"], {"scent": "lavender", "color": "lavender"})[1] == 1
    # a chosen value that is not a goal option earns nothing, even when it is in the product text
    assert option_reward(p, [], {"scent": "bright citrus"}) == (None, 0)
    r, _ = purchase_reward(p, goal(goal_options=[]), 10.99, {"scent": "bright citrus", "color": "navy blue"}, NOUNS)
    assert r == 1.0
    # agentrl's earlier rule counted per chosen option with a text fallback: 2 extra matches -> 5/3
    r_old, _ = purchase_reward(p, goal(goal_options=[], name=p.title), 10.99,
                               {"scent": "citrus", "size": "stick"}, NOUNS, AGENTRL)
    assert r_old == pytest.approx(4 / 2)


def test_text_fallback_option_credits_a_goal_option_found_in_the_product_text():
    p = deodorant()
    # goal 'teal', chosen 'blue', title has 'Bluetooth'-like text: master gives no credit
    bt = replace(p, title="Sunny Grove Bluetooth Deodorant")
    assert option_reward(bt, ["teal"], {"color": "blue"})[1] == 0
    assert option_reward(bt, ["teal"], {"color": "blue"}, AGENTRL)[1] == 1              # chosen 'blue' in text
    assert option_reward(bt, ["teal"], {"color": "blue"}, FAITHFUL.with_options(text_fallback=True))[1] == 0
    # the fallback of the option looks for the *goal* option in the text ('citrus' is in the title)
    fb = FAITHFUL.with_options(text_fallback=True)
    assert option_reward(p, ["citrus"], {"scent": "lavender"}, fb)[1] == 1
    assert option_reward(p, ["citrus"], {"scent": "lavender"})[1] == 0


def test_scores_are_rounded_like_thefuzz():
    # 'abcdefgh' vs 'abcdefgx': ratio 87.5 -> 88 (> 85); 'ab cdefghij' style cases near 85.5 round up
    assert fuzzy_score("abcdefgh", "abcdefgx") == 88
    assert fuzzy_score("Bright Citrus!", "bright citrus") == 100                      # lowercased, punctuation
    assert fuzzy_score("caf\u00e9", "caf") == 100                                     # chars 128-255 dropped
    assert fuzzy_score("abcdefghijklmn", "abcdefghijklxy", rounded=False) == pytest.approx(85.714, abs=1e-3)
    assert isinstance(fuzzy_score("a b", "a c"), int)


def test_colours_are_normalised():
    assert normalize_color("navy blue") == "blue" and normalize_color("matte black") == "black"
    assert normalize_color("3 ounce") == "3 ounce"
    # goal 'dark blue' and chosen 'navy blue' both normalise to 'blue'
    assert option_reward(deodorant(), ["dark blue"], {"color": "navy blue"})[1] == 1
    assert option_reward(deodorant(), ["dark blue"], {"color": "black"})[1] == 0


def test_wrong_product_type_scores_zero():
    chair = Product(
        asin="B000CHR001", title="Deskmate Ergonomic Office Chair with Lumbar Support",
        description="Mesh back chair.", bullet_points=["Adjustable height"], attributes=["lumbar support"],
        options={}, pricing=[99.0], price_tag="$99.0", category="furniture", query="office chair",
        product_category="Home & Kitchen › Furniture › Home Office Furniture › Home Office Chairs")
    r, info = purchase_reward(chair, goal(), 99.0, {}, NOUNS)
    assert info["title_score"] == 0.0 and info["r_type"] == 0.0 and r == 0.0
    assert info["query_match"] is False and info["category_match"] is False


def test_type_reward_thresholds():
    """r_type from title_score, query and category matches, with a controlled noun function."""
    nouns_of = {"goal": tuple("abcdefghij"), "long": tuple("abcdefghijklmnopqrstuvwxyz"), "one": ("a",),
                "two": ("a", "b"), "three": ("a", "b", "c"), "none": ("z",), "empty": ()}
    fn = nouns_of.__getitem__
    other = deodorant(query="shampoo", product_category="Hair › Shampoo")
    cases = [("three", other, "goal", 1.0),        # title_score 0.3 > 0.2 is a match by itself
             ("two", other, "goal", 0.5),          # 0.2: no query, category or title match
             ("two", deodorant(), "goal", 1.0),    # 0.2 but the query matches
             ("one", deodorant(), "goal", 1.0),    # 0.1 is not < 0.1
             ("one", deodorant(), "long", 0.1),    # 1/26 < 0.1
             ("none", deodorant(), "goal", 0.0)]   # no shared noun
    for title, product, goal_name, expected in cases:
        got = type_reward(replace(product, title=title), goal(name=goal_name), fn)
        assert got["r_type"] == expected, (title, goal_name, got)
    assert type_reward(deodorant(title="x"), goal(name="empty"), {"x": ("x",), "empty": ()}.__getitem__) \
        ["title_score"] == 0.2


def test_same_type_other_product_gets_partial_credit():
    other = deodorant(asin="B000DEO002", title="Harbor Pine Lavender Deodorant", attributes=["vegan"],
                      description="Plain.", bullet_points=["Plain"])
    r, info = purchase_reward(other, goal(), 10.99, {"scent": "lavender"}, NOUNS)
    assert info["query_match"] and info["category_match"]
    assert 0 < info["title_score"] < 1 and info["r_type"] == 1.0
    assert info["r_att"] == 0.0
    assert info["r_option"] == 0.0                     # 'lavender' is not a goal option (no text fallback)
    assert r == pytest.approx((0 + 0 + 1) / 4)         # only the price share
    r2, info2 = purchase_reward(other, goal(), 10.99, {"scent": "lavender"}, NOUNS, AGENTRL)
    assert info2["r_option"] == 0.5 and r2 == pytest.approx(2 / 4)    # agentrl's rule: chosen value in the title


def test_unknown_noun_tagger_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown noun tagger 'nltk'; accepted"):
        make_noun_tagger("nltk")


def test_spacy_backend_is_optional_and_auto_falls_back_with_one_warning():
    import importlib.util
    import warnings

    from envs.webshop import nouns

    make_noun_tagger.cache_clear()
    nouns._warned = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        used, fn = make_noun_tagger("auto")
        make_noun_tagger.cache_clear()
        make_noun_tagger("auto")
    assert used in ("spacy", "pattern")
    assert "deodorant" in fn("Sunny Grove Citrus Deodorant Stick")
    if importlib.util.find_spec("spacy") is None:
        assert used == "pattern"
        assert [str(w.message) for w in caught if "noun tagger" in str(w.message)][:1] and \
            sum("noun tagger" in str(w.message) for w in caught) == 1          # once per process
        with pytest.raises(ImportError, match=r"needs spaCy and en_core_web_sm .*agentrl\[webshop\]"):
            make_noun_tagger("spacy")
    else:
        assert used == "spacy" and not caught


def test_pattern_tagger_splits_hyphenated_words_like_spacy():
    assert {"t", "shirt"} <= set(NOUNS("Hanes Men's Short Sleeve T-Shirt"))
