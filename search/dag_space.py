"""The space of DAG building blocks and the distribution the DAG search samples from.

A block on l layers in a fixed topological order is a set of edges (i, j), i < j; without
constraints there are 2^(l(l-1)/2) of them (a master-thesis exposé on differentiable search over
general DAG blocks, sec. 4.2, notes the O(2^(n^2)) growth). Two constraints cut the space: a skip
limit (j - i <= max_skip; still exponential in l, as the exposé says) and an edge density range
(the fraction of allowed edges present). `count` gives the exact size of the constrained space,
`enumerate_dags` lists it where that is cheap, so small spaces can be evaluated exhaustively.

`EdgeDistribution` is the sampling distribution: independent Bernoulli edges with probabilities
p_e, conditioned on the constraints (a draw outside the density range is repaired towards it by
the edges' probabilities). After each architecture phase, `update` moves p towards the edge
frequencies of the evaluated blocks weighted by their architecture weights softmax(alpha):

    p_e <- clip((1 - eta) * p_e + eta * sum_b softmax(alpha)_b * [e in DAG_b], p_min, 1 - p_min)

the update of population-based incremental learning (Baluja, 1994) and of the cross-entropy
method, with the softmax weights as the fitness. docs/dag-blocks.md says why this rule.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from zoo.errors import ZooError

Dag = tuple[tuple[int, int], ...]  # sorted edges (i, j), i < j


@dataclass(frozen=True)
class DagSpace:
    """DAGs on `vertices` layers with every edge at most `max_skip` apart (None: no limit) and an
    edge count within [min_density, max_density] of the allowed edges."""

    vertices: int
    max_skip: Optional[int] = None
    min_density: float = 0.0
    max_density: float = 1.0

    @property
    def allowed(self) -> Dag:
        limit = self.max_skip if self.max_skip is not None else self.vertices
        return tuple((i, j) for i in range(self.vertices) for j in range(i + 1, self.vertices) if j - i <= limit)

    @property
    def edge_range(self) -> tuple[int, int]:
        """(fewest, most) edges a DAG of the space has."""
        n = len(self.allowed)
        # A small tolerance so that e.g. 0.5 of 6 edges is exactly 3, not 2.9999999.
        return math.ceil(self.min_density * n - 1e-9), math.floor(self.max_density * n + 1e-9)

    def count(self) -> int:
        lo, hi = self.edge_range
        n = len(self.allowed)
        return sum(math.comb(n, m) for m in range(max(lo, 0), min(hi, n) + 1))

    def contains(self, dag: Iterable[tuple[int, int]]) -> bool:
        dag = tuple(dag)
        lo, hi = self.edge_range
        allowed = set(self.allowed)
        return all(e in allowed for e in dag) and len(set(dag)) == len(dag) and lo <= len(dag) <= hi

    def describe(self) -> str:
        skip = "no skip limit" if self.max_skip is None else f"max_skip={self.max_skip}"
        return (f"vertices={self.vertices}, {skip}, density {self.min_density:g}-{self.max_density:g} "
                f"({len(self.allowed)} allowed edges)")

    def check(self, blocks: int) -> None:
        """At least `blocks` distinct DAGs, or one line saying which setting leaves too few."""
        if self.min_density > self.max_density:
            raise ZooError(f"min_density {self.min_density:g} > max_density {self.max_density:g}: no DAG can have "
                           "both; lower --min-density or raise --max-density")
        n = self.count()
        if n == 0:
            raise ZooError(f"{self.describe()} leaves no DAG; raise --max-skip or widen the density range")
        if n < blocks:
            raise ZooError(f"{self.describe()} leaves {n} DAG{'s' if n != 1 else ''}, fewer than the {blocks} "
                           "blocks asked for; use fewer --blocks, more --vertices or a larger --max-skip")


def complete_dag(vertices: int) -> Dag:
    """Every edge i < j: the densely connected block."""
    return tuple((i, j) for i in range(vertices) for j in range(i + 1, vertices))


def dag_depth(vertices: int, dag: Dag) -> int:
    """Layers on the longest path (the block's depth)."""
    longest = [1] * vertices
    for i, j in sorted(dag, key=lambda e: e[1]):
        longest[j] = max(longest[j], longest[i] + 1)
    return max(longest)


def enumerate_dags(space: DagSpace, limit: int = 1 << 16) -> list[Dag]:
    """Every DAG of the space, in order of their edge bitmask; refused beyond `limit`."""
    n = space.count()
    if n > limit:
        raise ZooError(f"{space.describe()} holds {n} DAGs, more than the {limit} enumerated; "
                       "sample instead, or use fewer vertices or a smaller --max-skip")
    allowed = space.allowed
    lo, hi = space.edge_range
    out = []
    for mask in range(1 << len(allowed)):
        if lo <= bin(mask).count("1") <= hi:
            out.append(tuple(e for b, e in enumerate(allowed) if mask >> b & 1))
    return out


class EdgeDistribution:
    """Independent edge probabilities over the space's allowed edges, conditioned on its density."""

    def __init__(self, space: DagSpace, p: float = 0.5, p_min: float = 0.05):
        self.space = space
        self.p_min = p_min
        self.probs = {e: p for e in space.allowed}

    def sample(self, rng: random.Random) -> Dag:
        edges = {e for e, p in self.probs.items() if rng.random() < p}
        lo, hi = self.space.edge_range
        # Repair a draw outside the density range: add the likeliest missing edges or drop the least
        # likely present ones (ties broken at random), so the constraint holds without rejection loops.
        if len(edges) < lo:
            missing = sorted((e for e in self.probs if e not in edges), key=lambda e: (-self.probs[e], rng.random()))
            edges.update(missing[: lo - len(edges)])
        elif len(edges) > hi:
            present = sorted(edges, key=lambda e: (self.probs[e], rng.random()))
            edges.difference_update(present[: len(edges) - hi])
        return tuple(sorted(edges))

    def sample_distinct(self, k: int, rng: random.Random, keep: Sequence[Dag] = ()) -> list[Dag]:
        """`keep` (the elites) followed by new distinct draws, k in all."""
        out = list(dict.fromkeys(keep))[:k]
        seen = set(out)
        for _ in range(200 * k):
            if len(out) >= k:
                return out
            d = self.sample(rng)
            if d not in seen:
                out.append(d)
                seen.add(d)
        # A distribution collapsed onto few DAGs: fill with uniform draws from the space.
        pool = [d for d in enumerate_dags(self.space) if d not in seen] if self.space.count() <= 1 << 16 else []
        rng.shuffle(pool)
        out.extend(pool[: k - len(out)])
        if len(out) < k:
            raise ZooError(f"could not draw {k} distinct DAGs from {self.space.describe()}; use fewer --blocks")
        return out

    def update(self, dags: Sequence[Dag], weights: Sequence[float], rate: float) -> None:
        """Move each edge's probability towards its alpha-weighted frequency among `dags`."""
        total = float(sum(weights))
        for e in self.probs:
            freq = sum(w for d, w in zip(dags, weights) if e in d) / total
            p = (1.0 - rate) * self.probs[e] + rate * freq
            self.probs[e] = min(max(p, self.p_min), 1.0 - self.p_min)

    def as_rows(self) -> list[list]:
        return [[i, j, round(p, 6)] for (i, j), p in self.probs.items()]


class Archive:
    """The best DAGs found so far: each DAG's best score k * softmax(alpha)_b (1 is an even share)."""

    def __init__(self, size: int = 10):
        self.size = size
        self.best: dict[Dag, float] = {}
        self.seen: dict[Dag, int] = {}

    def add(self, dags: Sequence[Dag], weights: Sequence[float]) -> None:
        k = len(dags)
        for d, w in zip(dags, weights):
            self.best[d] = max(self.best.get(d, 0.0), k * float(w))
            self.seen[d] = self.seen.get(d, 0) + 1

    def top(self, n: Optional[int] = None) -> list[tuple[Dag, float]]:
        ranked = sorted(self.best.items(), key=lambda x: (-x[1], x[0]))
        return ranked[: n or self.size]
