"""Loading WebShop data (original files or the bundled generator) into products and goals.

Follows the original's preprocessing (``engine.load_products`` and ``goal.get_human_goals``): products with a
bad or duplicate ASIN are skipped, option names and values are lowercased (``/`` becomes `` | ``), prices are
parsed from ``"$a"`` / ``"$a$b"`` strings, a range's purchase price is drawn uniformly inside it, goals with no
attributes are skipped, and a goal's price cap is the larger of two values drawn from the first four of
``10, 20, ..., 990`` above the product's price. The goal list is shuffled with Python's ``random.Random(233)``
exactly like the original, so goal indices (and the test/eval/train splits) line up with it.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

#: Candidate price caps, as in the original (10, 20, ..., 990).
PRICE_RANGE = [10.0 * i for i in range(1, 100)]
#: Goal-index splits of the original: test = goals 0-499, eval = 500-1499, train = 1500 onwards.
SPLITS = {"test": (0, 500), "eval": (500, 1500), "train": (1500, None)}
GOAL_SHUFFLE_SEED = 233


@dataclass
class Product:
    """A product as the env uses it (the original's processed product dict, with typed fields)."""

    asin: str
    title: str
    description: str
    bullet_points: list[str]
    attributes: list[str]
    options: dict[str, list[str]]          # option group (lowercase) -> values (lowercase)
    pricing: list[float]                   # [price] or [low, high]
    price_tag: str                         # "$10.99" or "$10.99 to $15.99"
    category: str
    query: str
    product_category: str
    reviews: list[dict[str, Any]] = field(default_factory=list)   # {title, score, body}
    rating: Any = "N.A."

    def search_text(self) -> str:
        """The text the original indexes: title, description, first bullet point and the option values."""
        first_bullet = self.bullet_points[0] if self.bullet_points else ""
        opts = ", and ".join(f"{k}: {', '.join(v)}" for k, v in self.options.items())
        return f"{self.title} {self.description} {first_bullet} {opts}".lower()


@dataclass
class Goal:
    """A shopping instruction with what the reward checks."""

    asin: str
    instruction_text: str
    attributes: list[str]
    goal_options: list[str]
    price_upper: float
    name: str
    query: str
    category: str
    product_category: str


@dataclass
class Catalog:
    """Products, their purchase prices and the shuffled goal list."""

    products: list[Product]
    prices: dict[str, float]
    goals: list[Goal]

    def __post_init__(self) -> None:
        self.by_asin = {p.asin: p for p in self.products}

    def split(self, name: str) -> range:
        """Goal indices of split ``name`` (``test``, ``eval`` or ``train``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; accepted: {sorted(SPLITS)}")
        lo, hi = SPLITS[name]
        n = len(self.goals)
        return range(min(lo, n), n if hi is None else min(hi, n))


def parse_pricing(pricing: Any) -> tuple[list[float], str]:
    """``"$12.99"`` -> ``([12.99], "$12.99")``; ``"$10.99$15.99"`` -> ``([10.99, 15.99], "$10.99 to $15.99")``;
    missing -> ``([100.0], "$100.0")`` as in the original."""
    if not pricing:
        return [100.0], "$100.0"
    values = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in str(pricing).split("$")[1:]
              if re.sub(r"[^\d.]", "", part)]
    if not values:
        return [100.0], "$100.0"
    if len(values) == 1:
        return values, f"${values[0]}"
    return values[:2], f"${values[0]} to ${values[1]}"


def build_products(raw_products: list[dict[str, Any]], attributes: dict[str, dict[str, Any]],
                   reviews: list[dict[str, Any]] | None = None,
                   num_products: int | None = None) -> list[Product]:
    """Turn raw records in the original ``items_shuffle`` layout into :class:`Product` objects."""
    if num_products is not None:
        raw_products = raw_products[:num_products]
    review_map: dict[str, list[dict[str, Any]]] = {}
    rating_map: dict[str, Any] = {}
    for r in reviews or []:
        review_map[r["asin"]] = r.get("reviews") or []
        rating_map[r["asin"]] = r.get("average_rating")
    out: list[Product] = []
    seen: set[str] = set()
    for p in raw_products:
        asin = str(p.get("asin"))
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        pricing, tag = parse_pricing(p.get("pricing"))
        options: dict[str, list[str]] = {}
        for opt_name, contents in (p.get("customization_options") or {}).items():
            if contents is None:
                continue
            options[opt_name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
        bullets = p.get("small_description")
        bullets = bullets if isinstance(bullets, list) else [bullets or ""]
        revs = [{"title": r.get("title", ""), "score": r.get("score", r.get("stars", 0)),
                 "body": r.get("body", r.get("review", ""))} for r in review_map.get(asin, [])]
        rating = rating_map.get(asin)
        attr_rec = attributes.get(asin) or {}
        # as the original: an ``attributes`` entry is used as it is (an empty list stays empty); only a product
        # with no entry gets the placeholder ``DUMMY_ATTR``
        prod_attrs = list(attr_rec.get("attributes") or []) if "attributes" in attr_rec else ["DUMMY_ATTR"]
        out.append(Product(
            asin=asin, title=p.get("name") or "", description=p.get("full_description") or "",
            bullet_points=bullets, attributes=prod_attrs,
            options=options, pricing=pricing, price_tag=tag, category=p.get("category", ""),
            query=str(p.get("query", "")).lower().strip(), product_category=p.get("product_category", ""),
            reviews=revs, rating="N.A." if rating is None else rating))
    return out


def purchase_prices(products: list[Product], rng: np.random.Generator) -> dict[str, float]:
    """The price paid for each product: its single price, or uniform within its range (as the original)."""
    return {p.asin: (p.pricing[0] if len(p.pricing) == 1 else float(rng.uniform(*p.pricing[:2])))
            for p in products}


def build_goals(products: list[Product], prices: dict[str, float],
                human_instructions: dict[str, list[dict[str, Any]]], rng: np.random.Generator) -> list[Goal]:
    """Goals from human instructions (``items_human_ins`` layout), shuffled like the original."""
    goals: list[Goal] = []
    for p in products:
        for ins in human_instructions.get(p.asin, []):
            attrs = list(ins.get("instruction_attributes") or [])
            if not attrs:
                continue
            price = prices[p.asin]
            caps = [c for c in PRICE_RANGE if c > price][:4]
            if len(caps) >= 2:
                pick = rng.choice(len(caps), size=2, replace=False)
                price_upper = max(caps[int(pick[0])], caps[int(pick[1])])
                price_text = f", and price lower than {price_upper:.2f} dollars"
            else:
                price_upper, price_text = 1_000_000.0, ""
            opts = ins.get("instruction_options") or []
            if isinstance(opts, dict):
                opts = list(opts.values())
            goals.append(Goal(asin=p.asin, instruction_text=ins["instruction"].strip(".") + price_text,
                              attributes=attrs, goal_options=[str(o) for o in opts], price_upper=price_upper,
                              name=p.title, query=p.query, category=p.category,
                              product_category=p.product_category))
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return goals


def _read_json(path: str | Path, what: str) -> Any:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"WebShop {what} file not found: {str(path)!r}")
    with path.open() as f:
        return json.load(f)


def load_original(products_path: str | Path, attributes_path: str | Path, human_instructions_path: str | Path,
                  reviews_path: str | Path | None = None, num_products: int | None = None,
                  seed: int = 0) -> Catalog:
    """Load the original WebShop files (``items_shuffle[_1000].json``, ``items_ins_v2[_1000].json``,
    ``items_human_ins.json`` and optionally ``reviews.json``). ``num_products`` keeps the first N products
    like the original's ``num_products``; ``seed`` fixes purchase prices of ranges and price caps."""
    raw = _read_json(products_path, "products")
    if not isinstance(raw, list):
        raise ValueError(f"{str(products_path)!r}: expected a JSON list of products, got {type(raw).__name__}")
    attrs = _read_json(attributes_path, "attributes")
    human = _read_json(human_instructions_path, "human instructions")
    reviews = _read_json(reviews_path, "reviews") if reviews_path else None
    return catalog_from_raw(raw, attrs, human, reviews, num_products=num_products, seed=seed)


def catalog_from_raw(raw_products: list[dict[str, Any]], attributes: dict[str, dict[str, Any]],
                     human_instructions: dict[str, list[dict[str, Any]]],
                     reviews: list[dict[str, Any]] | None = None, num_products: int | None = None,
                     seed: int = 0) -> Catalog:
    """Build a :class:`Catalog` from already-loaded records in the original layouts."""
    products = build_products(raw_products, attributes, reviews, num_products)
    if not products:
        raise ValueError("the WebShop product list is empty (after skipping bad or duplicate ASINs)")
    rng = np.random.default_rng(seed)
    prices = purchase_prices(products, rng)
    goals = build_goals(products, prices, human_instructions, rng)
    return Catalog(products, prices, goals)
