"""How far a search's op weights have moved from uniform: the number a user reads to tell a search
that learned something from one whose cell is a near-random draw.

For an edge with n candidates and mixing weights w (softmax of its alphas), `top / uniform` is
max(w) * n: 1 when the alphas never moved, n when one op took all the weight. A run reports the
mean over every edge of every cell type, and the smallest edge."""

from __future__ import annotations

from typing import Mapping, Sequence


def top_over_uniform(weights: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, float]:
    """{"mean": ..., "min": ...} of max(w) * n over edges; `weights` as a history record holds them
    (cell type -> edges -> each candidate's weight). Edges with one candidate are left out."""
    ratios = []
    for edges in weights.values():
        for w in edges:
            w = [float(v) for v in w]
            total = sum(w)
            if len(w) > 1 and total > 0:
                ratios.append(max(w) / total * len(w))
    if not ratios:
        return {"mean": 1.0, "min": 1.0}
    return {"mean": round(sum(ratios) / len(ratios), 4), "min": round(min(ratios), 4)}
