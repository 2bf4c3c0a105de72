"""I-DARTS (Jiang, Hu, Xiao, Zhang, Zhu, 'Improved Differentiable Architecture Search for Language
Modeling and Named Entity Recognition', EMNLP-IJCNLP 2019, sec. 2): DARTS' softmax is local to an
edge, so edges from different predecessors are never compared; I-DARTS removes that "softmax-local
constraint" with ONE softmax over every op of every incoming edge of a node,

    s_j = sum_{i<j} sum_o  exp(alpha^o_{i,j}) / (sum_{i'<j} sum_{o'} exp(alpha^{o'}_{i',j}))  o(s_i),

so the weights of a node's inputs sum to 1 together instead of one per edge.

  mixing `node_softmax`   the node-level softmax above; edges are grouped by their target state
                          (`SearchSpace.edge_list`), candidates a pruned edge no longer has get 0.
  rule `node_topk`        per node the k = 2 strongest (op, input) pairs over all non-`none` ops of all
                          incoming edges: two ops may come from the same predecessor and none from
                          another (the genotype's nodes take any number of edges, any inputs). Within a
                          node the ranking is the same under the node softmax as under the alphas.
                          The same selection as GDAS' derivation, so its implementation is shared
                          (search/gdas.py `StrongestPairs`, with its skip cap).

The paper searches recurrent cells (PTB, CoNLL-2003), where a node has one input; no code of the
authors' is public. On the CNN DARTS space the recipe `i_darts` takes the DARTS CIFAR-10 setting
(arXiv:1806.09055, App. A.1.1; recipe darts_v1: first order, 8 ops with `none`, which competes in the
node softmax and is never derived) and keeps two pairs per node, as DARTS keeps two edges.

Combinations: partial channels (PC-DARTS' K) and P-DARTS stages are supported (P-DARTS prunes each
edge by its alphas, whose order within an edge the node softmax keeps; pruned candidates are masked
out of the node's softmax). Refused: PC-DARTS' edge normalization and stretchable cells (their betas
weigh a node's inputs once more, which the node softmax already does), and Max-W (it reweights each
edge's own softmax; refused by recipes.SEARCH_SETTINGS).
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from .discretize import RULES
from .fair_darts import refuse_softmax_over_inputs
from .gdas import StrongestPairs
from .mixing import MIXINGS, Mixing
from .recipes import _DARTS_SOURCE, _DIGITS_SINGLE, SearchRecipe, register_recipe
from .space import SearchSpace


def node_groups(edge_list: list[tuple[int, int]]) -> list[list[int]]:
    """Edge indices grouped by target state, in state order."""
    groups: dict[int, list[int]] = {}
    for e, (target, _) in enumerate(edge_list):
        groups.setdefault(target, []).append(e)
    return [groups[t] for t in sorted(groups)]


class NodeSoftmax(Mixing):
    """One softmax over all (edge, op) logits of each node's incoming edges (I-DARTS sec. 2)."""

    name = "node_softmax"

    def __init__(self, space: SearchSpace, **kwargs: Any):
        super().__init__(space, **kwargs)
        refuse_softmax_over_inputs(space, self.name, "the node softmax already weighs a node's inputs")
        self.groups = node_groups(space.edge_list)

    def probabilities(self, alphas: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        if mask is not None:
            alphas = alphas.masked_fill(~mask, float("-inf"))
        rows: list[Optional[torch.Tensor]] = [None] * alphas.shape[0]
        for edges in self.groups:
            block = alphas[edges]
            p = torch.softmax(block.flatten(), dim=0).view_as(block)
            for k, e in enumerate(edges):
                rows[e] = p[k]
        return torch.stack(rows)


MIXINGS.register("node_softmax")(NodeSoftmax)
RULES.register("node_topk")(StrongestPairs(k=2))


register_recipe(SearchRecipe(
    name="i_darts", strategy="first_order", mixing="node_softmax", rule="node_topk",
    source=("I-DARTS (Jiang, Hu, Xiao, Zhang, Zhu, 'Improved Differentiable Architecture Search for Language "
            "Modeling and Named Entity Recognition', EMNLP-IJCNLP 2019, sec. 2): one softmax over all ops of all "
            "incoming edges of a node; each node keeps its two strongest (op, input) pairs over all its "
            "non-none ops (two may read the same input). The paper searches RNN cells; on the CNN DARTS space "
            "this recipe uses the DARTS CIFAR-10 search setting, first order: " + _DARTS_SOURCE),
    eval_drop_path=0.2, digits=dict(_DIGITS_SINGLE)))
