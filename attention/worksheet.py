"""A worked example to print: the sentence, the formula, every matrix with its row and column
labels, one dot product and one softmax row with the arithmetic written out, and the output
row. As Markdown, as LaTeX, or as a PDF (pdflatex).

The numbers come from the trace; :func:`worked_example` picks the same query and key the
videos work through. Values are rounded for print; where the rounded terms do not add up to
the rounded total exactly, the sheet writes an approximately-equal sign, as the videos do.
Tokens reach LaTeX only escaped (:func:`tex_text`), so no input can run or read anything.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core import AttentionTrace, pick_example
from .display import MINUS, printed_sum_is_exact
from .display import format_number as fmt
from .errors import QKVError
from .export import SHEET_MATRICES, _md_escape, labelled_matrices

DIGITS = 2  # matrices, products, scores
WEIGHT_DIGITS = 3  # exponentials and weights


def adds_up(terms, total: float, digits: int = DIGITS, factors=None) -> bool:
    """Whether the line as printed is exact: the terms as printed (or, with ``factors``, the
    products of the factors as printed: [(a, a_digits, b, b_digits)]) add up to the total as
    printed. The videos use the same rule."""
    if factors is None:
        factors = [(t, digits, 1.0, 0) for t in terms]
    return printed_sum_is_exact(factors, total, digits)


@dataclass(frozen=True)
class WorkedExample:
    """The numbers of the worked example, all read from the trace (head 1)."""

    i: int  # the query token
    j: int  # the key token whose score is written out
    q: np.ndarray  # [d_k]  Q[i]
    k: np.ndarray  # [d_k]  K[j]
    score: float  # scores[i, j] = q . k
    divisor: float  # sqrt(d_k) (if scaling) times the temperature
    scaled_row: np.ndarray  # [n]  scaled[i]; -inf where masked
    row_max: float  # the largest allowed scaled score of row i
    exps: np.ndarray  # [n]  e^(scaled - max); 0 where masked
    exp_sum: float
    weights: np.ndarray  # [n]  weights[i]
    weight_sum: float  # weights[i] added up
    V: np.ndarray  # [n, d_v]
    output: np.ndarray  # [d_v]  head 1's output row i


def worked_example(trace: AttentionTrace) -> WorkedExample:
    head = trace.head
    i, j = pick_example(trace)
    return WorkedExample(i, j, head.Q[i], head.K[j], float(head.scores[i, j]), trace.divisor,
                         head.scaled[i], float(head.row_max[i]), head.exps[i],
                         float(head.exp_sums[i]), head.weights[i], float(head.weight_sums[i]),
                         head.V, head.output[i])


def options_line(trace: AttentionTrace, esc=str, math=None) -> str:
    """'6 tokens, d_k = 4, no mask, scaled by √4, ...'; ``esc`` escapes text and ``math``
    writes a formula (LaTeX), for the .tex sheet."""
    c = trace.config
    bits = [esc(f"{trace.n} tokens"),
            math(f"d_k = {trace.d_k}") if math else f"d_k = {trace.d_k}",
            esc("causal mask" if c.causal else "no mask")]
    scale = [math(rf"\sqrt{{{trace.d_k}}}") if math else f"\u221a{trace.d_k}"] if c.scale else []
    if c.temperature != 1:
        scale.append(esc(f"temperature {c.temperature:g}"))
    bits.append(esc("scaled by ") +
                (esc(" \u00d7 ").join(scale) if scale else esc("1 (no scaling)")))
    if len(trace.heads) > 1:
        bits.append(esc(f"{len(trace.heads)} heads (the worked example uses head 1)"))
    bits.append(esc(f"{trace.weights_source} weights"))
    return ", ".join(bits)


# -- Markdown ---------------------------------------------------------------------------------
def to_worksheet_md(trace: AttentionTrace) -> str:
    """The worksheet in Markdown: tables, and the arithmetic as plain lines."""
    w = worked_example(trace)
    tok = [_md_escape(t) for t in trace.tokens]
    qi, kj = tok[w.i], tok[w.j]
    out = [f"# Self-attention, worked through: {_md_escape(trace.sentence)}", "",
           f"{options_line(trace)}.", "",
           "    Attention(Q, K, V) = softmax(Q K\u1d40 / \u221ad_k) V", "",
           "Q asks, K presents, V contributes: Q = X W_q, K = X W_k, V = X W_v.",
           f"Values are rounded to {DIGITS} decimals ({WEIGHT_DIGITS} for exponentials and "
           "weights); \u2248 marks a line whose rounded terms do not add up exactly.", ""]
    out += ["## 1. One dot product", "",
            f"How well '{qi}' asking meets '{kj}' presenting: Q[{qi}] \u00b7 K[{kj}].", ""]
    terms = " + ".join(f"{fmt(a)} \u00d7 {_paren(fmt(b))}" for a, b in zip(w.q, w.k))
    eq = "=" if adds_up(None, w.score, factors=_pairs(w.q, w.k)) else "\u2248"
    out += [f"    score = {terms} {eq} {fmt(w.score)}", ""]
    out += [f"Scaled: {fmt(w.score)} \u00f7 {w.divisor:.4g} = {fmt(w.scaled_row[w.j])}", ""]
    out += [f"## 2. One softmax row: '{qi}'", "",
            f"Subtract the row's largest scaled score ({fmt(w.row_max)}), exponentiate, add "
            "up, divide by the sum.", "",
            "| key | scaled score | e^(score \u2212 max) | weight |", "|---|---|---|---|"]
    for t, s, e, p in zip(tok, w.scaled_row, w.exps, w.weights):
        masked = not math.isfinite(s)
        out.append(f"| {t} | {fmt(s)} | {'0 (masked)' if masked else fmt(e, WEIGHT_DIGITS)} | "
                   f"{fmt(p, WEIGHT_DIGITS)} |")
    eq = "=" if adds_up(w.exps, w.exp_sum, WEIGHT_DIGITS) else "\u2248"
    out += ["", f"Sum of the exponentials {eq} {fmt(w.exp_sum, WEIGHT_DIGITS)}; each weight is "
            f"its exponential \u00f7 {fmt(w.exp_sum, WEIGHT_DIGITS)}, and the weights add up "
            f"to {fmt(w.weight_sum, WEIGHT_DIGITS)}.", ""]
    out += [f"## 3. The output row: '{qi}'", "",
            f"output[{qi}] = \u03a3 weight \u00d7 V[key], column by column:", ""]
    for m, total in enumerate(w.output):
        terms = " + ".join(f"{fmt(p, WEIGHT_DIGITS)} \u00d7 {_paren(fmt(v))}"
                           for p, v in zip(w.weights, w.V[:, m]) if p)
        eq = "=" if adds_up(None, total, factors=_pairs(w.weights, w.V[:, m], WEIGHT_DIGITS)) \
            else "\u2248"
        out.append(f"    {_dim(trace, m)}: {terms} {eq} {fmt(total)}")
    out += ["", "## 4. Every matrix", ""]
    for head, name, m, rows, cols in labelled_matrices(trace, SHEET_MATRICES):
        digits = WEIGHT_DIGITS if name == "weights" else DIGITS
        out += [f"### {_matrix_title(trace, head, name)}", "",
                "| | " + " | ".join(map(_md_escape, cols)) + " |", "|---" * (len(cols) + 1) + "|"]
        hidden = _masked(trace, name, m)
        for i, (label, row) in enumerate(zip(rows, np.asarray(m))):
            out.append(f"| {_md_escape(label)} | " + " | ".join(
                MASKED_MARK if hidden[i][j] else fmt(x, digits) for j, x in enumerate(row)) +
                " |")
        if hidden.any():
            out += ["", MASK_NOTE]
        out.append("")
    return "\n".join(out)


MASKED_MARK = "\u00b7"  # a weight that a causal mask hides: not a number that could be one
MASK_NOTE = ("\u00b7 masked: a word may not look at the words after it; their scaled scores are "
             "\u2212\u221e and their weights exactly 0.")


def _masked(trace: AttentionTrace, name: str, m: np.ndarray) -> np.ndarray:  # -> m's shape
    """The cells of matrix ``name`` that print the mask mark: the weights a mask hides
    (scaled scores print −∞ there already)."""
    return np.asarray(trace.mask) if name == "weights" else np.zeros(np.shape(m), dtype=bool)


def _pairs(a, b, a_digits: int = DIGITS):
    """Factors of a sum of products, with the decimals each is printed with."""
    return [(x, a_digits, y, DIGITS) for x, y in zip(a, b)]


def _paren(s: str) -> str:
    return f"({s})" if s.startswith((MINUS, "-")) else s


def _dim(trace: AttentionTrace, m: int) -> str:
    return trace.attention_dims[m] if trace.attention_dims else f"d{m + 1}"


MATRIX_TITLES = {
    "X": "X: each token's named features", "Wq": "W_q", "Wk": "W_k", "Wv": "W_v",
    "Q": "Q = X W_q (what each token asks for)", "K": "K = X W_k (how each token presents)",
    "V": "V = X W_v (what each token contributes)", "scores": "Scores Q K\u1d40",
    "scaled": "Scaled scores", "weights": "Weights: softmax of each row",
    "output": "Output = weights V", "Wo": "W_o (joins the heads)",
    "final_output": "Final output: heads joined, times W_o",
}


def _matrix_title(trace: AttentionTrace, head, name: str) -> str:
    title = MATRIX_TITLES.get(name, name)
    return f"{title}, head {head}" if head and len(trace.heads) > 1 else title


# -- LaTeX ------------------------------------------------------------------------------------
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}",
    "'": r"\textquotesingle{}", "`": r"\textasciigrave{}", "-": "-{}",
    "\u2212": r"\textminus{}", "\u00d7": r"\texttimes{}", "\u00f7": r"\textdiv{}",
}


# Latin-1 and Latin Extended-A letters that T1/TS1 fonts do not declare (texlive's t1enc.dfu)
_T1_MISSING = frozenset("\u0126\u0127\u0138\u013f\u0140\u0149\u0166\u0167\u017f")


def tex_text(s: str) -> str:
    """Text for LaTeX that is only ever text: specials become their symbols; letters pdflatex
    has (ASCII, Latin-1 and Latin Extended-A, with T1 fonts) stay; anything else is written
    as its code point, U+XXXX, instead of failing to compile."""
    out = []
    for ch in s:
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch.isascii() and ch.isprintable():
            out.append(ch)
        elif "\u00a1" <= ch <= "\u017f" and ch.isprintable() and ch not in _T1_MISSING:
            out.append(ch)
        else:
            out.append(r"\textsf{\scriptsize U+%04X}" % ord(ch))
    return "".join(out)


def _tex_num(x: float, digits: int = DIGITS) -> str:
    return fmt(x, digits).replace(MINUS, "-").replace("-\u221e", r"-\infty")


TEX_TITLES = {
    "X": r"$X$: each token's named features", "Wq": r"$W_q$", "Wk": r"$W_k$", "Wv": r"$W_v$",
    "Q": r"$Q = XW_q$ (asks)", "K": r"$K = XW_k$ (presents)", "V": r"$V = XW_v$ (contributes)",
    "scores": r"Scores $QK^{\top}$", "scaled": r"Scaled scores",
    "weights": r"Weights: softmax of each row", "output": r"Output $=$ weights $V$",
    "Wo": r"$W_o$ (joins the heads)", "final_output": r"Final output: heads joined, times $W_o$",
}
SIDE_BY_SIDE = ({"Wq", "Wk", "Wv"}, {"Q", "K", "V"})  # small matrices share a row of the page


def _tex_matrix(trace, head, name, m, rows, cols, size=r"\footnotesize") -> list[str]:
    digits = WEIGHT_DIGITS if name == "weights" else DIGITS
    rotate = len(cols) > 6 and max(map(len, cols)) > 4
    head_cells = [(r"\rotatebox{90}{%s}" if rotate else "%s") % tex_text(c) for c in cols]
    title = TEX_TITLES[name] + (f", head {head}" if head and len(trace.heads) > 1 else "")
    lines = [r"\textbf{%s}\par\smallskip" % title,
             r"{%s\setlength{\tabcolsep}{3pt}" % size,
             r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
             " & " + " & ".join(head_cells) + r" \\", r"\midrule"]
    hidden = _masked(trace, name, m)
    for i, (label, row) in enumerate(zip(rows, np.asarray(m))):
        lines.append(tex_text(label) + " & " + " & ".join(
            r"$\cdot$" if hidden[i][j] else "$%s$" % _tex_num(x, digits)
            for j, x in enumerate(row)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    if hidden.any():
        lines.append(r"\par\smallskip{\footnotesize $\cdot$ masked: a word may not look at "
                     r"the words after it; their scaled scores are $-\infty$ and their weights "
                     r"exactly 0.}")
    return lines


def _tex_matrices(trace: AttentionTrace) -> list[str]:
    """Every matrix; W_q, W_k, W_v (and Q, K, V) side by side."""
    L, row = [], []
    for head, name, m, rows, cols in labelled_matrices(trace, SHEET_MATRICES):
        group = next((g for g in SIDE_BY_SIDE if name in g), None)
        block = _tex_matrix(trace, head, name, m, rows, cols,
                            r"\footnotesize" if group is None else r"\scriptsize")
        if group is None:
            L += [r"\begin{center}\begin{minipage}{\textwidth}\centering", *block,
                  r"\end{minipage}\end{center}"]  # the title stays with its table
            continue
        row.append(block)
        if len(row) == len(group):
            L.append(r"\begin{center}")
            for k, b in enumerate(row):
                L += [r"\begin{minipage}[t]{0.32\textwidth}\centering", *b, r"\end{minipage}"]
                L.append(r"\hfill" if k < len(row) - 1 else "")
            L.append(r"\end{center}")
            row = []
    return L


def to_tex(trace: AttentionTrace) -> str:
    """The worksheet as a LaTeX document (pdflatex, standard packages only)."""
    w = worked_example(trace)
    tok = [tex_text(t) for t in trace.tokens]
    qi, kj = tok[w.i], tok[w.j]
    L = [r"\documentclass[11pt,a4paper]{article}", r"\usepackage[T1]{fontenc}",
         r"\usepackage[utf8]{inputenc}", r"\usepackage{lmodern,textcomp,amsmath,booktabs}",
         r"\usepackage{graphicx}", r"\usepackage[margin=1.4cm]{geometry}",
         r"\setlength{\parindent}{0pt}\setlength{\parskip}{0.5em}",
         r"\begin{document}",
         r"\section*{Self-attention, worked through}",
         r"\textbf{Sentence:} %s\par" % tex_text(trace.sentence),
         options_line(trace, tex_text, lambda f: f"${f}$") + r".\par",
         r"\[ \operatorname{Attention}(Q,K,V) = \operatorname{softmax}\!\left("
         r"\frac{QK^{\top}}{\sqrt{d_k}}\right) V \]",
         r"$Q$ asks, $K$ presents, $V$ contributes: $Q = XW_q$, $K = XW_k$, $V = XW_v$. "
         r"Values are rounded to %d decimals (%d for exponentials and weights); $\approx$ "
         r"marks a line whose rounded terms do not add up exactly.\par" % (DIGITS, WEIGHT_DIGITS)]
    terms = " + ".join(r"%s \times %s" % (_tex_num(a), _paren(_tex_num(b)))
                       for a, b in zip(w.q, w.k))
    eq = "=" if adds_up(None, w.score, factors=_pairs(w.q, w.k)) else r"\approx"
    L += [r"\subsection*{1. One dot product}",
          r"How well `%s' asking meets `%s' presenting: $Q_{\text{%s}} \cdot K_{\text{%s}}$."
          % (qi, kj, qi, kj),
          r"\[ %s %s %s \]" % (terms, eq, _tex_num(w.score)),
          r"Scaled: $%s \div %.4g = %s$.\par" % (_tex_num(w.score), w.divisor,
                                               _tex_num(w.scaled_row[w.j]))]
    L += [r"\subsection*{2. One softmax row: `%s'}" % qi,
          r"Subtract the row's largest scaled score ($%s$), exponentiate, add up, divide by "
          r"the sum.\par" % _tex_num(w.row_max),
          r"\begin{tabular}{lrrr}", r"\toprule",
          r"key & scaled score & $e^{\,\text{score} - \max}$ & weight \\", r"\midrule"]
    for t, s, e, p in zip(tok, w.scaled_row, w.exps, w.weights):
        e_cell = r"0 (masked)" if not math.isfinite(s) else "$%s$" % _tex_num(e, WEIGHT_DIGITS)
        L.append(r"%s & $%s$ & %s & $%s$ \\" % (t, _tex_num(s), e_cell,
                                                 _tex_num(p, WEIGHT_DIGITS)))
    eq = "=" if adds_up(w.exps, w.exp_sum, WEIGHT_DIGITS) else r"\approx"
    L += [r"\bottomrule", r"\end{tabular}\par",
          r"Sum of the exponentials $%s %s$; each weight is its exponential $\div\, %s$, and "
          r"the weights add up to $%s$.\par" % (eq, _tex_num(w.exp_sum, WEIGHT_DIGITS),
                                                _tex_num(w.exp_sum, WEIGHT_DIGITS),
                                                _tex_num(w.weight_sum, WEIGHT_DIGITS))]
    L += [r"\subsection*{3. The output row: `%s'}" % qi,
          r"$\text{output}_{\text{%s}} = \sum_{\text{key}} \text{weight} \times V_{\text{key}}$,"
          r" column by column:\par" % qi, r"{\small"]
    for m, total in enumerate(w.output):
        terms = " + ".join(r"%s \times %s" % (_tex_num(p, WEIGHT_DIGITS), _paren(_tex_num(v)))
                           for p, v in zip(w.weights, w.V[:, m]) if p)
        eq = "=" if adds_up(None, total, factors=_pairs(w.weights, w.V[:, m], WEIGHT_DIGITS)) \
            else r"\approx"
        L.append(r"\textbf{%s}: $%s %s %s$\par" % (tex_text(_dim(trace, m)), terms, eq,
                                                   _tex_num(total)))
    L += ["}", r"\section*{Every matrix}", *_tex_matrices(trace), r"\end{document}"]
    return "\n".join(L) + "\n"


def to_pdf(trace: AttentionTrace) -> bytes:
    """Compile :func:`to_tex` with pdflatex in a private folder; return the PDF's bytes. The
    run may neither read nor write outside that folder, nor run programs (defence in depth:
    the text is escaped already)."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise QKVError("pdflatex is not installed; run ./render.sh once (it installs LaTeX), "
                       "or use --format tex")
    with tempfile.TemporaryDirectory(prefix="qkv-tex-") as tmp:
        Path(tmp, "worksheet.tex").write_text(to_tex(trace), encoding="utf-8")
        env = {**os.environ, "openin_any": "p", "openout_any": "p", "shell_escape": "f"}
        try:
            done = subprocess.run([pdflatex, "-no-shell-escape", "-interaction=nonstopmode",
                                   "-halt-on-error", "worksheet.tex"], cwd=tmp, env=env,
                                  capture_output=True, text=True, errors="replace", timeout=120)
        except subprocess.TimeoutExpired:
            raise QKVError("pdflatex took over 2 minutes; use --format tex instead") from None
        pdf = Path(tmp, "worksheet.pdf")
        if done.returncode != 0 or not pdf.exists():
            first = next((ln for ln in done.stdout.splitlines() if ln.startswith("!")),
                         "no error line")
            raise QKVError(f"pdflatex failed ({first.lstrip('! ')}); use --format tex to see "
                           "the source")
        return pdf.read_bytes()


FORMATS = {"md": to_worksheet_md, "tex": to_tex}  # pdf: to_pdf, bytes
