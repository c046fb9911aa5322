"""Token embeddings with named, interpretable features.

Every token gets a vector whose dimensions mean something a viewer can read:
``noun``, ``verb``, ``determiner``, ``linking`` (prepositions, conjunctions),
``modifier`` (adjectives, adverbs) and ``place``. The base vector comes from

1. the lexicon of common English words in ``assets/lexicon.json``, else
2. suffix and shape rules (``-ly`` is a modifier, ``-ing`` a verb, digits a number, ...),
   else the ``noun`` class, since most unknown words are nouns;

then a small deterministic jitter (from BLAKE2b of the lower-cased word, so it is the
same on every run and machine) is added so two words of one class still differ.
Values are rounded to 2 decimals: what the video shows is exactly what is used.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "assets"
JITTER = 0.05  # largest per-feature jitter, either sign

# (suffix, class), longest first; applied to the lower-cased word when it is not in the lexicon
SUFFIX_RULES = (
    ("ness", "noun"), ("ment", "noun"), ("tion", "noun"), ("sion", "noun"), ("ship", "noun"),
    ("hood", "noun"), ("ity", "noun"), ("ism", "noun"), ("ist", "noun"),
    ("ing", "verb"), ("ize", "verb"), ("ise", "verb"), ("ed", "verb"),
    ("ous", "adjective"), ("ful", "adjective"), ("less", "adjective"), ("able", "adjective"),
    ("ible", "adjective"), ("ive", "adjective"), ("ic", "adjective"), ("al", "adjective"),
    ("ly", "adverb"),
)  # fmt: skip


@lru_cache(maxsize=1)
def lexicon() -> dict:
    """The shipped lexicon: ``feature_names``, ``classes`` (name -> vector), ``words``."""
    with open(ASSETS / "lexicon.json", encoding="utf-8") as f:
        return json.load(f)


def feature_names() -> tuple[str, ...]:
    return tuple(lexicon()["feature_names"])


def word_class(token: str) -> str:
    """The lexicon class of ``token``, or the class the shape rules give it."""
    lex = lexicon()
    low = token.lower()
    if low in lex["words"]:
        return lex["words"][low]
    if all(unicodedata.category(c).startswith(("P", "S")) for c in token):
        return "punctuation"
    if any(c.isdigit() for c in token) and not any(c.isalpha() for c in token):
        return "number"
    for suffix, cls in SUFFIX_RULES:
        if low.endswith(suffix) and len(low) > len(suffix) + 2:
            return cls
    return "noun"


def jitter(token: str, d: int) -> np.ndarray:  # -> [d]
    """Deterministic per-word offsets in [-JITTER, JITTER] (not Python's salted hash())."""
    digest = hashlib.blake2b(token.lower().encode("utf-8"), digest_size=d).digest()
    return (np.frombuffer(digest, dtype=np.uint8) / 255.0 * 2 - 1) * JITTER


def embed(tokens: tuple[str, ...]) -> np.ndarray:  # -> [n, d_model]
    """Embedding matrix X: one row per token, one column per named feature."""
    classes = lexicon()["classes"]
    d = len(feature_names())
    rows = [
        np.asarray(classes[word_class(tok)], dtype=float) + jitter(tok, d)
        for tok in tokens
    ]
    return np.round(np.stack(rows), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
