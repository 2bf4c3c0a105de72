"""DrNAS (Chen, Wang, Cheng, Tang, Hsieh, 'DrNAS: Dirichlet Neural Architecture Search', ICLR 2021,
arXiv:2006.10355): each edge's op weights are a Dirichlet random variable (sec. 2.2),

    theta_e ~ Dir(beta_e),   beta_e = elu(alpha_e) + 1   (positive concentration),

sampled with the pathwise (reparameterized) gradient in every training forward pass, plus the
anchor regularizer lambda * d(beta, beta_hat) of the architecture objective, and the progressive
scheme of sec. 2.4: partial channels whose K shrinks from stage to stage while the ops are pruned.

Where the paper leaves a detail open we follow the authors' code (xiangning-chen/DrNAS,
DARTS-space/model_search.py, DARTS-space/train_search.py, architect.py, utils.py):

  * Anchor: Dir(1, ..., 1) per edge (`anchor_normal`, `anchor_reduce`). `--reg_type l2` (the
    default) is the architecture Adam's weight decay reg_scale = 1e-3, i.e. alpha pulled to 0, where
    beta = 1 is the anchor; `--reg_type kl` adds reg_scale * sum_edges KL(Dir(beta_e) || Dir(1)) to
    the validation loss (not to the weights' loss) and sets that weight decay to 0. Recipe `drnas` is
    the default (l2), `drnas_kl` the KL variant with the code's reg_scale 1e-3 (`dirichlet_kl`).
  * Pruned candidates: the code samples the full-width Dirichlet, zeroes the pruned entries and
    renormalizes; for Gamma-normalized samples that is Dir(beta of the kept ops) exactly, which is
    what a ragged edge samples here.
  * Progressive scheme (train_search.py): two stages of 25 epochs, K 6 then 4, 7 ops (DARTS' without
    `none`) then the 4 with the largest alphas; the alphas step from epoch 10 of each stage on;
    20 cells, C 36, batch 64, SGD 0.1 cosine to 0 over all 50 epochs, momentum 0.9, wd 3e-4, clip 5;
    Adam 6e-4 (0.5, 0.999), first order, the alphas stepped before the weights.
  * Stage transfer (train_search.py, net2wider.py): the code keeps stage 1's supernet, widens every
    op from C/6 to C/4 channels (`wider`: the new channels copy randomly chosen old ones), gives the
    new SGD the widened momentum buffers, keeps the architecture's Adam and the surviving ops'
    alphas, and runs one cosine over both stages. The recipes do the same: `carry_weights` (weights,
    batch-norm statistics and momentum, widened: search/stage_transfer.py), `carry_alphas` (the 4
    kept ops' alphas and their Adam moments), `lr_spans_stages` (stage 2 starts at lr 0.05).
  * Evaluation: the code also samples in eval mode; here eval mode (and `probabilities`, which
    derivation and plots read) uses the Dirichlet mean beta / sum(beta). The code derives the
    genotype from softmax(alpha): the same op per edge (both increase with alpha), but edges are
    ranked here by their mean weight instead of their softmax weight.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet, kl_divergence

from zoo.errors import ZooError
from zoo.ops import DARTS_CANDIDATES_NO_NONE

from .mixing import ARCH_REGULARIZERS, MIXINGS, ArchRegularizer, Mixing, candidate_mask
from .recipes import _DIGITS_STAGED, SearchRecipe, register_recipe

DRNAS_STAGE_K = (6, 4)          # train_search.py `ks`
DRNAS_STAGE_OPS = (7, 4)        # train_search.py `num_keeps` (7 = every op of the first stage)
DRNAS_OPS = DARTS_CANDIDATES_NO_NONE  # DARTS-space/genotypes.py PRIMITIVES (no `none`)
KL_SCALE = 1e-3                 # train_search.py --reg_scale default


def concentration(alphas: torch.Tensor) -> torch.Tensor:
    """beta = elu(alpha) + 1 > 0, and beta = 1 (the anchor) at alpha = 0."""
    return F.elu(alphas) + 1.0


def dirichlet_mean(beta: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """E[theta] = beta / sum(beta) per row, over the row's own candidates (0 elsewhere)."""
    if mask is not None:
        beta = beta * mask.to(beta.dtype)
    return beta / beta.sum(dim=-1, keepdim=True)


def dirichlet_sample(beta: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """theta ~ Dir(beta) per row with the pathwise gradient; on a ragged row, Dir(beta of its own
    candidates): the full row is drawn with 1 where it has none, those entries are zeroed and the
    rest renormalized (a Dirichlet's renormalized sub-vector is the Dirichlet of its entries)."""
    if mask is None:
        return Dirichlet(beta).rsample()
    theta = Dirichlet(beta.masked_fill(~mask, 1.0)).rsample() * mask.to(beta.dtype)
    return theta / theta.sum(dim=-1, keepdim=True)


class DirichletMixing(Mixing):
    """DrNAS' mixing: a Dirichlet sample per edge while training, its mean otherwise."""

    name = "dirichlet"

    def probabilities(self, alphas: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        return dirichlet_mean(concentration(alphas), mask)

    def forward_weights(self, alphas: torch.Tensor, mask: Optional[torch.Tensor], training: bool) -> torch.Tensor:
        if not training:
            return self.probabilities(alphas, mask)
        return dirichlet_sample(concentration(alphas), mask)


MIXINGS.register("dirichlet")(DirichletMixing)


def dirichlet_kl(alphas: torch.Tensor, mask: Optional[torch.Tensor] = None, prior: float = 1.0) -> torch.Tensor:
    """sum over edges of KL(Dir(elu(alpha_e) + 1) || Dir(prior, ..., prior)), each edge over its own
    candidates."""
    beta = concentration(alphas)
    if mask is None or bool(mask.all()):
        return kl_divergence(Dirichlet(beta), Dirichlet(torch.full_like(beta, prior))).sum()
    total = beta.new_zeros(())
    for row, keep in zip(beta, mask):
        b = row[keep]
        total = total + kl_divergence(Dirichlet(b), Dirichlet(torch.full_like(b, prior)))
    return total


class DirichletKL(ArchRegularizer):
    """scale * sum over cell types and edges of KL(Dir(beta_e) || Dir(prior)): DrNAS' anchor term
    with `--reg_type kl` (the authors' prior: all ones; their reg_scale: 1e-3)."""

    name = "dirichlet_kl"

    def __init__(self, scale: float = KL_SCALE, prior: float = 1.0, **unknown: Any):
        if unknown:
            raise ZooError(f"architecture regularizer dirichlet_kl: unknown option {sorted(unknown)[0]!r} in "
                           "arch_regularizer_kwargs; it takes scale, prior")
        self.scale, self.prior = _number(scale, "scale", low=0.0), _number(prior, "prior", low=None)

    def __call__(self, supernet: torch.nn.Module) -> torch.Tensor:
        total = None
        for t, alphas in supernet.alphas.items():
            kl = dirichlet_kl(alphas, candidate_mask(supernet, t), self.prior)
            total = kl if total is None else total + kl
        return self.scale * total


def _number(value: Any, what: str, low: Optional[float]) -> float:
    """A finite float >= low (low None: > 0), or a one-line ZooError."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or (x <= 0 if low is None else x < low):
        bound = "above 0" if low is None else f"{low:g} or more"
        raise ZooError(f"architecture regularizer dirichlet_kl: {what} {value!r} must be a number {bound}, in "
                       f"arch_regularizer_kwargs; DrNAS uses scale {KL_SCALE:g}, prior 1")
    return x


ARCH_REGULARIZERS.register("dirichlet_kl")(DirichletKL)


# --------------------------------------------------------------------------- progressive K
# K per stage: search/partial_channels.py (stage_partial_channels), wired into the stage plan.


DRNAS_SOURCE = (
    "DrNAS (Chen et al., 'DrNAS: Dirichlet Neural Architecture Search', ICLR 2021, arXiv:2006.10355, secs. "
    "2.2-2.4): op weights sampled from Dir(elu(alpha) + 1) with pathwise gradients (eval and derivation: the "
    "Dirichlet mean), progressive learning with partial channels K 6 then 4 and 7 then 4 ops per edge; the "
    "authors' code (xiangning-chen/DrNAS, DARTS-space/train_search.py, model_search.py, architect.py) for the "
    "rest: DARTS' ops without none, 4 nodes, 20 cells, C 36, 2 stages of 25 epochs with the alphas stepped "
    "from epoch 10 on, stage 1's weights, momentum and alphas carried into stage 2 with its ops widened, "
    "batch 64, SGD 0.1 cosine to 0 over both stages, momentum 0.9, wd 3e-4, weights clipped to norm 5, Adam "
    "6e-4 (0.5, 0.999), first order, half/half split; anchor regularizer: ")
_L2 = "Adam weight decay 1e-3 on the alphas (--reg_type l2, the code's default), i.e. beta pulled to the anchor 1"
_KL = "1e-3 * KL(Dir(beta) || Dir(1)) per edge added to the validation loss (--reg_type kl), no weight decay"

_DRNAS = dict(
    strategy="first_order", mixing="dirichlet", candidates=DRNAS_OPS, channels=36, stage_layers=(20, 20),
    stage_ops=DRNAS_STAGE_OPS, partial_channels=DRNAS_STAGE_K[0], epochs=25, warmup_epochs=10, batch_size=64,
    w_lr=0.1, w_lr_min=0.0, w_momentum=0.9, w_wd=3e-4, grad_clip=5.0, a_lr=6e-4, a_betas=(0.5, 0.999),
    eval_layers=20, eval_channels=36, eval_drop_path=0.3, stage_partial_channels=DRNAS_STAGE_K,
    carry_alphas=True, carry_weights=True, lr_spans_stages=True,
    # K 6 and 4 both divide C 12; two stages of 5 cells, 2 epochs each (the first weight-only), 256
    # images: 20 cells' worth of mixed edges at 7 ops cost about twice a DARTS digits run per image.
    digits=dict(_DIGITS_STAGED, channels=12, stage_layers=(5, 5), epochs=2, subset=256))

register_recipe(SearchRecipe(name="drnas", source=DRNAS_SOURCE + _L2, a_wd=1e-3, **_DRNAS))
register_recipe(SearchRecipe(name="drnas_kl", source=DRNAS_SOURCE + _KL, a_wd=0.0, arch_regularizer="dirichlet_kl",
                             arch_regularizer_kwargs={"scale": KL_SCALE, "prior": 1.0}, **_DRNAS))
