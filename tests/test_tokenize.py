import pytest

from attention import MAX_TOKENS, QKVError, embed, tokenize
from attention.embeddings import jitter, word_class


@pytest.mark.parametrize("text,tokens", [
    ("The cat sat on the mat", ("The", "cat", "sat", "on", "the", "mat")),
    ("The cat sat on the mat.", ("The", "cat", "sat", "on", "the", "mat", ".")),
    ("  Don't\tstop-now ! ", ("Don't", "stop-now", "!")),
    ("cafe\u0301", ("caf\u00e9",)),  # NFC: e + combining acute becomes one letter
    ("\U0001f44d\U0001f3fd ok", ("\U0001f44d\U0001f3fd", "ok")),
    ("\U0001f1eb\U0001f1f7", ("\U0001f1eb\U0001f1f7",)),
    ("12 34", ("12", "34")),
], ids=["plain", "punctuation", "whitespace", "nfc", "emoji-skin", "flag", "digits"])
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("   \n\t", "empty"),
    (" ".join(["w"] * (MAX_TOKENS + 1)), "at most 16"),
    ("a" * 10_000, "characters long"),
    ("a\x00b", r"U\+0000"),
    ("a\x1bb", r"U\+001B"),
    ("bad \ud800 surrogate", "surrogate"),
    ("x" * 21, "at most 20 characters"),
])
def test_tokenize_rejects(text, fragment):
    with pytest.raises(QKVError, match=fragment) as info:
        tokenize(text)
    assert "\n" not in str(info.value)


def test_sixteen_tokens_is_fine():
    assert len(tokenize(" ".join(["w"] * MAX_TOKENS))) == MAX_TOKENS


def test_embeddings_named_and_deterministic():
    x = embed(("cat", "sat", "Cat"))
    assert x.shape == (3, 6)
    assert (x == embed(("cat", "sat", "Cat"))).all()
    assert (x[0] == x[2]).all()  # case does not change meaning
    assert x[0, 0] > 0.8 and x[1, 1] > 0.8  # cat is a noun, sat a verb


CAT_JITTER = [-0.040196, 0.041373, 0.002157, 0.013529, 0.001765, -0.038235]


def test_jitter_is_pinned_and_the_same_in_every_process():
    """BLAKE2b of the word is the same on every machine and in every process (Python's
    hash() is salted per process): the values written down here once, in two fresh
    processes with different hash seeds."""
    assert jitter("cat", 6).round(6).tolist() == CAT_JITTER
    assert (jitter("Cat", 6) == jitter("cat", 6)).all()
    import subprocess
    import sys
    code = "from attention.embeddings import jitter; print(jitter('cat', 6).round(6).tolist())"
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": str(s)}).stdout for s in (1, 2)]
    assert outs == [f"{CAT_JITTER}\n"] * 2


@pytest.mark.parametrize("word,cls", [
    ("cat", "noun"), ("mat", "place"), ("sat", "verb"), ("on", "preposition"),
    ("the", "determiner"), ("gloriously", "adverb"), ("flibbering", "verb"),
    ("happiness", "noun"), ("marvellous", "adjective"), ("42", "number"), ("!", "punctuation"),
    ("Zorblax", "noun"),
])
def test_word_classes(word, cls):
    assert word_class(word) == cls
