"""Hostile input: each either renders with its glyphs visible or is refused with exit status 2
and one line, never a traceback, never a file outside the output folder, never LaTeX."""

import os
import subprocess
import sys

import manim.utils.tex_file_writing as tex_writing
import pytest
from manim import Text

from attention import QKVError, compute
from attention.display import display_text
from qkv.fonts import check_drawable, font_covers
from scenes.components import plain_text
from scenes.embeddings import EmbeddingsScene
from scenes.theme import DARK
from tests.scene_tools import construct

# (id, sentence, expected): "ok" renders; otherwise a fragment of the one-line error.
HOSTILE = [
    ("empty", "", "empty"),
    ("blank", "   \t ", "empty"),
    ("17-tokens", " ".join(f"w{k}" for k in range(17)), "at most 16"),
    ("10k-chars", "a" * 10_000, "characters long"),
    ("latex-input", r"\input{/etc/passwd}", "ok"),
    ("latex-math", "$x^2$ costs 100%", "ok"),
    ("pango-markup", '<span foreground="red">red</span> & co', "ok"),
    ("nul", "a\x00b", "U+0000"),
    ("control", "bell\x07 here", "U+0007"),
    ("lone-surrogate", "bad \ud800 text", "surrogate"),
    ("emoji", "I love \U0001f431 and \U0001f44d\U0001f3fd", "ok"),
    ("arabic", "\u0627\u0644\u0642\u0637\u0629 \u062c\u0644\u0633\u062a", "ok"),
    ("hebrew", "\u05d4\u05d7\u05ea\u05d5\u05dc \u05d9\u05e9\u05d1", "ok"),
    ("cjk", "\u732b\u304c \u5ea7\u3063\u305f", "ok"),
    ("accented", "Le ch\u00e2t s'est assis sur le tapis, voil\u00e0", "ok"),
    ("40-char-word", "a" + "b" * 39, "at most 20 characters"),
    ("digits", "123 456 7890", "ok"),
    ("punctuation", "?! ... ;", "ok"),
]


def test_every_refusal_of_the_tokenizer_has_a_hostile_case():
    """Each `raise QKVError` line of attention/tokenize.py runs for some input of the list
    (traced line by line), so a new refusal needs its hostile case here. (Non-text input
    comes only from Python, never from the command line: one call covers it.)"""
    tk = sys.modules["attention.tokenize"]  # (attention.tokenize is also the function)
    source = open(tk.__file__, encoding="utf-8").read().splitlines()
    refusals = {k for k, line in enumerate(source, start=1) if "raise QKVError" in line}
    assert len(refusals) >= 6
    hit = set()

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != tk.__file__:
            return None
        if event == "line":
            hit.add(frame.f_lineno)
        return tracer

    sys.settrace(tracer)
    try:
        for sentence in [s for _, s, _ in HOSTILE] + [b"not text"]:
            try:
                tk.tokenize(sentence)
            except QKVError:
                pass
    finally:
        sys.settrace(None)
    assert sorted(refusals - hit) == []


@pytest.mark.parametrize("name,sentence,expected", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_cli_accepts_or_refuses_in_one_line(tmp_path, capsys, monkeypatch, name, sentence,
                                            expected):
    # export is the cheap path through the same validation as render
    if "\x00" in sentence:
        # No program can receive a NUL in its arguments; run the same CLI code in-process.
        from qkv.cli import main

        monkeypatch.chdir(tmp_path)
        with pytest.raises(SystemExit) as info:
            main(["export", "--", sentence])
        code, stdout, stderr = info.value.code, *capsys.readouterr()
    else:
        # A lone surrogate arrives the way a shell passes invalid UTF-8: as raw bytes.
        arg = sentence.encode("utf-8", "surrogateescape") if "\ud800" not in sentence \
            else b"bad \xed\xa0\x80 text"
        p = subprocess.run([sys.executable, "-m", "qkv", "export", "--", arg],
                           capture_output=True, cwd=tmp_path)
        code, stdout, stderr = p.returncode, p.stdout.decode(), p.stderr.decode()
    assert "Traceback" not in stderr
    if expected == "ok":
        assert code in (0, None), stderr
    else:
        assert code == 2
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
        assert stdout == ""
    assert os.listdir(tmp_path) == []


OK = [(n, s) for n, s, e in HOSTILE if e == "ok"]


@pytest.mark.parametrize("name,sentence", OK, ids=[n for n, _ in OK])
def test_every_token_is_drawn_with_glyphs(name, sentence):
    t = compute(sentence)
    check_drawable(t)  # an installed outline font covers every character
    for tok in t.tokens:
        text = plain_text(tok, DARK, font_size=24)
        visible = [c for c in display_text(tok) if c.strip() and c not in "\u200e\ufe0e"]
        assert len(text.submobjects) >= 1, tok
        assert len(text.submobjects) <= len(visible), tok


@pytest.mark.parametrize("name,sentence", [h[:2] for h in HOSTILE if h[0].startswith(
    ("latex", "pango"))], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "")
def test_user_text_never_reaches_latex_or_markup(monkeypatch, name, sentence):
    """Build a whole stage with the payload; every LaTeX string is ours, and Text gets the
    payload verbatim (Text, unlike MarkupText, does not parse markup)."""
    seen = []
    original = tex_writing.tex_to_svg_file

    def spy(expression, *args, **kwargs):
        seen.append(expression)
        return original(expression, *args, **kwargs)

    monkeypatch.setattr(tex_writing, "tex_to_svg_file", spy)
    import manim.mobject.text.tex_mobject as tex_mobject
    monkeypatch.setattr(tex_mobject, "tex_to_svg_file", spy)
    t = compute(sentence)
    _, mobjects, _ = construct(EmbeddingsScene, t)
    assert seen  # the stage does use LaTeX, for its own formula
    words = [tok for tok in t.tokens if len(tok) > 1 and any(c.isalpha() for c in tok)]
    for expr in seen:
        for word in words:
            assert word not in expr, (word, expr)
    labels = [m.original_text for m in mobjects if isinstance(m, Text)]
    for tok in t.tokens:
        assert tok in labels or display_text(tok) in labels


def test_fontconfig_says_what_is_covered():
    assert font_covers("a") and font_covers("\u732b") and font_covers("\u05d4")
    assert not font_covers(UNDRAWN)


UNDRAWN = "\u20c0"  # SOM SIGN (Unicode 14): printable, and no font that render.sh installs has it


def test_undrawable_character_is_refused():
    with pytest.raises(QKVError, match=r"no installed font can draw .* \(U\+20C0\)"):
        check_drawable(compute(f"ok {UNDRAWN}"))


def test_no_fontconfig_is_an_error_not_a_pass(monkeypatch):
    import qkv.fonts as fonts

    fonts.outline_coverage.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(QKVError, match="fc-list is not installed"):
            check_drawable(compute("Hello"))
    finally:
        fonts.outline_coverage.cache_clear()
