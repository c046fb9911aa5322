"""Projection matrices W_q, W_k, W_v (and W_o for several heads).

The default single-head matrices are written by hand so the pattern on
"The cat sat on the mat" can be explained in words. Each maps the six embedding
features to four attention dimensions, ``thing``, ``action``, ``place`` and ``detail``,
and plays one of the three roles of the seed post:

* ``W_q``, what a word **asks** for: a verb asks for things and places, a determiner or
  an adjective for the thing it belongs to, a preposition for a place, a noun for its
  action and its details.
* ``W_k``, how a word **presents** itself: a noun as a thing, a verb as an action, a place
  noun as a place (and a thing), determiners and adjectives as details.
* ``W_v``, what a word **contributes** once attended to: subject meaning from nouns, action
  from verbs, location from prepositions and places, description from modifiers.

``--seed N`` (or several heads without a seed, which then use seed 0) replaces them with
seeded random matrices, rounded to 2 decimals so the screen shows exactly what is used.
"""

from __future__ import annotations

import numpy as np

ATTENTION_DIMS = ("thing", "action", "place", "detail")

#                      thing action place detail      feature of the word
W_Q = np.array([
    [0.0, 3.2, 0.0, 2.0],  # noun: asks "what do I do, what am I like?"
    [3.2, 0.0, 2.0, 0.0],  # verb: asks for the things (and places) it involves
    [3.6, 0.0, 0.0, 0.0],  # determiner: looks for its noun
    [0.8, 0.0, 4.0, 0.0],  # linking: a preposition looks for a place
    [3.2, 0.0, 0.0, 0.0],  # modifier: looks for the thing it describes
    [0.0, 1.2, 0.0, 1.2],  # place: asks a little for action and detail
])  # fmt: skip
W_K = np.array([
    [1.0, 0.0, 0.0, 0.0],  # noun: presents as a thing
    [0.0, 1.0, 0.0, 0.0],  # verb: presents as an action
    [0.0, 0.0, 0.0, 0.6],  # determiner: a small detail
    [0.0, 0.3, 0.3, 0.0],  # linking: a hint of action and place
    [0.0, 0.0, 0.0, 1.0],  # modifier: a detail
    [0.2, 0.0, 1.0, 0.0],  # place: presents as a place
])  # fmt: skip
W_V = np.array([
    [0.9, 0.0, 0.0, 0.0],  # noun: subject meaning
    [0.0, 0.9, 0.0, 0.0],  # verb: action meaning
    [0.0, 0.0, 0.0, 0.3],  # determiner: little of its own
    [0.0, 0.2, 0.6, 0.0],  # linking: location meaning
    [0.0, 0.0, 0.0, 0.9],  # modifier: description
    [0.1, 0.0, 0.9, 0.0],  # place: location meaning
])  # fmt: skip
for _w in (W_Q, W_K, W_V):
    _w.setflags(write=False)


def random_weights(
    seed: int, d_model: int, heads: int
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray | None]:
    """Seeded random W_q/W_k/W_v per head, each [d_model, d_model // heads], and W_o.

    W_o is [d_model, d_model] for several heads and None for one. Entries are drawn from
    N(0, 1/d_model) scaled up a little so the softmax is not flat, then rounded to 2 decimals.
    """
    rng = np.random.default_rng(seed)
    d_head = d_model // heads if heads > 1 else len(ATTENTION_DIMS)
    std = 1.5 / np.sqrt(d_model)
    per_head = [
        tuple(np.round(rng.normal(0.0, std, size=(d_model, d_head)), 2) + 0.0 for _ in range(3))
        for _ in range(heads)
    ]
    w_o = np.round(rng.normal(0.0, 1 / np.sqrt(d_model), size=(d_model, d_model)), 2) + 0.0
    return per_head, (w_o if heads > 1 else None)


# -- several heads, each looking for one kind of link (--heads 2, --heads 3 without --seed) ----
# Each head: (what it looks for, the names of its dimensions, W_q, W_k, W_v), rows in the feature
# order noun, verb, determiner, linking, modifier, place. W_o maps each head's dimensions back
# to the feature they carry, so the joined output reads in the features of X.


def _m(rows) -> np.ndarray:
    a = np.array(rows, dtype=float)
    a.setflags(write=False)
    return a


HEADS = {
    2: (
        ("who does what: verbs and their nouns", ("thing", "action", "place"),
         _m([[0.0, 3.2, 0.0],    # noun: asks for its action
             [3.2, 0.0, 1.6],    # verb: asks for its things, and a place
             [0.0, 0.0, 0.0],    # determiner: asks nothing here
             [0.0, 0.0, 0.0],    # linking: asks nothing here
             [0.0, 0.0, 0.0],    # modifier: asks nothing here
             [0.0, 1.2, 0.0]]),  # place: asks a little for an action
         _m([[1.0, 0.0, 0.0],    # noun: presents as a thing
             [0.0, 1.0, 0.0],    # verb: presents as an action
             [0.0, 0.0, 0.0],
             [0.0, 0.0, 0.0],
             [0.0, 0.0, 0.0],
             [0.6, 0.0, 1.0]]),  # place: a thing, and a place
         _m([[0.9, 0.0, 0.0],    # noun: contributes the thing
             [0.0, 0.9, 0.0],    # verb: the action
             [0.0, 0.0, 0.0],
             [0.0, 0.0, 0.0],
             [0.0, 0.0, 0.0],
             [0.3, 0.0, 0.9]])), # place: the location
        ("what describes what, and where", ("thing", "place", "detail"),
         _m([[0.0, 0.0, 2.0],    # noun: asks for its details
             [0.0, 0.0, 0.0],
             [3.6, 0.0, 0.0],    # determiner: looks for a noun
             [0.0, 4.0, 0.0],    # linking: a preposition looks for a place
             [3.2, 0.0, 0.0],    # modifier: looks for the thing it describes
             [0.0, 0.0, 1.2]]),  # place: asks a little for details
         _m([[1.0, 0.0, 0.0],    # noun: presents as a thing
             [0.0, 0.0, 0.0],
             [0.0, 0.0, 0.4],    # determiner: a small detail
             [0.0, 0.0, 0.0],
             [0.0, 0.0, 1.0],    # modifier: a detail
             [0.3, 1.0, 0.0]]),  # place: a place
         _m([[0.9, 0.0, 0.0],    # noun: the thing
             [0.0, 0.0, 0.0],
             [0.0, 0.0, 0.3],    # determiner: a little detail
             [0.0, 0.5, 0.0],    # linking: location
             [0.0, 0.0, 0.9],    # modifier: description
             [0.1, 0.9, 0.0]])), # place: location
    ),
    3: (
        ("determiners and adjectives find nouns", ("thing", "detail"),
         _m([[0.0, 2.0], [0.0, 0.0], [3.6, 0.0], [0.0, 0.0], [3.2, 0.0], [0.0, 0.0]]),
         _m([[1.0, 0.0], [0.0, 0.0], [0.0, 0.4], [0.0, 0.0], [0.0, 1.0], [0.5, 0.0]]),
         _m([[0.9, 0.0], [0.0, 0.0], [0.0, 0.3], [0.0, 0.0], [0.0, 0.9], [0.5, 0.0]])),
        ("verbs find who and what", ("thing", "action"),
         _m([[0.0, 3.2], [3.2, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.2]]),
         _m([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.6, 0.0]]),
         _m([[0.9, 0.0], [0.0, 0.9], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.3, 0.0]])),
        ("prepositions find places", ("place", "link"),
         _m([[0.0, 0.0], [1.5, 0.0], [0.0, 0.0], [4.0, 0.0], [0.0, 0.0], [0.0, 2.0]]),
         _m([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]),
         _m([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.6], [0.0, 0.0], [0.9, 0.0]])),
    ),
}
# Which feature each head dimension carries back in W_o.
DIM_FEATURE = {"thing": "noun", "action": "verb", "place": "place", "detail": "modifier",
               "link": "linking"}


def hand_heads(heads: int, feature_names):
    """The hand-designed heads for ``heads`` (2 or 3): [(Wq, Wk, Wv)], W_o [d_model, d_model],
    each head's dimension names and what each head looks for."""
    design = HEADS[heads]
    dims = tuple(d for _, names, *_ in design for d in names)
    w_o = np.zeros((len(dims), len(feature_names)))
    for row, dim in enumerate(dims):  # each dimension back onto the feature it carries
        w_o[row, list(feature_names).index(DIM_FEATURE[dim])] = 1.0
    return ([w for _, _, *w in design], w_o, tuple(names for _, names, *_ in design),
            tuple(role for role, *_ in design))
