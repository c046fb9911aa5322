"""attention/ against a naive loop implementation, ONNX's Attention operator run by onnxruntime,
and properties."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attention
from attention import QKVError, compute, softmax
from tests.reference import naive_attention

SENTENCES = [
    "The cat sat on the mat",
    "A dog chased the ball quickly .",
    "I",
    "Attention is all you need!",
    "Zyxwvut flibbered 42 gloriously",
]


def assert_close(a, b, tol=1e-9):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=0, atol=tol)


@pytest.mark.parametrize("sentence", SENTENCES)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("scale,temperature", [(True, 1.0), (False, 1.0), (True, 0.5)],
                         ids=["scaled", "unscaled", "hot"])
def test_matches_naive_loops(sentence, causal, scale, temperature):
    t = compute(sentence, causal=causal, scale=scale, temperature=temperature)
    ref = naive_attention(t.X.tolist(), t.head.Wq.tolist(), t.head.Wk.tolist(),
                          t.head.Wv.tolist(), causal=causal, scale=scale,
                          temperature=temperature)
    for name in ("Q", "K", "V", "scores", "row_max", "exps", "exp_sums", "weights",
                 "weight_sums", "weighted_values", "output"):
        assert_close(getattr(t.head, name), ref[name])
    assert_close(t.output, ref["output"])
    # every field checked: here, or (biases) in test_minilm.py, or (the turned Q and K of
    # rotary positions) in test_smollm2.py
    assert set(ref) | {"Wq", "Wk", "Wv", "scaled", "bq", "bk", "bv", "Q_rope", "K_rope",
                       "scores_unturned"} == set(attention.HeadTrace.__dataclass_fields__)
    assert t.head.Q_rope is t.head.K_rope is t.head.scores_unturned is None


@pytest.mark.parametrize("heads,seed", [(2, 7), (3, 7), (6, 7), (2, None), (3, None)],
                         ids=["2-random", "3-random", "6-random", "2-hand", "3-hand"])
def test_multi_head_is_concat_then_wo(heads, seed):
    """Every head (random or hand-designed) against the naive loops, then concat and W_o."""
    t = compute("The cat sat on the mat", heads=heads, seed=seed)
    d_model = t.X.shape[1]
    assert len(t.heads) == heads
    parts = []
    for h in t.heads:
        assert h.Wq.shape == (d_model, d_model // heads)
        ref = naive_attention(t.X.tolist(), h.Wq.tolist(), h.Wk.tolist(), h.Wv.tolist())
        assert_close(h.output, ref["output"])
        parts.append(ref["output"])
    concat = np.concatenate(parts, axis=1)
    assert t.Wo.shape == (d_model, d_model)
    assert_close(t.output, concat @ t.Wo)


def test_single_head_defaults_are_hand_designed():
    t = compute("The cat sat on the mat")
    assert t.d_k == 4 and t.Wo is None
    assert t.attention_dims == ("thing", "action", "place", "detail")
    # The story the default weights tell: the verb looks hardest at the place noun,
    # the preposition at the place, the determiners at the nouns.
    tok = t.tokens
    w = t.weights
    assert tok[int(np.argmax(w[tok.index("sat")]))] == "mat"
    assert tok[int(np.argmax(w[tok.index("on")]))] == "mat"
    assert tok[int(np.argmax(w[0]))] in ("cat", "mat")
    assert tok[int(np.argmax(w[tok.index("cat")]))] == "sat"


def test_seed_changes_weights_and_is_repeatable():
    a, b, c = (compute("The cat sat", seed=s) for s in (1, 1, 2))
    assert_close(a.head.Wq, b.head.Wq, 0)
    assert not np.allclose(a.head.Wq, c.head.Wq)
    assert not np.allclose(a.head.Wq, compute("The cat sat").head.Wq[:, :4])


def test_scaling_divides_by_sqrt_dk_and_temperature():
    t = compute("The cat sat on the mat", temperature=2.0)
    assert_close(t.scaled, t.scores / (math.sqrt(4) * 2.0))
    u = compute("The cat sat on the mat", scale=False)
    assert_close(u.scaled, u.scores)


def test_causal_mask_is_minus_infinity_then_exactly_zero():
    t = compute("The cat sat on the mat", causal=True)
    upper = np.triu_indices(t.n, 1)
    assert np.all(np.isneginf(t.scaled[upper]))
    assert np.all(t.weights[upper] == 0.0)
    assert t.weights[0, 0] == 1.0


def test_arrays_are_read_only_and_trace_frozen():
    t = compute("The cat sat on the mat")
    for arr in (t.X, t.Q, t.K, t.V, t.scores, t.scaled, t.weights, t.output, t.mask,
                t.head.Wq):
        with pytest.raises(ValueError):
            arr[0, 0] = 1.0
    with pytest.raises(AttributeError):
        t.tokens = ("x",)


def test_trace_does_not_share_memory_with_module_weights():
    t = compute("The cat")
    assert not np.shares_memory(t.head.Wq, attention.weights.W_Q)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"heads": 4}, "does not divide"),
    ({"heads": 0}, "--heads"),
    ({"temperature": 0}, "greater than 0"),
    ({"temperature": -1}, "greater than 0"),
    ({"temperature": float("nan")}, "finite"),
    ({"temperature": float("inf")}, "finite"),
    ({"seed": -3}, "--seed"),
])
def test_bad_options_raise_one_line_errors(kwargs, fragment):
    with pytest.raises(QKVError, match=fragment) as info:
        compute("The cat sat", **kwargs)
    assert "\n" not in str(info.value)


# -- properties -----------------------------------------------------------------------------

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
rows = st.integers(1, 8).flatmap(lambda n: st.lists(st.lists(finite, min_size=n, max_size=n),
                                                    min_size=1, max_size=6))


@given(rows)
def test_softmax_rows_sum_to_one(x):
    w = softmax(np.array(x))
    assert np.all(w >= 0)
    assert_close(w.sum(axis=-1), np.ones(len(x)), 1e-12)


@given(rows, finite)
def test_softmax_is_shift_invariant(x, c):
    x = np.array(x)
    assert_close(softmax(x), softmax(x + c), 1e-9)


@given(st.lists(st.floats(-1e308, 1e308), min_size=1, max_size=8))
def test_softmax_never_nan_for_large_logits(x):
    w = softmax(np.array([x]))
    assert np.all(np.isfinite(w))
    assert abs(w.sum() - 1) < 1e-9


def test_softmax_of_masked_row_gives_exact_zeros():
    w = softmax(np.array([[1.0, -np.inf, 3.0, -np.inf]]))
    assert w[0, 1] == 0.0 and w[0, 3] == 0.0


words = st.sampled_from(["the", "cat", "sat", "on", "mat", "dog", "ran", "big", "quickly",
                         "and", "blorft", "house", "42", "!"])


@given(st.lists(words, min_size=2, max_size=10), st.randoms(use_true_random=False))
def test_permutation_equivariance_without_mask(ws, rnd):
    """Without a mask (and without positions), permuting the words permutes the outputs."""
    perm = list(range(len(ws)))
    rnd.shuffle(perm)
    a = compute(" ".join(ws))
    b = compute(" ".join(ws[p] for p in perm))
    assert_close(b.output, a.output[perm])
    assert_close(b.weights, a.weights[np.ix_(perm, perm)])


@given(st.lists(words, min_size=1, max_size=16), st.booleans(), st.integers(0, 3))
def test_weights_rows_sum_to_one_and_masked_are_zero(ws, causal, heads_i):
    heads = [1, 2, 3, 6][heads_i]
    t = compute(" ".join(ws), causal=causal, heads=heads)
    for h in t.heads:
        assert_close(h.weights.sum(axis=1), np.ones(t.n), 1e-12)
        assert np.all(h.weights[t.mask] == 0.0)
        assert np.all(np.isfinite(h.output))


@pytest.mark.parametrize("config,matrix,fix", [
    ({"embeddings": {"a": [1e300, 0], "b": [0, 1e300]}, "weights": {
        "Wq": [[1, 0], [0, 1]], "Wk": [[1, 0], [0, 1]], "Wv": [[1, 0], [0, 1]]}},
     "scores = Q K\u1d40", "smaller embeddings or weights"),
    ({"embeddings": {"a": [1e200, 0], "b": [0, 1]}, "weights": {
        "Wq": [[1e200, 0], [0, 1]], "Wk": [[1, 0], [0, 1]], "Wv": [[1, 0], [0, 1]]}},
     "Q = X W_q", "smaller embeddings or weights"),
    ({"embeddings": {"a": [1e150, 0], "b": [0, 1]}, "weights": {
        "Wq": [[1e150, 0], [0, 1]], "Wk": [[1e-150, 0], [0, 1]], "Wv": [[1, 0], [0, 1]]},
      "temperature": 1e-20},
     "scaled = scores", "larger --temperature"),
], ids=["scores", "Q", "scaled"])
def test_overflow_is_refused_naming_the_matrix(config, matrix, fix):
    """Numbers too large for floating point are refused where they overflow, in one line
    that names the matrix and the fix, with no numpy warning."""
    import warnings

    from attention.config_file import parse_config

    cfg = parse_config({"feature_names": ["f1", "f2"], **config})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail here
        with pytest.raises(QKVError) as info:
            attention.compute_config("a b", attention.AttentionConfig(**cfg.math), cfg.custom)
    message = str(info.value)
    assert message.startswith(matrix) and "overflows" in message and fix in message, message


def test_overflow_through_w_o_is_refused(monkeypatch):
    import attention.core as core

    real = core.random_weights

    def huge_wo(seed, d_model, heads):  # positive values, and a W_o near the largest float
        per_head, w_o = real(seed, d_model, heads)
        return [tuple(abs(w) * 10 for w in ws) for ws in per_head], np.full_like(w_o, 1e308)

    monkeypatch.setattr(core, "random_weights", huge_wo)
    with pytest.raises(QKVError, match="concat\\(heads\\) W_o overflows"):
        compute("The cat sat on the mat", heads=2, seed=0)


def onnx_attention(t):
    """Run the trace's X and W_q/W_k/W_v through ONNX's own Attention operator (opset 23) in
    onnxruntime: matrix products, scaling, causal mask and softmax done by code no one here
    wrote. Returns (output, weights) of head 1."""
    import onnxruntime
    from onnx import TensorProto, helper

    n, d_model = t.X.shape
    d = t.d_k
    f64 = TensorProto.DOUBLE
    nodes = [helper.make_node("MatMul", ["X", w], [m]) for w, m in
             (("Wq", "Q"), ("Wk", "K"), ("Wv", "V"))]
    nodes += [helper.make_node("Reshape", [m, "shape"], [m + "4"]) for m in "QKV"]
    nodes.append(helper.make_node("Attention", ["Q4", "K4", "V4"], ["Y", "", "", "W"],
                                  is_causal=int(t.config.causal), scale=1 / t.divisor,
                                  qk_matmul_output_mode=3))  # W: the weights after softmax
    graph = helper.make_graph(
        nodes, "attention",
        [helper.make_tensor_value_info("X", f64, [n, d_model])] +
        [helper.make_tensor_value_info(w, f64, [d_model, d]) for w in ("Wq", "Wk", "Wv")],
        [helper.make_tensor_value_info(y, f64, None) for y in ("Y", "W")],
        initializer=[helper.make_tensor("shape", TensorProto.INT64, [4], [1, 1, n, d])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    y, w = session.run(None, {"X": t.X, "Wq": t.head.Wq, "Wk": t.head.Wk, "Wv": t.head.Wv})
    return y[0, 0], w[0, 0]


@pytest.mark.parametrize("sentence", SENTENCES)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("scale,temperature", [(True, 1.0), (False, 1.0), (True, 0.5)],
                         ids=["scaled", "unscaled", "hot"])
def test_matches_onnx_attention_operator(sentence, causal, scale, temperature):
    """ONNX's scale attribute is a 32-bit float: agreement to 1e-6, not 1e-9."""
    t = compute(sentence, causal=causal, scale=scale, temperature=temperature)
    output, weights = onnx_attention(t)
    assert_close(output, t.output, 1e-6)
    assert_close(weights, t.weights, 1e-6)


BIG_DOG = "The big dog chased a red ball in the park"


def strongest(t, head: int, word: str) -> str:
    """The word that ``word`` attends to most in head ``head`` (1-based)."""
    row = t.heads[head - 1].weights[t.tokens.index(word)]
    return t.tokens[int(np.argmax(row))]


def test_three_hand_designed_heads_look_for_three_things():
    t = compute(BIG_DOG, heads=3)
    assert t.weights_source == "hand-designed" and len(t.head_roles) == 3
    nouns = {"dog", "ball", "park"}
    # head 1: determiners and adjectives find nouns
    assert all(strongest(t, 1, w) in nouns for w in ("The", "big", "a", "red"))
    # head 2: the verb finds its nouns, the nouns their verb
    assert strongest(t, 2, "chased") in nouns
    assert strongest(t, 2, "dog") == strongest(t, 2, "ball") == "chased"
    # head 3: the preposition finds the place
    assert strongest(t, 3, "in") == "park"
    assert t.head_dims == (("thing", "detail"), ("thing", "action"), ("place", "link"))


def test_two_hand_designed_heads_and_w_o():
    t = compute(BIG_DOG, heads=2)
    assert strongest(t, 1, "chased") in {"dog", "ball", "park"}
    assert strongest(t, 1, "dog") == "chased"
    assert strongest(t, 2, "The") in {"dog", "ball", "park"} and strongest(t, 2, "in") == "park"
    # W_o carries each head dimension back onto one feature: thing -> noun, and so on
    assert t.Wo.shape == (6, 6) and (t.Wo.sum(axis=1) == 1).all()
    names = list(t.feature_names)
    dims = [d for head in t.head_dims for d in head]
    assert [names[int(np.argmax(row))] for row in t.Wo] == [
        {"thing": "noun", "action": "verb", "place": "place", "detail": "modifier"}[d]
        for d in dims]
    concat = np.concatenate([h.output for h in t.heads], axis=1)
    assert_close(t.output, concat @ t.Wo)
    from attention.export import to_csv

    assert ",Wo,0,0,h1.thing,noun,1.0\n" in to_csv(t)  # the export names W_o's rows


def test_other_head_counts_and_seeds_stay_random():
    assert compute(BIG_DOG, heads=6).weights_source == "random, seed 0"
    assert compute(BIG_DOG, heads=2, seed=4).weights_source == "random, seed 4"
    assert compute(BIG_DOG, heads=2, seed=4).head_roles is None


@pytest.mark.parametrize("n,d", [(1, 6), (6, 6), (16, 6), (5, 3)])
def test_sinusoidal_positions_follow_the_formula(n, d):
    """P[pos, 2i] = sin(pos / 10000^(2i/d)), P[pos, 2i+1] = cos(the same), written as loops."""
    from attention.core import sinusoidal_positions

    expected = [[round((math.sin if k % 2 == 0 else math.cos)(pos / 10000 ** ((k - k % 2) / d)),
                       2) for k in range(d)] for pos in range(n)]
    assert_close(sinusoidal_positions(n, d), expected, 1e-12)


def test_positions_enter_attention_and_tell_the_two_thes_apart():
    plain, placed = (compute("The cat sat on the mat", positions=p)
                     for p in ("none", "sinusoidal"))
    assert plain.P is None and np.array_equal(plain.X_in, plain.X)
    assert_close(placed.X_in, placed.X + placed.P)
    ref = naive_attention(placed.X_in.tolist(), placed.head.Wq.tolist(),
                          placed.head.Wk.tolist(), placed.head.Wv.tolist())
    for name in ("Q", "weights", "output"):
        assert_close(getattr(placed.head, name), ref[name])
    assert_close(plain.weights[0], plain.weights[4], 0)  # 'The' and 'the' alike...
    assert np.abs(placed.weights[0] - placed.weights[4]).max() > 0.1  # ...until positions
