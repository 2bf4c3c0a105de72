"""Data-parallel search under torchrun.

Each rank draws its own shard of every batch. Gradients of the weights AND of the architecture
parameters are averaged across ranks right before each optimizer step (`AllReduceOptimizer`), so
every rank applies the same update and the supernets and alphas stay identical without ever being
broadcast after the start. This is what DistributedDataParallel does for the weights; it is done at
the optimizer instead of inside `forward`, because the search strategies call the supernet directly
and the second-order strategy takes gradients with `torch.autograd.grad`, which DDP's backward
hooks do not see. BatchNorm running statistics (used only to report validation accuracy) are
broadcast from rank 0 before every checkpoint.
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch
import torch.distributed as dist

# The process group itself (joining it under torchrun, rank, world size) is zoo.runtime's, shared
# with training; this module holds what only the search needs on top of it.


def average_gradients(params: Iterable[torch.Tensor], world_size: int) -> None:
    """All-reduce (mean) the .grad of `params` in one flat buffer; parameters without a gradient
    on this step contribute zeros on every rank, so all ranks agree on which ones are updated."""
    params = [p for p in params]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    has = torch.tensor([1.0 if p.grad is not None else 0.0 for p in params], device=flat.device)
    flat = torch.cat([flat, has.to(flat.dtype)])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        avg = flat[offset:offset + n].view_as(g)
        offset += n
        p.grad = avg.clone()
    # A parameter with a gradient on no rank gets none back, as an undistributed step would.
    present = flat[offset:]
    for p, h in zip(params, present.tolist()):
        if h == 0.0:
            p.grad = None


class AllReduceOptimizer:
    """Wraps an optimizer: `step()` first averages its parameters' gradients across ranks.

    Everything else (param_groups, state, zero_grad, state_dict) is the wrapped optimizer's, so
    strategies and LR schedulers use it unchanged.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, world_size: int):
        self.__dict__["_inner"] = optimizer
        self.__dict__["_world"] = world_size

    def step(self, closure: Optional[callable] = None):
        params = [p for g in self._inner.param_groups for p in g["params"]]
        average_gradients(params, self._world)
        return self._inner.step(closure)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        setattr(self._inner, name, value)


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    for b in module.buffers():
        dist.broadcast(b.data, src)


def broadcast_parameters(module: torch.nn.Module, src: int = 0) -> None:
    for p in module.parameters():
        dist.broadcast(p.data, src)
