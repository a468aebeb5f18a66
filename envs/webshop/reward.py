"""The WebShop purchase reward: the original's ``engine/goal.py`` (master) rule for rule, with options.

``total = (n_attributes_matched + n_options_matched + [price <= price_upper])
          / (n_goal_attributes + n_goal_options + 1) * r_type``

Faithful rules (:data:`FAITHFUL`, the default):

- attribute matched: some product attribute scores > 85, else the goal attribute is a substring of the
  lowercased title, bullet points or description;
- option matched: the loop runs over the *goal's* options; a goal option counts once if some chosen value
  scores > 85 against it (every option group, sizes included); colours are normalised on both sides first with
  master's colour list (:data:`MASTER_COLORS`); no text fallback -- so the total never exceeds 1;
- score = token-set ratio rounded to an integer, after the ``thefuzz`` preprocessing (characters 128-255
  dropped, then lowercase and non-alphanumerics to spaces), i.e. ``thefuzz.fuzz.token_set_ratio`` of
  ``thefuzz`` >= 0.20 (computed here with ``rapidfuzz``, which that version runs underneath);
- ``r_type``: share of the goal name's nouns found among the purchased name's nouns (``title_score``; 0.2 when
  the goal name has none); 1.0, but 0.5 when neither the query matches, nor >= 2 ``›`` category levels are
  shared, nor ``title_score > 0.2``; 0.1 when ``title_score < 0.1``; 0.0 when it is 0.

Options (:class:`RewardRules`): ``exact_size`` (a ``size`` group's value must equal a goal option, as on the
unmerged ``v2`` branch), ``text_fallback`` (a goal option no chosen value matched still counts when it is a
substring of the title, bullets or description, as ``v2`` does; the total stays <= 1). :data:`AGENTRL` is the
rule set agentrl used before it became faithful (loop over the *chosen* options, exact sizes, a chosen value
found in the product text counts, unrounded scores, its own colour list) -- kept so recipes tuned on it
reproduce; it can exceed 1 when extra options are chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from rapidfuzz import fuzz, utils

from envs.webshop.data import Goal, Product

FUZZY_THRESHOLD = 85
SIZE_GROUPS = ("size",)

#: Colour words of the original's ``web_agent_site/engine/normalize.py`` (``COLOR_SET``, master), in its order:
#: the first one contained in a value replaces it.
MASTER_COLORS = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral", "cranberry", "cream",
    "crystal", "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite", "grape",
    "graphite", "grass", "gray", "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender",
    "lemon", "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint",
    "mocha", "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive", "orange", "peach",
    "pewter", "pink", "plum", "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire",
    "seashell", "silver", "skull", "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal",
    "tiger", "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
)

#: The colour list agentrl used before (only for :data:`AGENTRL`).
AGENTRL_COLORS = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "clear", "coffee", "cognac", "copper", "coral", "cream", "denim", "ecru",
    "emerald", "espresso", "fuchsia", "gold", "granite", "gray", "green", "grey", "heather", "indigo",
    "ivory", "khaki", "lavender", "leopard", "lilac", "lime", "magenta", "mahogany", "maroon", "mauve",
    "mint", "mocha", "multicolor", "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter",
    "pink", "plum", "purple", "raspberry", "red", "rose", "rust", "salmon", "sand", "silver", "slate",
    "tan", "taupe", "teal", "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
)
COLORS = MASTER_COLORS

_LATIN1 = {i: None for i in range(128, 256)}     # thefuzz's force_ascii drops exactly these code points


@dataclass(frozen=True)
class RewardRules:
    """How options are scored. ``loop`` is ``"goal"`` (master) or ``"chosen"`` (agentrl's earlier rule)."""

    loop: str = "goal"
    exact_size: bool = False
    text_fallback: bool = False
    rounded: bool = True
    colors: tuple[str, ...] = MASTER_COLORS

    def __post_init__(self) -> None:
        if self.loop not in ("goal", "chosen"):
            raise ValueError(f"RewardRules.loop must be 'goal' or 'chosen', got {self.loop!r}")

    def with_options(self, exact_size: bool | None = None, text_fallback: bool | None = None) -> RewardRules:
        """These rules with ``exact_size`` / ``text_fallback`` overridden where not ``None``."""
        kw = {k: bool(v) for k, v in (("exact_size", exact_size), ("text_fallback", text_fallback)) if v is not None}
        return replace(self, **kw)


FAITHFUL = RewardRules()
AGENTRL = RewardRules(loop="chosen", exact_size=True, text_fallback=True, rounded=False, colors=AGENTRL_COLORS)
REWARD_RULES = {"faithful": FAITHFUL, "agentrl": AGENTRL}


def normalize_color(value: str, colors: tuple[str, ...] = MASTER_COLORS) -> str:
    """The first colour word of ``colors`` contained in ``value``, or ``value`` unchanged."""
    for c in colors:
        if c in value:
            return c
    return value


def fuzzy_score(a: str, b: str, rounded: bool = True) -> float:
    """Token-set ratio of ``a`` and ``b`` as ``thefuzz`` computes it (an integer when ``rounded``)."""
    if rounded:
        return int(round(fuzz.token_set_ratio(a.translate(_LATIN1), b.translate(_LATIN1),
                                              processor=utils.default_process)))
    return fuzz.token_set_ratio(a, b, processor=utils.default_process)


def _in_text(value: str, product: Product) -> bool:
    return (value in product.title.lower() or value in " ".join(product.bullet_points).lower()
            or value in product.description.lower())


def type_reward(product: Product, goal: Goal, nouns: Callable[[str], tuple[str, ...]]) -> dict[str, Any]:
    """``r_type`` with its parts ``query_match``, ``category_match`` and ``title_score``."""
    query_match = product.query == goal.query
    bought_cats = {x.strip() for x in product.product_category.split("›")}
    goal_cats = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(bought_cats & goal_cats) >= 2
    bought_nouns, goal_nouns = set(nouns(product.title)), list(nouns(goal.name))
    title_score = 0.2 if not goal_nouns else len(bought_nouns & set(goal_nouns)) / len(goal_nouns)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match,
            "title_score": title_score}


def attribute_reward(product: Product, goal: Goal, rules: RewardRules = FAITHFUL) -> tuple[float, int]:
    """(share of goal attributes matched, number matched)."""
    n = 0
    for g in goal.attributes:
        if any(fuzzy_score(p, g, rules.rounded) > FUZZY_THRESHOLD for p in product.attributes) \
                or _in_text(g, product):
            n += 1
    return (n / len(goal.attributes) if goal.attributes else 0.0), n


def option_reward(product: Product, goal_options: list[str], chosen: dict[str, str],
                  rules: RewardRules = FAITHFUL) -> tuple[float | None, int]:
    """(share of goal options matched or ``None`` if the goal has none, number matched)."""
    goals_norm = [normalize_color(o, rules.colors) for o in goal_options]
    chosen_norm = {k: normalize_color(v, rules.colors) for k, v in chosen.items()}
    n = 0
    if rules.loop == "goal":
        for g in goals_norm:
            matched = False
            for key, value in chosen_norm.items():
                if rules.exact_size and key.lower() in SIZE_GROUPS:
                    ok = value == g
                else:
                    ok = fuzzy_score(value, g, rules.rounded) > FUZZY_THRESHOLD
                if ok:
                    matched = True
                    break
            if matched or (rules.text_fallback and _in_text(g, product)):
                n += 1
    else:                 # agentrl's earlier rule: one match per chosen option that fits a goal option
        for key, value in chosen_norm.items():
            if rules.exact_size and key.lower() in SIZE_GROUPS:
                matched = value in goals_norm
            else:
                matched = any(fuzzy_score(g, value, rules.rounded) > FUZZY_THRESHOLD for g in goals_norm)
            if matched or (rules.text_fallback and _in_text(value, product)):
                n += 1
    return (n / len(goal_options) if goal_options else None), n


def purchase_reward(product: Product, goal: Goal, price: float, chosen_options: dict[str, str],
                    nouns: Callable[[str], tuple[str, ...]],
                    rules: RewardRules = FAITHFUL) -> tuple[float, dict[str, Any]]:
    """Total reward of buying ``product`` at ``price`` with ``chosen_options`` for ``goal``, and its parts."""
    rt = type_reward(product, goal, nouns)
    r_price = price <= goal.price_upper if goal.price_upper > 0 else None
    r_att, n_att = attribute_reward(product, goal, rules)
    r_option, n_opt = option_reward(product, goal.goal_options, chosen_options, rules)
    denom = len(goal.attributes) + len(goal.goal_options) + 1
    total = (n_att + n_opt + int(bool(r_price))) / denom * rt["r_type"]
    info = {**rt, "r_att": r_att, "r_option": r_option, "r_price": r_price,
            "w_att": len(goal.attributes) / denom, "w_option": len(goal.goal_options) / denom,
            "w_price": 1 / denom, "num_attr_matches": n_att, "num_option_matches": n_opt}
    return total, info
