"""The registries a search recipe draws its components from, and the built-in entries.

    strategy   how weights and alphas are updated          strategies.STRATEGIES
    space      what the supernet searches over             SPACES (here)
    rule       how the alphas become a discrete genotype   discretize.RULES
    schedule   the weights' learning-rate schedule         SCHEDULES (here)
    mixing, architecture regularizer, weight-step perturbation    search/mixing.py

A new method registers its entries from its own module; search/run.py looks them up by the names
the recipe gives and never changes for a new method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Optional, Protocol, Sequence

import torch

from zoo.schedules import cosine_power_scheduler

from .discretize import RULES
from .hypercuboid import HyperCuboidSpace
from .pdarts import Stage, build_stage
from .registry import Registry
from .space import SearchSpace, ablation_space
from .strategies import STRATEGIES
from .supernet import Supernet

if TYPE_CHECKING:  # recipes validate their names against these registries
    from .recipes import SearchRecipe

__all__ = ["RULES", "SCHEDULES", "SPACES", "STRATEGIES", "CellSpace", "SpaceBuilder"]


class SpaceBuilder(Protocol):
    def space(self, cfg: "SearchRecipe") -> SearchSpace: ...

    def supernet(self, cfg: "SearchRecipe", space: SearchSpace, stage: Stage, num_classes: int,
                 candidates: Optional[Mapping[str, Sequence[Sequence[str]]]]) -> torch.nn.Module: ...


class CellSpace:
    """DARTS' cell search space (normal and reduction cells, several normal types, stretchable
    topologies), searched by a `Supernet` of the stage's depth with the stage's candidates."""

    def space(self, cfg: "SearchRecipe") -> SearchSpace:
        kw = dict(nodes=cfg.nodes, stages=cfg.stages, stretchable=cfg.stretchable,
                  op_options={} if cfg.c_mid is None else {"c_mid": cfg.c_mid},
                  out_edges=cfg.out_edges, topology=cfg.topology, edge_norm=cfg.edge_norm)
        if cfg.space_ablation:  # the thesis' op-set ablations (secs. 3.4, 4.2)
            return ablation_space(cfg.space_ablation, **kw)
        return SearchSpace(op_set=cfg.op_set, candidates=cfg.candidates, **kw)

    def supernet(self, cfg: "SearchRecipe", space: SearchSpace, stage: Stage, num_classes: int,
                 candidates: Optional[Mapping[str, Sequence[Sequence[str]]]]) -> Supernet:
        return build_stage(space, stage, candidates or None, channels=cfg.channels, num_classes=num_classes,
                           in_chans=3, stem="cifar", weighting=cfg.weighting,
                           partial_channels=stage.partial_channels or cfg.partial_channels, mixing=cfg.mixing,
                           mixing_kwargs=cfg.mixing_kwargs, aux_skip=cfg.aux_skip,
                           head=cfg.search_head)


SPACES: Registry[SpaceBuilder] = Registry("search space")
SPACES.register("cell")(CellSpace())
# sharpDARTS' Differentiable Hyperparameter Grid Search (sec. 4.1): a space whose result is a path,
# not a cell; its supernet's `write_result` and the entry's `plot_history` are the run's hooks for that.
SPACES.register("hypercuboid")(HyperCuboidSpace())

# name -> (weight optimizer, epochs of the stage, final lr, power p) -> per-epoch scheduler; p is the
# recipe's lr_power, which only cosine power annealing reads.
Schedule = Callable[[torch.optim.Optimizer, int, float, float], torch.optim.lr_scheduler.LRScheduler]
SCHEDULES: Registry[Schedule] = Registry("learning-rate schedule")
SCHEDULES.register("cosine")(
    lambda optimizer, epochs, lr_min, power=2.0: torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=epochs, eta_min=lr_min))
# sharpDARTS eq. 2, the zoo's one implementation (zoo/schedules.py), shared with training.
SCHEDULES.register("cosine_power")(
    lambda optimizer, epochs, lr_min, power=2.0, warmup=0: cosine_power_scheduler(optimizer, epochs, lr_min, power,
                                                                                 warmup))
