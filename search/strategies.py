"""How weights and architecture parameters are updated: one small class per method, one interface.

    strategy = make_strategy("second_order", supernet, w_optimizer, a_optimizer)
    stats = strategy.step((x_train, y_train), (x_val, y_val))      # -> {"train_loss": ..., ...}

`step` updates the architecture parameters (unless `strategy.warmup` is set, P-DARTS' first
epochs) and then the weights, as DARTS orders them. Weight gradients are clipped to norm
`grad_clip` (5, as DARTS; None or 0: not clipped, as the MiLeNAS authors' code); architecture
gradients to norm `arch_grad_clip` (None: not clipped, as DARTS; the P-DARTS recipes set 5, as
the P-DARTS authors' search loop clips the alpha gradients before their Adam step).

first_order   alpha <- grad_a L_val(w, a)                              (DARTS 1st order, P-DARTS)
second_order  alpha <- grad_a L_val(w', a) - xi * H v,  w' = w - xi * (one step of the weight
              optimizer on L_train), v = grad_w' L_val(w', a), and H v = grad^2_{a,w} L_train(w, a) v
              by the central difference (grad_a L_train(w + eps v) - grad_a L_train(w - eps v)) /
              2 eps, eps = 0.01 / ||v|| (DARTS 2nd order: Liu et al., arXiv:1806.09055, sec. 2.3, eqs. 6-8)
one_level     weights and alphas on the same training batch, one backward (the one-level baseline of DARTS, arXiv:1806.09055 sec. 3)
mixed_level   alpha <- grad_a L_train(w, a) + lambda * grad_a L_val(w, a), first order (MiLeNAS,
              arXiv:2003.12238; with topology variables, the stretchable-cells paper eq. 18); then
              the weights step on a fresh L_train pass at the updated alphas, as the MiLeNAS
              authors' search loop orders it (`one_pass=True`: one L_train pass for both, cheaper)

Unrolled step: like DARTS, w' includes the weight optimizer's momentum buffer and weight decay,
w' = w - xi * (mu * buf + grad + wd * w), i.e. exactly the SGD step that comes next
(`unroll="optimizer"`, the default); `unroll="sgd"` uses plain w - xi * grad. xi defaults to the
weight optimizer's current learning rate, as DARTS sets it.

Stretchable spaces: the passive-aggressive regularizer lambda_r * r(beta) (stretchable-cells paper eq. 15,
lambda_r = 10) is added to the objective the architecture step differentiates, and so is a recipe's
architecture regularizer (search/mixing.py: beta-decay, Fair DARTS' zero-one loss, DrNAS' KL term).
A weight-step perturbation (SDARTS) offsets the mixed weights while the weights step only.
`begin_epoch` runs the schedules of the supernet, regularizer and perturbation at each epoch's start.

Longer than most modules: each strategy is a short class, and they share one file so that their
step orders and clips can be compared side by side (docs/search-fidelity.md).
"""

from __future__ import annotations

import contextlib
from typing import Any, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.errors import ZooError

from .registry import Registry

Batch = Sequence[torch.Tensor]


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == y).float().mean())


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor], **kw: Any) -> list[torch.Tensor]:
    """d loss / d params, zeros for parameters the loss does not reach."""
    gs = torch.autograd.grad(loss, params, allow_unused=True, **kw)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


class ArchStrategy:
    """Base: the weight step, the warm-up switch and the bookkeeping shared by all methods.

    grad_clip        max norm of the weight gradients (5 in DARTS and its followers; None or 0:
                     no clip, as the MiLeNAS authors' code in effect does)
    arch_grad_clip   max norm of the architecture gradients (None or 0: no clip, as DARTS; the
                     P-DARTS authors' code clips them to 5)
    topology_reg     lambda of the stretchable regularizer (10 in the stretchable-cells paper)
    warmup           True: `step` only trains the weights
    beta_params      architecture parameters that step on their own batch when `step` is given a
                     `beta_batch` (the stretchable topology variables with `beta_split`); the
                     alphas then see only `val_batch` and the betas only `beta_batch`
    regularizer      a search.mixing.ArchRegularizer added to the architecture objective
    perturbation     a search.mixing.Perturbation whose offsets the weight step runs under
    """

    name = "base"

    def __init__(self, supernet: nn.Module, w_optimizer: torch.optim.Optimizer,
                 a_optimizer: torch.optim.Optimizer, grad_clip: Optional[float] = 5.0,
                 arch_grad_clip: Optional[float] = None, topology_reg: float = 10.0,
                 warmup: bool = False, beta_params: Sequence[torch.Tensor] = (),
                 regularizer: Optional[Any] = None, perturbation: Optional[Any] = None):
        self.net = supernet
        self.w_optimizer = w_optimizer
        self.a_optimizer = a_optimizer
        self.grad_clip = grad_clip
        self.arch_grad_clip = arch_grad_clip
        self.topology_reg = topology_reg
        self.warmup = warmup
        self.regularizer = regularizer
        self.perturbation = perturbation
        self.weights = list(supernet.weight_parameters())
        self.arch = list(supernet.arch_parameters())
        beta_ids = {id(p) for p in beta_params}
        self.beta_params = [p for p in self.arch if id(p) in beta_ids]
        self.alpha_params = [p for p in self.arch if id(p) not in beta_ids]

    # ------------------------------------------------------------------ interface
    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        """Set every scheduled constant for epoch `epoch` (0-based) of a stage of `epochs`; return them."""
        values: dict[str, float] = {}
        for part in (self.net, self.regularizer, self.perturbation):
            hook = getattr(part, "begin_epoch", None)
            if hook is not None:
                values.update(hook(epoch, epochs) or {})
        return values

    def step(self, train_batch: Batch, val_batch: Optional[Batch],
             beta_batch: Optional[Batch] = None) -> dict[str, float]:
        stats: dict[str, float] = {}
        if not self.warmup:
            stats.update(self.arch_step(train_batch, val_batch, beta_batch))
        stats.update(self.weight_step(train_batch))
        return stats

    def arch_step(self, train_batch: Batch, val_batch: Optional[Batch],
                  beta_batch: Optional[Batch] = None) -> dict[str, float]:
        self.a_optimizer.zero_grad(set_to_none=True)
        if beta_batch is None or not self.beta_params:
            stats = self.compute_arch_grads(train_batch, val_batch)
        else:
            stats = self._split_arch_grads(train_batch, val_batch, beta_batch)
        self._clip_arch()
        self.a_optimizer.step()
        return stats

    def _split_arch_grads(self, train_batch: Batch, val_batch: Optional[Batch],
                          beta_batch: Batch) -> dict[str, float]:
        """The method's own gradient, computed twice: for the alphas on `val_batch`, for the betas on
        `beta_batch` (each group differentiates only its own objective; one Adam step then moves both)."""
        everything = self.arch
        try:
            self.arch = self.alpha_params
            stats = self.compute_arch_grads(train_batch, val_batch)
            self.arch = self.beta_params
            beta_stats = self.compute_arch_grads(train_batch, beta_batch)
        finally:
            self.arch = everything
        stats.update({f"beta_{k}" if k.startswith("val_") else k: v for k, v in beta_stats.items()})
        return stats

    def compute_arch_grads(self, train_batch: Batch, val_batch: Optional[Batch]) -> dict[str, float]:
        """Fill `.grad` of the architecture parameters; return statistics."""
        raise NotImplementedError

    def weight_step(self, batch: Batch) -> dict[str, float]:
        x, y = batch[0], batch[1]
        offsets = None
        if self.perturbation is not None:
            offsets = {t: o.detach() for t, o in self.perturbation.offsets(self, batch).items()}
        self.w_optimizer.zero_grad(set_to_none=True)
        with self.net.weight_offsets(offsets) if offsets is not None else contextlib.nullcontext():
            logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        torch.autograd.backward(loss, inputs=self.weights)
        self._clip_weights()
        self.w_optimizer.step()
        return {"train_loss": float(loss.detach()), "train_acc": _accuracy(logits.detach(), y)}

    # ------------------------------------------------------------------ helpers
    def _regularizer(self) -> Optional[torch.Tensor]:
        reg = getattr(self.net, "topology_regularizer", lambda: None)()
        if reg is None or self.topology_reg == 0:
            return None
        return reg

    def _arch_objective(self, loss: torch.Tensor, stats: dict[str, float]) -> torch.Tensor:
        reg = self._regularizer()
        if reg is not None:
            stats["topology_reg"] = float(reg.detach())
            loss = loss + self.topology_reg * reg
        if self.regularizer is not None:
            extra = self.regularizer(self.net)
            stats["arch_reg"] = float(extra.detach())
            loss = loss + extra
        return loss

    def _step_both(self) -> None:
        """One-pass strategies: weight and arch gradients are both in place; clip and step each."""
        self._clip_weights()
        self._clip_arch()
        self.a_optimizer.step()
        self.w_optimizer.step()

    def _clip_weights(self) -> None:
        if self.grad_clip:
            nn.utils.clip_grad_norm_(self.weights, self.grad_clip)

    def _clip_arch(self) -> None:
        if self.arch_grad_clip:
            nn.utils.clip_grad_norm_(self.arch, self.arch_grad_clip)

    def _set_arch_grads(self, grads: Sequence[torch.Tensor]) -> None:
        for p, g in zip(self.arch, grads):
            p.grad = g.detach().clone() if p.grad is None else p.grad + g.detach()


class FirstOrder(ArchStrategy):
    """DARTS first order: the architecture gradient of L_val at the current weights."""

    name = "first_order"

    def compute_arch_grads(self, train_batch: Batch, val_batch: Optional[Batch]) -> dict[str, float]:
        xv, yv = _need(val_batch, self.name)
        logits = self.net(xv)
        loss = F.cross_entropy(logits, yv)
        stats = {"val_loss": float(loss.detach()), "val_acc": _accuracy(logits.detach(), yv)}
        objective = self._arch_objective(loss, stats)
        self._set_arch_grads(_grads(objective, self.arch))
        return stats


class SecondOrder(ArchStrategy):
    """DARTS second order (unrolled) with the finite-difference Hessian-vector product.

    xi      inner step size; None = the weight optimizer's current lr (DARTS)
    unroll  "optimizer": w' is the weight optimizer's next SGD step (momentum buffer, weight
            decay), as DARTS computes it; "sgd": w' = w - xi * grad
    r       eps = r / ||grad_w' L_val|| (DARTS: 0.01)

    The extra forward passes (at w' and w +- eps v) must not move the BatchNorm running
    statistics, so they are saved and restored around the architecture step.
    """

    name = "second_order"

    def __init__(self, *args: Any, xi: Optional[float] = None, unroll: str = "optimizer",
                 r: float = 0.01, **kw: Any):
        super().__init__(*args, **kw)
        if unroll not in ("optimizer", "sgd"):
            raise ZooError(f"second_order: unknown unroll {unroll!r} (use 'optimizer' or 'sgd')")
        self.xi = xi
        self.unroll = unroll
        self.r = r

    def current_xi(self) -> float:
        return float(self.w_optimizer.param_groups[0]["lr"]) if self.xi is None else float(self.xi)

    def _optimizer_direction(self, grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The update direction of the weight optimizer's next step (before the lr)."""
        if self.unroll == "sgd":
            return list(grads)
        group_of = {}
        for group in self.w_optimizer.param_groups:
            for p in group["params"]:
                group_of[id(p)] = group
        out = []
        for p, g in zip(self.weights, grads):
            group = group_of.get(id(p), {})
            d = g
            wd = group.get("weight_decay", 0.0) or 0.0
            if wd:
                d = d + wd * p.detach()
            mu = group.get("momentum", 0.0) or 0.0
            buf = self.w_optimizer.state.get(p, {}).get("momentum_buffer") if mu else None
            if mu and group.get("nesterov"):
                # torch's SGD: buf' = mu buf + d (buf' = d on the first step), then steps by d + mu buf'
                d = d + mu * (d if buf is None else mu * buf + d)
            elif buf is not None:
                d = d + mu * buf
            out.append(d)
        return out

    def compute_arch_grads(self, train_batch: Batch, val_batch: Optional[Batch]) -> dict[str, float]:
        # A finite difference in half precision would be noise: the unrolled passes run at the
        # weights' own precision even inside an autocast region.
        device = self.weights[0].device if self.weights else torch.device("cpu")
        with torch.autocast(device_type=device.type, enabled=False):
            return self._unrolled_arch_grads(train_batch, val_batch)

    def _unrolled_arch_grads(self, train_batch: Batch, val_batch: Optional[Batch]) -> dict[str, float]:
        xt, yt = train_batch[0], train_batch[1]
        xv, yv = _need(val_batch, self.name)
        xi = self.current_xi()
        buffers = [b.detach().clone() for b in self.net.buffers()]
        backup = [p.detach().clone() for p in self.weights]
        try:
            # w' = w - xi * direction(grad_w L_train(w, a))
            g_train = _grads(F.cross_entropy(self.net(xt), yt), self.weights)
            direction = self._optimizer_direction(g_train)
            with torch.no_grad():
                for p, d in zip(self.weights, direction):
                    p.sub_(xi * d)
            logits = self.net(xv)
            loss = F.cross_entropy(logits, yv)
            stats = {"val_loss": float(loss.detach()), "val_acc": _accuracy(logits.detach(), yv)}
            objective = self._arch_objective(loss, stats)
            g = _grads(objective, self.arch + self.weights)
            g_arch, v = g[: len(self.arch)], g[len(self.arch):]
            self._restore(backup)
            hvp = self.hessian_vector_product(v, (xt, yt))
            grads = [ga - xi * h for ga, h in zip(g_arch, hvp)]
        finally:
            self._restore(backup)
            with torch.no_grad():
                for b, saved in zip(self.net.buffers(), buffers):
                    b.copy_(saved)
        self._set_arch_grads(grads)
        return stats

    def hessian_vector_product(self, vector: Sequence[torch.Tensor], batch: Batch) -> list[torch.Tensor]:
        """grad^2_{a,w} L_train(w, a) . vector by central differences at the current weights."""
        norm = torch.sqrt(sum((v.detach() ** 2).sum() for v in vector))
        if float(norm) == 0.0:
            return [torch.zeros_like(a) for a in self.arch]
        eps = self.r / norm
        x, y = batch[0], batch[1]
        with torch.no_grad():
            for p, v in zip(self.weights, vector):
                p.add_(eps * v)
        # Both passes draw the same dropout masks (skip dropout): the difference must see w only.
        device = self.weights[0].device if self.weights else torch.device("cpu")
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            g_plus = _grads(F.cross_entropy(self.net(x), y), self.arch)
        with torch.no_grad():
            for p, v in zip(self.weights, vector):
                p.sub_(2 * eps * v)
        g_minus = _grads(F.cross_entropy(self.net(x), y), self.arch)
        with torch.no_grad():
            for p, v in zip(self.weights, vector):
                p.add_(eps * v)
        return [(gp - gm) / (2 * eps) for gp, gm in zip(g_plus, g_minus)]

    def _restore(self, backup: Sequence[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, b in zip(self.weights, backup):
                p.copy_(b)


class OneLevel(ArchStrategy):
    """Weights and architecture on the same training batch with one backward pass; the
    validation batch is not used."""

    name = "one_level"

    def step(self, train_batch: Batch, val_batch: Optional[Batch] = None,
             beta_batch: Optional[Batch] = None) -> dict[str, float]:
        if self.warmup:
            return self.weight_step(train_batch)
        if beta_batch is not None:
            raise ZooError("one_level: steps the architecture on the training batch; it has no use for a "
                           "separate betas' batch (drop beta_split)")
        x, y = train_batch[0], train_batch[1]
        self.w_optimizer.zero_grad(set_to_none=True)
        self.a_optimizer.zero_grad(set_to_none=True)
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        stats = {"train_loss": float(loss.detach()), "train_acc": _accuracy(logits.detach(), y)}
        objective = self._arch_objective(loss, stats)
        torch.autograd.backward(objective, inputs=self.weights + self.arch)
        self._step_both()
        return stats

    def compute_arch_grads(self, train_batch: Batch, val_batch: Optional[Batch]) -> dict[str, float]:
        x, y = train_batch[0], train_batch[1]
        loss = F.cross_entropy(self.net(x), y)
        stats: dict[str, float] = {}
        self._set_arch_grads(_grads(self._arch_objective(loss, stats), self.arch))
        return stats


class MixedLevel(ArchStrategy):
    """MiLeNAS: alpha's gradient is lam_train * grad L_train + lam * grad L_val, both at the current
    weights (first order).

    Step order (default, the MiLeNAS authors' search loop): the alphas take their Adam step first
    (one L_train and one L_val pass, gradients for the alphas only); then a fresh forward and
    backward of L_train at the updated alphas gives the weight gradient, and the weights take
    their SGD step. Three forward passes per step, so BatchNorm's running statistics see three
    batches.

    one_pass=True   the package's cheaper variant: the weight gradient comes from the same L_train
                    pass as the alphas' training gradient (at the alphas before their update) and
                    both optimizers step together: two forward passes per step. The weights then
                    differ from the default after one step, the alphas after a few.
    lam, lam_train  weights of the L_val and L_train terms (the authors' code scales L_train by its
                    lambda and leaves L_val unscaled; with the published lambda = 1 the two agree)
    """

    name = "mixed_level"

    def __init__(self, *args: Any, lam: float = 1.0, lam_train: float = 1.0, one_pass: bool = False,
                 **kw: Any):
        super().__init__(*args, **kw)
        self.lam = lam
        self.lam_train = lam_train
        self.one_pass = bool(one_pass)

    def step(self, train_batch: Batch, val_batch: Optional[Batch],
             beta_batch: Optional[Batch] = None) -> dict[str, float]:
        if self.warmup:
            return self.weight_step(train_batch)
        if not self.one_pass:
            # arch_step (train and val passes, alphas only), then weight_step (a fresh train pass).
            return super().step(train_batch, val_batch, beta_batch)
        if beta_batch is not None:
            raise ZooError("mixed_level one_pass: alphas and betas share one pass; drop one_pass or beta_split")
        x, y = train_batch[0], train_batch[1]
        xv, yv = _need(val_batch, self.name)
        self.w_optimizer.zero_grad(set_to_none=True)
        self.a_optimizer.zero_grad(set_to_none=True)
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        g = _grads(loss, self.weights + self.arch)
        for p, gw in zip(self.weights, g[: len(self.weights)]):
            p.grad = gw
        self._set_arch_grads([self.lam_train * ga for ga in g[len(self.weights):]])
        stats = {"train_loss": float(loss.detach()), "train_acc": _accuracy(logits.detach(), y)}
        logits_v = self.net(xv)
        loss_v = F.cross_entropy(logits_v, yv)
        stats.update(val_loss=float(loss_v.detach()), val_acc=_accuracy(logits_v.detach(), yv))
        objective = self._arch_objective(self.lam * loss_v, stats)
        self._set_arch_grads(_grads(objective, self.arch))
        self._step_both()
        return stats

    def compute_arch_grads(self, train_batch: Batch, val_batch: Optional[Batch]) -> dict[str, float]:
        x, y = train_batch[0], train_batch[1]
        xv, yv = _need(val_batch, self.name)
        g_t = _grads(F.cross_entropy(self.net(x), y), self.arch)
        logits_v = self.net(xv)
        loss_v = F.cross_entropy(logits_v, yv)
        stats = {"val_loss": float(loss_v.detach()), "val_acc": _accuracy(logits_v.detach(), yv)}
        g_v = _grads(self._arch_objective(self.lam * loss_v, stats), self.arch)
        self._set_arch_grads([self.lam_train * a + b for a, b in zip(g_t, g_v)])
        return stats


def _need(batch: Optional[Batch], name: str) -> Batch:
    if batch is None:
        raise ZooError(f"{name}: this strategy needs a validation batch (pass step(train_batch, val_batch))")
    return batch


STRATEGIES: Registry[type[ArchStrategy]] = Registry("search strategy")
STRATEGIES.register("first_order", "first", "darts_1st")(FirstOrder)
STRATEGIES.register("second_order", "second", "unrolled", "darts_2nd")(SecondOrder)
STRATEGIES.register("one_level", "onelevel")(OneLevel)
STRATEGIES.register("mixed_level", "milenas", "mixed")(MixedLevel)


def make_strategy(name: str, supernet: nn.Module, w_optimizer: torch.optim.Optimizer,
                  a_optimizer: torch.optim.Optimizer, **kw: Any) -> ArchStrategy:
    """first_order | second_order | one_level | mixed_level (aliases: first, second, unrolled,
    milenas, ...); keyword options go to the strategy (grad_clip, arch_grad_clip, topology_reg,
    warmup, beta_params, regularizer, perturbation, and xi / unroll / r for second_order, lam / lam_train / one_pass for mixed_level)."""
    return STRATEGIES.get(name)(supernet, w_optimizer, a_optimizer, **kw)
