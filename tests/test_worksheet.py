"""Worksheets: the worked example's numbers are the trace's, the arithmetic is marked exact only
when it is, the LaTeX compiles with pdflatex for every hostile sentence that is accepted, and
no input reaches LaTeX as anything but text."""

import math
import re
import subprocess
import sys

import numpy as np
import pytest

from attention import compute
from attention.core import pick_example
from attention.worksheet import MINUS, tex_text, to_pdf, to_tex, to_worksheet_md
from tests.test_hostile import HOSTILE

ACCEPTED = [(name, s) for name, s, expected in HOSTILE if expected == "ok"]


def numbers(text: str) -> list[float]:
    return [float(x.replace(MINUS, "-")) for x in re.findall(f"[{MINUS}-]?\\d+\\.\\d+", text)]


def shown(x: float, digits: int = 2) -> float:
    """A value as printed, independently of the worksheet's own formatting."""
    return float(f"{x:.{digits}f}") + 0.0  # + 0.0: -0.0 is 0.0


def section(md: str, heading: str) -> str:
    return md.split(heading, 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("sentence,opts", [
    ("The cat sat on the mat", {}),
    ("Dogs chase the red ball quickly", {"causal": True}),
    ("Birds sing at dawn", {"heads": 2, "seed": 3}),
])
def test_worked_example_numbers_are_the_traces(sentence, opts):
    t = compute(sentence, **opts)
    md = to_worksheet_md(t)
    i, j = pick_example(t)
    head = t.heads[0]
    # 1. the dot product: Q[i] and K[j] term by term, then the score and the scaled score
    dot = numbers(section(md, "## 1. One dot product").split("presenting", 1)[1])
    d = t.d_k
    assert dot[0:2 * d:2] == [shown(x) for x in head.Q[i]]
    assert dot[1:2 * d:2] == [shown(x) for x in head.K[j]]
    assert dot[2 * d] == shown(head.scores[i, j])
    assert dot[-1] == shown(head.scaled[i, j])
    # 2. the softmax row: every key's scaled score, exponential and weight
    rows = [ln for ln in section(md, "## 2.").splitlines() if ln.startswith("| ")][1:]
    assert len(rows) == t.n
    row_max = max(x for x in head.scaled[i] if math.isfinite(x))
    for k, line in enumerate(rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[-1] == f"{head.weights[i, k]:.3f}"
        if t.mask[i, k]:
            assert cells[1] == MINUS + "\u221e" and "masked" in cells[2]
        else:
            assert float(cells[2]) == shown(math.exp(head.scaled[i, k] - row_max), 3)
    # 3. the output row: each column's total is head 1's output
    out_lines = [ln for ln in section(md, "## 3.").splitlines() if ln.startswith("    ")]
    assert len(out_lines) == head.V.shape[1]
    for m, line in enumerate(out_lines):
        assert numbers(line)[-1] == shown(head.output[i, m])


def big_numbers_trace():
    """A teacher's numbers with factors of two digits and negative signs on both sides."""
    from attention import AttentionConfig, compute_config
    from attention.config_file import parse_config

    cfg = parse_config({"feature_names": ["f1", "f2"],
                        "embeddings": {"big": [12.5, -3.25], "small": [-1.5, 10.75]},
                        "weights": {"Wq": [[0.5, -1.0], [1.0, 0.25]],
                                    "Wk": [[-0.75, 1.0], [0.5, 0.5]],
                                    "Wv": [[-10.5, 2.0], [3.0, -0.5]]}})
    return compute_config("big small", AttentionConfig(temperature=20.0), cfg.custom)


FACTOR = f"\\(?([{MINUS}-]?\\d+\\.\\d+)\\)?"  # a printed factor, maybe negative, in parentheses


@pytest.mark.parametrize("make", [lambda: compute("The cat sat on the mat"),
                                  lambda: compute("Dogs chase the red ball", seed=4),
                                  big_numbers_trace], ids=["default", "negative", "big"])
def test_equals_sign_only_when_the_printed_arithmetic_is_exact(make):
    """Each written-out sum: '=' exactly when the printed factors, multiplied and added,
    give the printed total (read back from the text, signs and every digit included)."""
    md = to_worksheet_md(make())
    checked, negative, wide = 0, 0, 0
    for line in md.splitlines():
        if "\u00d7" not in line or not line.startswith("    "):
            continue
        pairs = re.findall(f"{FACTOR} \u00d7 {FACTOR}", line)
        values = [(float(a.replace(MINUS, "-")), float(b.replace(MINUS, "-"))) for a, b in pairs]
        shown = sum(a * b for a, b in values)
        total = numbers(line)[-1]
        exact = float(f"{shown:.2f}") == total  # (float: -0.00 is 0.00)
        assert ("\u2248" in line) == (not exact), line
        assert len(pairs) == line.count("\u00d7"), line  # every product was read
        checked += 1
        negative += any(a < 0 for a, _ in values)
        wide += any(abs(a) >= 10 or abs(b) >= 10 for a, b in values)
    assert checked >= 2
    if make is big_numbers_trace:
        assert negative and wide  # the case exercises signs and two-digit factors


def test_tex_escapes_every_special_and_keeps_unknown_scripts_as_code_points():
    assert tex_text(r"\input{/etc/passwd}") == r"\textbackslash{}input\{/etc/passwd\}"
    assert tex_text("$x^2$ 100% #1 a_b ~ &") == (
        r"\$x\textasciicircum{}2\$ 100\% \#1 a\_b \textasciitilde{} \&")
    assert tex_text("caf\u00e9") == "caf\u00e9"
    assert tex_text("\u732b") == r"\textsf{\scriptsize U+732B}"
    for name, sentence in ACCEPTED:  # no user character reaches LaTeX unescaped
        body = tex_text(sentence)
        for special in "\\{}$&#^_%~":
            unescaped = re.sub(r"\\(textbackslash|textasciicircum|textasciitilde|textsf|"
                               r"scriptsize|textless|textgreater|textbar|textquotedbl|"
                               r"textquotesingle|textasciigrave|textminus|texttimes|textdiv)"
                               r"(\{\})?|\\[{}$&#_%]|\{|\}", "", body)
            assert special not in unescaped, (name, body)


@pytest.mark.parametrize("name,sentence", ACCEPTED + [("default", "The cat sat on the mat")],
                         ids=[a[0] for a in ACCEPTED] + ["default"])
def test_pdf_builds_for_every_accepted_sentence(name, sentence):
    pdf = to_pdf(compute(sentence))
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000


def test_latex_payload_is_printed_not_run(tmp_path):
    pdf = tmp_path / "w.pdf"
    pdf.write_bytes(to_pdf(compute(r"\input{/etc/passwd} $x^2$ 100%")))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "input{/etc/passwd}" in text.replace(" ", "")
    assert "root:" not in text


def test_every_latin_letter_kept_for_latex_compiles(tmp_path):
    """tex_text keeps Latin-1 and Latin Extended-A as they are, except what T1 lacks: all of
    them in one document must compile."""
    kept = "".join(chr(c) for c in range(0xA1, 0x180) if tex_text(chr(c)) == chr(c))
    assert len(kept) > 200 and "\u0126" not in kept
    preamble = to_tex(compute("Hi")).split(r"\begin{document}")[0]
    (tmp_path / "t.tex").write_text(preamble + r"\begin{document}" + tex_text(kept + "\u0126") +
                                    "\n\\end{document}\n", encoding="utf-8")
    p = subprocess.run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode",
                        "-halt-on-error", "t.tex"], cwd=tmp_path, capture_output=True,
                       text=True, errors="replace")
    assert p.returncode == 0, [ln for ln in p.stdout.splitlines() if ln.startswith("!")]


def test_cli_pdf_needs_an_output_and_writes_one_file(tmp_path):
    run = [sys.executable, "-m", "qkv", "export", "--format", "pdf"]
    p = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--output" in p.stderr
    p = subprocess.run([*run, "-o", "sheet.pdf", "Cats sleep"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert [f.name for f in tmp_path.iterdir()] == ["sheet.pdf"]
    assert (tmp_path / "sheet.pdf").stat().st_mode & 0o044  # readable like any new file


def test_tex_is_byte_identical_and_has_every_matrix():
    t = compute("The cat sat on the mat", heads=2)
    assert to_tex(t) == to_tex(compute("The cat sat on the mat", heads=2))
    for title in ("$W_q$", "Scores $QK^{\\top}$", "Weights: softmax", "Final output"):
        assert title in to_tex(t)


def test_masked_weights_are_marked_not_printed_as_numbers():
    """Like the videos' hatched cells: a weight the causal mask hides is a mark, explained."""
    t = compute("Dogs chase the red ball", causal=True)
    md = to_worksheet_md(t)
    table = md.split("### Weights: softmax of each row", 1)[1].split("###", 1)[0]
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    cells = [[c.strip() for c in ln.strip("|").split("|")][1:] for ln in rows]
    for (i, j), masked in np.ndenumerate(t.mask):
        assert (cells[i][j] == "\u00b7") == masked
        if not masked:
            assert float(cells[i][j]) == shown(t.weights[i, j], 3)
    assert "\u00b7 masked: a word may not look at the words after it" in table
    assert "masked" not in to_worksheet_md(compute("Dogs chase the red ball"))
    assert r"$\cdot$ masked" in to_tex(t)
