"""Scaled dot-product self-attention, every intermediate kept.

Conventions (pinned, scenes rely on them): rows are queries, columns are keys, and the
softmax runs over the last axis, so every row of ``weights`` sums to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .embeddings import embed, feature_names
from .errors import QKVError
from .tokenize import tokenize
from .weights import ATTENTION_DIMS, W_K, W_Q, W_V, random_weights


@dataclass(frozen=True)
class AttentionConfig:
    """Every math option, in one object passed down (as black passes its Mode)."""

    causal: bool = False  # mask keys after the query (decoder-style)
    scale: bool = True  # divide scores by sqrt(d_head)
    temperature: float = 1.0  # divide scores by this too; > 0
    heads: int = 1  # number of heads; must divide d_model when > 1
    seed: int | None = None  # None: hand-designed weights; an int: seeded random weights

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature)):
            raise QKVError("--temperature must be a finite number greater than 0, e.g. 1.0")
        if self.temperature <= 0:
            raise QKVError(
                f"--temperature must be greater than 0 (got {self.temperature:g}); try 1.0"
            )
        if isinstance(self.heads, bool) or not isinstance(self.heads, int) or self.heads < 1:
            raise QKVError(f"--heads must be a whole number of at least 1 (got {self.heads!r})")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                                      or self.seed < 0):
            raise QKVError(f"--seed must be a whole number of at least 0 (got {self.seed!r})")

    def as_dict(self) -> dict:
        return {
            "causal": self.causal,
            "scale": self.scale,
            "temperature": float(self.temperature),
            "heads": self.heads,
            "seed": self.seed,
        }


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)  # a private copy
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class HeadTrace:
    """One head. Shapes: n tokens, d_model features, d_head = d_k = d_v."""

    Wq: np.ndarray  # [d_model, d_head]
    Wk: np.ndarray  # [d_model, d_head]
    Wv: np.ndarray  # [d_model, d_head]
    Q: np.ndarray  # [n, d_head]    X @ Wq: what each word asks for
    K: np.ndarray  # [n, d_head]    X @ Wk: how each word presents itself
    V: np.ndarray  # [n, d_head]    X @ Wv: what each word contributes
    scores: np.ndarray  # [n, n]    Q @ K.T, row = query, column = key
    scaled: np.ndarray  # [n, n]    scores / sqrt(d_head) / temperature; -inf where masked
    weights: np.ndarray  # [n, n]   softmax over each row (last axis); 0 where masked
    output: np.ndarray  # [n, d_head] weights @ V

    @property
    def d_k(self) -> int:
        return self.Q.shape[1]


@dataclass(frozen=True)
class AttentionTrace:
    """Everything computed for one sentence; arrays are read-only. Scenes only read it."""

    sentence: str
    tokens: tuple[str, ...]
    feature_names: tuple[str, ...]
    config: AttentionConfig
    X: np.ndarray  # [n, d_model] embeddings, one row per token
    mask: np.ndarray  # [n, n] bool, True where a query may NOT see a key
    heads: tuple[HeadTrace, ...]
    Wo: np.ndarray | None  # [d_model, d_model] for several heads, else None
    output: np.ndarray  # [n, d_v] one head's output, or concat(heads) @ Wo
    attention_dims: tuple[str, ...] | None = field(default=None)  # names of d_k axes, if any

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def head(self) -> HeadTrace:
        """The first (for one head, the only) head: scenes explain this one."""
        return self.heads[0]

    # Single-head shortcuts so scenes read like the formula.
    Q = property(lambda self: self.head.Q)
    K = property(lambda self: self.head.K)
    V = property(lambda self: self.head.V)
    scores = property(lambda self: self.head.scores)
    scaled = property(lambda self: self.head.scaled)
    weights = property(lambda self: self.head.weights)

    @property
    def d_k(self) -> int:
        return self.head.d_k

    @property
    def divisor(self) -> float:
        """What the scores were divided by: sqrt(d_k) (if scaling) times the temperature."""
        return (math.sqrt(self.d_k) if self.config.scale else 1.0) * self.config.temperature


def pick_example(trace: AttentionTrace) -> tuple[int, int]:
    """The (query, key) pair every stage and the worksheet work through in detail: the
    largest allowed score, off the diagonal when there is a choice."""
    s = np.where(trace.mask, -np.inf, trace.scores)
    if trace.n > 1:
        off = s.copy()
        np.fill_diagonal(off, -np.inf)
        if np.isfinite(off).any():
            s = off
    i, j = np.unravel_index(int(np.argmax(s)), s.shape)
    return int(i), int(j)


def causal_mask(n: int) -> np.ndarray:  # -> [n, n] bool
    """True above the diagonal: query i may not look at key j > i."""
    return np.triu(np.ones((n, n), dtype=bool), k=1)


def softmax(x: np.ndarray) -> np.ndarray:  # [..., n] -> [..., n]
    """Numerically stable softmax over the last axis; -inf entries get exactly 0."""
    x_max = np.max(x, axis=-1, keepdims=True)
    with np.errstate(over="ignore"):  # (-1e308) - 1e308 is -inf, whose exp is exactly 0
        e = np.exp(x - x_max)
    return e / np.sum(e, axis=-1, keepdims=True)


def attention_head(
    X: np.ndarray,  # [n, d_model]
    Wq: np.ndarray,  # [d_model, d_k]
    Wk: np.ndarray,  # [d_model, d_k]
    Wv: np.ndarray,  # [d_model, d_v]
    mask: np.ndarray,  # [n, n] bool, True = masked
    divisor: float,
) -> HeadTrace:
    Q, K, V = X @ Wq, X @ Wk, X @ Wv  # [n, d_k], [n, d_k], [n, d_v]
    scores = Q @ K.T  # [n, n]
    scaled = np.where(mask, -np.inf, scores / divisor)  # [n, n]
    weights = softmax(scaled)  # [n, n], rows sum to 1
    output = weights @ V  # [n, d_v]
    return HeadTrace(*map(_frozen, (Wq, Wk, Wv, Q, K, V, scores, scaled, weights, output)))


def compute(
    sentence: str,
    *,
    causal: bool = False,
    scale: bool = True,
    temperature: float = 1.0,
    heads: int = 1,
    seed: int | None = None,
) -> AttentionTrace:
    """Tokenize, embed and run self-attention on ``sentence``; keep every matrix.

    Rows are queries and softmax runs over the last axis. With one head the projections
    map d_model to d_k (4 for the hand-designed weights); with H heads each maps d_model
    to d_model / H and W_o maps the concatenated heads back to d_model.

    >>> t = compute("The cat sat on the mat")
    >>> t.weights.shape, bool(abs(t.weights.sum(axis=1) - 1).max() < 1e-12)
    ((6, 6), True)
    """
    config = AttentionConfig(causal, scale, temperature, heads, seed)
    return compute_config(sentence, config)


def compute_config(sentence: str, config: AttentionConfig, custom=None) -> AttentionTrace:
    """:func:`compute` with the options gathered in one config object, and optionally a
    teacher's own numbers (:class:`~attention.config_file.CustomNumbers`)."""
    tokens = tokenize(sentence)
    names = feature_names()
    if custom is not None and custom.feature_names:
        names = custom.feature_names
    if custom is not None and custom.embeddings is not None:
        missing = [t for t in tokens if t.lower() not in custom.embeddings]
        if missing:
            raise QKVError(f"config: embeddings has no vector for {missing[0]!r}; add "
                           f"{missing[0].lower()!r} = [{len(names)} numbers]")
        X = np.stack([custom.embeddings[t.lower()] for t in tokens])
    else:
        X = embed(tokens)  # [n, d_model]
    n, d_model = X.shape
    if config.heads > 1 and d_model % config.heads:
        divisors = [h for h in range(1, d_model + 1) if d_model % h == 0]
        raise QKVError(
            f"--heads {config.heads} does not divide the {d_model} embedding features; "
            f"use one of {', '.join(map(str, divisors))}"
        )
    if custom is not None and custom.weights is not None:
        if config.heads != 1 or config.seed is not None:
            raise QKVError("config: your own weights go with one head and no --seed")
        projections, Wo, dims = [custom.weights], None, None
    elif config.heads == 1 and config.seed is None:
        projections, Wo, dims = [(W_Q, W_K, W_V)], None, ATTENTION_DIMS
    else:
        seed = 0 if config.seed is None else config.seed
        projections, Wo = random_weights(seed, d_model, config.heads)
        dims = None
    mask = causal_mask(n) if config.causal else np.zeros((n, n), dtype=bool)
    d_head = projections[0][0].shape[1]
    divisor = (math.sqrt(d_head) if config.scale else 1.0) * config.temperature
    head_traces = tuple(attention_head(X, *w, mask, divisor) for w in projections)
    if Wo is None:
        output = head_traces[0].output
    else:
        output = np.concatenate([h.output for h in head_traces], axis=-1) @ Wo  # [n, d_model]
    return AttentionTrace(
        sentence=sentence,
        tokens=tokens,
        feature_names=names,
        config=config,
        X=_frozen(X),
        mask=_frozen_bool(mask),
        heads=head_traces,
        Wo=None if Wo is None else _frozen(Wo),
        output=_frozen(output),
        attention_dims=dims,
    )


def _frozen_bool(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=bool)
    a.setflags(write=False)
    return a
