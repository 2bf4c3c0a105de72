"""Stretchable cells (Huang et al., 'Stretchable Cells Help DARTS Search Better'): the cell topology
as explicit variables beta.

Every state i of a cell (the two inputs and each intermediate node but the last) chooses the set
of intermediate nodes it feeds, its *output edges* (the paper's section "Switching topology space with
output edges"). A choice is a binary code b_i over the m_i nodes that i can feed; beta_i holds one
logit per allowed code and p(b_i) = softmax(beta_i) (eq. 12). The supernet scales each mixed op
(i, j) by the merged probability (eq. 13)

    s~(i, j) = |B_i| / |{b in B_i : b_j = 1}| * sum_{b in B_i, b_j = 1} p(b),

which for stretchable cells (B_i = all non-empty codes) is (2^m - 1) / 2^(m-1) * ..., and for a
fixed number k of output edges (eq. 10, k = 2) is C(m, k) / C(m-1, k-1) * ... The factor makes
s~ = 1 on every edge under a uniform p, whatever m is.

Choices the paper leaves open, and what we do:
- Eq. 11 writes |B_i| = sum_{n=1}^{m} C(m, n) = 2^m. The sum from n = 1 is 2^m - 1 (no empty
  code), the right-hand side 2^m counts it. We exclude the empty code: the sum's bounds say so,
  eq. 13's scale (2^m - 1) / 2^(m-1) is exactly the uniform-normalizing factor only without it,
  and eq. 14 sums over j < N, which is complete only if the last node can never lose its inputs
  (true when every state must feed someone). `include_empty=True` gives the other reading, with
  eq. 13's factor unchanged.
- The paper's m_i = N - i counts the posterior nodes; for the first cell input that would include
  the second input, which cannot receive edges. We use the number of intermediate nodes a state
  can actually feed: m = n for both inputs, n - 1 - k for intermediate node k.
- Eq. 14 sums over j < N; we sum over every intermediate node (the last node's term is 0 unless
  include_empty).
"""

from __future__ import annotations

import itertools
import math
from typing import Optional, Sequence

import torch
import torch.nn as nn

from zoo.genotype import NUM_CELL_INPUTS


class OutputEdgeTopology(nn.Module):
    """The code sets B_i of one cell layout and the math on its betas.

    Betas of one cell type are one flat tensor: the segments of the sources, in source order
    (`segments[s] = (start, stop)`). Buffers are non-persistent: they are rebuilt from the layout,
    so checkpoints hold only the betas themselves.
    """

    def __init__(self, nodes: int, out_edges: Optional[int] = None, include_empty: bool = False):
        super().__init__()
        self.nodes = nodes
        self.out_edges = out_edges
        self.include_empty = include_empty
        num_states = NUM_CELL_INPUTS + nodes
        # (target, source) in the supernet's edge order.
        self.edge_list = [(NUM_CELL_INPUTS + j, s) for j in range(nodes) for s in range(NUM_CELL_INPUTS + j)]
        edge_index = {e: k for k, e in enumerate(self.edge_list)}
        self.sources: list[int] = []
        self.targets: dict[int, tuple[int, ...]] = {}
        self.codes: dict[int, tuple[tuple[int, ...], ...]] = {}
        self.segments: dict[int, tuple[int, int]] = {}
        start = 0
        order = []
        for s in range(num_states):
            targets = tuple(t for t in range(max(s + 1, NUM_CELL_INPUTS), num_states))
            if not targets:
                continue
            codes = self._codes(len(targets))
            self.sources.append(s)
            self.targets[s] = targets
            self.codes[s] = tuple(tuple(targets[i] for i in range(len(targets)) if c[i]) for c in codes)
            self.segments[s] = (start, start + len(codes))
            start += len(codes)
            membership = torch.tensor(codes, dtype=torch.float32)      # (codes, m)
            containing = membership.sum(0)
            # |B| / |codes containing the edge|: 1 on every edge under a uniform p (eq. 10, 13).
            scale = torch.where(containing > 0, len(codes) / containing.clamp(min=1), torch.zeros(()))
            self.register_buffer(f"member_{s}", membership, persistent=False)
            self.register_buffer(f"scale_{s}", scale, persistent=False)
            order.extend(edge_index[(t, s)] for t in targets)
        self.num_betas = start
        # Position of edge e within the concatenation of the sources' target vectors.
        perm = [0] * len(order)
        for pos, e in enumerate(order):
            perm[e] = pos
        self.register_buffer("perm", torch.tensor(perm, dtype=torch.long), persistent=False)

    def _codes(self, m: int) -> list[tuple[int, ...]]:
        """Binary codes over m targets, ordered by the integer they spell (target 0 = lowest bit)."""
        all_codes = [tuple((v >> i) & 1 for i in range(m)) for v in range(2 ** m)]
        if self.out_edges is not None:
            k = min(self.out_edges, m)
            return [c for c in all_codes if sum(c) == k]
        return [c for c in all_codes if self.include_empty or any(c)]

    def init_betas(self, scale: float = 1e-3, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return scale * torch.randn(self.num_betas, generator=generator)

    # ------------------------------------------------------------------ probabilities
    def code_probs(self, betas: torch.Tensor) -> dict[int, torch.Tensor]:
        """p(b_i) per source (eq. 12)."""
        return {s: torch.softmax(betas[a:b], dim=0) for s, (a, b) in self.segments.items()}

    def merged(self, betas: torch.Tensor) -> torch.Tensor:
        """s~(i, j) for every edge, in the supernet's edge order (eq. 13 / eq. 10)."""
        parts = []
        for s, p in self.code_probs(betas).items():
            member = getattr(self, f"member_{s}").to(p.dtype)
            parts.append(getattr(self, f"scale_{s}").to(p.dtype) * (p @ member))
        return torch.cat(parts)[self.perm]

    def regularizer(self, betas: torch.Tensor) -> torch.Tensor:
        """Passive-aggressive regularizer r(beta) (eq. 14): for each node j, the product over the
        states that can feed j of (1 - best probability of a code containing j / best probability
        overall). It is 0 as soon as one of them would keep the edge, so a valid topology is not
        disturbed, and it pushes on nodes that no argmax code feeds."""
        probs = self.code_probs(betas)
        total = betas.new_zeros(())
        for j in range(NUM_CELL_INPUTS, NUM_CELL_INPUTS + self.nodes):
            term = betas.new_ones(())
            for s in self.sources:
                if s >= j:
                    break
                p = probs[s]
                col = self.targets[s].index(j)
                member = getattr(self, f"member_{s}")[:, col].to(torch.bool)
                term = term * (1 - p[member].max() / p.max())
            total = total + term
        return total

    def choose(self, betas: torch.Tensor) -> dict[int, tuple[int, ...]]:
        """The argmax code of every source: the targets it feeds."""
        out = {}
        for s, p in self.code_probs(betas.detach()).items():
            out[s] = self.codes[s][int(torch.argmax(p))]
        return out


class InputEdgeTopology(nn.Module):
    """The input-edge reading of a fixed topology (the stretchable-cells paper, eqs. 3-6): every
    intermediate node j picks one PAIR of the states before it, tau_j = all pairs (eq. 3), with
    p_j = softmax(beta_j) over the pairs (eq. 5). Merging the pair probabilities per edge gives
    eq. 6's s(i, j) = sum of p_j over the pairs that contain i; as eq. 6 writes it there is no
    rescaling (s sums to 2 over a node's inputs). The first node has a single pair, so s = 1.

    The interface is OutputEdgeTopology's: `sources` here are the nodes (the owners of a beta
    segment), `codes[j]` the pairs of states they read, `choose` the argmax pair of every node,
    returned as {source state: targets it feeds} so that discretization reads it as the output
    variant's. Every choice is a valid cell (each node reads two states), so the regularizer of
    eq. 14 is 0."""

    def __init__(self, nodes: int):
        super().__init__()
        self.nodes = nodes
        self.out_edges = None
        self.edge_list = [(NUM_CELL_INPUTS + j, s) for j in range(nodes) for s in range(NUM_CELL_INPUTS + j)]
        self.sources: list[int] = []
        self.codes: dict[int, tuple[tuple[int, ...], ...]] = {}
        self.segments: dict[int, tuple[int, int]] = {}
        start = 0
        for j in range(NUM_CELL_INPUTS, NUM_CELL_INPUTS + nodes):
            preds = j
            pairs = tuple(itertools.combinations(range(preds), 2))
            self.sources.append(j)
            self.codes[j] = pairs
            self.segments[j] = (start, start + len(pairs))
            start += len(pairs)
            # member[pair, i] = 1 if the pair contains input state i; a node's edges are contiguous in
            # the supernet's edge order, so the nodes' vectors concatenate to it.
            member = torch.tensor([[1.0 if i in pair else 0.0 for i in range(preds)] for pair in pairs])
            self.register_buffer(f"member_{j}", member, persistent=False)
        self.num_betas = start

    def init_betas(self, scale: float = 1e-3, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return scale * torch.randn(self.num_betas, generator=generator)

    def code_probs(self, betas: torch.Tensor) -> dict[int, torch.Tensor]:
        """p_j over the pairs of every node (eq. 5)."""
        return {j: torch.softmax(betas[a:b], dim=0) for j, (a, b) in self.segments.items()}

    def merged(self, betas: torch.Tensor) -> torch.Tensor:
        """s(i, j) for every edge, in the supernet's edge order (eq. 6)."""
        return torch.cat([p @ getattr(self, f"member_{j}").to(p.dtype) for j, p in self.code_probs(betas).items()])

    def regularizer(self, betas: torch.Tensor) -> torch.Tensor:
        return betas.sum() * 0.0

    def choose(self, betas: torch.Tensor) -> dict[int, tuple[int, ...]]:
        """The argmax pair of every node, as {source state: the nodes it feeds}."""
        feeds: dict[int, list[int]] = {s: [] for s in range(NUM_CELL_INPUTS + self.nodes - 1)}
        for j, p in self.code_probs(betas.detach()).items():
            for s in self.codes[j][int(torch.argmax(p))]:
                feeds[s].append(j)
        return {s: tuple(t) for s, t in feeds.items()}


def make_topology(nodes: int, kind: str = "output", out_edges: Optional[int] = None) -> nn.Module:
    """The topology variables of a stretchable space: "output" (eqs. 9-15, `out_edges` k fixes k
    output edges per state, eq. 10) or "input" (two input edges per node, eqs. 3-6)."""
    if kind == "input":
        return InputEdgeTopology(nodes)
    if kind == "output":
        return OutputEdgeTopology(nodes, out_edges=out_edges)
    raise ValueError(f"unknown topology {kind!r} (output or input)")


def live_edges(chosen: dict[int, Sequence[int]], nodes: int) -> list[tuple[int, int]]:
    """(target, source) edges of a topology, without the nodes that receive no input.

    A node no live state feeds computes nothing; it is removed with its output edges, which can
    leave later nodes without input in turn, hence the single pass in node order."""
    live = set(range(NUM_CELL_INPUTS))
    edges = []
    for j in range(NUM_CELL_INPUTS, NUM_CELL_INPUTS + nodes):
        inputs = [s for s in sorted(chosen) if s < j and s in live and j in chosen[s]]
        if inputs:
            live.add(j)
            edges.extend((j, s) for s in inputs)
    return edges


def num_codes(m: int, out_edges: Optional[int] = None, include_empty: bool = False) -> int:
    if out_edges is not None:
        return math.comb(m, min(out_edges, m))
    return 2 ** m - (0 if include_empty else 1)


__all__ = ["InputEdgeTopology", "OutputEdgeTopology", "live_edges", "make_topology", "num_codes"]
