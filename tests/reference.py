"""An independent, deliberately naive attention: plain Python loops, no numpy tricks.

Used only by the tests, to check :mod:`attention` against something written another way.
"""

import math


def matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))]


def naive_attention(X, Wq, Wk, Wv, *, causal=False, scale=True, temperature=1.0):
    Q, K, V = matmul(X, Wq), matmul(X, Wk), matmul(X, Wv)
    n, d_k = len(X), len(Wq[0])
    divisor = (math.sqrt(d_k) if scale else 1.0) * temperature
    scores = [[sum(Q[i][m] * K[j][m] for m in range(d_k)) for j in range(n)] for i in range(n)]
    weights = []
    for i in range(n):
        allowed = [j for j in range(n) if not (causal and j > i)]
        top = max(scores[i][j] / divisor for j in allowed)
        exps = {j: math.exp(scores[i][j] / divisor - top) for j in allowed}
        total = sum(exps.values())
        weights.append([exps.get(j, 0.0) / total for j in range(n)])
    output = matmul(weights, V)
    return {"Q": Q, "K": K, "V": V, "scores": scores, "weights": weights, "output": output}
