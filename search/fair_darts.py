"""Fair DARTS (Chu, Zhou, Zhang, Li, 'Fair DARTS: Eliminating Unfair Advantages in Differentiable
Architecture Search', ECCV 2020, arXiv:1911.12126).

Three parts, each a component of the engine:

  mixing `sigmoid`          every op of an edge weighted by its own sigma(alpha) (sec. 4.1): the ops
                            cooperate instead of competing in a softmax, so skip_connect's early
                            advantage no longer starves the others (the paper's "unfair advantage").
  regularizer `zero_one`    the zero-one loss (sec. 4.2) pushing every sigma(alpha) to 0 or 1,
                                L_01 = -(1/N) sum_i (sigma(alpha_i) - 0.5)^2,
                            N = every alpha of every cell type, added to the architecture objective
                            as w01 * L_01 with w01 = 10.
  rule `fair_threshold`     per node the DARTS rule's two strongest incoming edges, each keeping its
                            strongest op only if sigma(alpha) >= 0.85; nodes left without edges
                            disappear (nodes reading them lose that edge).

Where the paper leaves a detail open we follow the authors' code (xiaomi-automl/FairDARTS, folder
fairdarts/):

  * Mean, not sum, and one mean over both cell types: separate_loss.py `ConvSeparateLoss` is
    `-F.mse_loss(sigmoid(cat(alphas_normal, alphas_reduce)), 0.5)` times `--aux_loss_weight` 10.
  * The loss enters the architecture step: architect.py `step` backpropagates that criterion on the
    validation batch and steps the alphas' Adam. train_search.py also adds it to the weight step's
    loss, where it has no gradient with respect to the weights, and the alphas' gradient it leaves
    there is zeroed before the next architecture step, so it changes nothing: we add it to the
    architecture objective only.
  * Derivation: train_search.py's default `--parse_method threshold_sparse` with `--op_threshold 0.85`
    (utils.py `parse`): the two edges of a node with the largest max weight (DARTS' rule), each kept
    with its best op only when that op's sigmoid reaches the threshold; README: "|edge| <= 2 per node",
    "the isolated nodes are ignored after parsing" (model.py `DCOCell` skips edges from them).
  * Candidates: genotypes.py PRIMITIVES are DARTS' 7 ops without `none`.
  * Search setting (train_search.py defaults, the README's command): 50 epochs, batch 128, SGD 0.005
    cosine to 0.001, momentum 0.9, wd 3e-4, weights clipped to norm 5; Adam 3e-3 with betas
    (0.9, 0.999) (`--arch_lr_gamma` 0.9 in architect.py) and wd 1e-3; first order (one backward of the
    validation criterion); 8 cells, C 16, 4 nodes, half/half split.

Deviations: the code initializes the alphas at exactly 0 (sigma = 0.5, where the zero-one loss has
no gradient); the engine's 1e-3 * N(0, 1) start differs from it by at most a few 1e-3. When no op of
a cell passes the threshold (possible after a short search) the code's cell would have no node and
fail to build; here the cell then keeps its single strongest (op, input) pair among the edges that
read the cell inputs, so the genotype always compiles. A skip cap (`max_skips`, not used by Fair
DARTS) swaps the weakest kept skip for its edge's next op that passes the threshold, else drops it.

Combinations: partial channels (PC-DARTS' K) and P-DARTS stages are supported (the mixing is per
edge; P-DARTS prunes each edge by its alphas, and sigmoid keeps their order). Refused: stretchable
cells and PC-DARTS' edge normalization (both weight a node's inputs by a softmax, the exclusive
competition the paper removes, and the edge scales would pull every weight under the threshold),
and Max-W (it reweights softmax probabilities; refused by recipes.SEARCH_SETTINGS).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import torch

from zoo.errors import ZooError
from zoo.genotype import NUM_CELL_INPUTS
from zoo.ops import DARTS_CANDIDATES_NO_NONE

from .discretize import RULES, EdgeWeights, Node, _prune_unfed, best_op, select_edges, swap_weak_skips
from .mixing import ARCH_REGULARIZERS, MIXINGS, ArchRegularizer, Mixing, candidate_mask
from .recipes import _DIGITS_SINGLE, SearchRecipe, register_recipe
from .space import SearchSpace

ZERO_ONE_WEIGHT = 10.0   # train_search.py --aux_loss_weight
OP_THRESHOLD = 0.85      # train_search.py --op_threshold
FAIR_OPS = DARTS_CANDIDATES_NO_NONE  # fairdarts/genotypes.py PRIMITIVES (no `none`)


def refuse_softmax_over_inputs(space: SearchSpace, method: str, why: str) -> None:
    """One-line refusal of the spaces whose betas weigh a node's inputs against each other."""
    if space.stretchable:
        raise ZooError(f"stretchable cells, mixing {method}; {why} (drop --stretchable)")
    if space.edge_norm:
        raise ZooError(f"edge_norm, mixing {method}; {why} (drop --edge-norm; --partial-channels alone is fine)")


class SigmoidMixing(Mixing):
    """w_{e,o} = sigma(alpha_{e,o}), each op on its own (Fair DARTS sec. 4.1); 0 for the candidates a
    pruned edge no longer has."""

    name = "sigmoid"

    def __init__(self, space: SearchSpace, **kwargs: Any):
        super().__init__(space, **kwargs)
        refuse_softmax_over_inputs(space, self.name, "Fair DARTS lets every op and input count on its own")

    def probabilities(self, alphas: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        w = torch.sigmoid(alphas)
        return w if mask is None else w * mask.to(w.dtype)


MIXINGS.register("sigmoid")(SigmoidMixing)


def zero_one_loss(supernet: torch.nn.Module) -> torch.Tensor:
    """-(1/N) sum (sigma(alpha) - 0.5)^2 over every real candidate of every cell type (unscaled)."""
    values = []
    for t in supernet.space.cell_types:
        s = torch.sigmoid(supernet.alphas[t])
        mask = candidate_mask(supernet, t)
        values.append(s.flatten() if mask is None else s[mask])
    return -((torch.cat(values) - 0.5) ** 2).mean()


class ZeroOneLoss(ArchRegularizer):
    """w01 * L_01 (Fair DARTS sec. 4.2; w01 = 10, the authors' --aux_loss_weight)."""

    name = "zero_one"

    def __init__(self, weight: float = ZERO_ONE_WEIGHT, **kwargs: Any):
        where = "arch_regularizer zero_one, arch_regularizer_kwargs"
        if kwargs:
            raise ZooError(f"unknown option {sorted(kwargs)[0]!r}, {where}; it takes weight")
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            raise ZooError(f"weight {weight!r}, {where}; give a finite number >= 0 (Fair DARTS: 10)")
        self.weight = float(weight)

    def __call__(self, supernet: torch.nn.Module) -> torch.Tensor:
        return self.weight * zero_one_loss(supernet)


ARCH_REGULARIZERS.register("zero_one")(ZeroOneLoss)


class ThresholdRule:
    """Fair DARTS' `threshold_sparse` derivation: per node the k strongest edges by their best
    non-`none` weight (DARTS' ranking, k = space.max_inputs), each kept with that op only when its
    weight reaches `threshold`."""

    def __init__(self, threshold: float = OP_THRESHOLD):
        if not 0.0 < threshold < 1.0:
            raise ZooError(f"threshold {threshold!r}, rule fair_threshold; give a sigmoid level in (0, 1) "
                           "(Fair DARTS: 0.85)")
        self.threshold = float(threshold)

    def cell(self, weights: EdgeWeights, edge_list: Sequence[tuple[int, int]], space: Any,
             max_skips: Optional[int]) -> list[Node]:
        kept: dict[int, str] = {}
        for node in select_edges(weights, edge_list, space.max_inputs):
            for e in node:
                op, w = best_op(weights[e])
                if w >= self.threshold:
                    kept[e] = op
        if max_skips is not None:
            kept = swap_weak_skips(weights, kept, max_skips, floor=self.threshold)
        if not kept:
            kept = self._strongest_input_pair(weights, edge_list)
        cell: list[Node] = [[] for _ in range(space.nodes)]
        # Edges of a node strongest first, as select_edges ranked them.
        for e in sorted(kept, key=lambda e: (edge_list[e][0], -weights[e][kept[e]], e)):
            target, src = edge_list[e]
            cell[target - NUM_CELL_INPUTS].append((kept[e], src))
        return _prune_unfed(cell)

    @staticmethod
    def _strongest_input_pair(weights: EdgeWeights, edge_list: Sequence[tuple[int, int]]) -> dict[int, str]:
        best: Optional[tuple[float, int, str]] = None
        for e, (_, src) in enumerate(edge_list):
            b = best_op(weights[e])
            if src < NUM_CELL_INPUTS and b is not None and (best is None or b[1] > best[0]):
                best = (b[1], e, b[0])
        return {} if best is None else {best[1]: best[2]}


RULES.register("fair_threshold")(ThresholdRule())


FAIR_DARTS_SOURCE = (
    "Fair DARTS (Chu, Zhou, Zhang, Li, 'Fair DARTS: Eliminating Unfair Advantages in Differentiable "
    "Architecture Search', ECCV 2020, arXiv:1911.12126, secs. 4.1-4.2): independent sigmoid op weights, "
    "zero-one loss -w01 * mean (sigma(alpha) - 0.5)^2 with w01 10 over both cell types' alphas, in the "
    "architecture step; derivation: each node's two strongest edges, each kept with its best op when its "
    "sigmoid reaches 0.85 (threshold_sparse); the authors' code (xiaomi-automl/FairDARTS, fairdarts/"
    "train_search.py, architect.py, separate_loss.py, utils.py, genotypes.py) for the rest: DARTS' 7 ops "
    "without none, 4 nodes, 8 cells, C 16, 50 epochs, batch 128, SGD 0.005 cosine to 0.001, momentum 0.9, "
    "wd 3e-4, weights clipped to norm 5, Adam 3e-3 (0.9, 0.999) wd 1e-3, first order, half/half split")

register_recipe(SearchRecipe(
    name="fair_darts", source=FAIR_DARTS_SOURCE, strategy="first_order", candidates=FAIR_OPS,
    mixing="sigmoid", arch_regularizer="zero_one", arch_regularizer_kwargs={"weight": ZERO_ONE_WEIGHT},
    rule="fair_threshold", layers=8, channels=16, nodes=4, epochs=50, batch_size=128, w_lr=0.005,
    w_lr_min=0.001, w_momentum=0.9, w_wd=3e-4, grad_clip=5.0, a_lr=3e-3, a_betas=(0.9, 0.999), a_wd=1e-3,
    eval_drop_path=0.2, digits=dict(_DIGITS_SINGLE)))
