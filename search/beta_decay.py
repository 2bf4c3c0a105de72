"""beta-DARTS' Beta-Decay regularization (Ye et al., 'beta-DARTS: Beta-Decay Regularization for
Differentiable Architecture Search', CVPR 2022, arXiv:2203.01665, sec. 3).

The regularizer is the smoothmax (logsumexp) of each edge's alphas, averaged over the edges:

    L_beta = mean over edges e of  log sum_o exp(alpha_{e,o}),
    d L_beta / d alpha_{e,o} = softmax(alpha_e)_o / (number of edges),

added to the validation loss the architecture step differentiates with a coefficient lambda that
grows linearly over the search. Its gradient pulls every alpha down in proportion to its softmax
weight, so the activated weights are kept from growing apart (the paper's "value and variance").

Where the authors' code (Sunshine-Ye/Beta-DARTS) decides what the paper leaves open:

- the mean runs over every row of the architecture parameters: `optimizers/darts/architect.py`,
  `mlc_loss`, is `torch.mean(torch.logsumexp(alphas, dim=-1))`; with a normal and a reduction cell
  we take the mean over the rows of both (the same as the mean of the two cell types' means, since
  both have the same number of edges);
- lambda = 50 * epoch / 100 (`_backward_step`: `weights = 0 + 50*epoch/100`, epoch 0-based),
  i.e. 0.5 per epoch, reaching 50 after the 100 epochs of the authors' search script
  (`nasbench201/train_search.py`, `--epochs 100`); here `lam_max * epoch / ramp_epochs` with the
  code's 50 and 100 (`ramp_epochs=None`: reach `lam_max` after the stage's own epochs);
- the alphas' Adam keeps its weight decay of 1e-3 (`--arch_weight_decay` default, not changed by
  the script), so the recipe keeps DARTS' a_wd;
- only the alphas are regularized (the code's `_arch_parameters`), not topology or edge betas;
- edges pruned to fewer candidates (P-DARTS stages) take the logsumexp over their own candidates;
- the code adds the term in its first-order step only; with `--strategy second_order` the engine
  adds it to the unrolled objective too (it does not depend on the weights, so it only adds
  lambda * dL_beta/dalpha to the architecture gradient).
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from zoo.errors import ZooError

from .mixing import ARCH_REGULARIZERS, ArchRegularizer, candidate_mask
from .recipes import _DIGITS_SINGLE, SearchRecipe, register_recipe


def smoothmax_rows(alphas: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """log sum_o exp(alpha_{e,o}) of every row e, over the row's own candidates (`mask` True)."""
    if mask is not None:
        alphas = alphas.masked_fill(~mask, float("-inf"))
    return torch.logsumexp(alphas, dim=-1)


def beta_decay_loss(supernet: torch.nn.Module) -> torch.Tensor:
    """The mean smoothmax of the alphas over the rows (edges) of every cell type (sec. 3, unscaled).
    Any supernet whose `alphas` hold one softmax per row will do (the HyperCuboid's too)."""
    rows = [smoothmax_rows(a, candidate_mask(supernet, t)) for t, a in supernet.alphas.items()]
    return torch.cat(rows).mean()


class BetaDecay(ArchRegularizer):
    """lambda(epoch) * L_beta, lambda(epoch) = lam_max * epoch / ramp_epochs (epoch 0-based).

    lam_max       the coefficient reached after `ramp_epochs` epochs (the authors' code: 50)
    ramp_epochs   epochs of the linear ramp (the authors' code: 100); None: the stage's epochs
    """

    name = "beta_decay"

    def __init__(self, lam_max: float = 50.0, ramp_epochs: Optional[int] = 100, **kwargs: Any):
        where = "arch_regularizer beta_decay, arch_regularizer_kwargs"
        if kwargs:
            raise ZooError(f"unknown option {sorted(kwargs)[0]!r}, {where}; use lam_max and ramp_epochs")
        if not lam_max >= 0:
            raise ZooError(f"lam_max {lam_max} is below 0, {where}; give a coefficient >= 0 (beta-DARTS: 50)")
        if ramp_epochs is not None and (int(ramp_epochs) != ramp_epochs or ramp_epochs < 1):
            raise ZooError(f"ramp_epochs {ramp_epochs} is not a whole number >= 1, {where}; give e.g. 100 "
                           "(the authors' code) or null for the stage's epochs")
        self.lam_max = float(lam_max)
        self.ramp_epochs = None if ramp_epochs is None else int(ramp_epochs)
        self.lam = 0.0  # the first epoch's value, until begin_epoch sets it

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        span = self.ramp_epochs or max(1, epochs)
        self.lam = self.lam_max * epoch / span
        return {"beta_decay_lambda": self.lam}

    def __call__(self, supernet: torch.nn.Module) -> torch.Tensor:
        return self.lam * beta_decay_loss(supernet)


ARCH_REGULARIZERS.register("beta_decay")(BetaDecay)

register_recipe(SearchRecipe(
    name="beta_darts", strategy="first_order",
    source=("beta-DARTS (Ye et al., 'beta-DARTS: Beta-Decay Regularization for Differentiable Architecture "
            "Search', CVPR 2022, arXiv:2203.01665, sec. 3): DARTS first order with the Beta-Decay "
            "regularizer lambda * mean over edges of logsumexp(alpha), lambda = 50 * epoch / 100 (the "
            "authors' code, Sunshine-Ye/Beta-DARTS optimizers/darts/architect.py), alphas' Adam weight "
            "decay kept at 1e-3 (the code's default); DARTS' space and settings: 8 cells, C 16, 50 epochs, "
            "batch 64, SGD 0.025 cosine to 0.001, momentum 0.9, wd 3e-4, weights clipped to norm 5, Adam "
            "3e-4 (0.5, 0.999), half/half split"),
    arch_regularizer="beta_decay", arch_regularizer_kwargs={"lam_max": 50.0, "ramp_epochs": 100},
    eval_drop_path=0.2,
    # The digits run's few epochs follow the paper run's lambda over the same share of the search
    # (50 epochs reach 0.5 * 50 = 25): 25 over the digits stage.
    digits=dict(_DIGITS_SINGLE, arch_regularizer_kwargs={"lam_max": 25.0, "ramp_epochs": None})))

