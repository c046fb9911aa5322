"""The trace as JSON or CSV (the worksheet formats are in worksheet.py). Same input,
byte-identical output."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from .core import AttentionTrace

HEAD_MATRICES = ("Wq", "Wk", "Wv", "Q", "K", "V", "scores", "scaled", "weights", "output")


def _floats(a: np.ndarray) -> list:
    """Nested lists of Python floats (full precision); -inf and NaN become None (JSON null)."""
    return [[float(x) if math.isfinite(x) else None for x in row] for row in np.asarray(a)]


def to_dict(trace: AttentionTrace) -> dict:
    return {
        "sentence": trace.sentence,
        "tokens": list(trace.tokens),
        "feature_names": list(trace.feature_names),
        "options": trace.config.as_dict(),
        "X": _floats(trace.X),
        "heads": [{name: _floats(getattr(h, name)) for name in HEAD_MATRICES} for h in trace.heads],
        "Wo": None if trace.Wo is None else _floats(trace.Wo),
        "output": _floats(trace.output),
    }


def to_json(trace: AttentionTrace) -> str:
    return json.dumps(to_dict(trace), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def labelled_matrices(trace: AttentionTrace):
    """Yield (head, name, matrix, row_labels, col_labels) for every matrix of the trace."""
    tokens = list(trace.tokens)
    feats = list(trace.feature_names)
    yield "", "X", trace.X, tokens, feats
    for h, head in enumerate(trace.heads, start=1):
        dims = list(trace.attention_dims or [f"d{j + 1}" for j in range(head.d_k)])
        for name in ("Wq", "Wk", "Wv"):
            yield h, name, getattr(head, name), feats, dims
        for name in ("Q", "K", "V"):
            yield h, name, getattr(head, name), tokens, dims
        for name in ("scores", "scaled", "weights"):
            yield h, name, getattr(head, name), tokens, tokens
        yield h, "output", head.output, tokens, dims
    if trace.Wo is not None:
        yield "", "Wo", trace.Wo, [f"c{j + 1}" for j in range(trace.Wo.shape[0])], feats
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
