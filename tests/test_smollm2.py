"""SmolLM2-135M-Instruct in numpy (attention/smollm2.py): every head's weights against a
loop-by-loop decoder written here, what the model predicts (which a wrong layer, rotation or
head grouping cannot fake), rotary positions, the causal mask, its tokens and its cache."""

import math
import os
import subprocess
import sys
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pytest

from attention import QKVError, smollm2

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["The cat sat on the", "Alice gave Bob the book because she liked him"]
# From the model card (config.json), not from the GGUF as smollm2 reads them
EPS, ROPE_BASE = 1e-5, 100000.0


def xdist_group(item):
    return "smollm2"  # one process: the weights are mapped and the forwards computed once


@cache
def run(sentence):
    return smollm2.forward(sentence)


# --- the reference: one token at a time, one head at a time --------------------------------


def naive_rms_norm(x, g):
    values = x.tolist()
    mean_square = sum(v * v for v in values) / len(values)
    scale = 1.0 / math.sqrt(mean_square + EPS)
    return np.array([v * scale * gi for v, gi in zip(values, g.tolist())])


def naive_rope(vec, pos):
    """Pair (2i, 2i + 1) turned by pos * base^(-2i / 64), one pair at a time."""
    v = vec.tolist()
    out = []
    for i in range(len(v) // 2):
        angle = pos * ROPE_BASE ** (-2 * i / len(v))
        c, s = math.cos(angle), math.sin(angle)
        out += [v[2 * i] * c - v[2 * i + 1] * s, v[2 * i] * s + v[2 * i + 1] * c]
    return np.array(out)


def naive_softmax(scores):
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


@lru_cache(maxsize=1)
def naive_decoder():
    """Both sentences through the model as a decoder runs it: layer by layer, and within a
    layer token by token, each token's key and value appended to a cache that its query then
    reads (so no query can see a later key); a loop over heads, query head h reading
    key/value head h // 3. Only smollm2's weights and token ids are used."""
    w = smollm2.weights()
    ids = [smollm2.tokenize(s)[1] for s in SENTENCES]
    xs = [[w["token_embd.weight"][i].astype(np.float64) for i in seq] for seq in ids]
    attention = [np.zeros((30, 9, len(seq), len(seq))) for seq in ids]
    for layer in range(30):
        W = {k: w[f"blk.{layer}.{k}.weight"].astype(np.float64) for k in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
            "ffn_up", "ffn_down")}
        for s, x in enumerate(xs):
            keys = [[] for _ in range(3)]
            values = [[] for _ in range(3)]
            out = []
            for t in range(len(x)):
                h = naive_rms_norm(x[t], W["attn_norm"])
                q, k, v = np.dot(h, W["attn_q"]), np.dot(h, W["attn_k"]), np.dot(h, W["attn_v"])
                for kv in range(3):
                    keys[kv].append(naive_rope(k[64 * kv:64 * kv + 64], t))
                    values[kv].append(v[64 * kv:64 * kv + 64])
                heads = []
                for head in range(9):
                    query = naive_rope(q[64 * head:64 * head + 64], t)
                    kv = head // 3
                    scores = [float(np.dot(query, key)) / math.sqrt(64) for key in keys[kv]]
                    weights = naive_softmax(scores)
                    attention[s][layer, head, t, :t + 1] = weights
                    mixed = np.zeros(64)
                    for a, value in zip(weights, values[kv]):
                        mixed = mixed + a * value
                    heads.append(mixed)
                y = x[t] + np.dot(np.concatenate(heads), W["attn_output"])
                h = naive_rms_norm(y, W["ffn_norm"])
                gate, up = np.dot(h, W["ffn_gate"]).tolist(), np.dot(h, W["ffn_up"]).tolist()
                act = np.array([g / (1.0 + math.exp(-g)) * u for g, u in zip(gate, up)])
                out.append(y + np.dot(act, W["ffn_down"]))
            xs[s] = out
    final = w["output_norm.weight"].astype(np.float64)
    hidden = [np.stack([naive_rms_norm(x, final) for x in seq]) for seq in xs]
    return attention, hidden


@pytest.mark.parametrize("index", range(len(SENTENCES)))
def test_every_head_matches_a_loop_by_loop_decoder(index):
    attention, hidden = naive_decoder()
    f = run(SENTENCES[index])
    n = len(f.tokens)
    assert f.attention.shape == attention[index].shape == (30, 9, n, n)
    assert np.abs(f.attention - attention[index]).max() < 1e-4
    assert np.abs(f.hidden - hidden[index]).max() < 1e-6


# --- what it predicts -----------------------------------------------------------------------


@pytest.mark.parametrize("sentence,word,low,high", [
    ("The capital of France is", " Paris", 0.6, 0.9),  # measured 0.806
    ("The cat sat on the", " mat", 0.2, 0.5),  # measured 0.325
    ("One, two, three,", " four", 0.6, 0.85),  # measured 0.730
])
def test_the_model_predicts_the_next_word(sentence, word, low, high):
    top = run(sentence).probs_top
    assert len(top) == 10
    shown, text, _, p = top[0]
    assert text == word and shown == smollm2.SPACE + word[1:]
    assert low < p < high
    assert [t[3] for t in top] == sorted((t[3] for t in top), reverse=True)
    assert top[0][2] == int(np.argmax(run(sentence).logits_last))


def half_rope(x, positions):
    """The Hugging Face checkpoint's pairing (feature i with i + 32): wrong for these
    weights, which llama.cpp's converter reordered for adjacent pairs."""
    x = np.asarray(x, dtype=np.float64)
    angle = smollm2.rope_angles(positions)
    c, s = np.cos(angle), np.sin(angle)
    a, b = x[..., :32], x[..., 32:]
    return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)


def test_with_the_other_rotary_pairing_the_cat_does_not_sit_on_the_mat(monkeypatch):
    """The test above can fail: pairing feature i with i + 32 (the checkpoint's layout)
    instead of adjacent features, " mat" is not even in the top three."""
    monkeypatch.setattr(smollm2, "rope", half_rope)
    top = smollm2.forward("The cat sat on the").probs_top
    assert " mat" not in [t[1] for t in top[:3]]


# --- rotary positions -----------------------------------------------------------------------


def test_rope_turns_adjacent_pairs_by_the_documented_angles():
    angles = smollm2.rope_angles([0, 1, 7])
    assert angles.shape == (3, 32)
    assert angles[1, 0] == 1.0 and angles[2, 0] == 7.0
    assert angles[1, 31] == pytest.approx(ROPE_BASE ** (-62 / 64), rel=1e-12)
    assert np.all(angles[0] == 0)
    e0 = np.zeros(64)
    e0[0] = 1.0
    turned = smollm2.rope(e0[None], [7])[0]
    assert turned[:2] == pytest.approx([math.cos(7), math.sin(7)], abs=1e-15)
    assert np.all(turned[2:] == 0)


def test_a_query_key_score_depends_only_on_their_distance():
    f = run(SENTENCES[0])
    Wq, Wk, _ = smollm2.head_weights(5)
    q = f.normed[5, 3] @ Wq[4]  # a real query row: token 3, head 4 (layer 6)
    k = f.normed[5, 1] @ Wk[4 // 3]  # a real key row: token 1, its key/value head

    def score(i, j):
        return float(smollm2.rope(q[None], [i])[0] @ smollm2.rope(k[None], [j])[0])

    base = score(3, 1)
    for shift in (1, 5, 37, 1000):
        assert abs(score(3 + shift, 1 + shift) - base) < 1e-6
    assert abs(score(4, 1) - base) > 1e-3 and abs(score(3, 2) - base) > 1e-3
    assert np.linalg.norm(smollm2.rope(q[None], [9])) == pytest.approx(np.linalg.norm(q))


def test_head_weights_rebuild_the_forward_pass_attention():
    """What a scene computes for one head: X = normed[layer], Q = rope(X W_q[h]),
    K = rope(X W_k[h // 3]), softmax(Q K^T / 8) with the future masked."""
    f = run(SENTENCES[1])
    n = len(f.tokens)
    for layer, head in [(0, 0), (11, 5), (16, 0), (29, 8)]:
        Wq, Wk, Wv = smollm2.head_weights(layer)
        assert Wq.shape == (9, 576, 64) and Wk.shape == Wv.shape == (3, 576, 64)
        X = f.normed[layer]
        Q = smollm2.rope(X @ Wq[head], np.arange(n))
        K = smollm2.rope(X @ Wk[head // 3], np.arange(n))
        scores = np.where(np.triu(np.ones((n, n), bool), 1), -np.inf, Q @ K.T / 8)
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        assert np.abs(e / e.sum(axis=1, keepdims=True) - f.attention[layer, head]).max() < 1e-12


# --- the causal mask, the start token, the default head --------------------------------------


@pytest.mark.parametrize("sentence", SENTENCES)
def test_no_head_looks_ahead(sentence):
    a = run(sentence).attention
    n = a.shape[-1]
    assert a.shape[:2] == (30, 9)
    above = np.triu(np.ones((n, n), bool), 1)
    assert np.all(a[:, :, above] == 0.0)  # exactly, in all 270 heads
    assert np.all(a[:, :, ~above] > 0)
    assert np.abs(a.sum(axis=-1) - 1).max() < 1e-12


def test_the_layer_inputs_are_the_residual_stream():
    f = run(SENTENCES[0])
    assert f.inputs.shape == f.normed.shape == (30, len(f.tokens), 576)
    emb = smollm2.weights()["token_embd.weight"]
    assert np.array_equal(f.inputs[0], emb[f.ids].astype(np.float64))
    g = smollm2.weights()["blk.7.attn_norm.weight"]
    x = f.inputs[7]
    assert np.allclose(f.normed[7], x / np.sqrt((x ** 2).mean(1, keepdims=True) + EPS) * g,
                       atol=1e-9)
    assert f.logits_last.shape == (49152,)
    assert np.allclose(f.logits_last, emb.astype(np.float64) @ f.hidden[-1], atol=1e-9)


def test_most_heads_park_their_weight_on_the_start_token():
    f = run(SENTENCES[0])
    share = smollm2.sink_share(f.attention)
    assert share.shape == (30, 9)
    assert share[3, 2] == pytest.approx(f.attention[3, 2, 1:, 0].mean())
    assert np.median(share) > 0.6  # measured 0.73


def test_the_default_head_is_one_whose_words_look_at_words():
    f = run(SENTENCES[0])
    layer, head = smollm2.default_head(f.attention, f.tokens)
    assert (layer, head) == (16, 0)  # a previous-token head: measured focus 0.87
    # its score, by hand: rows 2.. (they can see another word), columns 1..row-1
    a = f.attention[layer, head]
    n = len(f.tokens)
    focus = np.mean([max(a[i, j] for j in range(1, i)) for i in range(2, n)])
    assert focus == pytest.approx(smollm2.word_focus(f.attention)[layer, head])
    assert focus > 0.8 and smollm2.sink_share(f.attention)[layer, head] < 0.3
    assert focus == smollm2.word_focus(f.attention).max()


# --- tokens ---------------------------------------------------------------------------------


def test_tokens_show_the_start_token_and_leading_spaces():
    tokens, ids, pieces = smollm2.tokenize("The capital of  France is")
    assert tokens == (smollm2.START, "The", "\u2423capital", "\u2423of", "\u2423France",
                      "\u2423is")
    assert pieces == ("<|endoftext|>", "The", " capital", " of", " France", " is")
    assert ids[0] == 0 and len(ids) == 6
    tokens, ids, pieces = smollm2.tokenize("a cat")
    assert tokens[-1] == "\u2423cat" and pieces[-1] == " cat" and len(ids) == 3
    digits = smollm2.tokenize("In 1984")[0]
    assert digits[-4:] == ("1", "9", "8", "4")  # SmolLM2 splits numbers into digits


def test_seventeen_tokens_are_refused_in_one_line():
    words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    assert len(smollm2.tokenize(words + " fifteen")[0]) == 16
    with pytest.raises(QKVError) as err:
        smollm2.tokenize(words + " fifteen sixteen")
    message = str(err.value)
    assert "17" in message and "\u2423sixteen" in message and "\n" not in message


# --- the cache ------------------------------------------------------------------------------


def probe(env, code, stderr=None):
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       check=False, env={**os.environ, **env})
    assert p.returncode == 0, p.stderr
    if stderr is not None:
        stderr.append(p.stderr)
    return p.stdout.strip()


PARIS = ("from attention import smollm2\n"
         "import numpy as np\n"
         "f = smollm2.forward('The capital of France is')\n"
         "w = smollm2.weights()['blk.0.attn_q.weight']\n"
         "print(f.probs_top[0][1], repr(f.probs_top[0][3]), isinstance(w, np.memmap))")


def test_the_weights_are_cached_whole_and_mapped_from_then_on(tmp_path):
    """The first process finds a broken cache file (cut short), warns, expands the .gguf and
    writes the cache anew (one complete file and its record of length and CRC, no temporary
    left behind); the next maps it, untouched and quiet. A byte changed in the middle (the
    file's time moves) fails its CRC: made again, with a warning, never used."""
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    folder = tmp_path / "qkv" / "smollm2"
    folder.mkdir(parents=True)
    cache = folder / smollm2.cache_path().name
    cache.write_bytes(b"\x93NUMPY cut short")
    said = []
    warning = (f"warning: the SmolLM2-135M-Instruct weights cache {cache} was damaged; it is "
               "made again (about 5 s)")
    try:
        first = probe(env, PARIS, said)
        files = sorted(folder.iterdir())
        assert [f.name for f in files] == [cache.name, cache.name + ".ok"]
        assert cache.stat().st_size > 500e6
        written = cache.stat()
        second = probe(env, PARIS, said)
        kept = cache.stat()  # read, not written again: the same file, untouched
        assert (kept.st_ino, kept.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
        assert first.split()[:2] == second.split()[:2]
        assert first.split()[:2] == ["Paris", repr(run("The capital of France is").probs_top[0][3])]
        assert second.split()[2] == "True"
        with open(cache, "r+b") as f:  # one weight's byte, deep inside the file
            f.seek(cache.stat().st_size // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x40]))
        third = probe(env, PARIS, said)
        assert third == second and cache.stat().st_ino != kept.st_ino
        assert [s.strip() for s in said] == [warning, "", warning]
    finally:
        for f in folder.glob("*"):
            f.unlink()  # 540 MB


def test_without_a_writable_cache_it_still_works(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    out = probe({"XDG_CACHE_HOME": str(blocker)}, PARIS).split()
    assert out == ["Paris", repr(run("The capital of France is").probs_top[0][3]), "False"]


def test_the_explained_heads_trace_is_the_models_own():
    """The trace of --model smollm2 --layer 4 --head 8: its X is that layer's normed input, its
    W_k and W_v the slices of key/value head 3 (query heads 7, 8, 9 share it), Q and K turned
    pair by pair to Q_rope and K_rope, the scores made of those (and scores_unturned of the
    plain ones), and its weights that head's row of the model's attention."""
    from attention import compute

    t = compute("The cat sat on the", model="smollm2", layer=4, head=8)
    assert (t.model.kv_heads, t.model.kv_head_of(8), t.model.sharing) == (3, 3, 3)
    assert [t.model.kv_head_of(h) for h in range(1, 10)] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    Wq, Wk, Wv = smollm2.head_weights(3)
    np.testing.assert_array_equal(t.head.Wq, Wq[7])
    np.testing.assert_array_equal(t.head.Wk, Wk[2])
    np.testing.assert_array_equal(t.head.Wv, Wv[2])
    X = t.X.tolist()
    for i in range(t.n):
        q = np.array([sum(X[i][f] * Wq[7][f][m] for f in range(576)) for m in range(64)])
        k = np.array([sum(X[i][f] * Wk[2][f][m] for f in range(576)) for m in range(64)])
        np.testing.assert_allclose(t.head.Q[i], q, atol=1e-9)
        np.testing.assert_allclose(t.head.Q_rope[i], naive_rope(q, i), atol=1e-9)
        np.testing.assert_allclose(t.head.K_rope[i], naive_rope(k, i), atol=1e-9)
    for i in range(t.n):
        for j in range(t.n):
            turned = sum(a * b for a, b in zip(t.head.Q_rope[i], t.head.K_rope[j]))
            plain = sum(a * b for a, b in zip(t.head.Q[i], t.head.K[j]))
            assert abs(t.head.scores[i, j] - turned) < 1e-9
            assert abs(t.head.scores_unturned[i, j] - plain) < 1e-9
    np.testing.assert_allclose(t.weights, t.attention[3, 7], atol=1e-12)
    np.testing.assert_allclose(t.rope_angles[:, 0], np.arange(t.n))  # pair 0: 1 rad a step
    np.testing.assert_allclose(t.kv_keys[2], t.head.K, atol=1e-12)  # the head's own keys
    for g in range(3):  # every shared key head's keys, row by row
        for i in range(t.n):
            np.testing.assert_allclose(t.kv_keys[g, i], np.dot(X[i], Wk[g]), atol=1e-9)
    d = t.rope_demo  # the rope stage's example: the query elsewhere, the pair moved along
    for p in range(t.n):
        np.testing.assert_allclose(d.q_pair_at[p], naive_rope(t.head.Q[d.query], p)[:2],
                                   atol=1e-9)
    assert abs(d.score_shifted - t.head.scores[d.query, d.key]) < 1e-9
    assert abs(d.score_shifted - t.head.scores_unturned[d.query, d.key]) > 1e-3


def test_layer_alone_and_one_word_follow_the_documented_rule():
    """--layer alone: the rule within that layer; with one word (nothing earlier to look
    at) the rule is the least weight on the start token; the trace says which rule chose."""
    from attention import compute

    t = compute("The cat sat on the", model="smollm2", layer=5)
    assert t.model.head - 1 == int(np.argmax(smollm2.word_focus(t.attention)[4]))
    assert t.model.chosen_by == smollm2.RULE + " in layer 5"
    one = compute("Hi", model="smollm2", layer=5)
    assert one.model.head - 1 == int(np.argmin(smollm2.sink_share(one.attention)[4]))
    assert one.model.chosen_by == smollm2.RULE_ONE_WORD + " in layer 5"
    assert compute("Hi", model="smollm2", head=2).model.chosen_by == "you"
