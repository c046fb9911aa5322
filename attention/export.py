"""The trace as JSON or CSV (the worksheet formats are in worksheet.py). Same input,
byte-identical output."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from .core import AttentionTrace

# Every array of a head, in the story's order (the softmax step by step, then the mixing).
HEAD_ARRAYS = ("Wq", "Wk", "Wv", "Q", "K", "V", "scores", "scaled", "row_max", "exps",
               "exp_sums", "weights", "weight_sums", "weighted_values", "output")
KEY_COLUMNS = ("scores", "scaled", "exps", "weights")  # [n, n]: row = query, column = key
# The matrices a worksheet prints in full (the rest are worked through in its example).
SHEET_MATRICES = ("X", "P", "X_in", "Wq", "Wk", "Wv", "Q", "K", "V", "scores", "scaled",
                  "weights", "output", "Wo", "final_output")


def _floats(a: np.ndarray):
    """Nested lists of Python floats (full precision); -inf (masked) becomes None (JSON null).
    The trace never holds inf or NaN otherwise: overflow is refused when it is computed."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return float(a) if math.isfinite(a) else None
    return [_floats(x) for x in a]


def _head_dict(head) -> dict:
    d = {name: _floats(getattr(head, name)) for name in HEAD_ARRAYS}
    for name in ("bq", "bk", "bv", "Q_rope", "K_rope", "scores_unturned"):  # biases; RoPE
        if getattr(head, name) is not None:
            d[name] = _floats(getattr(head, name))
    return d


def to_dict(trace: AttentionTrace) -> dict:
    trained = {} if trace.model is None else {
        "model": trace.model.as_dict(),
        "attention": _floats(trace.attention),  # [layers][heads][n][n]
    }
    if trace.next_tokens:  # a GPT: what it predicts after the sentence
        trained["next_tokens"] = [{"token": c.token, "text": c.text, "id": c.id,
                                   "probability": c.probability} for c in trace.next_tokens]
    if trace.rope_angles is not None:
        trained["rope_angles"] = _floats(trace.rope_angles)  # [n][d_head / 2] radians
    if trace.kv_keys is not None:  # [kv_heads][n][d_head] each shared key head's K
        trained["kv_keys"] = _floats(trace.kv_keys)
    if trace.sink_share is not None:  # [layers][heads] mean weight on the start token
        trained["sink_share"] = _floats(trace.sink_share)
    if trace.rope_demo is not None:  # what the rope stage shows beyond the head's arrays
        d = trace.rope_demo
        trained["rope_demo"] = {"query": d.query, "key": d.key,
                                "q_pair_at": _floats(d.q_pair_at), "shift": d.shift,
                                "score_shifted": d.score_shifted}
    return {
        "sentence": trace.sentence,
        "tokens": list(trace.tokens),
        "feature_names": list(trace.feature_names),
        "options": trace.config.as_dict(),
        "X": _floats(trace.X),
        "P": None if trace.P is None else _floats(trace.P),
        "X_in": _floats(trace.X_in),
        "heads": [_head_dict(h) for h in trace.heads],
        "Wo": None if trace.Wo is None else _floats(trace.Wo),
        "output": _floats(trace.output),
        **trained,
    }


def to_json(trace: AttentionTrace) -> str:
    return json.dumps(to_dict(trace), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def labelled_matrices(trace: AttentionTrace, names=None):
    """Yield (head, name, matrix, row_labels, col_labels) for every array of the trace, in
    the export's order, as 2-D tables: a per-row number ([n]) is one column named after it;
    ``weighted_values`` [n, n, d] is one table per query, named ``weighted_values[i]``.
    ``names`` keeps only those arrays."""
    keep = (lambda name: True) if names is None else (lambda name: name in names)
    tokens = list(trace.tokens)
    feats = list(trace.feature_names)
    if keep("X"):
        yield "", "X", trace.X, tokens, feats
    if trace.P is not None:
        for name in filter(keep, ("P", "X_in")):
            yield "", name, getattr(trace, name), tokens, feats
    for h, head in enumerate(trace.heads, start=1):
        dims = list(trace.head_dims[h - 1] if trace.head_dims else
                    [f"d{j + 1}" for j in range(head.d_k)])
        for name in filter(keep, HEAD_ARRAYS):
            m = getattr(head, name)
            if name in ("Wq", "Wk", "Wv"):
                yield h, name, m, feats, dims
            elif name == "weighted_values":
                for i, per_key in enumerate(m):
                    yield h, f"{name}[{i}]", per_key, tokens, dims
            elif m.ndim == 1:
                yield h, name, m[:, None], tokens, [name]
            else:  # [n, n] grids have a column per key, the others one per dimension
                yield h, name, m, tokens, tokens if name in KEY_COLUMNS else dims
    if trace.model is not None:
        for h, head in enumerate(trace.heads, start=1):
            dims = [f"d{j + 1}" for j in range(head.d_k)]
            for name in filter(keep, ("bq", "bk", "bv")):
                if getattr(head, name) is not None:
                    yield h, name, getattr(head, name)[None, :], [name], dims
            for name in filter(keep, ("Q_rope", "K_rope", "scores_unturned")):
                if getattr(head, name) is not None:
                    yield (h, name, getattr(head, name), tokens,
                           tokens if name == "scores_unturned" else dims)
        if keep("attention"):
            for layer, heads in enumerate(trace.attention, start=1):
                for h, grid in enumerate(heads, start=1):
                    yield "", f"attention[{layer},{h}]", grid, tokens, tokens
        if trace.next_tokens and keep("next_tokens"):
            yield ("", "next_tokens", np.array([[c.probability] for c in trace.next_tokens]),
                   [c.token for c in trace.next_tokens], ["probability"])
    if trace.Wo is not None and keep("Wo"):
        concat = ([f"h{h}.{d}" for h, dims in enumerate(trace.head_dims, start=1) for d in dims]
                  if trace.head_dims else [f"c{j + 1}" for j in range(trace.Wo.shape[0])])
        yield "", "Wo", trace.Wo, concat, feats
    if trace.Wo is not None and keep("final_output"):
        yield "", "final_output", trace.output, tokens, feats


def _cell(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else "-inf"


def to_csv(trace: AttentionTrace) -> str:
    """Long format, one value per line: head, matrix, row, col, row_label, col_label, value."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["head", "matrix", "row", "col", "row_label", "col_label", "value"])
    for head, name, m, rows, cols in labelled_matrices(trace):
        for i, row in enumerate(np.asarray(m)):
            for j, x in enumerate(row):
                w.writerow([head, name, i, j, rows[i], cols[j], _cell(x)])
    return buf.getvalue()


def _md_escape(s: str) -> str:
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|<>" else c for c in s)


FORMATS = {"json": to_json, "csv": to_csv}  # md and tex: attention/worksheet.py
