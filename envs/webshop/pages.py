"""Pages of the WebShop text modes: their visible strings, clickables, and the ``text`` / ``text_rich`` views.

A :class:`Page` holds the page's visible text nodes in document order, each with its role (plain text, a
button, an option label, a product link), exactly as the original's HTML templates produce them once parsed;
:attr:`Page.text` is the original's ``observation_mode="text"`` view (nodes stripped, joined with `` [SEP] ``)
and :meth:`Page.rich` its ``"text_rich"`` view (``[button] … [button_]`` marks, one node a line).

Whitespace follows the original's HTML parser: a value that is only ASCII whitespace disappears when it holds
a newline and becomes one empty node otherwise (e.g. an empty bullet point on the Features page).

``chrome="agentrl"`` renders agentrl's earlier pages instead (``WebShop`` heading on every page, ``Next >`` only
when there is a next page, ``No Features`` / ``No reviews found`` placeholders, a short done page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from envs.webshop.data import Product

SEP = " [SEP] "
PRODUCT_WINDOW = 10
BACK_TO_SEARCH = "Back to Search"
NEXT_PAGE = "Next >"
PREV_PAGE = "< Prev"
BUY_NOW = "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")
CHROMES = ("original", "agentrl")
_ASCII_SPACE = frozenset(" \n\t\f\r")

TEXT, BUTTON, LABEL, LINK = "text", "button", "label", "link"


def _node(value: str, role: str = TEXT) -> list[tuple[str, str]]:
    """The text node(s) an HTML element with content ``value`` yields once parsed (0 or 1)."""
    if value == "":
        return []
    if all(c in _ASCII_SPACE for c in value):
        return [] if "\n" in value else [(" ", role)]
    return [(value, role)]


@dataclass
class Page:
    """One rendered page: kind (search/results/item/description/features/reviews/done), nodes, clickables."""

    kind: str
    nodes: list[tuple[str, str]]
    clickables: list[str]
    has_search_bar: bool = False
    option_groups: dict[str, str] = field(default_factory=dict)   # clickable option value -> its group

    @property
    def texts(self) -> list[str]:
        """The visible strings, stripped (the segments of :attr:`text`)."""
        return [t.strip() for t, _ in self.nodes]

    @property
    def text(self) -> str:
        """The original's ``text`` observation."""
        return SEP.join(self.texts)

    def rich(self, label_clicked: Any = None, link_clicked: Any = None) -> str:
        """The original's ``text_rich`` observation. ``label_clicked(value)`` / ``link_clicked(asin)`` say which
        option labels and product links show as clicked (an item page starts with a line per clicked label,
        the last one on the page first)."""
        out = ""
        for t, role in self.nodes:
            if role == BUTTON:
                piece = f"[button] {t} [button_]"
            elif role == LABEL and label_clicked is not None and label_clicked(t):
                piece = f"  [clicked button] {t} [clicked button_]"
                out = f"You have clicked {t}.\n" + out
            elif role == LABEL:
                piece = f"  [button] {t} [button_]"
            elif role == LINK and link_clicked is not None and link_clicked(t):
                piece = f"\n[clicked button] {t} [clicked button_]"
            elif role == LINK:
                piece = f"\n[button] {t} [button_]"
            else:
                piece = t
            out += piece + "\n"
        return out


def _header(instruction: str, chrome: str, search_page: bool = False) -> list[tuple[str, str]]:
    # The original's search page has the "WebShop" heading and "Instruction: " (trailing space); the others
    # have neither heading nor space.
    if chrome == "agentrl":
        return [("WebShop", TEXT), ("Instruction:", TEXT), *_node(instruction)]
    if search_page:
        return [("WebShop", TEXT), ("Instruction: ", TEXT), *_node(instruction)]
    return [("Instruction:", TEXT), *_node(instruction)]


def render_search(instruction: str, chrome: str = "original") -> Page:
    return Page("search", [*_header(instruction, chrome, True), ("Search", BUTTON)], ["search"],
                has_search_bar=True)


def render_results(instruction: str, products: list[Product], page: int, total: int,
                   per_page: int = PRODUCT_WINDOW, labels: list[str] | None = None,
                   chrome: str = "original") -> Page:
    """Results page ``page`` (1-based) showing ``products`` (at most ``per_page``) of ``total`` hits; each
    product is shown and clicked by its ASIN, or by ``labels`` when given. The original always shows
    ``Next >`` (past the last page it leads to an empty page); ``chrome="agentrl"`` only when there is more."""
    nodes = [*_header(instruction, chrome), (BACK_TO_SEARCH, BUTTON), (f"Page {page} (Total results: {total})", TEXT)]
    clickables = [BACK_TO_SEARCH.lower()]
    if page > 1:
        nodes.append((PREV_PAGE, BUTTON))
        clickables.append(PREV_PAGE.lower())
    if chrome != "agentrl" or page * per_page < total:
        nodes.append((NEXT_PAGE, BUTTON))
        clickables.append(NEXT_PAGE.lower())
    for k, p in enumerate(products):
        label = p.asin if labels is None else labels[k]
        nodes += [*_node(label, LINK), *_node(p.title), *_node(p.price_tag)]
        if label.lower() not in clickables:
            clickables.append(label.lower())
    return Page("results", nodes, clickables)


def render_item(instruction: str, product: Product, rating: Any = "N.A.", chrome: str = "original") -> Page:
    """Item page: option groups with their values, title, price, rating and the sub-page / buy buttons."""
    nodes = [*_header(instruction, chrome), (BACK_TO_SEARCH, BUTTON), (PREV_PAGE, BUTTON)]
    option_groups: dict[str, str] = {}
    for group, values in product.options.items():
        nodes += _node(group)
        for v in values:
            nodes += _node(v, LABEL)
            option_groups[v] = group
    nodes += [*_node(product.title), (f"Price: {product.price_tag}", TEXT), (f"Rating: {rating}", TEXT),
              *((s, BUTTON) for s in SUB_PAGES), (BUY_NOW, BUTTON)]
    clickables = [BACK_TO_SEARCH.lower(), PREV_PAGE.lower(), *(s.lower() for s in SUB_PAGES), BUY_NOW.lower()]
    clickables += [v for v in option_groups if v not in clickables]
    return Page("item", nodes, clickables, option_groups=option_groups)


def render_sub_page(instruction: str, product: Product, sub_page: str,
                    reviews: list[dict[str, Any]] | None = None, chrome: str = "original") -> Page:
    """The Description, Features or Reviews page of ``product`` (``reviews`` shown on the last; the original
    never loads reviews, so it shows none)."""
    nodes = [*_header(instruction, chrome), (BACK_TO_SEARCH, BUTTON), (PREV_PAGE, BUTTON)]
    legacy = chrome == "agentrl"
    if sub_page == "Description":
        nodes += [n for n in _node(product.description) if not legacy or n[0].strip()]
    elif sub_page == "Features":
        if legacy:
            nodes += [(b, TEXT) for b in product.bullet_points if b] or [("No Features", TEXT)]
        else:
            for b in product.bullet_points:
                nodes += _node(f" {b}")
    elif sub_page == "Reviews":
        for r in reviews or []:
            nodes += [*_node(f'"{r["title"]}"'), *_node(str(r["score"])), *_node(str(r["body"]))]
        if legacy and not reviews:
            nodes.append(("No reviews found", TEXT))
    else:
        raise ValueError(f"unknown sub-page {sub_page!r}; accepted: {list(SUB_PAGES)}")
    return Page(sub_page.lower(), nodes, [BACK_TO_SEARCH.lower(), PREV_PAGE.lower()])


def _flask_tojson(obj: Any) -> str:
    """``obj`` as the original's templates print it with Flask's ``tojson`` filter (sorted keys, HTML-safe)."""
    s = json.dumps(obj, sort_keys=True)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")


def render_done(asin: str, options: dict[str, str], reward: float, chrome: str = "original") -> Page:
    """The page after ``buy now``. The original's includes its MTurk code line and a block hidden by CSS (but
    not from the text modes) with the purchase's details, most of them unset (``None``) in the text env."""
    if chrome == "agentrl":
        opts = ", ".join(f"{k}: {v}" for k, v in options.items()) or "none"
        texts = ["Thank you for shopping with us!", "Purchased", asin, f"options: {opts}",
                 "Your score (min 0.0, max 1.0)", f"{reward:.4g}"]
        return Page("done", [(t, TEXT) for t in texts], [])
    texts = ["Thank you for shopping with us!", "Your code: ", "None", " (Paste it in your MTurk interface.)",
             "Purchased", "asin", asin, "options", _flask_tojson(options), "attrs", "None", "category", "None",
             "query", "None", "product category", "None", "Target", "asin", "options", "attrs", "price upper",
             "instuction text", "category", "product category", "query", "Goal ", "None", "Reward",
             "Your score (min 0.0, max 1.0)", str(reward), "Reward Details ", "None"]
    return Page("done", [n for t in texts for n in _node(t)], [])


def render_actions(page: Page) -> str:
    """The page's available actions, as a line appended to the observation (an agentrl option)."""
    acts = ["search[<your query>]"] if page.has_search_bar else []
    acts += [f"click[{c}]" for c in page.clickables if c != "search"]
    return "Available actions: " + (", ".join(acts) if acts else "none (episode over)")
