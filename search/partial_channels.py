"""Partial channel connections and edge normalization (PC-DARTS: Xu et al., 'PC-DARTS: Partial
Channel Connections for Memory-Efficient Architecture Search', ICLR 2020, arXiv:1907.05737).

Partial channels (sec. 3.2, eq. 2): on every mixed edge only 1/K of the input's channels go
through the candidate ops; the other (K-1)/K bypass them and are concatenated back,

    f_PC(x) = sum_o w_o * o(S * x)  ++  (1 - S) * x,

then the channels are shuffled (K groups) so that the next edge samples other channels. On an edge
that halves the resolution the bypassed channels are max-pooled 2x2, stride 2, to match.

Which channels S picks: the paper says "randomly sampled"; the authors' code always takes the FIRST
C/K channels and lets the shuffle after every edge change which ones are sampled downstream. We do
what the code does: it is deterministic (a resumed search stays byte-identical), and the shuffle is
the part that mixes. The bypass pool uses ceil_mode so that odd resolutions match the stride-2 ops
(at the even resolutions of CIFAR it is the authors' MaxPool2d(2, 2)).

Edge normalization (sec. 3.3, eq. 4): one extra logit beta per edge; a node's inputs are weighted
by the softmax of the betas of its incoming edges, x_j = sum_{i<j} softmax_i(beta_{i,j}) f_{i,j}(x_i).
The cell is derived from softmax(alpha) times that edge weight (eq. 4's note; the authors'
`genotype()` multiplies the rows before the DARTS rule picks each node's two edges).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.errors import ZooError
from zoo.genotype import NUM_CELL_INPUTS


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's shuffle: channel g * (C / groups) + j moves to j * groups + g."""
    n, c, h, w = x.shape
    if c % groups:
        raise ZooError(f"channel shuffle: {c} channels do not split into {groups} groups")
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def check_partial_channels(channels: int, k: int, where: str = "partial channels") -> None:
    """C must split into K parts (every cell width is C, 2C or 4C, so C is the one to check)."""
    if not isinstance(k, int) or k < 1:
        raise ZooError(f"{where}: partial_channels must be a whole number of at least 1, got {k!r}")
    if channels % k:
        raise ZooError(f"{where}: channels {channels} do not split into 1/{k} parts; use channels divisible "
                       f"by {k} (e.g. {channels + k - channels % k}) or another --partial-channels")


class PartialChannels(nn.Module):
    """A mixed op applied to the first C/K channels; the rest bypass it (pooled when the edge
    reduces), then a channel shuffle in K groups. `mixed(x, weights)` is built at C/K channels."""

    def __init__(self, mixed: nn.Module, k: int, stride: int):
        super().__init__()
        self.mixed = mixed
        self.k = int(k)
        self.bypass = nn.MaxPool2d(2, 2, ceil_mode=True) if stride == 2 else nn.Identity()

    def forward(self, x: torch.Tensor, weights: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        part = x.shape[1] // self.k
        through = self.mixed(x[:, :part], weights) if index is None else self.mixed(x[:, :part], weights, index)
        rest = self.bypass(x[:, part:])
        return channel_shuffle(torch.cat([through, rest], dim=1), self.k)


class EdgeNormalization(nn.Module):
    """Edge weights from one beta per edge: softmax over the incoming edges of each node, in the
    supernet's edge order (node 0 reads states 0, 1; node 1 reads 0, 1, 2; ...)."""

    def __init__(self, nodes: int):
        super().__init__()
        self.nodes = nodes
        self.segments = []
        start = 0
        for j in range(nodes):
            n = NUM_CELL_INPUTS + j
            self.segments.append((start, start + n))
            start += n
        self.num_betas = start

    def init_betas(self, scale: float = 1e-3, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        # 1e-3 * N(0, 1), as the alphas and as the authors' code initializes the betas.
        return scale * torch.randn(self.num_betas, generator=generator)

    def weights(self, betas: torch.Tensor) -> torch.Tensor:
        """softmax_i(beta_{i,j}) per node j, concatenated in edge order."""
        return torch.cat([F.softmax(betas[a:b], dim=0) for a, b in self.segments])


def stage_partial_channels(ks: Sequence[int], stages: int, default: int) -> tuple[int, ...]:
    """K of every stage: `ks`, one per stage, or `default` (the recipe's partial_channels) in all."""
    return tuple(int(k) for k in ks) if ks else (int(default),) * stages


def stage_partial_channels_problem(ks: Sequence[int], stages: int, channels: int) -> Optional[str]:
    """What is wrong with a per-stage K (for the recipe's relations), or None."""
    if not ks:
        return None
    if len(ks) != stages:
        return f"stage_partial_channels has {len(ks)} entries but there are {stages} stages; give one per stage"
    if any(k < 1 for k in ks):
        return f"stage_partial_channels {list(ks)} must be 1 or more (1: every channel through the ops)"
    if any(b > a for a, b in zip(ks, ks[1:])):
        return (f"stage_partial_channels {list(ks)} must not grow from stage to stage (DrNAS widens the ops: "
                "6 -> 4)")
    bad = next((k for k in ks if channels % k), None)
    if bad is not None:
        return f"channels {channels} do not split into 1/{bad} parts; use --channels divisible by every stage's K"
    return None
