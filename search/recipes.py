"""Search recipes: each paper's search setting as data, overridable field by field.

A recipe is the whole configuration of one search: the search space (op set, nodes, cell types),
the supernet size, the optimizers and, for P-DARTS, the stage plan. Every default is the paper's
(the DARTS, P-DARTS and MiLeNAS papers; the PDARTS thesis for its variants; the stretchable-cells
paper for MiLeNAS-SC), and `source` says where it comes from. Where a paper leaves a detail of the
step open, the recipe follows its authors' code (P-DARTS clips the alpha gradients to norm 5;
MiLeNAS steps the alphas before the weights and does not clip the weights); docs/search-fidelity.md
lists, per method, where the package follows the paper, the authors' code, or neither.
Command-line flags override single fields (`apply_overrides`), and `--data digits` applies the
recipe's small CPU preset so that a search runs end to end on a laptop in minutes.

Most of its length is the recipes themselves: data, each with the source it follows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..errors import ZooError, closest
from ..genotype import DEFAULT_STAGES
from .components import RULES, SCHEDULES, SPACES, STRATEGIES
from .pdarts import Stage, stage_plan
from .space import N3_STAGES

# Fields that describe the recipe rather than configure the search (not recorded as settings).
_DESCRIPTIVE = ("name", "source", "digits")


@dataclass(frozen=True)
class SearchRecipe:
    name: str
    source: str
    strategy: str = "first_order"  # an entry of STRATEGIES
    space: str = "cell"             # an entry of SPACES
    lr_schedule: str = "cosine"     # an entry of SCHEDULES: the weights' learning rate per epoch
    # --- search space
    op_set: str = "darts"
    candidates: Optional[tuple[str, ...]] = None  # None: the op set's paper candidates
    nodes: int = 4
    stages: tuple[str, ...] = DEFAULT_STAGES
    stretchable: bool = False
    # --- supernet
    layers: int = 8
    channels: int = 16
    # --- schedule (per stage for staged recipes)
    epochs: int = 50
    batch_size: int = 64
    train_fraction: float = 0.5  # share of the train split that trains the weights; the rest the alphas
    subset: Optional[int] = None  # use only this many training images (None: all)
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_wd: float = 3e-4
    grad_clip: Optional[float] = 5.0  # max norm of the weight gradients; None or 0: no clip
    a_lr: float = 3e-4
    a_betas: tuple[float, float] = (0.5, 0.999)
    a_wd: float = 1e-3
    strategy_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # --- P-DARTS staging (empty stage_layers: one stage of `layers` cells)
    stage_layers: tuple[int, ...] = ()
    stage_ops: tuple[int, ...] = ()  # candidate ops per edge in each stage
    stage_dropout: tuple[float, ...] = ()  # skip_connect dropout at the start of each stage
    warmup_epochs: int = 0  # epochs per stage that train only the weights
    # --- discretization
    rule: str = "standard"
    max_skips: Optional[int] = None  # at most this many skip_connect in the normal cells
    # --- the network the searched cell is evaluated with (written as the genotype's preset)
    eval_layers: int = 20
    eval_channels: int = 36
    eval_drop_path: float = 0.2
    # --- `--data digits`: a small CPU setting that keeps the recipe's method
    digits: Mapping[str, Any] = field(default_factory=dict)

    @property
    def staged(self) -> bool:
        return bool(self.stage_layers)

    def stage_plan(self) -> tuple[Stage, ...]:
        """The search's stages: P-DARTS' progressive ones, or one stage of `layers` cells."""
        if not self.staged:
            return (Stage(self.layers, None, 0.0, self.epochs, self.warmup_epochs),)
        return stage_plan(cells=self.stage_layers, ops=self.stage_ops or None,
                          skip_dropout=self.stage_dropout or None, epochs=self.epochs,
                          warmup_epochs=self.warmup_epochs)

    def total_epochs(self) -> int:
        return self.epochs * max(1, len(self.stage_layers))

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def settings(self) -> dict[str, Any]:
        """What configures the search (every field but the name, source and digits preset)."""
        return {k: v for k, v in self.to_dict().items() if k not in _DESCRIPTIVE}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_DARTS_SOURCE = ("DARTS (Liu, Simonyan, Yang, ICLR 2019) search setting: 8 cells, C 16, 50 epochs, "
                 "batch 64, SGD 0.025 cosine to 0.001, momentum 0.9, wd 3e-4, Adam 3e-4 (0.5, 0.999) "
                 "wd 1e-3, half/half split (arXiv:1806.09055, App. A.1.1)")
_PDARTS_SOURCE = ("P-DARTS (Chen et al., ICCV 2019): stages of 5/11/17 cells, 8 -> 5 -> 3 ops per edge, "
                  "25 epochs per stage (10 weight-only), skip dropout 0.1/0.4/0.7, C 16, batch 96, "
                  "SGD 0.025 cosine to 0, Adam 6e-4 wd 1e-3, at most 2 skips (arXiv:1904.12760; "
                  "Paganucci, \'Efficient ConvNet Architectures: Differentiable Neural Architecture Search\', ETH Zurich semester thesis 2020, sec. 3.2, App. A.1)")

# The P-DARTS authors' search loop clips the alpha gradients to norm 5 (its --grad_clip, the same
# value as the weights') before the Adam step (chenxin061/pdarts, train_search.py, train()).
_PDARTS_STRATEGY = {"arch_grad_clip": 5.0}
# MiLeNAS (He et al., CVPR 2020, arXiv:2003.12238) as its authors' search script runs it
# (chaoyanghe/MiLeNAS, search_algorithm/train_milenas.py with run_milenas.sh): DARTS' space and
# optimizer settings, lambda 1 on both losses, the alphas stepped before the weights, and no weight
# clip (the script's clip call is given the architecture parameters, whose gradients are replaced
# before they are next used).
_MILENAS_SOURCE = ("MiLeNAS (He et al., 'MiLeNAS: Efficient Neural Architecture Search via Mixed-Level "
                   "Reformulation', CVPR 2020, arXiv:2003.12238): first-order mixed-level update, alpha on "
                   "L_train + lambda L_val with lambda 1; the alphas step first, then the weights on a fresh "
                   "L_train pass, weights not clipped (the authors' search code); DARTS' space (8 ops with "
                   "none, 4 nodes), 8 cells, C 16, 50 epochs, batch 64, SGD 0.025 cosine to 0.001, momentum "
                   "0.9, wd 3e-4, Adam 3e-4 (0.5, 0.999) wd 1e-3, half/half split")

# The digits preset: 8x8 digit images upsampled to 32x32; a few hundred images, a few epochs,
# a narrow and shallow supernet. Measured: well under 10 minutes on 2 CPU cores.
_DIGITS_SINGLE = dict(channels=8, layers=5, epochs=4, batch_size=32, subset=512, w_lr_min=0.001)
_DIGITS_STAGED = dict(channels=8, stage_layers=(3, 5, 5), epochs=3, warmup_epochs=1,
                      batch_size=32, subset=512)

RECIPES: dict[str, SearchRecipe] = {
    "darts_v1": SearchRecipe(
        name="darts_v1", strategy="first_order", source="first order; " + _DARTS_SOURCE,
        eval_drop_path=0.2, digits=_DIGITS_SINGLE),
    "darts_v2": SearchRecipe(
        name="darts_v2", strategy="second_order",
        source="second order (unrolled, xi = lr, finite-difference eps 0.01/||grad||); " + _DARTS_SOURCE,
        eval_drop_path=0.2, digits=_DIGITS_SINGLE),
    "pdarts": SearchRecipe(
        name="pdarts", strategy="first_order", source=_PDARTS_SOURCE,
        strategy_kwargs=dict(_PDARTS_STRATEGY),
        epochs=25, batch_size=96, w_lr=0.025, w_lr_min=0.0, a_lr=6e-4, a_wd=1e-3,
        stage_layers=(5, 11, 17), stage_ops=(8, 5, 3), stage_dropout=(0.1, 0.4, 0.7),
        warmup_epochs=10, max_skips=2, eval_drop_path=0.3, digits=_DIGITS_STAGED),
    "pdarts_3b": SearchRecipe(
        name="pdarts_3b", strategy="first_order", nodes=3,
        source=("PDARTS-3b (Paganucci, \'Efficient ConvNet Architectures: Differentiable Neural Architecture Search\', ETH Zurich semester thesis 2020, secs. 3.3.1, 4.1.1, Table A.1): "
                "P-DARTS with 3 intermediate nodes, batch 64 (the thesis searched with 32 and 64), "
                "other settings P-DARTS'; " + _PDARTS_SOURCE),
        strategy_kwargs=dict(_PDARTS_STRATEGY),
        epochs=25, batch_size=64, w_lr=0.025, w_lr_min=0.0, a_lr=6e-4, a_wd=1e-3,
        stage_layers=(5, 11, 17), stage_ops=(8, 5, 3), stage_dropout=(0.1, 0.4, 0.7),
        warmup_epochs=10, max_skips=2, eval_layers=26, eval_drop_path=0.3, digits=_DIGITS_STAGED),
    "pdarts_n3_2g": SearchRecipe(
        name="pdarts_n3_2g", strategy="first_order", stages=N3_STAGES,
        source=("PDARTS-N3-2g (Paganucci, \'Efficient ConvNet Architectures: Differentiable Neural Architecture Search\', ETH Zurich semester thesis 2020, secs. 3.3.2, 3.5, 4.3, Tables A.2 and 4.5): three normal cell "
                "types (one per block), extended stages of 11/14/17 cells, search batch 32, grouping "
                "discretization (none/skip/pool/conv), no skip restriction; other settings P-DARTS'"),
        strategy_kwargs=dict(_PDARTS_STRATEGY),
        epochs=25, batch_size=32, w_lr=0.025, w_lr_min=0.0, a_lr=6e-4, a_wd=1e-3,
        stage_layers=(11, 14, 17), stage_ops=(8, 5, 3), stage_dropout=(0.1, 0.4, 0.7),
        warmup_epochs=10, rule="grouping", max_skips=None, eval_drop_path=0.3,
        digits=dict(_DIGITS_STAGED, stage_layers=(5, 5, 8))),
    "milenas": SearchRecipe(
        name="milenas", strategy="mixed_level", source=_MILENAS_SOURCE, grad_clip=None,
        strategy_kwargs={"lam": 1.0}, eval_drop_path=0.2, digits=_DIGITS_SINGLE),
    "milenas_sc": SearchRecipe(
        name="milenas_sc", strategy="mixed_level", stretchable=True, nodes=6,
        candidates=("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                    "dil_conv_3x3", "dil_conv_5x5"),
        source=("MiLeNAS-SC (Huang et al., 'Stretchable Cells Help DARTS Search Better', eqs. 9-18): "
                "stretchable cells (topology variables beta, passive-aggressive regularizer lambda 10), "
                "N = 9 nodes counted as DARTS counts its 7 (2 inputs, 6 intermediate, the output), as the zoo's milenas_sc_l* files do; DARTS ops without `none`, MiLeNAS mixed-level update (alpha, beta on L_train + "
                "lambda' L_val, lambda' 1, first order), 8 cells (L8; --layers 12/16 for L12/L16), "
                "50 epochs, batch 64, other settings DARTS'; the step as the MiLeNAS authors' code "
                "takes it (alphas first, weights not clipped); evaluated at the search depth"),
        grad_clip=None, strategy_kwargs={"lam": 1.0, "topology_reg": 10.0},
        eval_layers=8, eval_drop_path=0.2, digits=_DIGITS_SINGLE),
}


def recipe_names() -> tuple[str, ...]:
    return tuple(RECIPES)


def get_recipe(name: str) -> SearchRecipe:
    if name not in RECIPES:
        raise ZooError(f"unknown search recipe {name!r}: {closest(name, RECIPES)}")
    return RECIPES[name]


# Fields a user may override, with the type each value is parsed to.
OVERRIDABLE = tuple(f.name for f in dataclasses.fields(SearchRecipe) if f.name not in _DESCRIPTIVE)


def _coerce(recipe: SearchRecipe, key: str, value: Any) -> Any:
    """Check one override against the recipe field it replaces; one-line ZooError if it is wrong."""
    current = getattr(recipe, key)

    def bad(what: str) -> ZooError:
        return ZooError(f"search recipe {recipe.name}: override {key}={value!r} {what}")

    if key in ("stage_layers", "stage_ops", "stage_dropout", "stages", "candidates", "a_betas"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if value is None and key == "candidates":
            return None
        if not isinstance(value, (list, tuple)):
            raise bad("is not a list")
        if key in ("stage_layers", "stage_ops"):
            try:
                out = tuple(int(v) for v in value)
            except (TypeError, ValueError):
                raise bad("must be whole numbers separated by commas, e.g. 5,11,17") from None
            if any(v <= 0 for v in out):
                raise bad("must be positive")
            return out
        if key in ("stage_dropout", "a_betas"):
            try:
                out = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                raise bad("must be numbers separated by commas") from None
            if any(not 0 <= v < 1 for v in out):
                raise bad("must lie in [0, 1)")
            if key == "a_betas" and len(out) != 2:
                raise bad("needs two values, e.g. 0.5,0.999")
            return out
        return tuple(str(v) for v in value)
    if key in ("subset", "max_skips"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad("is not a whole number")
        try:
            value = int(value)
        except ValueError:
            raise bad("is not a whole number") from None
        if value < 0 or (key == "subset" and value == 0):
            raise bad("must be positive")
        return value
    if key == "grad_clip":
        # None (or 0): the weights are not clipped.
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "off")):
            return None
        if isinstance(value, bool):
            raise bad("is not a number")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise bad("is not a number (or none: no clip)") from None
        if not math.isfinite(value) or value < 0:
            raise bad("must be a finite number >= 0 (0: no clip)")
        return value
    if key == "strategy_kwargs":
        if not isinstance(value, Mapping):
            raise bad("is not a mapping")
        return dict(value)
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise bad("must be true or false")
    if isinstance(current, int):
        try:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            value = int(float(value))
        except (TypeError, ValueError):
            raise bad("is not a whole number") from None
        if value < 0 or (value == 0 and key not in ("warmup_epochs",)):
            raise bad("must be positive")
        return value
    if isinstance(current, float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise bad("is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise bad("must be a finite number >= 0")
        if key == "train_fraction" and not 0 < value < 1:
            raise bad("must lie strictly between 0 and 1")
        return value
    return str(value)


def apply_overrides(recipe: SearchRecipe, overrides: Optional[Mapping[str, Any]] = None,
                    data: Optional[str] = None) -> SearchRecipe:
    """The recipe with the digits preset (when `data == "digits"`) and then the user's overrides.

    Explicit overrides always win over the preset. When a staged recipe's `epochs` is overridden
    without `warmup_epochs`, the weight-only warm-up keeps the paper's share (10 of 25 epochs) so
    that short runs still update the alphas.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in overrides:
        if key not in OVERRIDABLE:
            raise ZooError(f"search recipe {recipe.name}: {key!r} is not a recipe field: "
                           f"{closest(key, OVERRIDABLE)}")
    if "layers" in overrides and recipe.staged and "stage_layers" not in overrides:
        raise ZooError(f"search recipe {recipe.name} grows the supernet in stages "
                       f"{'-'.join(map(str, recipe.stage_layers))}; give --stage-layers A,B,C "
                       "instead of --layers")
    out = recipe
    if data == "digits":
        for key, value in recipe.digits.items():
            out = dataclasses.replace(out, **{key: _coerce(out, key, value)})
    base = out
    for key, value in overrides.items():
        out = dataclasses.replace(out, **{key: _coerce(out, key, value)})
    if "epochs" in overrides and "warmup_epochs" not in overrides and base.warmup_epochs:
        share = base.warmup_epochs / base.epochs
        out = dataclasses.replace(out, warmup_epochs=min(out.epochs - 1, int(round(out.epochs * share))))
    _check(out)
    return out


def _check(r: SearchRecipe) -> None:
    def bad(msg: str) -> ZooError:
        return ZooError(f"search recipe {r.name}: {msg}")

    if r.strategy not in STRATEGIES.names():
        raise bad(f"unknown strategy {r.strategy!r}: {closest(r.strategy, STRATEGIES.names())}")
    for field_name, registry in (("rule", RULES), ("space", SPACES), ("lr_schedule", SCHEDULES)):
        value = getattr(r, field_name)
        if value not in registry.names():
            raise bad(f"unknown {registry.slot} {value!r} ({field_name}): {closest(value, registry.names())}")
    if r.staged:
        n = len(r.stage_layers)
        for key in ("stage_ops", "stage_dropout"):
            if getattr(r, key) and len(getattr(r, key)) != n:
                raise bad(f"{key} has {len(getattr(r, key))} entries but stage_layers has {n}; "
                          "give one per stage")
        if r.stage_ops and any(b > a for a, b in zip(r.stage_ops, r.stage_ops[1:])):
            raise bad(f"stage_ops {list(r.stage_ops)} must not grow from stage to stage")
    min_layers = min(r.stage_layers) if r.staged else r.layers
    if min_layers < 3:
        raise bad(f"a supernet needs at least 3 cells (two of them reductions), got {min_layers}")
    if r.warmup_epochs >= r.epochs and r.epochs > 0:
        raise bad(f"warmup_epochs {r.warmup_epochs} leaves no epoch that updates the alphas "
                  f"(epochs {r.epochs}); lower --warmup-epochs")
    if r.channels % 2:
        raise bad(f"channels must be even (FactorizedReduce halves them), got {r.channels}")
    if r.batch_size < 2:
        raise bad("batch_size must be at least 2 (BatchNorm needs two samples)")
