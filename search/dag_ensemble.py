"""Train many dense DAG networks from scratch at once, each with its own weights.

Evaluating a DAG space exhaustively means training every block as its own network (stem -> block ->
classifier, `zoo.dag_network.DagNetwork` with dense layers). On a CPU, a few hundred tiny networks
cost more in Python overhead than in arithmetic, so this module stacks them: every weight gets a
leading network axis, every layer is one batched matmul, and each network's DAG is a 0/1 mask on its
own edge weights. The loss is the sum of the networks' losses, so each network's gradient is its
own; Adam is elementwise, so training the stack is training each network alone on the same batches
(tests/test_dag_ensemble.py checks this against DagNetwork step by step).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.dag_network import IN, DagNetwork, edge_key, used_edges, wiring

from .dag_space import Dag


def _uniform(shape: tuple[int, ...], fan_in: int, g: torch.Generator) -> torch.Tensor:
    """nn.Linear's default initialization, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=g) * 2 - 1) * bound


class DenseDagEnsemble(nn.Module):
    """N dense DAG networks (one per DAG, same vertices and width), initialized as DagNetwork is."""

    def __init__(self, dags: Sequence[Dag], vertices: int, width: int, in_features: int, num_classes: int,
                 aggregate: str = "sum", seed: int = 0):
        super().__init__()
        n, w, l = len(dags), width, vertices
        self.dags, self.vertices, self.aggregate = [tuple(d) for d in dags], vertices, aggregate
        g = torch.Generator().manual_seed(seed)
        self.stem_w = nn.Parameter(_uniform((n, in_features, w), in_features, g))
        self.stem_b = nn.Parameter(_uniform((n, 1, w), in_features, g))
        # One tensor per edge (in_j for the block input), so a step touches only the edges that exist.
        self.edge_w = nn.ParameterDict({edge_key(i, j): nn.Parameter(_uniform((n, w, w), w, g))
                                        for j in range(l) for i in (IN, *range(j))})
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(n, 1, w)) for _ in range(l))
        self.head_w = nn.Parameter(_uniform((n, w, num_classes), w, g))
        self.head_b = nn.Parameter(_uniform((n, 1, num_classes), w, g))
        m = torch.zeros(n, l + 1, l)
        s = torch.zeros(n, l)
        for b, dag in enumerate(self.dags):
            ins, sinks = wiring(l, dag)
            for j, sources in enumerate(ins):
                for i in sources:
                    m[b, i + 1, j] = 1.0
            s[b, list(sinks)] = 1.0
        self.register_buffer("mask", m)
        self.used = (m.sum(0) > 0).tolist()  # edges some network has; the others are never run
        self.register_buffer("sink", s)

    @classmethod
    def from_networks(cls, nets: Sequence[DagNetwork]) -> "DenseDagEnsemble":
        """The stack of existing dense DagNetworks, weights copied (for checking equivalence)."""
        first = nets[0]
        stem = first.stem[1]
        ens = cls([n.dag.edges for n in nets], first.dag.vertices, first.dag.width, stem.in_features,
                  first.classifier.out_features, first.dag.aggregate)
        with torch.no_grad():
            for b, net in enumerate(nets):
                ens.stem_w[b] = net.stem[1].weight.t()
                ens.stem_b[b, 0] = net.stem[1].bias
                for i, j in used_edges(net.dag.vertices, net.dag.edges):
                    ens.edge_w[edge_key(i, j)][b] = net.body.edge_ops[edge_key(i, j)].weight.t()
                for j, layer in enumerate(net.body.layers):
                    ens.bias[j][b, 0] = layer.bias
                ens.head_w[b] = net.classifier.weight.t()
                ens.head_b[b, 0] = net.classifier.bias
        return ens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, B, classes) logits of every network on the same batch."""
        n = self.stem_w.shape[0]
        x0 = torch.relu(torch.matmul(x.flatten(1).unsqueeze(0), self.stem_w) + self.stem_b)  # (N, B, w)
        h: list[torch.Tensor] = []
        for j in range(self.vertices):
            z = self.mask[:, 0, j].view(n, 1, 1) * torch.bmm(x0, self.edge_w[edge_key(IN, j)])
            for i in range(j):
                if self.used[i + 1][j]:
                    z = z + self.mask[:, i + 1, j].view(n, 1, 1) * torch.bmm(h[i], self.edge_w[edge_key(i, j)])
            if self.aggregate == "mean":
                z = z / self.mask[:, :, j].sum(1).view(n, 1, 1)
            h.append(torch.relu(z + self.bias[j]))
        out = sum(self.sink[:, j].view(n, 1, 1) * h[j] for j in range(self.vertices))
        if self.aggregate == "mean":
            out = out / self.sink.sum(1).view(n, 1, 1)
        return torch.baddbmm(self.head_b, out, self.head_w)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Sum over the networks of each one's mean cross-entropy."""
        logits = self(x)
        n, b, c = logits.shape
        return F.cross_entropy(logits.reshape(n * b, c), y.repeat(n), reduction="sum") / b

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 2048) -> list[float]:
        """Top-1 (%) of each network."""
        correct = torch.zeros(self.stem_w.shape[0], device=x.device)
        for i in range(0, len(y), batch):
            correct += (self(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum(1)
        return (100.0 * correct / max(len(y), 1)).tolist()
