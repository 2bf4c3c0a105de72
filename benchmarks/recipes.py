"""Training recipes: each paper's final-training protocol, and a reduced preset for digits.

    recipe = default_recipe("pdarts_3b", "cifar10")      # the thesis' 1000-epoch protocol
    recipe = get_recipe("sharpdarts")                     # AutoAugment + cosine power annealing
    scheduler = make_scheduler(optimizer, recipe, epochs)

A recipe is the hyper-parameters only; benchmarks/train.py runs it. Sources are
the papers each recipe's `source` names (title or arXiv id, section or table).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from zoo.data import dataset_info
from zoo.errors import ZooError, closest
from zoo.models import GenotypeLike, genotype_dir, resolve_genotype
from zoo.schedules import cosine_power_annealing


@dataclass(frozen=True)
class TrainingRecipe:
    name: str
    source: str
    epochs: int
    batch_size: int
    lr: float
    schedule: str = "cosine"          # cosine | cosine_power | step | linear
    lr_min: float = 0.0
    power: float = 2.0                # cosine_power: p of sharpDARTS eq. 2
    gamma: float = 0.97               # step: lr * gamma ** epoch
    warmup_epochs: int = 0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    cutout: int = 16
    autoaugment: bool = False
    auxiliary_weight: float = 0.4     # 0 builds the network without its auxiliary head
    drop_path: Optional[float] = None  # None: the model preset's rate
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    ema_decay: float = 0.0            # > 0: also track an EMA of the weights (timm ModelEmaV3)
    data: str = "cifar"               # what it was written for: cifar | imagenet | digits
    model: dict[str, Any] = field(default_factory=dict)  # network overrides (layers, channels)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_DARTS_SRC = ("DARTS (Liu et al., ICLR 2019, arXiv:1806.09055, App. A.2) final training: 600 epochs, batch 96, "
              "SGD lr 0.025 cosine, momentum 0.9, wd 3e-4, cutout 16, aux 0.4, drop path 0.2, clip 5")
_darts = TrainingRecipe("darts", _DARTS_SRC, epochs=600, batch_size=96, lr=0.025, drop_path=0.2)

RECIPES: dict[str, TrainingRecipe] = {r.name: r for r in [
    _darts,
    dataclasses.replace(
        _darts, name="pdarts", drop_path=0.3,
        source="P-DARTS (Chen et al., ICCV 2019, arXiv:1904.12760): the DARTS protocol with drop path 0.3"),
    dataclasses.replace(
        _darts, name="pdarts_3b", epochs=1000, drop_path=0.3,
        source="PDARTS-3b (Paganucci, ETH Zurich semester thesis 2020, sec. 4.1.1): batch 96, 1000 epochs 'to ensure convergence', lr 0.025, "
               "otherwise the P-DARTS protocol (drop path 0.3)"),
    dataclasses.replace(
        _darts, name="pdarts_n3_2g", batch_size=64, lr=0.015, drop_path=0.3,
        source="PDARTS-N3-2g (Paganucci, ETH Zurich semester thesis 2020, sec. 4.3, Table 4.5): 600 epochs, "
               "batch 64, lr 0.015, otherwise the P-DARTS protocol (cosine, drop path 0.3)"),
    dataclasses.replace(
        _darts, name="sharpdarts", epochs=2000, autoaugment=True, schedule="cosine_power", power=2.0,
        lr_min=1e-8, drop_path=0.2,
        source="sharpDARTS (Hundt et al. 2019, arXiv:1903.09900, Table 2 and eq. 2): AutoAugment, cutout, cosine power "
               "annealing p = 2, lr 0.025 -> 1e-8, 2000 epochs; batch and the rest from DARTS (the code "
               "derives from it)"),
    TrainingRecipe("imagenet", epochs=250, batch_size=128, lr=0.1, schedule="step", gamma=0.97, weight_decay=3e-5,
                   cutout=0, label_smoothing=0.1, drop_path=0.0, data="imagenet",
                   source="DARTS mobile setting (arXiv:1806.09055, App. A.2): 14 layers C 48, 250 epochs, batch 128, SGD lr 0.1 "
                          "decayed 0.97 per epoch, wd 3e-5, label smoothing 0.1, aux 0.4, clip 5"),
    TrainingRecipe("imagenet_pdarts", epochs=250, batch_size=1024, lr=0.5, schedule="linear", warmup_epochs=5,
                   weight_decay=3e-5, cutout=0, label_smoothing=0.1, drop_path=0.0, data="imagenet",
                   source="P-DARTS / PC-DARTS mobile setting (arXiv:1904.12760, arXiv:1907.05737): 250 epochs, batch 1024, lr 0.5 "
                          "decayed linearly, 5 warm-up epochs, wd 3e-5, label smoothing 0.1, aux 0.4"),
    TrainingRecipe("imagenet_sharpdarts", epochs=250, batch_size=128, lr=0.1, schedule="cosine_power", power=10.0,
                   lr_min=1e-8, weight_decay=3e-5, cutout=112, autoaugment=True, label_smoothing=0.1, drop_path=0.0,
                   data="imagenet",
                   source="sharpDARTS ImageNet (arXiv:1903.09900, sec. 3.3, Fig. 5): AutoAugment, cutout 112, cosine power "
                          "annealing p = 10; lr, batch, epochs and smoothing from the DARTS mobile setting (not "
                          "stated there)"),
    # Reduced preset: 8x8 digits upsampled to 32x32 are easy, so a 5-cell, 8-channel network trained
    # for 10 epochs from scratch passes 97 % (the 3-cell network has one normal cell and stays at ~96 %
    # after 12 epochs); cutout would erase most of a digit's strokes.
    TrainingRecipe("digits", epochs=10, batch_size=32, lr=0.05, weight_decay=3e-4, cutout=0, auxiliary_weight=0.0,
                   drop_path=0.0, data="digits", model=dict(layers=5, channels=8),
                   source="darts-zoo reduced preset for sklearn digits (not a paper's): 5 layers, C 8, 10 epochs, "
                          "batch 32, SGD lr 0.05 cosine, momentum 0.9, wd 3e-4, no cutout/aux/drop path; sized for "
                          "minutes on 2 CPU cores"),
]}

# What a genotype whose preset names no recipe trains with: the DARTS protocol of its family.
FALLBACK_RECIPES = {"cifar": "darts", "imagenet": "imagenet"}


def get_recipe(name: str) -> TrainingRecipe:
    if name not in RECIPES:
        raise ZooError(f"unknown recipe {name!r}: {closest(name, RECIPES)}")
    return RECIPES[name]


def default_recipe(model: GenotypeLike, data: str) -> TrainingRecipe:
    """The recipe the genotype's preset for the dataset's family names (the paper's, in the zoo's
    files); `darts` / `imagenet` when it names none; `digits` always uses the reduced preset."""
    info = dataset_info(data)
    if info.name == "digits":
        return RECIPES["digits"]
    g = resolve_genotype(model)
    name = g.preset(info.family).recipe or FALLBACK_RECIPES[info.family]
    if name not in RECIPES:
        raise ZooError(f"{_genotype_file(model, g)}: presets.{info.family}.recipe: unknown training recipe "
                       f"{name!r} (known: {', '.join(RECIPES)})")
    return RECIPES[name]


def _genotype_file(model: GenotypeLike, g) -> str:
    """The file a genotype was read from, for error messages (its name when it has no file)."""
    if isinstance(model, (str, Path)):
        text = str(model)
        if text.endswith((".yaml", ".yml")) or Path(text).exists():
            return text
        return str(genotype_dir() / f"{g.name}.yaml")
    return g.name


# --------------------------------------------------------------------------- schedules
def lr_factor(recipe: TrainingRecipe, epoch: int, epochs: int) -> float:
    """lr(epoch) / recipe.lr, for epoch = 0 .. epochs - 1 (one value per epoch, as DARTS steps)."""
    if epoch < recipe.warmup_epochs:
        return (epoch + 1) / recipe.warmup_epochs
    if recipe.schedule == "cosine":
        return cosine_power_annealing(epoch, epochs, 1.0, recipe.lr_min / recipe.lr, 1.0)
    if recipe.schedule == "cosine_power":
        return cosine_power_annealing(epoch, epochs, 1.0, recipe.lr_min / recipe.lr, recipe.power)
    if recipe.schedule == "step":
        return recipe.gamma ** epoch
    if recipe.schedule == "linear":
        return 1.0 - epoch / epochs
    raise ZooError(f"recipe {recipe.name}: unknown schedule {recipe.schedule!r}; use cosine, cosine_power, "
                   "step or linear")


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: TrainingRecipe,
                   epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-epoch LambdaLR (call .step() after each epoch). The optimizer's lr must be recipe.lr."""
    lr_factor(recipe, 0, epochs)  # an unknown schedule fails here, not after the first epoch
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(recipe, epoch, epochs))
