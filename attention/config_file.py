"""``--config FILE.toml``: the sentence, the math options, the theme, and optionally a teacher's
own numbers (feature names, per-word embeddings, W matrices). Every problem is one line that
names the key and says what is wrong.

    sentence = "The cat sat on the mat"
    theme = "light"                  # dark | light
    causal = false                   # and every other math option: scale, temperature, ...
    feature_names = ["noun", "verb", "place"]

    [embeddings]                     # one vector per word (matched case-insensitively)
    the = [0.0, 0.0, 0.0]
    cat = [1.0, 0.0, 0.0]

    [weights]                        # d_model x d_k each (W_v may have its own width)
    Wq = [[1, 0], [0, 1], [0, 0]]
    Wk = [[1, 0], [0, 1], [0, 0]]
    Wv = [[1, 0], [0, 1], [0, 1]]
"""

from __future__ import annotations

import math
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core import MATH_OPTIONS
from .errors import QKVError
from .tokenize import MAX_TOKEN_CHARS

# The math options, as the file spells them: one key per option (attention.core.MATH_OPTIONS);
# a float option also takes a whole number.
MATH_KEYS = {o.name: (int, float) if o.kind is float else o.kind for o in MATH_OPTIONS}
TOP_KEYS = {"sentence", "theme", "feature_names", "embeddings", "weights", *MATH_KEYS}
THEMES = ("dark", "light")


@dataclass(frozen=True)
class CustomNumbers:
    """A teacher's own numbers; any part may be missing (None)."""

    feature_names: tuple[str, ...] | None = None
    embeddings: dict[str, np.ndarray] | None = None  # lower-cased word -> [d_model]
    weights: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # Wq, Wk, Wv


@dataclass(frozen=True)
class ConfigFile:
    sentence: str | None = None
    theme: str | None = None
    math: dict = field(default_factory=dict)  # only the keys the file sets
    custom: CustomNumbers = field(default_factory=CustomNumbers)


def _fail(key: str, what: str) -> QKVError:
    return QKVError(f"config: {key} {what}")


def _matrix(value, key: str, rows: int | None) -> np.ndarray:
    shape_hint = f"a list of {rows} rows" if rows else "a list of rows"
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise _fail(key, f"must be {shape_hint} of numbers, e.g. [[1.0, 0.0], [0.0, 1.0]]")
    widths = {len(r) for r in value}
    if len(widths) != 1 or 0 in widths:
        raise _fail(key, "must have rows of one length")
    if rows is not None and len(value) != rows:
        raise _fail(key, f"has {len(value)} rows; it needs {rows} (one per feature)")
    return np.array([_vector(r, f"{key}[{i}]") for i, r in enumerate(value)])


def _vector(value, key: str, length: int | None = None) -> np.ndarray:
    if not isinstance(value, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise _fail(key, "must be a list of numbers")
    if not all(math.isfinite(x) for x in value):
        raise _fail(key, "contains nan or inf; use finite numbers")
    if length is not None and len(value) != length:
        raise _fail(key, f"has {len(value)} numbers; it needs {length} (one per feature)")
    return np.array(value, dtype=float)


def _label(value, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, "must be a non-empty string")
    if len(value) > MAX_TOKEN_CHARS or any(unicodedata.category(c).startswith("C")
                                           for c in value):
        raise _fail(key, f"must be printable and at most {MAX_TOKEN_CHARS} characters")
    return value


def parse_config(data: dict) -> ConfigFile:
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise _fail(repr(unknown[0]), f"is not a known key; use {', '.join(sorted(TOP_KEYS))}")
    sentence = data.get("sentence")
    if sentence is not None and not isinstance(sentence, str):
        raise _fail("sentence", "must be a string")
    theme = data.get("theme")
    if theme is not None and theme not in THEMES:
        raise _fail("theme", f"must be one of {', '.join(THEMES)}")
    math_opts = {}
    for o in MATH_OPTIONS:
        if o.name not in data:
            continue
        value, kind = data[o.name], MATH_KEYS[o.name]
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            what = {bool: "true/false", str: "string"}.get(kind, "number")
            raise _fail(o.name, f"must be a {what}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(o.name, "must be a finite number")
        if o.choices and value not in o.choices:
            raise _fail(o.name, f"must be one of {', '.join(o.choices)}")
        math_opts[o.name] = value

    names = None
    if "feature_names" in data:
        raw = data["feature_names"]
        if not isinstance(raw, list) or not 1 <= len(raw) <= 8:
            raise _fail("feature_names", "must be a list of 1 to 8 names")
        names = tuple(_label(n, f"feature_names[{i}]") for i, n in enumerate(raw))
    d_model = len(names) if names else None

    embeddings = None
    if "embeddings" in data:
        table = data["embeddings"]
        if not isinstance(table, dict) or not table:
            raise _fail("embeddings", "must be a table of word = [numbers]")
        if d_model is None:
            raise _fail("embeddings", "needs feature_names, one name per number")
        embeddings = {_label(w, f"embeddings key {w!r}").lower():
                      _vector(v, f"embeddings.{w}", d_model) for w, v in table.items()}

    weights = None
    if "weights" in data:
        table = data["weights"]
        if not isinstance(table, dict) or set(table) != {"Wq", "Wk", "Wv"}:
            raise _fail("weights", "must be a table with exactly Wq, Wk and Wv")
        rows = d_model or 6
        wq, wk, wv = (_matrix(table[k], f"weights.{k}", rows) for k in ("Wq", "Wk", "Wv"))
        if wq.shape != wk.shape:
            raise _fail("weights.Wk", f"must have the shape of Wq, {wq.shape[0]} x {wq.shape[1]}")
        if wv.shape[1] > 8 or wq.shape[1] > 8:
            raise _fail("weights", "may have at most 8 columns")
        weights = (wq, wk, wv)
    if names is not None and embeddings is None and weights is None:
        raise _fail("feature_names", "needs embeddings (and weights) to go with it")
    if names is not None and len(names) != 6 and weights is None:
        raise _fail("weights", f"are needed: the built-in ones expect 6 features, not {len(names)}")
    if weights is not None and math_opts.get("heads", 1) != 1:
        raise _fail("heads", "must be 1 with your own weights")
    return ConfigFile(sentence, theme, math_opts, CustomNumbers(names, embeddings, weights))


def load_config(path: str | Path) -> ConfigFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QKVError(f"config: {str(path)!r} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise QKVError(f"config: cannot read {str(path)!r} as UTF-8 text ({err.__class__.__name__})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise QKVError(f"config: {str(path)!r} is not valid TOML ({err})") from None
    return parse_config(data)
