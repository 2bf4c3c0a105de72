"""Three component slots that the methods against DARTS' skip collapse fill in, beside the strategy,
space, rule and schedule of search/components.py:

    mixing              how an edge's alphas become the weights that mix its ops   MIXINGS
                        (DARTS' softmax; sigmoid; one softmax per node; Gumbel or Dirichlet samples)
    arch regularizer    a term added to what the architecture step differentiates   ARCH_REGULARIZERS
    perturbation        offsets added to the mixed weights during the weight step   PERTURBATIONS

Every entry may schedule its constants over a stage's epochs through `begin_epoch(epoch, epochs)`,
which the run calls at the start of every epoch (search/strategies.py `ArchStrategy.begin_epoch`);
what it returns is logged in the epoch's history record under "schedule". Schedules are functions
of the epoch index only, so a resumed run continues them exactly.

A recipe names its entries (`mixing`, `arch_regularizer`, `perturbation`) and their keyword
arguments (`mixing_kwargs`, ...); a method module registers its entries when imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

import torch

from zoo.errors import ZooError

from .registry import Registry

if TYPE_CHECKING:
    from .space import SearchSpace

Weights = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


class Mixing:
    """DARTS' continuous relaxation (arXiv:1806.09055, eq. 2): a softmax over each edge's ops.

    `probabilities` is what derivation, plots and the history see; `forward_weights` is what
    multiplies the ops in the forward pass. A mixing may return `(weights, index)` from
    `forward_weights`: each edge then runs only its op `index[e]` (see `search.supernet.MixedOp`).
    """

    name = "softmax"

    def __init__(self, space: "SearchSpace", **kwargs: Any):
        if kwargs:
            raise ZooError(f"mixing {self.name}: unknown option {sorted(kwargs)[0]!r}; it takes none")
        self.space = space

    def probabilities(self, alphas: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        if mask is not None:
            alphas = alphas.masked_fill(~mask, float("-inf"))
        return torch.softmax(alphas, dim=-1)

    def forward_weights(self, alphas: torch.Tensor, mask: Optional[torch.Tensor], training: bool) -> Weights:
        return self.probabilities(alphas, mask)

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        return {}


class ArchRegularizer:
    """A term added to the architecture objective; `__call__` returns it already scaled."""

    name = "regularizer"

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        return {}

    def __call__(self, supernet: torch.nn.Module) -> torch.Tensor:
        raise NotImplementedError


class Perturbation:
    """Offsets added to the mixed op weights (post-mixing) while the weights step; the architecture
    step never sees them. `offsets` may run forward passes under `supernet.weight_offsets(...)`."""

    name = "perturbation"

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        return {}

    def offsets(self, strategy: Any, batch: Any) -> Mapping[str, torch.Tensor]:
        raise NotImplementedError


MIXINGS: Registry[type[Mixing]] = Registry("mixing")
MIXINGS.register("softmax")(Mixing)
ARCH_REGULARIZERS: Registry[type[ArchRegularizer]] = Registry("architecture regularizer")
PERTURBATIONS: Registry[type[Perturbation]] = Registry("perturbation")


def _build(registry: Registry, field: str, name: str, *args: Any, kwargs: Optional[Mapping[str, Any]] = None) -> Any:
    """registry[name](*args, **kwargs); a value of the wrong type (e.g. `steps=zero`) that the entry's own
    checks do not catch becomes one line naming the recipe field, not a traceback."""
    try:
        return registry.get(name)(*args, **dict(kwargs or {}))
    except (TypeError, ValueError) as e:
        raise ZooError(f"{registry.slot} {name}: {field}_kwargs {dict(kwargs or {})} do not fit it ({e}); "
                       f"give numbers where it takes numbers (see `{field}` in docs/skip-collapse.md)") from None


def make_mixing(name: str, space: "SearchSpace", kwargs: Optional[Mapping[str, Any]] = None) -> Mixing:
    return _build(MIXINGS, "mixing", name, space, kwargs=kwargs)


def make_regularizer(name: Optional[str], kwargs: Optional[Mapping[str, Any]] = None) -> Optional[ArchRegularizer]:
    return None if name is None else _build(ARCH_REGULARIZERS, "arch_regularizer", name, kwargs=kwargs)


def make_perturbation(name: Optional[str], kwargs: Optional[Mapping[str, Any]] = None) -> Optional[Perturbation]:
    return None if name is None else _build(PERTURBATIONS, "perturbation", name, kwargs=kwargs)


def candidate_mask(supernet: torch.nn.Module, cell_type: str) -> Optional[torch.Tensor]:
    """Which candidates each edge of `cell_type` has (bool, num_edges x width), for the alphas of a
    supernet whose edges may have fewer candidates than the widest (P-DARTS' pruned stages); None
    for a supernet without such masks (the HyperCuboid's)."""
    return getattr(supernet, f"mask_{cell_type}", None)


def linear_decay(start: float, epoch: int, epochs: int) -> float:
    """start * (1 - epoch / epochs): start at the first epoch, reaching 0 after the last."""
    return float(start) * (1.0 - epoch / max(1, epochs))
