"""``WebShopEnv``: the WebShop text-mode environment (Yao et al. 2022) on agentrl's env API.

By default (``variant="faithful"``) it is the original ``WebAgentTextEnv`` (princeton-nlp/WebShop master,
``observation_mode="text"``) as a user of it sees it:

- actions as the original parses them: the first ``name[argument]`` at the start of the string (``(.+)\[(.+)\]``
  matched from the start, greedy, so ``search[tea] now`` is a search and ``Search[tea]`` or ``search [tea]``
  are not); the argument is lowercased; ``search[...]`` is accepted on any page, ``click[x]`` when ``x`` is one
  of the page's clickables (never ``click[search]``); anything else is a silent no-op (the page is returned
  unchanged, ``info["valid_action"] = False``);
- pages byte-identical to the original's ``text`` mode (or ``observation_mode="text_rich"``): only the search
  page starts with ``WebShop [SEP]``; results pages always show ``Next >`` (past the last one: an empty
  page); ratings show ``N.A.`` and the Reviews page is empty (the original never loads reviews); the done
  page carries the original's MTurk line and hidden debug block;
- the reward of master's ``engine/goal.py`` rule for rule (:mod:`envs.webshop.reward`), never above 1;
- no turn limit in the env (published agent setups impose 15 outside it; set ``max_turns``).

agentrl's improvements are options, each off by default: ``exact_size`` and ``option_text_fallback`` (reward),
``show_available_actions`` (a line listing the valid actions), ``invalid_action_feedback`` (an invalid action
gets an observation saying why), ``show_reviews`` (ratings and reviews from the data), ``show_selected_options``
(item pages start "You have clicked <value>." in ``text`` mode, as ``text_rich`` does), ``lenient_actions``
(the whole string must be one action; case and spaces around it are forgiven). ``variant="agentrl"`` is the
environment agentrl had before it became faithful (all of those on, its earlier option-matching rule and page
chrome, 15 turns, the ``pattern`` tagger) so recipes tuned on it reproduce; each option still overrides it.

For published agent setups (``policies/verl_agent_webshop.py``, ``policies/react_webshop.py``):
``success_reward`` (verl-agent: the reward is this on a full success and 0 otherwise, the score moves to
``info["task_score"]``), ``think_action`` (ReAct: ``think[...]`` is answered ``OK.``, the page stays) and
``agent_context`` (the observation becomes a JSON object with the instruction, the observation, the page's
nodes and clickables, the step and the recent (observation shown, action) pairs, for those policies).

Other differences, on purpose: purchase prices of price ranges and price caps are drawn from a seeded generator
(the original draws them unseeded at start-up), so they are reproducible; the original's debugging searches
(``<r>``, ``<a>``, ``<c>``, ``<q>`` keywords) are ordinary searches here; the episode ends at ``buy now``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentrl.env import AgentEnv, StepResult
from envs.webshop.catalog import generate_catalog
from envs.webshop.data import Catalog, Product, catalog_from_raw, load_original
from envs.webshop.nouns import make_noun_tagger
from envs.webshop.pages import (
    LABEL, LINK, PRODUCT_WINDOW, SUB_PAGES, Page, render_actions, render_done, render_item, render_results,
    render_search, render_sub_page,
)
from envs.webshop.reward import REWARD_RULES, purchase_reward
from envs.webshop.search import SEARCH_RETURN_N, ProductSearch

#: agentrl's lenient grammar: the whole string is one action; case and surrounding spaces are forgiven.
_LENIENT_ACTION = re.compile(r"\s*(search|click)\s*\[(.+)\]\s*", re.IGNORECASE | re.DOTALL)
#: The original's grammar: ``name[argument]`` matched from the start of the string, greedy, one line.
_ORIGINAL_ACTION = re.compile(r"(.+)\[(.+)\]")
#: The price clause the loader appends to every instruction (the oracle's query leaves it out).
_PRICE_CLAUSE = re.compile(r",? and price lower than [\d.]+ dollars\s*$")
ORACLES = ("title", "instruction")
PRODUCT_LINKS = ("asin", "rank")
OBSERVATION_MODES = ("text", "text_rich")
_THINK_ACTION = re.compile(r"\s*think\s*\[", re.IGNORECASE)
THINK_ANSWER = "OK."
HISTORY_KEPT = 8        # steps of history an agent_context observation carries
NO_TURN_LIMIT = 2**31 - 1
#: Defaults of the options per variant: the original's behaviour, and agentrl's before it became faithful.
VARIANTS: dict[str, dict[str, Any]] = {
    "faithful": {"max_turns": None, "noun_tagger": "auto", "show_available_actions": False,
                 "invalid_action_feedback": False, "show_reviews": False, "show_selected_options": False,
                 "lenient_actions": False},
    "agentrl": {"max_turns": 15, "noun_tagger": "pattern", "show_available_actions": True,
                "invalid_action_feedback": True, "show_reviews": True, "show_selected_options": False,
                "lenient_actions": True},
}


@lru_cache(maxsize=8)
def _generated(num_products: int, num_instructions: int, seed: int) -> tuple[Catalog, ProductSearch]:
    raw = generate_catalog(num_products, num_instructions, seed)
    cat = catalog_from_raw(raw.products, raw.attributes, raw.human_instructions, raw.reviews, seed=seed)
    return cat, ProductSearch([p.search_text() for p in cat.products])


@lru_cache(maxsize=4)
def _original(paths: tuple[str, str, str, str | None], num_products: int | None,
              seed: int) -> tuple[Catalog, ProductSearch]:
    cat = load_original(*paths, num_products=num_products, seed=seed)
    return cat, ProductSearch([p.search_text() for p in cat.products])


def load_catalog(data_dir: str | None = None, *, products_file: str = "items_shuffle_1000.json",
                 attributes_file: str = "items_ins_v2_1000.json",
                 human_instructions_file: str = "items_human_ins.json", reviews_file: str | None = "reviews.json",
                 num_products: int | None = None, num_instructions: int = 5000,
                 seed: int = 0) -> tuple[Catalog, ProductSearch]:
    """The catalog and its search index, shared by every env built with the same arguments.

    Without ``data_dir`` the bundled generator makes ``num_products`` (default 1000) products; with it, the
    original files are read from ``data_dir`` (a missing ``reviews_file`` is allowed: ratings show N.A.).
    """
    if data_dir is None:
        return _generated(1000 if num_products is None else int(num_products), int(num_instructions), int(seed))
    d = Path(data_dir).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"WebShop data_dir {str(d)!r} is not a directory")
    reviews = str(d / reviews_file) if reviews_file and (d / reviews_file).is_file() else None
    paths = (str(d / products_file), str(d / attributes_file), str(d / human_instructions_file), reviews)
    return _original(paths, num_products, int(seed))


class WebShopEnv(AgentEnv):
    """WebShop in text mode. Task ids are goal indices as strings (``"0"`` .. ``"N-1"``); splits ``test``
    (goals 0-499), ``eval`` (500-1499) and ``train`` (1500+), as in the original.

    The catalog comes from the bundled generator (no ``data_dir``), from the original files in ``data_dir``,
    or ready-made (``catalog=`` and optionally its ``index=``).

    ``variant`` (``"faithful"`` default, or ``"agentrl"``) sets the defaults of the options left ``None``
    (see the module docstring for what each changes); ``observation_mode`` is ``"text"`` or ``"text_rich"``.

    ``info`` on every step: ``page`` (kind), ``has_search_bar``, ``clickables``, ``selected_options``,
    ``valid_action``; on ``buy now`` also ``asin`` and the reward parts (``r_type``, ``r_att``, ``r_option``,
    ``r_price``, ``title_score``, ``query_match``, ``category_match``, weights and match counts).

    ``results_per_page`` (default 10, the original's) shortens results pages; ``product_links="rank"`` shows
    and clicks a product on a results page by its rank in the results (``click[1]``) instead of its ASIN
    (the original, default); ``clip_reward`` caps the reward at 1 (only the ``agentrl`` rules can exceed it);
    ``oracle`` picks the scripted shopper :meth:`oracle_action` plays: ``"title"`` (default) searches the
    target's exact title, ``"instruction"`` only does what an agent reading the page could learn to do.
    """

    default_policy = "react"

    def __init__(self, data_dir: str | None = None, *, variant: str = "faithful", observation_mode: str = "text",
                 num_products: int | None = None, num_instructions: int = 5000, seed: int = 0,
                 max_turns: int | None = None, noun_tagger: str | None = None,
                 exact_size: bool | None = None, option_text_fallback: bool | None = None,
                 show_available_actions: bool | None = None, invalid_action_feedback: bool | None = None,
                 show_reviews: bool | None = None, show_selected_options: bool | None = None,
                 lenient_actions: bool | None = None, clip_reward: bool = False,
                 success_reward: float | None = None, think_action: bool = False, agent_context: bool = False,
                 products_file: str = "items_shuffle_1000.json",
                 attributes_file: str = "items_ins_v2_1000.json",
                 human_instructions_file: str = "items_human_ins.json",
                 reviews_file: str | None = "reviews.json", catalog: Catalog | None = None,
                 index: ProductSearch | None = None, results_per_page: int = PRODUCT_WINDOW,
                 oracle: str = "title", product_links: str = "asin", **kw: Any):
        if variant not in VARIANTS:
            raise ValueError(f"unknown WebShop variant {variant!r}; accepted: {list(VARIANTS)}")
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"unknown WebShop observation_mode {observation_mode!r}; accepted: "
                             f"{list(OBSERVATION_MODES)}")
        if oracle not in ORACLES:
            raise ValueError(f"unknown WebShop oracle {oracle!r}; accepted: {list(ORACLES)}")
        if product_links not in PRODUCT_LINKS:
            raise ValueError(f"unknown WebShop product_links {product_links!r}; accepted: {list(PRODUCT_LINKS)}")
        if not isinstance(results_per_page, int) or isinstance(results_per_page, bool) or results_per_page < 1:
            raise ValueError(f"results_per_page must be an integer >= 1, got {results_per_page!r}")
        defaults = VARIANTS[variant]
        if max_turns is None:
            max_turns = defaults["max_turns"]
        super().__init__(max_turns=NO_TURN_LIMIT if max_turns is None else max_turns, **kw)
        self.variant = variant
        self.observation_mode = observation_mode
        self.chrome = "agentrl" if variant == "agentrl" else "original"

        def opt(value: bool | None, name: str) -> bool:
            return bool(defaults[name] if value is None else value)

        self.reward_rules = REWARD_RULES[variant].with_options(exact_size, option_text_fallback)
        self.show_available_actions = opt(show_available_actions, "show_available_actions")
        self.invalid_action_feedback = opt(invalid_action_feedback, "invalid_action_feedback")
        self.show_reviews = opt(show_reviews, "show_reviews")
        self.show_selected_options = opt(show_selected_options, "show_selected_options")
        self.lenient_actions = opt(lenient_actions, "lenient_actions")
        if success_reward is not None and (isinstance(success_reward, bool)
                                           or not isinstance(success_reward, (int, float))):
            raise ValueError(f"success_reward must be a number or null, got {success_reward!r}")
        self.success_reward = None if success_reward is None else float(success_reward)
        self.think_action = bool(think_action)
        self.agent_context = bool(agent_context)
        self._history: list[dict[str, str]] = []   # (observation shown, action taken) per step
        self._shown = ""
        self.oracle = oracle
        self.results_per_page = results_per_page
        self.product_links = product_links
        self._qualifies: dict[tuple[int, str], bool] = {}   # (goal index, asin) -> buying it succeeds
        if catalog is not None:     # a catalog built by the caller (e.g. load_original / catalog_from_raw)
            self.catalog = catalog
            self.index = index if index is not None else ProductSearch([p.search_text() for p in catalog.products])
        else:
            self.catalog, self.index = load_catalog(
                data_dir, products_file=products_file, attributes_file=attributes_file,
                human_instructions_file=human_instructions_file, reviews_file=reviews_file,
                num_products=num_products, num_instructions=num_instructions, seed=seed)
        if not self.catalog.goals:
            raise ValueError("the WebShop catalog has no goals (no instruction with attributes)")
        self.noun_tagger, self._nouns = make_noun_tagger(noun_tagger or defaults["noun_tagger"])
        self.clip_reward = bool(clip_reward)
        self.goal = self.catalog.goals[0]
        self._goal_index = 0
        self._reset_session()

    # ------------------------------------------------------------------ session state
    def _reset_session(self) -> None:
        self.keywords: str | None = None
        self._keyword_list: list[str] = []    # the search argument split on ' ', as the original keeps it
        self.results: list[int] = []          # indices into catalog.products, top 50 for `keywords`
        self.results_page = 1
        self.asin: str | None = None
        self.options: dict[str, str] = {}
        self.visited: set[str] = set()        # ASINs opened since the last search page (text_rich marks them)
        self.page: Page = render_search(self.goal.instruction_text, self.chrome)

    def _show_results(self, page: int) -> Page:
        self.results_page = page
        lo = (page - 1) * self.results_per_page
        shown = [self.catalog.products[i] for i in self.results[lo:lo + self.results_per_page]]
        labels = [str(lo + k + 1) for k in range(len(shown))] if self.product_links == "rank" else None
        return render_results(self.goal.instruction_text, shown, page, len(self.results), self.results_per_page,
                              labels, self.chrome)

    def _product(self) -> Product:
        return self.catalog.by_asin[self.asin]

    def _show_item(self) -> Page:
        p = self._product()
        return render_item(self.goal.instruction_text, p, p.rating if self.show_reviews else "N.A.", self.chrome)

    # ------------------------------------------------------------------ AgentEnv hooks
    def task_ids(self, split: str = "train") -> Sequence[str]:
        return [str(i) for i in self.catalog.split(split)]

    def _reset_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        if not task_id.isdigit() or int(task_id) >= len(self.catalog.goals):
            raise ValueError(f"unknown task_id {task_id!r}; expected a goal index in "
                             f"0..{len(self.catalog.goals) - 1} as a string")
        self.goal = self.catalog.goals[int(task_id)]
        self._goal_index = int(task_id)
        self._reset_session()
        self._history = []
        self._shown = self._observation()       # the observation the next action answers (for the history)
        return self._context(self._shown), self._page_info(valid=True)

    def _label_clicked(self, value: str) -> bool:
        # the original marks an option label as clicked when '"<value>"' occurs in the item page's URL, which
        # holds the search keywords ('+'-joined) and the selected options as JSON
        url = f"item_page/{self.asin}/{'+'.join(self._keyword_list)}/{self.results_page}/{json.dumps(self.options)}"
        return f'"{value}"' in url

    def _observation(self, prefix: str = "") -> str:
        if self.observation_mode == "text_rich":
            text = self.page.rich(self._label_clicked, lambda asin: asin in self.visited)
        else:
            if self.show_selected_options and self.page.kind == "item":
                prefix += "".join(f"You have clicked {v}.\n" for v in self.options.values())
            text = self.page.text
        text = prefix + text
        if self.show_available_actions:
            text += "\n" + render_actions(self.page)
        return text

    def _page_info(self, valid: bool) -> dict[str, Any]:
        return {"page": self.page.kind, "has_search_bar": self.page.has_search_bar,
                "clickables": list(self.page.clickables), "selected_options": dict(self.options),
                "valid_action": valid, "instruction": self.goal.instruction_text}

    def _invalid(self, why: str) -> StepResult:
        prefix = f"Invalid action: {why}. The page is unchanged.\n" if self.invalid_action_feedback else ""
        return StepResult(self._observation(prefix=prefix), info=self._page_info(valid=False))

    def _parse(self, action: str) -> tuple[str, str] | str:
        """``(name, lowercased argument)``, or why the action is not one."""
        if self.lenient_actions:
            m = _LENIENT_ACTION.fullmatch(action)
            if m is None:
                return f"{action[:100]!r} is not search[query] or click[element]"
            name, arg = m.group(1).lower(), m.group(2).strip().lower()
            return (name, arg) if arg else f"{name}[] needs a non-empty argument"
        m = _ORIGINAL_ACTION.match(action)
        if m is None or m.group(1) not in ("search", "click"):
            return f"{action[:100]!r} is not search[query] or click[element]"
        return m.group(1), m.group(2).lower()

    def _context(self, observation: str, valid: bool = True) -> str:
        """With ``agent_context``: the observation as a JSON object for prompt-format policies (what verl-agent's
        and ReAct's prompts show: the instruction, the page, its actions, the steps so far); else unchanged."""
        if not self.agent_context:
            return observation
        clicked = {LABEL: self._label_clicked, LINK: lambda asin: asin in self.visited}
        nodes = [[t, role, bool(role in clicked and clicked[role](t))] for t, role in self.page.nodes]
        ctx = {"instruction": self.goal.instruction_text, "observation": observation, "page": self.page.kind,
               "nodes": nodes, "has_search_bar": self.page.has_search_bar, "clickables": list(self.page.clickables),
               "valid_action": valid, "step": self.turn, "history": self._history[-HISTORY_KEPT:]}
        return json.dumps(ctx)

    def _step(self, action: str) -> StepResult:
        if self.think_action and _THINK_ACTION.match(action):
            res = StepResult(THINK_ANSWER, info=self._page_info(valid=True))     # ReAct's reply to think[...]
        else:
            res = self._act(action)
        self._history.append({"observation": self._shown, "action": action})
        self._shown = res.observation
        res.observation = self._context(res.observation, bool(res.info.get("valid_action", True)))
        return res

    def _act(self, action: str) -> StepResult:
        parsed = self._parse(action)
        if isinstance(parsed, str):
            return self._invalid(parsed)
        name, arg = parsed
        if name == "search":
            self.keywords = " ".join(arg.split()) if self.lenient_actions else arg
            self._keyword_list = self.keywords.split(" ")
            self.results = self.index.search(self.keywords, SEARCH_RETURN_N)
            self.asin, self.options = None, {}
            self.page = self._show_results(1)
            return StepResult(self._observation(), info=self._page_info(valid=True))
        if arg == "search" or arg not in self.page.clickables:
            return self._invalid(f"{arg!r} is not clickable on this page")
        return self._click(arg)

    def _click(self, arg: str) -> StepResult:
        kind = self.page.kind
        if arg == "buy now":
            product = self._product()
            reward, parts = purchase_reward(product, self.goal, self.catalog.prices[product.asin],
                                            self.options, self._nouns, self.reward_rules)
            raw_reward = reward
            if self.clip_reward:
                reward = min(reward, 1.0)
            self.page = render_done(product.asin, self.options, reward, self.chrome)
            info = {**self._page_info(valid=True), "asin": product.asin, "goal_asin": self.goal.asin,
                    "raw_reward": raw_reward, **parts}
            success = raw_reward >= self.success_threshold
            if self.success_reward is not None:       # verl-agent: success_reward for a full success, else 0
                info["task_score"] = reward
                reward = self.success_reward if success else 0.0
            return StepResult(self._observation(), reward=float(reward), terminated=True, success=success, info=info)
        if arg == "back to search":
            self._reset_session()
        elif arg == "next >" and kind == "results":
            self.page = self._show_results(self.results_page + 1)
        elif arg == "< prev" and kind == "results":
            self.page = self._show_results(self.results_page - 1)
        elif arg == "< prev" and kind == "item":
            self.asin, self.options = None, {}
            self.page = self._show_results(self.results_page)
        elif arg == "< prev":        # from a sub-page back to its item page
            self.page = self._show_item()
        elif kind == "item" and arg in (s.lower() for s in SUB_PAGES):
            product = self._product()
            reviews = product.reviews if self.show_reviews else []
            self.page = render_sub_page(self.goal.instruction_text, product, arg.title(), reviews, self.chrome)
        elif kind == "item" and arg in self.page.option_groups:
            self.options[self.page.option_groups[arg]] = arg
            self.page = self._show_item()
        elif kind == "results" and self.product_links == "rank":      # a rank, 1-based, among the results
            self._open(self.catalog.products[self.results[int(arg) - 1]].asin)
        elif kind == "results":      # an ASIN (clickables are lowercased; map back to the catalog's spelling)
            self._open(next(self.catalog.products[i].asin for i in self.results
                            if self.catalog.products[i].asin.lower() == arg))
        else:  # pragma: no cover - every clickable is handled above
            return self._invalid(f"{arg!r} cannot be clicked on a {kind} page")
        return StepResult(self._observation(), info=self._page_info(valid=True))

    def _open(self, asin: str) -> None:
        self.asin, self.options = asin, {}
        self.visited.add(asin)
        self.page = self._show_item()

    # ------------------------------------------------------------------ oracle
    def oracle_action(self) -> str | None:
        """The next action of the scripted shopper chosen by ``oracle`` (``None`` once the episode is over).

        ``"title"``: knows the goal's product; searches its exact title, pages to it, opens it, picks the
        goal's option values, buys. Reaches reward 1.0 whenever the target is in the top 50 for its title.

        ``"instruction"``: a shopper whose every step can be read off the page, so demonstrations are
        learnable: searches the instruction (without its price clause), opens the first product on the
        results page that buying with the instruction's option values would fully satisfy (the first result
        for about three goals in four), pages on when none is shown, clicks the instruction's option values,
        buys. If none of the top 50 qualifies it falls back to the title search.
        """
        if self.done:
            return None
        if self.oracle == "instruction":
            return self._oracle_instruction()
        return self._oracle_title()

    def _link(self, rank: int) -> str:
        """The clickable of the product at 0-based ``rank`` in the current results."""
        if self.product_links == "rank":
            return str(rank + 1)
        return self.catalog.products[self.results[rank]].asin.lower()

    def _goal_choices(self, product: Product) -> dict[str, str]:
        """The option values the oracle picks on ``product``: per group, the first value the goal asks for."""
        chosen = {}
        for group, values in product.options.items():
            want = [v for v in values if v in self.goal.goal_options]
            if want:
                chosen[group] = want[0]
        return chosen

    def _option_clicks(self, product: Product) -> str:
        for group, value in self._goal_choices(product).items():
            if self.options.get(group) != value:
                return f"click[{value}]"
        return "click[buy now]"

    def qualifies(self, asin: str) -> bool:
        """Whether buying ``asin`` with the goal's option values reaches success (reward >= 1.0)."""
        key = (self._goal_index, asin)
        if key not in self._qualifies:
            product = self.catalog.by_asin[asin]
            reward, _ = purchase_reward(product, self.goal, self.catalog.prices[asin],
                                        self._goal_choices(product), self._nouns)
            self._qualifies[key] = reward >= self.success_threshold
        return self._qualifies[key]

    def instruction_query(self) -> str:
        """What the ``instruction`` oracle searches: the instruction without its price clause."""
        return _PRICE_CLAUSE.sub("", self.goal.instruction_text).strip()

    def _oracle_instruction(self) -> str:
        kind, title = self.page.kind, self.catalog.by_asin[self.goal.asin].title.lower()
        if kind == "search":
            return f"search[{self.instruction_query()}]"
        if kind == "results":
            lo = (self.results_page - 1) * self.results_per_page
            for k, i in enumerate(self.results[lo:lo + self.results_per_page]):   # the products shown, in order
                if self.qualifies(self.catalog.products[i].asin):
                    return f"click[{self._link(lo + k)}]"
            if self.results_page * self.results_per_page < len(self.results):
                return "click[next >]"
            return f"search[{title}]" if self.keywords != title else "click[back to search]"
        if kind == "item" and not self.qualifies(self.asin):
            return "click[< prev]"
        if kind == "item":
            return self._option_clicks(self.catalog.by_asin[self.asin])
        return "click[< prev]"      # on a sub-page

    def _oracle_title(self) -> str:
        goal, kind = self.goal, self.page.kind
        target = self.catalog.by_asin[goal.asin]
        if kind == "search":
            return f"search[{target.title.lower()}]"
        if kind == "results":
            lo = (self.results_page - 1) * self.results_per_page
            shown = [self.catalog.products[i].asin for i in self.results[lo:lo + self.results_per_page]]
            if goal.asin in shown:
                return f"click[{self._link(lo + shown.index(goal.asin))}]"
            if self.results_page * self.results_per_page < len(self.results):
                return "click[next >]"
            return f"search[{goal.instruction_text}]" if self.keywords == target.title.lower() else \
                "click[back to search]"
        if kind == "item" and self.asin != goal.asin:
            return "click[< prev]"
        if kind == "item":
            return self._option_clicks(target)
        return "click[< prev]"      # on a sub-page
