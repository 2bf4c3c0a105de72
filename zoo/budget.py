"""Bounds before work: what a network will cost, estimated from its genotype and sizes before it
is built, and refused in one line (a `ZooError`) when it cannot be built in reasonable time or
cannot train on this machine.

    estimate_network(g, "cifar", layers=20, channels=36)   # Estimate(cells, ops, params, activations)
    check_network(g, "cifar", layers=3000)                  # ZooError: more than 256 cells ...

`zoo.models` calls `check_network` right before it builds a network, so `timm.create_model`,
`zoo.create_model` and `darts-zoo show` all refuse, in milliseconds, what would take minutes to
build or more memory than the machine has.

The estimate (docs/genotype-schema.md, "Limits"):

- **Parameters**, exactly as built: the stem, each cell's two preprocess layers and its ops, the
  classifier and the auxiliary head. The widths follow the compiler (C doubles at each reduction,
  a cell outputs `len(concat) * C`); each distinct op (op set builder, width, stride, options) is
  built once on the `meta` device, which allocates nothing, to count its parameters and layers.
- **Activations** kept for the backward pass of one image in training: each op keeps about one
  tensor per layer (ReLU, conv, BN) at the cell's output resolution and at its widest width, and
  each cell keeps its two preprocessed inputs (3 layers each), its node sums and its concat.
- **Recompute** (`recompute="cell"`, zoo.network): only each cell's output stays stored, and one
  cell's activations at a time are rebuilt in the backward pass, so the activations are the stem's,
  the cell outputs, and the largest cell's.
- **Bytes**: 4 per value (float32), parameters 3 times (weights, gradients, SGD momentum), plus the
  activations times the batch. Compared with the machine's RAM (the build happens on the CPU), or
  with a CUDA device's memory when `device` is one.
"""

from __future__ import annotations

import functools
import math
import os
import reprlib
from dataclasses import dataclass
from typing import Any, Optional

import torch

from .errors import ZooError
from .genotype import MAX_LAYERS, NUM_CELL_INPUTS, Genotype
from .ops import get_op_set
from .runtime import first_line

# Ops (edges) in a whole network; building costs about a millisecond per op (pdarts_3b at 256
# layers has 1,536, darts_v2 3,584).
MAX_NETWORK_OPS = 8192
BYTES_PER_VALUE = 4
PARAM_COPIES = 3  # weights, gradients, SGD momentum
# The input a family's networks are built for (as zoo.counting.INPUT_SIZES counts them).
IMAGE_SIZES = {"cifar": 32, "imagenet": 224}


@dataclass(frozen=True)
class Estimate:
    cells: int
    ops: int
    params: int
    activations: int  # values kept for the backward pass of one image
    recomputed: int = 0  # the same when each cell is recomputed (recompute="cell"); 0: not estimated

    def stored(self, recompute: str = "none") -> int:
        """Activation values kept per image under a recompute mode of zoo.network."""
        return self.recomputed if recompute == "cell" and self.recomputed else self.activations

    def bytes(self, batch: int = 1, recompute: str = "none") -> int:
        return BYTES_PER_VALUE * (PARAM_COPIES * self.params + batch * self.stored(recompute))


def memory_limit(device: Any = None) -> Optional[int]:
    """Bytes of memory the network must fit in: a CUDA device's total memory, else the machine's
    RAM; None when it cannot be told."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return None
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return int(torch.cuda.get_device_properties(index).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MiB"


def _whole(value: Any, low: int = 1) -> Optional[int]:
    """A whole number as the network's keyword checks read it (20, 20.0, "20"), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("+").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= low else None


@functools.lru_cache(maxsize=4096)
def _op_cost(builder: Any, channels: int, stride: int, options: tuple) -> tuple[int, int, int]:
    """(parameters, layers, widest output channels) of one op, built on the meta device."""
    with torch.device("meta"):
        module = builder(channels, stride, True, **dict(options))
    params = sum(p.numel() for p in module.parameters())
    leaves = sum(1 for m in module.modules() if next(m.children(), None) is None)
    widest = max((m.out_channels for m in module.modules() if isinstance(getattr(m, "out_channels", None), int)),
                 default=0)
    return params, leaves, widest


def _op(ops: Any, name: str, channels: int, stride: int, options: dict[str, Any], where: str) -> tuple[int, int, int]:
    merged = {**ops.options, **options}
    builder = ops.builders[name]
    try:
        try:
            key = tuple(sorted(merged.items()))
            hash(key)
        except TypeError:  # an unhashable option value: measured, not cached
            return _op_cost.__wrapped__(builder, channels, stride, tuple(merged.items()))
        return _op_cost(builder, channels, stride, key)
    except ZooError:
        raise
    except Exception as e:  # noqa: BLE001 - a builder that cannot even shape its layers cannot be built
        shown = ", ".join(f"{k}={_short(v)}" for k, v in options.items())
        raise ZooError(f"{where}: op {name!r} cannot be built at {channels} channels"
                       f"{' with ' + shown if shown else ''} ({type(e).__name__}: {first_line(e, 120)}); "
                       "check the op options and the network's channels") from None


def _short(value: Any) -> str:
    try:
        text = reprlib.repr(value)
    except Exception:  # noqa: BLE001 - e.g. an int beyond Python's digit limit
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


def estimate_network(genotype: Genotype, family: str = "cifar", **kwargs: Any) -> Optional[Estimate]:
    """The cost of `DartsNetwork(genotype, family, **kwargs)` without building it, or None when a
    keyword is not a valid size (the network's own checks report that). Refuses more than
    MAX_LAYERS cells or MAX_NETWORK_OPS ops with a ZooError: those are not estimated at all."""
    preset = genotype.preset(family)
    where = f"{genotype.name} ({family})"
    layers = _whole(preset.layers if kwargs.get("layers") is None else kwargs["layers"])
    channels = _whole(preset.channels if kwargs.get("channels") is None else kwargs["channels"])
    stem_multiplier = _whole(kwargs.get("stem_multiplier") or preset.stem_multiplier)
    in_chans = _whole(kwargs.get("in_chans", 3))
    num_classes = _whole(kwargs.get("num_classes", 10 if family == "cifar" else 1000), low=0)
    if None in (layers, channels, stem_multiplier, in_chans, num_classes) or family not in IMAGE_SIZES:
        return None
    if layers > MAX_LAYERS:
        raise ZooError(f"{where}: layers = {layers}: more than the {MAX_LAYERS} cells darts-zoo builds "
                       f"(building them would take minutes; published networks have 8-26; use at most {MAX_LAYERS})")
    if layers < genotype.num_reductions + 1 or not genotype.cells:
        return None
    try:
        ops = get_op_set(kwargs.get("op_set") or genotype.op_set)
    except KeyError:
        return None
    if any(edge.op not in ops.builders for cell in genotype.cells.values() for _, edge in cell.edges):
        return None  # an op the op set lacks: the network's validation names it
    plan = genotype.cell_plan(layers)
    edges = {name: len(cell.edges) for name, cell in genotype.cells.items()}
    total_ops = sum(edges[name] for name in plan)
    if total_ops > MAX_NETWORK_OPS:
        raise ZooError(f"{where}: {layers} layers of these cells hold {total_ops} ops, more than the "
                       f"{MAX_NETWORK_OPS} darts-zoo builds (about a second per thousand); use fewer layers "
                       "or cells with fewer edges")
    options = {**genotype.op_options, **{k: v for k, v in kwargs.items() if k in ops.options}}
    use_aux = preset.auxiliary if kwargs.get("auxiliary") is None else bool(kwargs["auxiliary"])
    count = functools.partial(_count, genotype, family, plan, ops, options, layers, channels,
                              stem_multiplier, in_chans, num_classes, use_aux, where)
    # First what needs no op at all (stem, preprocess layers, heads): when that alone is beyond any
    # machine (over a PiB), it is the estimate; ops at such widths cannot even be shaped on `meta`.
    without_ops = Estimate(len(plan), total_ops, *count(with_ops=False))
    if without_ops.bytes() > 2 ** 50:
        return without_ops
    return Estimate(len(plan), total_ops, *count(with_ops=True))


def _count(g: Genotype, family: str, plan: list[str], ops: Any, options: dict[str, Any], layers: int, c: int,
           stem_multiplier: int, in_chans: int, num_classes: int, use_aux: bool, where: str,
           with_ops: bool) -> tuple[int, int, int]:
    """(parameters, activation values, activation values when each cell is recomputed) of the
    network the compiler (zoo.network) would build."""
    size = IMAGE_SIZES[family]
    if family == "imagenet":
        half = c // 2
        params = in_chans * half * 9 + 2 * half + half * c * 9 + 2 * c + c * c * 9 + 2 * c
        s2, s4, s8 = (math.ceil(size / k) for k in (2, 4, 8))
        activations = 3 * half * s2 * s2 + 3 * c * s4 * s4 + 2 * c * s8 * s8
        c_pp = c_p = c
        reduction_prev, h = True, s8
    else:
        width = stem_multiplier * c
        params = in_chans * width * 9 + 2 * width
        activations = 2 * width * size * size
        c_pp = c_p = width
        reduction_prev, h = False, size
    stem_activations, outputs, largest_cell = activations, 0, 0
    last_reduction = max(i for i, name in enumerate(plan) if g.cells[name].reduction)
    c_curr, c_aux = c, c
    for i, name in enumerate(plan):
        cell = g.cells[name]
        if cell.reduction:
            c_curr *= 2
            h = math.ceil(h / 2)
        area = h * h
        before = activations
        # preprocess0 (a FactorizedReduce after a reduction: two 1x1 convs to C/2 each) and preprocess1
        params += (2 * c_pp * (c_curr // 2) if reduction_prev else c_pp * c_curr) + 2 * c_curr
        params += c_p * c_curr + 2 * c_curr
        activations += (6 + len(cell.nodes) + len(cell.concat)) * c_curr * area
        if with_ops:
            for _, edge in cell.edges:
                stride = 2 if cell.reduction and edge.input < NUM_CELL_INPUTS else 1
                p, leaves, widest = _op(ops, edge.op, c_curr, stride, options, where)
                params += p
                activations += max(leaves, 1) * max(c_curr, widest) * area
        largest_cell = max(largest_cell, activations - before)
        outputs += len(cell.concat) * c_curr * area
        reduction_prev = cell.reduction
        c_pp, c_p = c_p, len(cell.concat) * c_curr
        if i == last_reduction:
            c_aux = c_p
    if num_classes > 0:
        params += c_p * num_classes + num_classes
    if use_aux:
        params += c_aux * 128 + 2 * 128 + 128 * 768 * 4 + (2 * 768 if family == "cifar" else 0)
        params += 768 * num_classes + num_classes if num_classes > 0 else 0
    return params, activations, stem_activations + outputs + largest_cell


def check_network(genotype: Genotype, family: str = "cifar", device: Any = None, batch: int = 1,
                  **kwargs: Any) -> Optional[Estimate]:
    """Refuse, before anything is built, a network with more than MAX_LAYERS cells or
    MAX_NETWORK_OPS ops, or one whose estimate (weights, gradients, momentum and one batch of
    activations) exceeds the memory of `device` (default: this machine's RAM). Returns the
    estimate, or None when a keyword is not a valid size (the network reports it)."""
    estimate = estimate_network(genotype, family, **kwargs)
    if estimate is None:
        return None
    limit = memory_limit(device)
    recompute = kwargs.get("recompute") or "none"
    need = estimate.bytes(batch, recompute)
    if limit is not None and need > limit:
        layers = kwargs.get("layers") or genotype.preset(family).layers
        channels = kwargs.get("channels") or genotype.preset(family).channels
        place = "this machine's" if device is None or torch.device(device).type != "cuda" else f"{device}'s"
        images = "one image" if batch == 1 else f"a batch of {batch}"
        raise ZooError(
            f"{genotype.name} ({family}, {layers} layers x {channels} channels): needs about {_gib(need)} to "
            f"train on {images} ({estimate.params / 1e6:,.1f}M parameters, "
            f"{_gib(BYTES_PER_VALUE * batch * estimate.stored(recompute))} of activations), more than "
            f"{place} {_gib(limit)} of memory (use fewer layers or channels)")
    return estimate
