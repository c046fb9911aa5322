"""Scaled dot-product self-attention, every intermediate kept.

Conventions (pinned, scenes rely on them): rows are queries, columns are keys, and the
softmax runs over the last axis, so every row of ``weights`` sums to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np

from .embeddings import embed, feature_names
from .errors import QKVError
from .tokenize import tokenize
from .weights import ATTENTION_DIMS, HEADS, W_K, W_Q, W_V, hand_heads, random_weights


DEFAULT_SENTENCE = "The cat sat on the mat"
POSITIONS = ("none", "sinusoidal")
MODELS = ("toy", "minilm", "smollm2")
# The trained models' sizes (layers, query heads): --layer and --head count within them.
TRAINED_SIZES = {"minilm": (6, 12), "smollm2": (30, 9)}


def _option(default, help: str, *, kind: type | None = None, metavar: str | None = None,
            choices: tuple[str, ...] | None = None):
    """A field of :class:`AttentionConfig` that is also a user-facing option."""
    return field(default=default, metadata={"help": help, "kind": kind or type(default),
                                            "metavar": metavar, "choices": choices})


@dataclass(frozen=True)
class AttentionConfig:
    """Every math option, in one object passed down (as black passes its Mode).

    This is the one list of math options: the CLI's flags (``--causal``, ``--scale/--no-scale``,
    ...), the ``QKV_*`` environment variables, the ``--config`` file's keys and the JSON
    export's ``options`` are all derived from these fields (see :data:`MATH_OPTIONS`)."""

    causal: bool | None = _option(None, "Mask future tokens: query i may not look at key j > i "
                                  "(default: off, always on for --model smollm2).", kind=bool)
    scale: bool = _option(True, "Divide the scores by sqrt(d_k) (--no-scale: do not).")
    temperature: float = _option(1.0, "Also divide the scores by T (> 0); lower is sharper.",
                                 metavar="T")
    heads: int = _option(1, "Number of heads; must divide the 6 features: 1, 2, 3 or 6.",
                         metavar="H")
    seed: int | None = _option(None, "Seeded random weights instead of the hand-designed ones.",
                               kind=int, metavar="N")
    positions: str = _option("none", "Add each word's position to its embedding: none, or "
                             "sinusoidal (the sine and cosine waves of 'Attention Is All You "
                             "Need').", choices=POSITIONS)
    model: str = _option("toy", "toy (hand-designed, 6 named features), minilm (the trained "
                         "encoder all-MiniLM-L6-v2: 6 layers of 12 heads) or smollm2 (the "
                         "trained GPT SmolLM2-135M: 30 layers of 9 heads, causal, rotary "
                         "positions, next-word prediction).", choices=MODELS)
    layer: int | None = _option(None, "With a trained model: the layer to explain, 1 to 6 "
                                "(minilm) or 1 to 30 (smollm2) (default: the rule in "
                                "docs/models.md).", kind=int, metavar="L")
    head: int | None = _option(None, "With a trained model: the head of that layer, 1 to 12 "
                               "(minilm) or 1 to 9 (smollm2) (default: the rule in "
                               "docs/models.md).", kind=int, metavar="H")

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
        if self.positions not in POSITIONS:
            raise QKVError(f"--positions must be one of {', '.join(POSITIONS)} "
                           f"(got {self.positions!r})")
        if self.model not in MODELS:
            raise QKVError(f"--model must be one of {', '.join(MODELS)} (got {self.model!r})")
        if self.causal is not None and not isinstance(self.causal, bool):
            raise QKVError(f"--causal is yes or no (got {self.causal!r})")
        for name, top in zip(("layer", "head"), TRAINED_SIZES.get(self.model, (0, 0))):
            value = getattr(self, name)
            if value is None:
                continue
            if self.model not in TRAINED_SIZES:
                raise QKVError(f"--{name} chooses a head of a trained model: add --model "
                               "minilm or --model smollm2, or drop it")
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise QKVError(f"--{name} must be a whole number from 1 to {top} for --model "
                               f"{self.model} (got {value!r}); they count from 1")
        if self.model in TRAINED_SIZES:
            own = [flag for flag, on in (
                ("--causal", self.causal is True and self.model == "minilm"),
                ("--no-causal", self.causal is False and self.model == "smollm2"),
                ("--no-scale", not self.scale),
                ("--temperature", self.temperature != 1.0), ("--heads", self.heads != 1),
                ("--seed", self.seed is not None), ("--positions", self.positions != "none"))
                if on]
            if own:
                what = ("its trained heads, learned positions and scaling" if self.model ==
                        "minilm" else "its causal mask, trained heads, rotary positions and "
                        "scaling")
                raise QKVError(f"--model {self.model} uses {what} as they are: drop "
                               f"{' and '.join(own)}")
        if self.causal is None:  # the model's own: a GPT reads left to right
            object.__setattr__(self, "causal", self.model == "smollm2")

    def as_dict(self) -> dict:
        """The options as JSON values, in field order (the export's ``options``)."""
        return {o.name: (float(v) if o.kind is float else v)
                for o in MATH_OPTIONS for v in [getattr(self, o.name)]}


@dataclass(frozen=True)
class MathOption:
    """One math option as every interface sees it."""

    name: str  # the field, the config key, the JSON key; the CLI flag is --name
    kind: type  # bool, int, float, str (int options may also be None: no value)
    default: object
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None  # the values a str option takes

    @property
    def env(self) -> str:
        """The environment variable Manim's own CLI reads it from: QKV_<NAME>."""
        return "QKV_" + self.name.upper()

    def parse(self, raw: str, where: str):
        """The value written as text (an environment variable, a batch file's cell), or
        QKVError naming ``where`` it came from and what to write instead."""
        if self.choices and raw not in self.choices:
            raise QKVError(f"{where}={raw!r} is not one of {', '.join(self.choices)}")
        return parse_value(self.kind, raw, where, "=", self.default)


YES, NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")  # yes/no written as text


def parse_value(kind: type, raw: str, where: str, eq: str, default):
    """A bool, int or float written as text (an environment variable, a batch cell, a flag's
    value), or QKVError naming ``where`` it came from (``where{eq}raw``) and what to write."""
    if kind is bool:
        if raw.lower() in YES:
            return True
        if raw.lower() in NO:
            return False
        raise QKVError(f"{where}{eq}{raw!r} is not a yes/no value; use 1 or 0")
    try:
        return kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise QKVError(f"{where}{eq}{raw!r} is not {what}; e.g. "
                       f"{where}{eq}{default or 1}") from None


MATH_OPTIONS = tuple(MathOption(f.name, f.metadata["kind"], f.default, f.metadata["help"],
                                f.metadata["metavar"], f.metadata["choices"])
                     for f in fields(AttentionConfig))


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)  # a private copy
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class HeadTrace:
    """One head. Shapes: n tokens, d_model features, d_head = d_k = d_v.

    Every number a scene draws or a worksheet prints is one of these entries: the softmax is
    kept step by step (row maximum, shifted exponentials, their sums) and the mixing product
    by product, so nothing downstream computes."""

    Wq: np.ndarray  # [d_model, d_head]
    Wk: np.ndarray  # [d_model, d_head]
    Wv: np.ndarray  # [d_model, d_head]
    Q: np.ndarray  # [n, d_head]    X @ Wq (+ bq): what each word asks for
    K: np.ndarray  # [n, d_head]    X @ Wk: how each word presents itself
    V: np.ndarray  # [n, d_head]    X @ Wv: what each word contributes
    scores: np.ndarray  # [n, n]    Q @ K.T, row = query, column = key
    scaled: np.ndarray  # [n, n]    scores / sqrt(d_head) / temperature; -inf where masked
    row_max: np.ndarray  # [n]      each row's largest scaled score (the softmax subtracts it)
    exps: np.ndarray  # [n, n]      e^(scaled - row_max): in (0, 1], exactly 0 where masked
    exp_sums: np.ndarray  # [n]     each row's exps added up
    weights: np.ndarray  # [n, n]   exps / exp_sums: softmax over each row; 0 where masked
    weight_sums: np.ndarray  # [n]  each row of weights added up: 1, to float precision
    weighted_values: np.ndarray  # [n, n, d_head] weights[i, j] * V[j]: what key j gives query i
    output: np.ndarray  # [n, d_head] weights @ V: each query's weighted_values summed over keys
    bq: np.ndarray | None = None  # [d_head] biases added to Q, K, V (trained models have them)
    bk: np.ndarray | None = None
    bv: np.ndarray | None = None
    # With rotary positions (--model smollm2) the scores are made of Q and K turned by their
    # positions, and Q, K above are the projections before the turn.
    Q_rope: np.ndarray | None = None  # [n, d_head] Q with each pair turned by position x angle
    K_rope: np.ndarray | None = None  # [n, d_head] K turned the same way
    scores_unturned: np.ndarray | None = None  # [n, n] Q @ K.T before the turn: what RoPE changed

    @property
    def d_k(self) -> int:
        return self.Q.shape[1]

    @property
    def Q_scored(self) -> np.ndarray:  # [n, d_head]
        """The queries the scores are made of: Q, or Q turned by position (RoPE)."""
        return self.Q if self.Q_rope is None else self.Q_rope

    @property
    def K_scored(self) -> np.ndarray:  # [n, d_head]
        return self.K if self.K_rope is None else self.K_rope


@dataclass(frozen=True)
class ModelInfo:
    """A trained model and the head the stages explain (layer and head count from 1)."""

    name: str
    layers: int
    heads: int
    d_model: int
    d_head: int
    layer: int
    head: int
    chosen_by: str  # "you", or in words the rule that picked it
    kv_heads: int | None = None  # key/value heads shared by groups of query heads (GQA), if any

    @property
    def sharing(self) -> int:
        """How many query heads share one key/value head (1 without sharing)."""
        return 1 if self.kv_heads is None else self.heads // self.kv_heads

    def kv_head_of(self, head: int) -> int:
        """The key/value head (from 1) that query head ``head`` (from 1) reads."""
        return (head - 1) // self.sharing + 1

    def as_dict(self) -> dict:
        keys = ("name", "layers", "heads", "kv_heads", "d_model", "d_head", "layer", "head")
        return {k: getattr(self, k) for k in keys if k != "kv_heads" or self.kv_heads}


@dataclass(frozen=True)
class RopeDemo:
    """What the rope stage shows of the worked example, query ``query`` and key ``key``
    (:func:`pick_example`): rotary positions turn by position, so the same query stands
    differently at another place, and a score keeps its value when both move together."""

    query: int
    key: int
    q_pair_at: np.ndarray  # [n, 2] the query's first pair turned as if at position p
    shift: int  # how far both move in the shifted score
    score_shifted: float  # (q at query + shift) . (k at key + shift): scores[query, key] again


@dataclass(frozen=True)
class NextToken:
    """One candidate for the word after the sentence, as a GPT predicts it."""

    token: str  # as drawn ("␣mat")
    text: str  # as written (" mat")
    id: int  # in the model's vocabulary
    probability: float

    @property
    def said(self) -> str:
        """The token as a caption names it: its text without the leading space, or as drawn
        when that text is part of a character (a byte fragment) or empty."""
        word = self.text.strip()
        return word if word and "\ufffd" not in word else self.token


@dataclass(frozen=True)
class AttentionTrace:
    """Everything computed for one sentence; arrays are read-only. Scenes only read it."""

    sentence: str
    tokens: tuple[str, ...]
    feature_names: tuple[str, ...]
    config: AttentionConfig
    X: np.ndarray  # [n, d_model] embeddings, one row per token
    P: np.ndarray | None  # [n, d_model] position vectors (--positions), else None
    X_in: np.ndarray  # [n, d_model] X + P: what enters attention (X itself without positions)
    mask: np.ndarray  # [n, n] bool, True where a query may NOT see a key
    heads: tuple[HeadTrace, ...]
    Wo: np.ndarray | None  # [d_model, d_model] for several heads, else None
    output: np.ndarray  # [n, d_v] one head's output, or concat(heads) @ Wo
    attention_dims: tuple[str, ...] | None = field(default=None)  # names of head 1's d_k axes
    head_dims: tuple[tuple[str, ...], ...] | None = None  # each head's axis names, if named
    head_roles: tuple[str, ...] | None = None  # what each hand-designed head looks for
    weights_source: str = "hand-designed"  # or "random, seed N", "your own", "trained"
    model: ModelInfo | None = None  # with a trained model: which model, layer and head
    attention: np.ndarray | None = None  # [layers, heads, n, n] with a trained model
    # --model smollm2 only:
    rope_angles: np.ndarray | None = None  # [n, d_head / 2] radians pair i turns at position t
    next_tokens: tuple[NextToken, ...] = ()  # the 10 likeliest next tokens, likeliest first
    sink_share: np.ndarray | None = None  # [layers, heads] mean weight on the start token
    start_token: str | None = None  # how the start token is drawn ("[start]")
    rope_demo: RopeDemo | None = None  # the rope stage's turned example
    kv_keys: np.ndarray | None = None  # [kv_heads, n, d_head] each shared key head's K (X W_k)

    @property
    def all_attention(self) -> np.ndarray:  # -> [layers, heads, n, n]
        """Every head's weights: the trained model's every layer, else the one layer's heads."""
        if self.attention is not None:
            return self.attention
        return np.stack([h.weights for h in self.heads])[None]

    @property
    def head_average(self) -> np.ndarray:  # -> [layers, n, n]
        """Each layer's weights averaged over its heads (rows still sum to 1)."""
        return self.all_attention.mean(axis=1)

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def words(self) -> np.ndarray:  # -> [n] bool
        """Which tokens are words, not a trained model's markers ([CLS], [SEP], [start])."""
        from .minilm import SPECIAL

        marks = set(SPECIAL) | {self.start_token}
        return np.array([self.model is None or tok not in marks for tok in self.tokens])

    @property
    def input_name(self) -> str:
        """The name of what enters attention: 'X_in' (X + P) with positions, else 'X'."""
        return "X" if self.P is None else "X_in"

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
    def sqrt_d_k(self) -> float:
        return math.sqrt(self.d_k)

    @property
    def divisor(self) -> float:
        """What the scores were divided by: sqrt(d_k) (if scaling) times the temperature."""
        return (self.sqrt_d_k if self.config.scale else 1.0) * self.config.temperature


def pick_example(trace: AttentionTrace) -> tuple[int, int]:
    """The (query, key) pair every stage and the worksheet work through in detail: the
    largest allowed score, off the diagonal when there is a choice. With a causal mask, in a
    row that has masked keys when one can (not the last), so the example shows the mask.
    With a trained model, between two words (not [CLS] or [SEP]) when there are two."""
    s = np.where(trace.mask, -np.inf, trace.scores)
    if trace.model is not None:  # a trained model's example is between words
        words = trace.words
        if words.sum() >= 2:
            s = np.where(words[:, None] & words[None, :], s, -np.inf)
    if trace.n > 1:
        off = s.copy()
        np.fill_diagonal(off, -np.inf)
        if np.isfinite(off).any():
            s = off
        shows_mask = s.copy()
        shows_mask[~trace.mask.any(axis=1)] = -np.inf  # rows that hide no key
        if np.isfinite(shows_mask).any():
            s = shows_mask
    i, j = np.unravel_index(int(np.argmax(s)), s.shape)
    return int(i), int(j)


def sinusoidal_positions(n: int, d_model: int) -> np.ndarray:  # -> [n, d_model]
    """Position vectors of "Attention Is All You Need", positions counted from 0:
    PE[pos, 2i] = sin(pos / 10000^(2i / d_model)), PE[pos, 2i + 1] = cos(the same angle).
    Each pair of columns is one wave; the first is fastest. Rounded to 2 decimals like the
    embeddings, so X + P on screen adds up exactly."""
    pos = np.arange(n)[:, None]  # [n, 1]
    angle = pos / 10000 ** (np.arange(0, d_model, 2)[None, :] / d_model)  # [n, ceil(d/2)]
    P = np.zeros((n, d_model))
    P[:, 0::2] = np.sin(angle)
    P[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return np.round(P, 2) + 0.0  # + 0.0: no -0.0


def position_waves(n: int, d_model: int, per_step: int = 12):  # -> [m], [d_model, m]
    """The waves behind :func:`sinusoidal_positions`, sampled between the positions for a
    plot: ``per_step`` samples from one position to the next (unrounded: a curve, not a
    number; the dots on it are P's own entries)."""
    x = np.linspace(0, max(n - 1, 1), per_step * max(n - 1, 1) + 1)  # [m]
    rate = 10000 ** (-(np.arange(d_model) // 2 * 2) / d_model)  # [d_model]
    angle = rate[:, None] * x[None, :]  # [d_model, m]
    return x, np.where(np.arange(d_model)[:, None] % 2 == 0, np.sin(angle), np.cos(angle))


def causal_mask(n: int) -> np.ndarray:  # -> [n, n] bool
    """True above the diagonal: query i may not look at key j > i."""
    return np.triu(np.ones((n, n), dtype=bool), k=1)


def softmax_steps(x: np.ndarray):  # [..., n] -> [...], [..., n], [...], [..., n]
    """Numerically stable softmax over the last axis, every step kept: the row maximum, the
    shifted exponentials e^(x - max) (exactly 0 for -inf entries), their sum, the weights."""
    x_max = np.max(x, axis=-1)
    with np.errstate(over="ignore"):  # (-1e308) - 1e308 is -inf, whose exp is exactly 0
        e = np.exp(x - x_max[..., None])
    total = np.sum(e, axis=-1)
    return x_max, e, total, e / total[..., None]


def softmax(x: np.ndarray) -> np.ndarray:  # [..., n] -> [..., n]
    """Numerically stable softmax over the last axis; -inf entries get exactly 0."""
    return softmax_steps(x)[-1]


def finite(name: str, a: np.ndarray, fix: str, allowed: np.ndarray | None = None) -> np.ndarray:
    """Refuse a matrix whose numbers overflowed (inf or NaN; ``allowed`` marks cells that may
    be -inf, the masked ones), naming it and the fix, instead of exporting nulls."""
    bad = ~np.isfinite(a)
    if allowed is not None:
        bad &= ~allowed
    if bad.any():
        raise QKVError(f"{name} overflows (a value beyond \u00b11.8e308); {fix}")
    return a


SMALLER = "use smaller embeddings or weights in your --config"


def attention_head(
    X: np.ndarray,  # [n, d_model]
    Wq: np.ndarray,  # [d_model, d_k]
    Wk: np.ndarray,  # [d_model, d_k]
    Wv: np.ndarray,  # [d_model, d_v]
    mask: np.ndarray,  # [n, n] bool, True = masked
    divisor: float,
    biases: tuple | None = None,  # (bq [d_k], bk [d_k], bv [d_v]) of a trained model
    rotate=None,  # [n, d_k] -> [n, d_k]: rotary positions, turning Q and K before the scores
) -> HeadTrace:
    bq, bk, bv = biases or (0.0, 0.0, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused by name below
        Q = finite("Q = X W_q", X @ Wq + bq, SMALLER)  # [n, d_k]
        K = finite("K = X W_k", X @ Wk + bk, SMALLER)  # [n, d_k]
        V = finite("V = X W_v", X @ Wv + bv, SMALLER)  # [n, d_v]
        turned = {} if rotate is None else {"Q_rope": rotate(Q), "K_rope": rotate(K),
                                            "scores_unturned": Q @ K.T}
        Qs, Ks = turned.get("Q_rope", Q), turned.get("K_rope", K)  # what the scores are made of
        scores = finite("scores = Q K\u1d40", Qs @ Ks.T, SMALLER)  # [n, n]
        scaled = finite("scaled = scores / (\u221ad_k \u00b7 T)",
                        np.where(mask, -np.inf, scores / divisor), "use a larger --temperature "
                        "or smaller numbers in your --config", allowed=mask)  # [n, n]
        # With finite scaled scores neither can overflow: the softmax exponentiates numbers
        # <= 0, and each output is a weighted average of finite values.
        row_max, exps, exp_sums, weights = softmax_steps(scaled)  # [n], [n, n], [n], [n, n]
        weighted_values = weights[:, :, None] * V[None, :, :]  # [n, n, d_v]
        output = weights @ V  # [n, d_v]
    return HeadTrace(**{k: _frozen(v) for k, v in dict(
        Wq=Wq, Wk=Wk, Wv=Wv, Q=Q, K=K, V=V, scores=scores, scaled=scaled, row_max=row_max,
        exps=exps, exp_sums=exp_sums, weights=weights, weight_sums=weights.sum(axis=-1),
        weighted_values=weighted_values, output=output, **turned).items()},
        **({} if biases is None else dict(zip(("bq", "bk", "bv"), map(_frozen, biases)))))


def compute(sentence: str, **options) -> AttentionTrace:
    """Tokenize, embed and run self-attention on ``sentence``; keep every matrix.

    ``options`` are the fields of :class:`AttentionConfig` (causal, scale, temperature,
    heads, seed, positions). Rows are queries and softmax runs over the last axis. With one
    head the projections map d_model to d_k (4 for the hand-designed weights); with H heads
    each maps d_model to d_model / H and W_o maps the concatenated heads back to d_model.

    >>> t = compute("The cat sat on the mat")
    >>> t.weights.shape, bool(abs(t.weights.sum(axis=1) - 1).max() < 1e-12)
    ((6, 6), True)
    """
    config = AttentionConfig(**options)
    return compute_config(sentence, config)


def compute_config(sentence: str, config: AttentionConfig, custom=None) -> AttentionTrace:
    """:func:`compute` with the options gathered in one config object, and optionally a
    teacher's own numbers (:class:`~attention.config_file.CustomNumbers`)."""
    if config.model != "toy":
        if custom is not None:
            raise QKVError("config: your own numbers go with --model toy")
        return (minilm_trace if config.model == "minilm" else smollm2_trace)(sentence, config)
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
    P = sinusoidal_positions(n, d_model) if config.positions == "sinusoidal" else None
    X_in = X if P is None else X + P  # [n, d_model]
    if config.heads > 1 and d_model % config.heads:
        divisors = [h for h in range(1, d_model + 1) if d_model % h == 0]
        raise QKVError(
            f"--heads {config.heads} does not divide the {d_model} embedding features; "
            f"use one of {', '.join(map(str, divisors))}"
        )
    head_dims = roles = None
    source = "hand-designed"
    if custom is not None and custom.weights is not None:
        if config.heads != 1 or config.seed is not None:
            raise QKVError("config: your own weights go with one head and no --seed")
        projections, Wo, dims = [custom.weights], None, None
        source = "your own"
    elif config.heads == 1 and config.seed is None:
        projections, Wo, dims = [(W_Q, W_K, W_V)], None, ATTENTION_DIMS
        head_dims = (ATTENTION_DIMS,)
    elif config.seed is None and config.heads in HEADS and names == feature_names():
        projections, Wo, head_dims, roles = hand_heads(config.heads, names)
        dims = head_dims[0]
    else:
        seed = 0 if config.seed is None else config.seed
        projections, Wo = random_weights(seed, d_model, config.heads)
        dims = None
        source = f"random, seed {seed}"
    mask = causal_mask(n) if config.causal else np.zeros((n, n), dtype=bool)
    d_head = projections[0][0].shape[1]
    divisor = (math.sqrt(d_head) if config.scale else 1.0) * config.temperature  # as .divisor
    head_traces = tuple(attention_head(X_in, *w, mask, divisor) for w in projections)
    if Wo is None:
        output = head_traces[0].output
    else:
        concat = np.concatenate([h.output for h in head_traces], axis=-1)  # [n, d_model]
        with np.errstate(over="ignore", invalid="ignore"):
            output = finite("output = concat(heads) W_o", concat @ Wo, SMALLER)  # [n, d_model]
    return AttentionTrace(
        sentence=sentence,
        tokens=tokens,
        feature_names=names,
        config=config,
        X=_frozen(X),
        P=None if P is None else _frozen(P),
        X_in=_frozen(X_in),
        mask=_frozen_bool(mask),
        heads=head_traces,
        Wo=None if Wo is None else _frozen(Wo),
        output=_frozen(output),
        attention_dims=dims,
        head_dims=head_dims,
        head_roles=roles,
        weights_source=source,
    )


def _frozen_bool(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=bool)
    a.setflags(write=False)
    return a


def minilm_trace(sentence: str, config: AttentionConfig) -> AttentionTrace:
    """The sentence through all-MiniLM-L6-v2; the trace explains one head of one layer: X is
    that layer's input, W_q, W_k, W_v and their biases that head's slice."""
    from . import minilm

    run = minilm.forward(sentence)
    auto_layer, auto_head = minilm.default_head(run.attention, run.tokens)
    layer = auto_layer if config.layer is None else config.layer - 1
    head = auto_head if config.head is None else config.head - 1
    if config.layer is not None and config.head is None:  # the rule, within that layer
        head = int(np.argmax(minilm.peakedness(run.attention, run.tokens)[layer]))
    (Wq, bq), (Wk, bk), (Wv, bv) = minilm.head_weights(layer)
    X = run.inputs[layer]  # [n, d_model]
    n = len(run.tokens)
    mask = np.zeros((n, n), dtype=bool)
    trace = attention_head(X, Wq[head], Wk[head], Wv[head], mask, math.sqrt(minilm.D_HEAD),
                           biases=(bq[head], bk[head], bv[head]))
    model = ModelInfo(minilm.NAME, minilm.LAYERS, minilm.HEADS, minilm.D_MODEL, minilm.D_HEAD,
                      layer + 1, head + 1, chosen_by(config, minilm.RULE))
    return trained_trace(sentence, config, run.tokens, X, mask, trace, model, run.attention)


def chosen_by(config: AttentionConfig, rule: str) -> str:
    """Who picked a trained model's explained head, in words: "you" (--head, and --layer or
    the rule's layer), or the model's ``rule``, within --layer if given."""
    if config.head is not None:
        return "you"
    return rule if config.layer is None else f"{rule} in layer {config.layer}"


def trained_trace(sentence, config, tokens, X, mask, head: HeadTrace, model: ModelInfo,
                  attention, **more) -> AttentionTrace:
    """The trace of a trained model's one explained head: X is what its projections read,
    the features are numbered, and every head of every layer is kept (``attention``)."""
    return AttentionTrace(
        sentence=sentence,
        tokens=tokens,
        feature_names=tuple(str(k) for k in range(1, X.shape[1] + 1)),
        config=config,
        X=_frozen(X),
        P=None,
        X_in=_frozen(X),
        mask=_frozen_bool(mask),
        heads=(head,),
        Wo=None,
        output=head.output,
        weights_source="trained",
        model=model,
        attention=_frozen(attention),
        **more,
    )


def smollm2_trace(sentence: str, config: AttentionConfig) -> AttentionTrace:
    """The sentence through SmolLM2-135M-Instruct (a GPT: causal, rotary positions, 9 query
    heads sharing 3 key/value heads); the trace explains one query head of one layer: X is
    that layer's input after its RMSNorm (what W_q, W_k, W_v read), W_q that head's slice and
    W_k, W_v the slices of the key/value head it shares. Q and K are kept before and after
    their rotation; the scores are made of the rotated ones."""
    from . import smollm2

    run = smollm2.forward(sentence)
    auto_layer, auto_head = smollm2.default_head(run.attention, run.tokens)
    layer = auto_layer if config.layer is None else config.layer - 1
    head = auto_head if config.head is None else config.head - 1
    if config.layer is not None and config.head is None:  # the rule, within that layer
        head = int(np.argmax(smollm2.head_scores(run.attention)[layer]))
    Wq, Wk, Wv = smollm2.head_weights(layer)
    kv = head // smollm2.GROUP
    X = run.normed[layer]  # [n, d_model]
    n = len(run.tokens)
    positions = np.arange(n)  # [n]
    mask = causal_mask(n)
    trace = attention_head(X, Wq[head], Wk[kv], Wv[kv], mask, math.sqrt(smollm2.D_HEAD),
                           rotate=lambda M: smollm2.rope(M, positions))
    model = ModelInfo(smollm2.NAME, smollm2.LAYERS, smollm2.HEADS, smollm2.D_MODEL,
                      smollm2.D_HEAD, layer + 1, head + 1,
                      chosen_by(config, smollm2.RULE if len(run.tokens) > 2 else
                                smollm2.RULE_ONE_WORD), kv_heads=smollm2.KV_HEADS)
    trace = trained_trace(
        sentence, config, run.tokens, X, mask, trace, model, run.attention,
        rope_angles=_frozen(smollm2.rope_angles(positions)),
        next_tokens=tuple(NextToken(tok, text, int(i), float(p))
                          for tok, text, i, p in run.probs_top),
        sink_share=_frozen(smollm2.sink_share(run.attention)),
        start_token=smollm2.START,
        kv_keys=_frozen(np.einsum("nd,hde->hne", X, Wk)))  # [kv_heads, n, d_head]
    i, j = pick_example(trace)
    head = trace.head
    shift = ROPE_SHIFT
    q_at = smollm2.rope(np.repeat(head.Q[i][None], n, axis=0), positions)  # [n, d_head]
    q_moved = smollm2.rope(head.Q[i][None], [i + shift])[0]  # [d_head]
    k_moved = smollm2.rope(head.K[j][None], [j + shift])[0]  # [d_head]
    demo = RopeDemo(i, j, _frozen(q_at[:, :2]), shift, float(q_moved @ k_moved))
    return replace(trace, rope_demo=demo)


ROPE_SHIFT = 10  # the rope stage moves its example query and key this many tokens later
