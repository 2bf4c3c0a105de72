"""P-DARTS (Chen et al., 'Progressive Differentiable Architecture Search', ICCV 2019, arXiv:1904.12760;
the PDARTS thesis (Paganucci, ETH Zurich 2020) sec. 3.2 and App. A.1): progressive stages, op pruning between
stages, dropout after skip_connect.

A search runs `stages` in order. Each stage builds a fresh supernet (new weights, new alphas, as
the authors' code does) with more cells and the candidates that survived the previous stage:

    stage   cells   ops per edge   skip dropout
    1       5       8              0.1
    2       11      5              0.4
    3       17      3              0.7          -> derive the cell from the last stage's alphas

The thesis' extended variant uses 11-14-17 cells (PDARTS-N3ex / -2g). Between stages every edge
keeps its `keep` strongest ops (`prune_candidates`); `none` may survive into the last stage, and
the final choice drops it (that is the standard rule, which never picks `none`; the authors' code
does the same by dropping `none` first when pruning after the last stage, `drop_none=True` here).

Skip dropout schedule, per stage rate r, E epochs of which the first W = 10 have no alpha updates,
as the authors' public code computes it (the paper: the rate is "decayed" during each stage; the
authors' code: linearly during the first 10 epochs and exponentially after):

    epoch e <  W:  r * (E - e - 1) / E          (linear: 0.96 r, 0.92 r, ..., 0.60 r for E = 25)
    epoch e >= W:  r * exp(-(e - W) * 0.2)      (exponential from r at the first alpha epoch)

The rate jumps back to r when alpha updates start: the warm-up only trains weights, and the full
rate is what keeps skip_connect from winning the alphas early on, so we keep the formula as is.
Rates 0.1 / 0.4 / 0.7 are the thesis' (App. A.1); the authors' code defaults to 0 (no dropout) when no
rates are passed, and 0.0 / 0.4 / 0.7 also circulates; pass `skip_dropout=` to `stage_plan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import torch

from zoo.errors import ZooError

from .space import SearchSpace
from .supernet import Supernet

PDARTS_CELLS = (5, 11, 17)
EXTENDED_CELLS = (11, 14, 17)
PDARTS_OPS = (8, 5, 3)
PDARTS_SKIP_DROPOUT = (0.1, 0.4, 0.7)
PDARTS_EPOCHS = 25
PDARTS_WARMUP = 10
EXP_DECAY = 0.2
PDARTS_MAX_SKIPS = 2


@dataclass(frozen=True)
class Stage:
    """One stage of a search; a search that is not progressive is a single stage."""

    layers: int          # cells of this stage's supernet
    ops_per_edge: Optional[int]  # candidates on every edge during this stage (None: the whole space)
    skip_dropout: float  # the stage's base rate r
    epochs: int = PDARTS_EPOCHS
    warmup_epochs: int = PDARTS_WARMUP   # epochs that update weights only
    partial_channels: Optional[int] = None  # K of this stage's partial channels (None: the recipe's)

    def dropout_at(self, epoch: int) -> float:
        return skip_dropout_rate(epoch, self.skip_dropout, self.epochs, self.warmup_epochs)


def stage_plan(cells: Sequence[int] = PDARTS_CELLS, ops: Optional[Sequence[int]] = PDARTS_OPS,
               skip_dropout: Optional[Sequence[float]] = PDARTS_SKIP_DROPOUT, epochs: int = PDARTS_EPOCHS,
               warmup_epochs: int = PDARTS_WARMUP) -> tuple[Stage, ...]:
    """The stages of a progressive search. `ops=None` keeps every candidate in every stage (no
    pruning); `skip_dropout=None` is no dropout."""
    ops = tuple(ops) if ops else (None,) * len(cells)
    skip_dropout = tuple(skip_dropout) if skip_dropout else (0.0,) * len(cells)
    if not (len(cells) == len(ops) == len(skip_dropout)) or not cells:
        raise ZooError(f"P-DARTS stages: cells {list(cells)}, ops {list(ops)} and skip_dropout "
                       f"{list(skip_dropout)} must have the same, non-zero length")
    if None not in ops and any(b > a for a, b in zip(ops, ops[1:])):
        raise ZooError(f"P-DARTS stages: ops per edge {list(ops)} must not grow from stage to stage")
    return tuple(Stage(c, o, float(p), epochs, warmup_epochs) for c, o, p in zip(cells, ops, skip_dropout))


PDARTS_STAGES = stage_plan()
EXTENDED_STAGES = stage_plan(cells=EXTENDED_CELLS)


def skip_dropout_rate(epoch: int, rate: float, epochs: int = PDARTS_EPOCHS,
                      warmup_epochs: int = PDARTS_WARMUP, decay: float = EXP_DECAY) -> float:
    """Dropout after skip_connect at `epoch` (0-based) of a stage with base rate `rate`."""
    if epoch < warmup_epochs:
        return rate * (epochs - epoch - 1) / epochs
    return rate * math.exp(-(epoch - warmup_epochs) * decay)


def prune_candidates(alphas: Any, candidates: Sequence[Sequence[str]], keep: int,
                     drop_none: bool = False) -> list[tuple[str, ...]]:
    """Every edge keeps its `keep` highest-weighted candidates, in their original order.

    alphas: (num_edges x width) tensor or nested lists, row e's first len(candidates[e]) entries
    belonging to edge e (softmax weights or raw alphas: the ranking within an edge is the same).
    drop_none: remove `none` before ranking (P-DARTS after its last stage)."""
    if keep < 1:
        raise ZooError(f"P-DARTS pruning: keep must be at least 1, got {keep}")
    rows = alphas.detach().cpu().tolist() if isinstance(alphas, torch.Tensor) else [list(r) for r in alphas]
    if len(rows) != len(candidates):
        raise ZooError(f"P-DARTS pruning: {len(rows)} rows of alphas for {len(candidates)} edges")
    out = []
    for row, cands in zip(rows, candidates):
        scored = [(row[i], i) for i, op in enumerate(cands) if not (drop_none and op == "none")]
        # Highest first; among equal weights the op listed first stays.
        scored.sort(key=lambda s: (-s[0], s[1]))
        kept = sorted(i for _, i in scored[:keep])
        out.append(tuple(cands[i] for i in kept))
    return out


def next_stage_candidates(supernet: Supernet, keep: int, drop_none: bool = False) -> dict[str, list[tuple[str, ...]]]:
    """The pruned candidate lists of every cell type, to build the next stage's supernet with."""
    return {t: prune_candidates(supernet.alphas[t], supernet.edge_candidates[t], keep, drop_none)
            for t in supernet.space.cell_types}


def build_stage(space: SearchSpace, stage: Stage,
                edge_candidates: Optional[Mapping[str, Sequence[Sequence[str]]]] = None,
                **supernet_kw: Any) -> Supernet:
    """A fresh supernet for `stage`; the first stage uses the space's full candidate list. Later
    stages build only the candidates that survived pruning: a pruned op has no module at all."""
    if edge_candidates is None and stage.ops_per_edge not in (None, len(space.candidates)):
        raise ZooError(f"P-DARTS stages: the first stage expects {stage.ops_per_edge} ops per edge, "
                       f"the space has {len(space.candidates)} (adjust `ops` of the stage plan)")
    if edge_candidates is not None and stage.ops_per_edge is not None:
        for t, cands in edge_candidates.items():
            if any(len(c) != stage.ops_per_edge for c in cands):
                raise ZooError(f"P-DARTS stages: cell type {t!r} has edges with other than "
                               f"{stage.ops_per_edge} candidates for this stage")
    net = Supernet(space, layers=stage.layers, edge_candidates=edge_candidates, **supernet_kw)
    net.set_skip_dropout(stage.dropout_at(0))
    return net


def plan_for_space(space: SearchSpace, cells: Sequence[int] = PDARTS_CELLS,
                   skip_dropout: Sequence[float] = PDARTS_SKIP_DROPOUT, **kw: Any) -> tuple[Stage, ...]:
    """The P-DARTS stage plan with the op counts scaled to the space: 8 -> 5 -> 3 for the 8 DARTS
    ops; other op counts keep the same drops (3, then 2) where they can."""
    n = len(space.candidates)
    ops = (n, max(1, n - 3), max(1, n - 5))
    return stage_plan(cells=cells, ops=ops, skip_dropout=skip_dropout, **kw)
