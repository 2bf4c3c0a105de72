"""SDARTS' perturbation-based regularization (Chen & Hsieh, 'Stabilizing Differentiable Architecture
Search via Perturbation-based Regularization', ICML 2020, arXiv:2002.05283, sec. 4).

The weights are trained on perturbed architecture weights, so that they fit a neighbourhood of the
current architecture and the validation loss landscape w.r.t. the alphas gets smoother:

    SDARTS-RS   min_w  E_{delta ~ U[-eps, eps]} L_train(w, A + delta)
    SDARTS-ADV  min_w  max_{||delta||_inf <= eps} L_train(w, A + delta)     (PGD for the max)

A is the mixed weights (the softmax output per edge, not the alphas). The architecture step is
DARTS' and sees the unperturbed A (the engine applies the offsets to the weight step only).

Where the authors' code (xiangning-chen/SmoothDARTS, sota/cnn/train_search.py and
attacker/perturb.py; model_search.py read in the Sunshine-Ye/Beta-DARTS fork, which copies it)
decides what the paper leaves open:

- the noise goes on the softmax output: the weight step copies softmax(alpha) into the
  architecture parameters, perturbs them and runs the network on them directly;
- after every perturbation (random draw, random start, each PGD step) each edge's row is clipped
  to [0, 1] and divided by its sum (`Network.clip`; a row clipped to all zeros puts 1 on the op
  that was largest before the clip). We divide by the unperturbed row's sum, which is 1 for the
  softmax, so the authors' clip is the special case; Max-W or stretchable rows keep their own sum;
- eps = 0.03 + (0.3 - 0.03) * epoch / epochs (epoch 0-based), for both RS and ADV;
- PGD (`Linf_PGD_alpha`): 7 steps, step size 2 eps / 7, a random start (uniform noise, clipped),
  each step A' <- A' + step * sign(grad L_train), then projected to the eps box around A and
  clipped; the attack runs on the weight step's own training batch, with the network in eval mode
  (BatchNorm on running statistics, no skip dropout), and is dropped (no perturbation) when the
  perturbed loss ends below the unperturbed one;
- first order, DARTS' CIFAR-10 settings (batch 64, 50 epochs, SGD 0.025 to 0.001, Adam 3e-4 wd
  1e-3) and the 7 DARTS ops without `none` (space s5 of sota/cnn/spaces.py, `none` commented out).

Random draws use torch's global generator (checkpointed by the run, so a resumed search draws the
same noise) unless a `generator` is given.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import torch
import torch.nn.functional as F

from zoo.errors import ZooError
from zoo.ops import DARTS_CANDIDATES_NO_NONE

from .mixing import PERTURBATIONS, Perturbation, candidate_mask
from .recipes import _DARTS_SOURCE, _DIGITS_SINGLE, SearchRecipe, register_recipe

Rows = dict[str, torch.Tensor]

EPS_START = 0.03  # the authors' first-epoch radius


def clip_rows(w: torch.Tensor, total: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Each row clipped to [0, 1] and rescaled to sum `total` (1 for a softmax row); a row clipped to
    all zeros puts `total` on its largest entry before the clip. Entries outside `mask` stay 0."""
    if mask is not None:
        w = w.masked_fill(~mask, float("-inf"))
    top = F.one_hot(w.argmax(dim=-1), w.shape[-1]).to(w.dtype)
    c = w.clamp(0.0, 1.0)
    s = c.sum(dim=-1, keepdim=True)
    c = torch.where(s > 0, c, top)
    return c / c.sum(dim=-1, keepdim=True) * total


def uniform_noise(like: torch.Tensor, eps: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """U[-eps, eps] of the shape of `like`, drawn on the generator's device and moved to `like`'s."""
    device = generator.device if generator is not None else like.device
    u = torch.rand(like.shape, generator=generator, device=device, dtype=like.dtype)
    return ((2 * u - 1) * eps).to(like.device)


def pgd_attack(base: Mapping[str, torch.Tensor], loss_fn: Callable[[Rows], torch.Tensor], eps: float,
               steps: int, step_size: float, random_start: bool = True,
               masks: Optional[Mapping[str, Optional[torch.Tensor]]] = None,
               generator: Optional[torch.Generator] = None) -> Rows:
    """The offsets delta (per cell type) that PGD finds to raise `loss_fn(delta)`: from base A (random
    start: A + U[-eps, eps], clipped), `steps` times A' <- clip(A + box_eps(A' + step * sign(grad) - A)),
    where clip is `clip_rows`; delta = A' - A. Zero offsets when the attack lowers the loss."""
    masks = masks or {}
    totals = {t: a.sum(dim=-1, keepdim=True) for t, a in base.items()}

    def clip(t: str, w: torch.Tensor) -> torch.Tensor:
        return clip_rows(w, totals[t], masks.get(t))

    cur = {t: a.clone() for t, a in base.items()}
    if random_start:
        cur = {t: clip(t, a + _masked(uniform_noise(a, eps, generator), masks.get(t))) for t, a in base.items()}
    with torch.no_grad():
        before = float(loss_fn({t: torch.zeros_like(a) for t, a in base.items()}))
    for _ in range(steps):
        delta = {t: (cur[t] - base[t]).requires_grad_(True) for t in base}
        grads = torch.autograd.grad(loss_fn(delta), list(delta.values()), allow_unused=True)
        for (t, d), g in zip(delta.items(), grads):
            step = torch.zeros_like(d) if g is None else step_size * torch.sign(g)
            moved = (d.detach() + step).clamp(-eps, eps)
            cur[t] = clip(t, base[t] + moved)
    offsets = {t: cur[t] - base[t] for t in base}
    with torch.no_grad():
        after = float(loss_fn(offsets))
    if before > after:
        return {t: torch.zeros_like(a) for t, a in base.items()}
    return offsets


def _masked(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    return x if mask is None else x * mask.to(x.dtype)


class _Radius(Perturbation):
    """The radius schedule eps(epoch) = eps_start + (epsilon - eps_start) * epoch / epochs."""

    def __init__(self, epsilon: float = 0.3, epsilon_start: float = EPS_START,
                 generator: Optional[torch.Generator] = None):
        where = f"perturbation {self.name}, perturbation_kwargs"
        for key, value in (("epsilon", epsilon), ("epsilon_start", epsilon_start)):
            if not value >= 0:
                raise ZooError(f"{key} {value} is below 0, {where}; give a radius >= 0 (SDARTS: 0.03 rising to 0.3)")
        self.epsilon = float(epsilon)
        self.epsilon_start = float(epsilon_start)
        self.generator = generator
        self.eps = self.epsilon_start  # the first epoch's radius, until begin_epoch sets it

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        self.eps = self.epsilon_start + (self.epsilon - self.epsilon_start) * epoch / max(1, epochs)
        return {"sdarts_epsilon": self.eps}

    @staticmethod
    def _base(net: torch.nn.Module) -> tuple[Rows, dict[str, Optional[torch.Tensor]]]:
        """The unperturbed mixed weights and candidate masks of every cell type."""
        with torch.no_grad():
            base = {t: net.edge_weights(t).detach() for t in net.space.cell_types}
        return base, {t: candidate_mask(net, t) for t in net.space.cell_types}


class RandomPerturbation(_Radius):
    """SDARTS-RS: A + U[-eps, eps], clipped per edge (see `clip_rows`)."""

    name = "random"

    def offsets(self, strategy: Any, batch: Any) -> Rows:
        base, masks = self._base(strategy.net)
        out = {}
        for t, a in base.items():
            noisy = a + _masked(uniform_noise(a, self.eps, self.generator), masks[t])
            out[t] = clip_rows(noisy, a.sum(dim=-1, keepdim=True), masks[t]) - a
        return out


class AdversarialPerturbation(_Radius):
    """SDARTS-ADV: PGD on the mixed weights against the weight step's training loss.

    steps          PGD steps (the authors' code: 7)
    step_size      None: 2 eps / steps (the authors' code)
    random_start   start from a clipped uniform draw in the box (the authors' code: yes)
    eval_mode      attack with the supernet in eval mode, as the authors' code does
    """

    name = "adversarial"

    def __init__(self, epsilon: float = 0.3, epsilon_start: float = EPS_START, steps: int = 7,
                 step_size: Optional[float] = None, random_start: bool = True, eval_mode: bool = True,
                 generator: Optional[torch.Generator] = None):
        super().__init__(epsilon, epsilon_start, generator)
        where = "perturbation adversarial, perturbation_kwargs"
        if int(steps) != steps or steps < 1:
            raise ZooError(f"steps {steps} is not a whole number >= 1, {where}; give PGD steps (SDARTS: 7)")
        if step_size is not None and not step_size > 0:
            raise ZooError(f"step_size {step_size} is not above 0, {where}; give a step > 0 or null for 2 eps / steps")
        self.steps = int(steps)
        self.step_size = step_size
        self.random_start = bool(random_start)
        self.eval_mode = bool(eval_mode)

    def offsets(self, strategy: Any, batch: Any) -> Rows:
        net = strategy.net
        x, y = batch[0], batch[1]
        base, masks = self._base(net)

        def loss_fn(delta: Rows) -> torch.Tensor:
            with net.weight_offsets(delta):
                return F.cross_entropy(net(x), y)

        step = self.step_size if self.step_size is not None else 2 * self.eps / self.steps
        training = net.training
        if self.eval_mode:
            net.eval()
        try:
            return pgd_attack(base, loss_fn, self.eps, self.steps, step, self.random_start, masks, self.generator)
        finally:
            net.train(training)


PERTURBATIONS.register("random")(RandomPerturbation)
PERTURBATIONS.register("adversarial")(AdversarialPerturbation)

# The authors' DARTS space (sota/cnn/spaces.py s5): DARTS' ops without `none`.
_SDARTS_OPS = DARTS_CANDIDATES_NO_NONE
_SDARTS_SOURCE = ("(Chen & Hsieh, 'Stabilizing Differentiable Architecture Search via Perturbation-based "
                  "Regularization', ICML 2020, arXiv:2002.05283, sec. 4): the weights step on the softmax "
                  "weights plus a perturbation, clipped to [0, 1] and renormalized per edge; the alphas step "
                  "as DARTS first order on unperturbed weights; eps rising linearly from 0.03 to 0.3; the "
                  "authors' DARTS space without `none` and search settings (xiangning-chen/SmoothDARTS, "
                  "sota/cnn/train_search.py, attacker/perturb.py); ")
register_recipe(SearchRecipe(
    name="sdarts_rs", strategy="first_order", candidates=_SDARTS_OPS,
    source="SDARTS-RS: uniform noise in [-eps, eps] " + _SDARTS_SOURCE + _DARTS_SOURCE,
    perturbation="random", perturbation_kwargs={"epsilon": 0.3},
    eval_drop_path=0.2, digits=_DIGITS_SINGLE))
register_recipe(SearchRecipe(
    name="sdarts_adv", strategy="first_order", candidates=_SDARTS_OPS,
    source=("SDARTS-ADV: 7-step PGD (step 2 eps / 7, random start, sign steps, projection to the eps box, "
            "kept only if it raises the training loss, network in eval mode during the attack) "
            + _SDARTS_SOURCE + _DARTS_SOURCE),
    perturbation="adversarial", perturbation_kwargs={"epsilon": 0.3, "steps": 7},
    eval_drop_path=0.2,
    # 7 PGD steps cost 3.2x a DARTS step on the digits supernet, 2 steps 1.3x (measured, CPU): the
    # digits run attacks with 2 (step 2 eps / 2), the paper's setting keeps 7.
    digits=dict(_DIGITS_SINGLE, perturbation_kwargs={"epsilon": 0.3, "steps": 2})))
