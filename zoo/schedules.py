"""Learning-rate schedules of the DARTS family that torch does not ship.

Cosine Power Annealing (sharpDARTS, Hundt, Jain, Hager, arXiv:1903.09900, eq. 2):

    lr(t) = lr_min + (lr_max - lr_min) * (p ** (0.5 * (1 + cos(pi t / T)) + 1) - p) / (p ** 2 - p)

p = 1 is plain cosine annealing (the paper's eq. 1; eq. 2 is 0/0 there), p <= 0 is an error. The
paper trains with p = 2 on CIFAR-10 and p = 10 on ImageNet.

Warm-up (`warmup` epochs W, the sharpDARTS authors' search and training scripts use 5): epoch t < W
runs at lr_min + (lr_max - lr_min) (t + 1) / W, a linear ramp that reaches lr_max at epoch W - 1;
from epoch W on, eq. 2 anneals over the remaining epochs, at t - W of epochs - W. The training recipes and anything
else that needs the schedule use this one implementation.
"""

from __future__ import annotations

import math
from typing import Callable

import torch


def cosine_power_annealing(epoch: float, epochs: float, lr_max: float, lr_min: float = 0.0,
                           p: float = 2.0, warmup: int = 0) -> float:
    """The learning rate at `epoch` (from 0) of `epochs` (sharpDARTS eq. 2), after `warmup` ramp epochs."""
    if warmup > 0:
        if warmup >= epochs:
            raise ValueError(f"cosine power annealing: warm-up {warmup} leaves no epoch of {epochs} to anneal")
        if epoch < warmup:
            return lr_min + (lr_max - lr_min) * (epoch + 1) / warmup
        epoch, epochs = epoch - warmup, epochs - warmup
    cos = 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    if p == 1.0:
        return lr_min + (lr_max - lr_min) * cos
    if p <= 0.0:
        raise ValueError(f"cosine power annealing needs p > 0, got {p}")
    return lr_min + (lr_max - lr_min) * (p ** (cos + 1.0) - p) / (p ** 2 - p)


def cosine_power_lambda(epochs: int, lr_max: float, lr_min: float = 0.0,
                        p: float = 2.0, warmup: int = 0) -> Callable[[int], float]:
    """A multiplier for `torch.optim.lr_scheduler.LambdaLR` (the optimizer's lr must be lr_max)."""
    return lambda epoch: cosine_power_annealing(epoch, epochs, lr_max, lr_min, p, warmup) / lr_max


def cosine_power_scheduler(optimizer: torch.optim.Optimizer, epochs: int, lr_min: float = 0.0,
                           p: float = 2.0, warmup: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-epoch LambdaLR from the optimizer's lr down to `lr_min` (call .step() after each epoch)."""
    lr_max = optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_power_lambda(epochs, lr_max, lr_min, p, warmup))
