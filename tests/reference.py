"""An independent, deliberately naive attention: plain Python loops, no numpy tricks.

Used only by the tests, to check :mod:`attention` against something written another way.
"""

import math


def matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))]


def naive_attention(X, Wq, Wk, Wv, *, causal=False, scale=True, temperature=1.0,
                    biases=None):
    Q, K, V = matmul(X, Wq), matmul(X, Wk), matmul(X, Wv)
    if biases is not None:  # a trained model's: b added to every row
        Q, K, V = ([[x + b[m] for m, x in enumerate(row)] for row in M]
                   for M, b in zip((Q, K, V), biases))
    n, d_k = len(X), len(Wq[0])
    divisor = (math.sqrt(d_k) if scale else 1.0) * temperature
    scores = [[sum(Q[i][m] * K[j][m] for m in range(d_k)) for j in range(n)] for i in range(n)]
    weights, row_max, exp_rows, exp_sums = [], [], [], []
    for i in range(n):
        allowed = [j for j in range(n) if not (causal and j > i)]
        top = max(scores[i][j] / divisor for j in allowed)
        exps = {j: math.exp(scores[i][j] / divisor - top) for j in allowed}
        total = sum(exps.values())
        weights.append([exps.get(j, 0.0) / total for j in range(n)])
        row_max.append(top)
        exp_rows.append([exps.get(j, 0.0) for j in range(n)])
        exp_sums.append(total)
    output = matmul(weights, V)
    weighted_values = [[[weights[i][j] * V[j][m] for m in range(len(V[0]))] for j in range(n)]
                       for i in range(n)]
    return {"Q": Q, "K": K, "V": V, "scores": scores, "row_max": row_max, "exps": exp_rows,
            "exp_sums": exp_sums, "weights": weights,
            "weight_sums": [sum(row) for row in weights], "weighted_values": weighted_values,
            "output": output}
