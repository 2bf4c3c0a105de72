"""GDAS (Dong & Yang, 'Searching for A Robust Neural Architecture in Four GPU Hours', CVPR 2019,
arXiv:1910.04465): every edge runs ONE op per forward pass, drawn by a Gumbel-softmax sample of its
alphas (sec. 3.2, eqs. 3-5), with the straight-through gradient

    h = softmax((log_softmax(alpha) + g) / tau),   g_i = -log(E_i), E_i ~ Exp(1)
    weights = one_hot(argmax h) - h.detach() + h,   index = argmax h

so the forward value is one-hot (only op `index` is computed: `supernet.MixedOp`) while the
alphas receive the gradient of the soft sample h.

Where the paper leaves a detail open we follow the authors' code (D-X-Y/AutoDL-Projects):

  * Temperature, per epoch (exps/algos/GDAS.py, `set_tau` at each epoch's start):
    tau_e = tau_max - (tau_max - tau_min) * e / (E - 1), e = 0 .. E-1, tau 10 -> 0.1
    (scripts-search/GDAS-search-NASNet-space.sh). A one-epoch search stays at tau_max (the
    authors' formula divides by E - 1 = 0 there).
  * Resampling (lib/models/cell_searchs/search_model_gdas_nasnet.py, `get_gumbel_prob`): the
    sample is redrawn while the noise or h holds an inf or NaN; we redraw at most 100 times.
  * One sample per cell type per forward pass, shared by all cells of that type (same file).
  * `none` stays a candidate: it can be sampled (its output is zero, its weight still passes its
    gradient) and is never chosen by the derivation.
  * Evaluation mode samples too: the authors' network has no eval branch, so the epoch-end
    validation loss is that of sampled architectures, as in their log.
  * Step order (exps/algos/GDAS.py, `search_func`): the weights step first on the training
    batch (clipped to norm 5), then the alphas on the validation batch, first order, unclipped
    (strategy `weights_first`).
  * Derivation (`genotype` of search_model_gdas_nasnet.py): softmax of the alphas; each node keeps
    the two strongest (op, input) pairs among ALL its non-`none` candidates, so both may come
    from the same input (rule `gdas`), unlike DARTS' two distinct input edges.
  * CIFAR setting (configs/search-opts/GDAS-NASNet-CIFAR.config): 250 epochs, batch 256, SGD
    0.025 cosine to 0.001, momentum 0.9 with Nesterov (`w_nesterov`), wd 5e-4; Adam 3e-4
    (0.5, 0.999) wd 1e-3; C 16 with N = 2 cells per stage (6 cells: the repository's NASNet search
    configs).
  * Learning rate (lib/procedures/optimizers.py, `CosineAnnealingLR.get_lr`): the scheduler is
    updated every iteration, but with warm-up 0 its cosine reads only the integer epoch,
    lr_e = 0.001 + (0.025 - 0.001) (1 + cos(pi e / 250)) / 2, constant within an epoch: what the
    engine's per-epoch cosine (T_max = epochs, eta_min = w_lr_min) computes.
  * Head (search_model_gdas_nasnet.py, `lastact`): an affine BatchNorm and a ReLU between the last
    cell and the global pooling, trained with the weights (`search_head` "bn_relu_pool").
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F

from zoo.errors import ZooError
from zoo.genotype import NUM_CELL_INPUTS

from .discretize import RULES, SKIP, EdgeWeights, Node, _prune_unfed
from .mixing import MIXINGS, Mixing
from .recipes import _DIGITS_SINGLE, SearchRecipe, register_recipe
from .space import SearchSpace
from .strategies import STRATEGIES, Batch, FirstOrder

TAU_MAX = 10.0
TAU_MIN = 0.1
MAX_RESAMPLES = 100


def check_temperatures(tau_max: Any, tau_min: Any, where: str = "mixing gumbel") -> tuple[float, float]:
    """(tau_max, tau_min) as floats, or a one-line ZooError."""
    try:
        hi, lo = float(tau_max), float(tau_min)
    except (TypeError, ValueError):
        hi = lo = math.nan
    if not (math.isfinite(hi) and math.isfinite(lo)) or lo <= 0 or hi <= 0 or lo > hi:
        raise ZooError(f"{where}: temperatures tau_max {tau_max}, tau_min {tau_min} must be numbers above 0 with "
                       f"tau_min <= tau_max, in mixing_kwargs; GDAS anneals {TAU_MAX:g} -> {TAU_MIN:g}")
    return hi, lo


def temperature(epoch: int, epochs: int, tau_max: float = TAU_MAX, tau_min: float = TAU_MIN) -> float:
    """tau at the start of `epoch` (0-based) of `epochs`: linear from tau_max to tau_min at the last."""
    return float(tau_max - (tau_max - tau_min) * epoch / max(1, epochs - 1))


def straight_through(alphas: torch.Tensor, gumbels: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(one_hot - h.detach() + h, argmax h) per row, h = softmax((log_softmax(alphas) + gumbels) / tau).
    -inf alphas (candidates an edge does not have) get h = 0 and are never drawn."""
    soft = F.softmax((F.log_softmax(alphas, dim=-1) + gumbels) / tau, dim=-1)
    index = soft.argmax(dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, index.unsqueeze(-1), 1.0)
    return hard - soft.detach() + soft, index


def gumbel_noise(like: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Standard Gumbel noise -log(E), E ~ Exp(1), as the authors draw it."""
    return -torch.empty_like(like).exponential_(generator=generator).log()


class GumbelMixing(Mixing):
    """GDAS' hard Gumbel-softmax sample per edge; `probabilities` (derivation, plots) stay the softmax."""

    name = "gumbel"

    def __init__(self, space: SearchSpace, tau_max: float = TAU_MAX, tau_min: float = TAU_MIN, **unknown: Any):
        if unknown:
            raise ZooError(f"mixing gumbel: unknown option {sorted(unknown)[0]!r} in mixing_kwargs; it takes "
                           "tau_max, tau_min")
        self.space = space
        self.tau_max, self.tau_min = check_temperatures(tau_max, tau_min)
        self.tau = self.tau_max
        # None: torch's global stream, which the run seeds per stage; a test may fix its own.
        self.generator: Optional[torch.Generator] = None

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        self.tau = temperature(epoch, epochs, self.tau_max, self.tau_min)
        return {"tau": self.tau}

    def sample(self, alphas: torch.Tensor, mask: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if mask is not None:
            alphas = alphas.masked_fill(~mask, float("-inf"))
        for _ in range(MAX_RESAMPLES):
            gumbels = gumbel_noise(alphas, self.generator)
            if not torch.isfinite(gumbels).all():  # Exp(1) drew 0: its noise is +inf
                continue
            weights, index = straight_through(alphas, gumbels, self.tau)
            if torch.isfinite(weights).all():
                return weights, index
        raise ZooError(f"mixing gumbel: no finite sample in {MAX_RESAMPLES} draws at tau {self.tau:g}; the "
                       "alphas are not finite (lower --a-lr)")

    def forward_weights(self, alphas: torch.Tensor, mask: Optional[torch.Tensor],
                        training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        # Sampled in eval mode too, as the authors' network (module docstring).
        return self.sample(alphas, mask)

    def config(self) -> dict[str, Any]:
        return {"tau_max": self.tau_max, "tau_min": self.tau_min}


MIXINGS.register("gumbel")(GumbelMixing)


class WeightsFirst(FirstOrder):
    """First order with GDAS' step order: the weights on the training batch, then the alphas on the
    validation batch at the updated weights."""

    name = "weights_first"

    def step(self, train_batch: Batch, val_batch: Optional[Batch],
             beta_batch: Optional[Batch] = None) -> dict[str, float]:
        stats = self.weight_step(train_batch)
        if not self.warmup:
            stats.update(self.arch_step(train_batch, val_batch, beta_batch))
        return stats


STRATEGIES.register("weights_first")(WeightsFirst)


class StrongestPairs:
    """GDAS' derivation: per node the k strongest (op, input) pairs over all its non-`none`
    candidates (ties: lower input, then candidate order, first). Skip cap: the weakest chosen
    skip_connect pair leaves the pool and the node is chosen again, until the cap holds."""

    def __init__(self, k: int = 2):
        self.k = k

    def cell(self, weights: EdgeWeights, edge_list: Sequence[tuple[int, int]], space: Any,
             max_skips: Optional[int]) -> list[Node]:
        pools: dict[int, list[tuple[float, str, int]]] = {}
        for e, (target, src) in enumerate(edge_list):
            for op, w in weights[e].items():
                if op != "none":
                    pools.setdefault(target, []).append((w, op, src))
        nodes = {t: self._top(pool) for t, pool in pools.items()}
        if max_skips is not None:
            while True:
                skips = [(w, t, src) for t, kept in nodes.items() for w, op, src in kept if op == SKIP]
                if len(skips) <= max_skips:
                    break
                w, t, src = min(skips, key=lambda s: (s[0], s[1], s[2]))
                pools[t] = [p for p in pools[t] if not (p[1] == SKIP and p[2] == src)]
                nodes[t] = self._top(pools[t])
        cell = [[(op, src) for _, op, src in nodes.get(t, [])]
                for t in range(NUM_CELL_INPUTS, NUM_CELL_INPUTS + space.nodes)]
        return _prune_unfed(cell)

    def _top(self, pool: list[tuple[float, str, int]]) -> list[tuple[float, str, int]]:
        return sorted(pool, key=lambda p: -p[0])[: self.k]  # stable: pool order breaks ties


RULES.register("gdas")(StrongestPairs())


GDAS_SOURCE = (
    "GDAS (Dong & Yang, 'Searching for A Robust Neural Architecture in Four GPU Hours', CVPR 2019, "
    "arXiv:1910.04465, secs. 3.2-3.3): one op per edge drawn by a hard Gumbel-softmax sample of the alphas "
    "with the straight-through gradient, temperature linear per epoch from 10 to 0.1; the authors' code "
    "(D-X-Y/AutoDL-Projects: exps/algos/GDAS.py, lib/models/cell_searchs/search_model_gdas_nasnet.py, "
    "configs/search-opts/GDAS-NASNet-CIFAR.config, scripts-search/GDAS-search-NASNet-space.sh) for the rest: "
    "DARTS' 8 ops with none, 4 nodes, C 16, 6 cells (N = 2), 250 epochs, batch 256, SGD 0.025 cosine to "
    "0.001 (per epoch), momentum 0.9 (Nesterov), wd 5e-4, BN-ReLU before the global pooling, weights clipped to norm 5 and stepped before the alphas, Adam 3e-4 "
    "(0.5, 0.999) wd 1e-3, first order, half/half split; each node keeps its two strongest (op, input) pairs "
    "of the softmax (both may read the same input)")

register_recipe(SearchRecipe(
    name="gdas", source=GDAS_SOURCE, strategy="weights_first", mixing="gumbel",
    mixing_kwargs={"tau_max": TAU_MAX, "tau_min": TAU_MIN}, rule="gdas", search_head="bn_relu_pool",
    layers=6, channels=16, epochs=250, batch_size=256, w_lr=0.025, w_lr_min=0.001, w_momentum=0.9, w_nesterov=True,
    w_wd=5e-4, grad_clip=5.0, a_lr=3e-4, a_betas=(0.5, 0.999), a_wd=1e-3, eval_drop_path=0.2,
    digits=dict(_DIGITS_SINGLE, layers=6)))
