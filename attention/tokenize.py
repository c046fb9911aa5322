"""Split a sentence into display tokens: words and punctuation, case kept.

The input is NFC-normalised first. Control characters, lone surrogates and other
non-printing code points are rejected, because they cannot be shown on screen.
Combining marks, zero-width joiners, variation selectors and emoji modifiers stay
attached to the character before them, so an accented letter or an emoji sequence
is one token.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import QKVError

MAX_TOKENS = 16  # more rows than this do not fit on screen
MAX_TOKEN_CHARS = 20  # longest word a scene lays out
MAX_INPUT_CHARS = 2000  # anything longer is certainly over MAX_TOKENS

_WORD = re.compile(r"\w+(?:['\u2019\-]\w+)*|[^\w\s]")
_ZWJ = "\u200d"
_ALLOWED_FORMAT = {_ZWJ, "\u200c", "\ufe0e", "\ufe0f"}  # joiners and variation selectors


def _glue(ch: str) -> bool:
    """True for characters that belong to the character before them."""
    cat = unicodedata.category(ch)
    return (
        cat in ("Mn", "Mc", "Me")
        or ch in _ALLOWED_FORMAT
        or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin-tone modifiers
        or "\U000e0020" <= ch <= "\U000e007f"  # emoji tag sequences (flags)
    )


def _is_regional(piece: str) -> bool:
    """True for one regional-indicator letter (two of them make a flag)."""
    return len(piece) == 1 and "\U0001f1e6" <= piece <= "\U0001f1ff"


def _check_printable(text: str) -> None:
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Co", "Cn") or (cat == "Cf" and not _glue(ch)):
            if ch in "\t\n\r":
                continue
            name = unicodedata.name(ch, "").title() or "control character"
            raise QKVError(
                f"the sentence contains an unprintable character U+{ord(ch):04X} ({name}); "
                "remove it and try again"
            )


def clean(sentence: str) -> str:
    """``sentence`` checked (text, not too long, printable) and NFC-normalised, with runs of
    white space made one space; refused with the fix if it is empty or cannot be shown."""
    if not isinstance(sentence, str):
        raise QKVError("the sentence must be text")
    if len(sentence) > MAX_INPUT_CHARS:
        raise QKVError(
            f"the sentence is {len(sentence)} characters long; use at most {MAX_TOKENS} words"
        )
    try:
        sentence.encode("utf-8")
    except UnicodeEncodeError:
        raise QKVError("the sentence contains a lone surrogate; pass valid Unicode text") from None
    text = unicodedata.normalize("NFC", sentence)
    _check_printable(text)
    # Tabs and newlines separate words like spaces do.
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise QKVError('the sentence is empty; pass some words, e.g. "The cat sat on the mat"')
    return text


def tokenize(sentence: str) -> tuple[str, ...]:
    """Split ``sentence`` into at most ``MAX_TOKENS`` display tokens.

    >>> tokenize("The cat sat on the mat.")
    ('The', 'cat', 'sat', 'on', 'the', 'mat', '.')
    """
    text = clean(sentence)
    tokens: list[str] = []
    glue_next = False
    for match in _WORD.finditer(text):
        piece = match.group()
        adjacent = tokens and match.start() > 0 and text[match.start() - 1] != " "
        flag_half = _is_regional(piece) and len(tokens[-1]) == 1 and _is_regional(tokens[-1]) if tokens else False
        if adjacent and (glue_next or flag_half or all(_glue(c) for c in piece)):
            tokens[-1] += piece
        else:
            tokens.append(piece)
        glue_next = tokens[-1].endswith(_ZWJ)
    if len(tokens) > MAX_TOKENS:
        raise QKVError(
            f"the sentence has {len(tokens)} tokens; use at most {MAX_TOKENS} "
            "(words and punctuation marks count one each)"
        )
    for tok in tokens:
        if len(tok) > MAX_TOKEN_CHARS:
            raise QKVError(
                f"the word {tok[:12]!r}... is {len(tok)} characters long; "
                f"use words of at most {MAX_TOKEN_CHARS} characters"
            )
    return tuple(tokens)
