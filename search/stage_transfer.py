"""What a stage hands to the next one: its alphas, its trained weights and the optimizers' state,
as DrNAS' progressive search does (Chen et al., 'DrNAS: Dirichlet Neural Architecture Search',
ICLR 2021, arXiv:2006.10355, sec. 2.4: "progressive learning").

Between its two stages the DrNAS authors' code (xiangning-chen/DrNAS, DARTS-space/train_search.py,
net2wider.py, operations.py `wider`) keeps stage 1's supernet and

  * widens every op from C/6 to C/4 channels: each widened tensor keeps its old channels and
    appends copies of randomly chosen old ones (the random mapping of Net2WiderNet: Chen,
    Goodfellow, Shlens, 'Net2Net: Accelerating Learning via Knowledge Transfer', arXiv:1511.05641;
    without its 1/count rescaling of the copied inputs, so the widened op is not the same
    function); batch-norm running statistics are copied the same way;
  * gives the new SGD the old momentum buffers, widened with the same channel choice
    (`configure_optimizer`), and keeps the lr schedule (`lr_spans_stages` here);
  * keeps the architecture's Adam and the surviving ops' alphas, so their moments and step count
    continue (`carry_alphas`).

`carry_weights` and `carry_alphas` do the same on the engine's supernets. Pruned ops are dropped here (the next
stage builds only the kept ops; the authors keep the modules and give them weight 0). The
authors draw a new random index for every layer pair of an op; here one random map per op and
channel count is drawn, so a copied channel reads the same old channel in every layer of the op.
Both are random maps from one seeded stream, neither reproducible bit for bit against the other.
"""

from __future__ import annotations

from typing import Iterator, Optional

import torch
import torch.nn as nn

from zoo.errors import ZooError

from .partial_channels import PartialChannels

ChannelMaps = dict[tuple[int, int], torch.Tensor]


def channel_map(old: int, new: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Indices 0..old-1, then new - old draws from them: new channel i reads old channel map[i]."""
    extra = torch.randint(0, old, (new - old,), generator=generator)
    return torch.cat([torch.arange(old), extra])


def widen(old: torch.Tensor, shape: torch.Size, maps: ChannelMaps, generator: Optional[torch.Generator] = None,
          where: str = "tensor") -> torch.Tensor:
    """`old` grown to `shape`: every dimension that grew reads through the map of its (old, new)
    size (drawn once per op and size, into `maps`); equal dimensions are kept."""
    if old.dim() != len(shape):
        raise ZooError(f"carry_weights: {where} has {old.dim()} dimensions in the previous stage, {len(shape)} now")
    out = old
    for d, (a, b) in enumerate(zip(old.shape, shape)):
        if a == b:
            continue
        if b < a:
            raise ZooError(f"carry_weights: {where} shrinks from {a} to {b} channels; a later stage may only "
                           "widen its ops (K of partial channels must not grow)")
        if (a, b) not in maps:
            maps[(a, b)] = channel_map(a, b, generator)
        out = out.index_select(d, maps[(a, b)].to(out.device))
    return out


def _mixed_ops(net: nn.Module) -> Iterator[tuple[tuple[int, int], str, nn.Module]]:
    """((cell, edge), module path, MixedOp) of every edge; partial channels' wrapper unwrapped."""
    for i, cell in enumerate(net.cells):
        for e, edge in enumerate(cell.edges):
            inner = edge.mixed if isinstance(edge, PartialChannels) else edge
            yield (i, e), f"cells.{i}.edges.{e}" + (".mixed" if inner is not edge else ""), inner


def source_names(previous: nn.Module, current: nn.Module) -> dict[str, tuple[str, Optional[tuple]]]:
    """{name in current's state: (name in previous' state, the op it belongs to or None)} for every
    tensor but the architecture parameters. An op's tensors come from the op of the same name on the
    same edge; the rest (stem, preprocessing, head) from the same name."""
    if len(previous.cells) != len(current.cells):
        raise ZooError(f"carry_weights: the previous stage has {len(previous.cells)} cells, this one "
                       f"{len(current.cells)}; weights carry only between stages of equal depth")
    old_ops = {key: (path, m) for key, path, m in _mixed_ops(previous)}
    prefixes = {}
    for key, path, mixed in _mixed_ops(current):
        old_path, old_mixed = old_ops[key]
        for j, op in enumerate(mixed.candidates):
            if op not in old_mixed.candidates:
                raise ZooError(f"carry_weights: op {op!r} of cell {key[0]} edge {key[1]} was not in the previous "
                               "stage; a later stage may only keep ops")
            prefixes[f"{path}.ops.{j}."] = (f"{old_path}.ops.{old_mixed.candidates.index(op)}.", key + (op,))
        if mixed.aux is not None and old_mixed.aux is not None:
            prefixes[f"{path}.aux."] = (f"{old_path}.aux.", key + ("aux",))
    arch = {name for name, p in current.named_parameters() if any(p is q for q in current.arch_parameters())}
    out = {}
    for name in current.state_dict():
        if name in arch:
            continue
        hit = next((p for p in prefixes if name.startswith(p)), None)
        out[name] = (name, None) if hit is None else (prefixes[hit][0] + name[len(hit):], prefixes[hit][1])
    return out


def carry_weights(previous: nn.Module, current: nn.Module, previous_opt: Optional[torch.optim.Optimizer] = None,
                  current_opt: Optional[torch.optim.Optimizer] = None,
                  generator: Optional[torch.Generator] = None) -> int:
    """Copy `previous`' weights and buffers into `current` (the next stage's supernet), widening the
    ops' channels, and the SGD momentum buffers of `previous_opt` into `current_opt` through the same
    channel maps. Returns the number of tensors copied."""
    names = source_names(previous, current)
    old_state, new_state = previous.state_dict(), current.state_dict()
    old_params, new_params = dict(previous.named_parameters()), dict(current.named_parameters())
    maps: dict[Optional[tuple], ChannelMaps] = {}
    with torch.no_grad():
        for name, (old_name, op) in names.items():
            if old_name not in old_state:
                raise ZooError(f"carry_weights: {name} has no counterpart {old_name} in the previous stage")
            target = new_state[name]
            if op is None and old_state[old_name].shape != target.shape:
                raise ZooError(f"carry_weights: {name} is {tuple(old_state[old_name].shape)} in the previous stage, "
                               f"{tuple(target.shape)} now; only the ops' channels may change")
            op_maps = maps.setdefault(op, {})
            target.copy_(widen(old_state[old_name], target.shape, op_maps, generator, name))
            if previous_opt is None or current_opt is None or name not in new_params:
                continue
            buf = previous_opt.state.get(old_params[old_name], {}).get("momentum_buffer")
            if buf is not None:
                current_opt.state[new_params[name]]["momentum_buffer"] = widen(buf, target.shape, op_maps, generator,
                                                                               name).clone()
    return len(names)


def kept_columns(previous: nn.Module, current: nn.Module, cell_type: str) -> list[list[int]]:
    """Per edge of `cell_type`: the previous stage's alpha column of each op the current stage kept."""
    out = []
    for e, (before, now) in enumerate(zip(previous.edge_candidates[cell_type], current.edge_candidates[cell_type])):
        missing = next((op for op in now if op not in before), None)
        if missing is not None:
            raise ZooError(f"carry_alphas: op {missing!r} of edge {e} ({cell_type}) was not searched in the "
                           "previous stage; a later stage may only keep ops")
        out.append([before.index(op) for op in now])
    return out


def _copy_columns(dst: torch.Tensor, src: torch.Tensor, columns: list[list[int]]) -> torch.Tensor:
    for e, cols in enumerate(columns):
        dst[e, :len(cols)] = src[e, cols]
    return dst


def carry_alphas(previous: nn.Module, current: nn.Module, previous_opt: Optional[torch.optim.Optimizer] = None,
                 current_opt: Optional[torch.optim.Optimizer] = None) -> None:
    """Start `current` (the next stage's supernet) from `previous`' alphas of the ops it kept, as DrNAS'
    progressive search keeps the surviving ops' alphas (the authors' `prune`; P-DARTS starts each
    stage's alphas afresh), and, given both architecture optimizers, continue their Adam state:
    step count and the moments of the kept ops (DrNAS keeps one architecture optimizer over its
    stages); entries a ragged edge does not have start at 0. Edges and cell types match by position
    and name."""
    for t, alpha in current.alphas.items():
        columns = kept_columns(previous, current, t)
        with torch.no_grad():
            _copy_columns(alpha, previous.alphas[t], columns)
        old = previous_opt.state.get(previous.alphas[t]) if previous_opt is not None else None
        if not old or current_opt is None:
            continue  # no architecture step yet (a stage of weight-only epochs), or no optimizers given
        state = {"step": old["step"].clone() if torch.is_tensor(old["step"]) else old["step"]}
        for key in (k for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if k in old):
            state[key] = _copy_columns(torch.zeros_like(alpha), old[key], columns)
        current_opt.state[alpha] = state
