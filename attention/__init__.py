"""qkv's math: sentence -> tokens -> embeddings X -> Q, K, V -> scores -> weights -> output.

Pure numpy; importing it never imports manim.
"""

from .core import (
    DEFAULT_SENTENCE,
    MATH_OPTIONS,
    AttentionConfig,
    AttentionTrace,
    HeadTrace,
    attention_head,
    causal_mask,
    compute,
    compute_config,
    softmax,
)
from .embeddings import embed, feature_names
from .errors import QKVError
from .tokenize import MAX_TOKENS, tokenize

__all__ = [
    "DEFAULT_SENTENCE",
    "MATH_OPTIONS",
    "AttentionConfig",
    "AttentionTrace",
    "HeadTrace",
    "MAX_TOKENS",
    "QKVError",
    "attention_head",
    "causal_mask",
    "compute",
    "compute_config",
    "embed",
    "feature_names",
    "softmax",
    "tokenize",
]
