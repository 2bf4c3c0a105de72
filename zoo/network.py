"""Compile a Genotype into a trainable network with DARTS semantics and timm's model interface.

One class serves both dataset families; they differ only in the stem (CIFAR: one 3x3 conv at full
resolution; ImageNet: three stride-2 convs) and in the auxiliary head's pooling stride. Cell widths
follow DARTS: C doubles at each reduction, and a cell outputs `len(concat) * C` channels, which is
computed per cell type so that cells with different node counts (PDARTS-N3, stretchable cells)
chain correctly.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

import torch
import torch.nn as nn
from timm.layers import create_classifier, drop_path
from timm.models._features import feature_take_indices
from torch.utils.checkpoint import checkpoint

from .errors import ZooError
from .genotype import NUM_CELL_INPUTS, CellType, Genotype, validate_ops
from .ops import FactorizedReduce, OpSet, ReLUConvBN, get_op_set, is_identity
from .settings import NETWORK, SettingError

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
# Activation recomputation of the compiled network: "cell" stores only each cell's inputs and
# output and recomputes the cell's inside during the backward pass.
RECOMPUTE_MODES = ("none", "cell")


@contextlib.contextmanager
def _frozen_running_stats(module: nn.Module) -> Iterator[None]:
    """BatchNorm layers normalize by the batch as before but leave their running statistics and
    batch counter as they are: the recomputation must not count a batch twice. (Momentum 0 keeps
    the running values exactly; the counter is put back. Turning the statistics off instead would
    change which tensors autograd saves, which checkpointing refuses.)"""
    bns = [m for m in module.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(bns, saved):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


def recomputed(module: nn.Module, fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
    """`fn(*args)` whose intermediate activations are not stored but recomputed in the backward
    pass (torch.utils.checkpoint, non-reentrant). Results and gradients equal the plain call's:
    the RNG state (dropout, drop path) is replayed and `module`'s BatchNorm running statistics are
    updated once, by the first pass. Without autograd (eval, no_grad) it is the plain call."""
    if not torch.is_grad_enabled():
        return fn(*args)
    return checkpoint(fn, *args, use_reentrant=False,
                      context_fn=lambda: (contextlib.nullcontext(), _frozen_running_stats(module)))


def check_recompute(mode: str, modes: tuple[str, ...] = RECOMPUTE_MODES, where: str = "network") -> str:
    if mode not in modes:
        raise ZooError(f"{where}: recompute {mode!r} is not one of {', '.join(modes)}")
    return mode


class Cell(nn.Module):
    """A compiled cell: preprocess both inputs to width C, run the edges, concat the nodes."""

    def __init__(self, cell: CellType, ops: OpSet, op_options: dict[str, Any],
                 c_prev_prev: int, c_prev: int, c: int, reduction_prev: bool):
        super().__init__()
        self.reduction = cell.reduction
        # After a reduction the k-2 input is at twice the resolution of the k-1 input.
        self.preprocess0 = (FactorizedReduce(c_prev_prev, c) if reduction_prev
                            else ReLUConvBN(c_prev_prev, c, 1))
        self.preprocess1 = ReLUConvBN(c_prev, c, 1)
        self.ops = nn.ModuleList()
        wiring = []
        for target, edge in cell.edges:
            stride = 2 if cell.reduction and edge.input < NUM_CELL_INPUTS else 1
            self.ops.append(ops.build(edge.op, c, stride, affine=True, **op_options))
            wiring.append((target, edge.input))
        self.wiring = tuple(wiring)
        self.num_states = NUM_CELL_INPUTS + len(cell.nodes)
        self.concat = tuple(cell.concat)
        self.out_channels = len(self.concat) * c
        self.recompute = False

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        if self.recompute and self.training:
            return recomputed(self, self._forward, s0, s1, drop_prob)
        return self._forward(s0, s1, drop_prob)

    def _forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states: list[Optional[torch.Tensor]] = [None] * self.num_states
        states[0] = self.preprocess0(s0)
        states[1] = self.preprocess1(s1)
        for op, (target, src) in zip(self.ops, self.wiring):
            h = op(states[src])
            if drop_prob > 0.0 and self.training and not is_identity(op):
                h = drop_path(h, drop_prob, self.training)
            prev = states[target]
            states[target] = h if prev is None else prev + h
        return torch.cat([states[i] for i in self.concat], dim=1)


@dataclass(frozen=True)
class StemInfo:
    width: int             # channels of both cell inputs after the stem
    reduction_prev: bool   # whether s0 is at twice s1's resolution (the first cell must reduce it)
    stride: int            # resolution of s1 relative to the input
    feature: dict          # the stem's feature_info entry


def add_stem(owner: nn.Module, family: str, in_chans: int, c: int, stem_multiplier: int = 3) -> StemInfo:
    """Attach a family's DARTS stem to `owner` (the compiled network and the supernet share it).
    CIFAR: one 3x3 conv at full resolution as `stem`, feeding both cell inputs. ImageNet: `stem0`
    (two stride-2 convs, input k-2) then `stem1` (one more, input k-1)."""
    if family == "imagenet":
        if c % 2:
            raise ZooError(f"ImageNet stems need an even channel count, got {c}; use channels={c + 1}")
        owner.stem0 = nn.Sequential(
            nn.Conv2d(in_chans, c // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c // 2, c, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c),
        )
        owner.stem1 = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c),
        )
        return StemInfo(c, True, 8, dict(num_chs=c, reduction=4, module="stem0"))
    width = stem_multiplier * c
    owner.stem = nn.Sequential(
        nn.Conv2d(in_chans, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
    )
    return StemInfo(width, False, 1, dict(num_chs=width, reduction=1, module="stem"))


def run_stem(owner: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two cell inputs (s0, s1) from a stem attached by `add_stem`."""
    if hasattr(owner, "stem0"):
        s0 = owner.stem0(x)
        return s0, owner.stem1(s0)
    s = owner.stem(x)
    return s, s


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier on the output of the last reduction cell (8x8 on CIFAR, 7x7 on
    ImageNet). The trailing adaptive pool is a no-op at those sizes and keeps other sizes working."""

    def __init__(self, channels: int, num_classes: int, imagenet: bool):
        super().__init__()
        layers = [
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
        ]
        if not imagenet:
            # The authors' ImageNet head has no BN here (their comment: omitted by a typo, kept for
            # consistency with the paper's experiments); their CIFAR head has one.
            layers.append(nn.BatchNorm2d(768))
        layers += [nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def check_network_arguments(genotype: Genotype, family: str = "cifar", **kwargs: Any) -> dict[str, Any]:
    """A network's keywords checked against their domain (zoo.settings.NETWORK) and the genotype,
    before anything is built; None values stay None (the preset's)."""
    given = dict(kwargs)
    given.update(NETWORK.check({k: v for k, v in kwargs.items() if v is not None}, genotype.name))
    layers = given.get("layers") or genotype.preset(family).layers
    if layers < genotype.num_reductions + 1:
        raise SettingError(f"{genotype.name}: layers (--layers) = {layers}: cannot hold {genotype.num_reductions} "
                           f"reductions and a normal cell; give at least {genotype.num_reductions + 1}")
    return given


class DartsNetwork(nn.Module):
    """A network of stacked cells compiled from a Genotype.

    `forward` returns logits (timm's contract). For training with the auxiliary loss, call
    `forward_train`, which returns `(logits, aux_logits)` (aux_logits is None when the auxiliary
    head is disabled).
    """

    def __init__(
        self,
        genotype: Genotype,
        family: str = "cifar",
        num_classes: int = 10,
        in_chans: int = 3,
        layers: Optional[int] = None,
        channels: Optional[int] = None,
        auxiliary: Optional[bool] = None,
        drop_path_rate: Optional[float] = None,
        drop_rate: float = 0.0,
        global_pool: str = "avg",
        stem_multiplier: Optional[int] = None,
        op_set: Optional[str] = None,
        recompute: str = "none",
        **op_options: Any,
    ):
        super().__init__()
        check_recompute(recompute, where=genotype.name)
        preset = genotype.preset(family)
        given = check_network_arguments(genotype, family, num_classes=num_classes, in_chans=in_chans, layers=layers,
                                        channels=channels, drop_path_rate=drop_path_rate, drop_rate=drop_rate,
                                        stem_multiplier=stem_multiplier, auxiliary=auxiliary)
        num_classes, in_chans, layers, channels = (given[k] for k in ("num_classes", "in_chans", "layers", "channels"))
        drop_path_rate, drop_rate, stem_multiplier, auxiliary = (
            given[k] for k in ("drop_path_rate", "drop_rate", "stem_multiplier", "auxiliary"))
        if op_set is not None and op_set != genotype.op_set:
            # e.g. DARTS+SSC: the DARTS V2 cell with every conv built as a SharpSepConv.
            genotype = dataclasses.replace(genotype, op_set=op_set)
        unknown = set(op_options) - set(get_op_set(genotype.op_set).options)
        if unknown:
            raise ZooError(f"{genotype.name}: unexpected keyword {sorted(unknown)[0]!r}; networks take "
                           "layers, channels, auxiliary, drop_path_rate, drop_rate, global_pool, "
                           "stem_multiplier, op_set, num_classes, in_chans"
                           + "".join(f", {k}" for k in get_op_set(genotype.op_set).options))
        genotype = genotype.with_options(**op_options) if op_options else genotype
        validate_ops(genotype)
        self.genotype = genotype
        self.family = family
        self.layers = layers if layers is not None else preset.layers
        self.channels = channels if channels is not None else preset.channels
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.drop_path_prob = float(preset.drop_path if drop_path_rate is None else drop_path_rate)
        self.drop_path_rate = self.drop_path_prob
        stem_multiplier = stem_multiplier or preset.stem_multiplier
        use_aux = preset.auxiliary if auxiliary is None else auxiliary
        ops = get_op_set(self.genotype.op_set)
        c = self.channels
        imagenet = family == "imagenet"
        self.feature_info: list[dict[str, Any]] = []

        stem = add_stem(self, family, in_chans, c, stem_multiplier)
        c_prev_prev = c_prev = stem.width
        reduction_prev, stride = stem.reduction_prev, stem.stride
        self.feature_info.append(stem.feature)

        plan = genotype.cell_plan(self.layers)
        self.plan = tuple(plan)
        last_reduction = max(i for i, name in enumerate(plan) if genotype.cells[name].reduction)
        self.aux_index = last_reduction
        self.cells = nn.ModuleList()
        c_curr, c_aux = c, None
        self._feature_cells: list[int] = []
        for i, cell_name in enumerate(plan):
            spec = genotype.cells[cell_name]
            if spec.reduction:
                c_curr *= 2
                stride *= 2
                # The last cell of the block before this reduction is a feature point.
                self._feature_cells.append(i - 1)
                self.feature_info.append(dict(num_chs=c_prev, reduction=stride // 2, module=f"cells.{i - 1}"))
            cell = Cell(spec, ops, dict(self.genotype.op_options), c_prev_prev, c_prev, c_curr, reduction_prev)
            self.cells.append(cell)
            reduction_prev = spec.reduction
            c_prev_prev, c_prev = c_prev, cell.out_channels
            if i == last_reduction:
                c_aux = c_prev
        self._feature_cells.append(len(plan) - 1)
        self.feature_info.append(dict(num_chs=c_prev, reduction=stride, module=f"cells.{len(plan) - 1}"))

        self.num_features = self.head_hidden_size = c_prev
        self.auxiliary_head = AuxiliaryHead(c_aux, num_classes, imagenet) if use_aux else None
        self.global_pool, self.classifier = create_classifier(c_prev, num_classes, pool_type=global_pool)
        self.head_drop = nn.Dropout(drop_rate)
        self.set_recompute(recompute)

    # ------------------------------------------------------------------ timm interface
    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        pool = global_pool if global_pool is not None else self.global_pool.pool_type
        self.global_pool, self.classifier = create_classifier(self.num_features, num_classes, pool_type=pool)
        if self.auxiliary_head is not None:
            aux_in = self.auxiliary_head.classifier
            width = aux_in.in_features if isinstance(aux_in, nn.Linear) else 768
            self.auxiliary_head.classifier = nn.Linear(width, num_classes) if num_classes > 0 else nn.Identity()

    def set_drop_path(self, prob: float) -> None:
        """Drop-path probability for the next forward passes (DARTS ramps it up over training)."""
        self.drop_path_prob = float(prob)

    def set_recompute(self, mode: str) -> None:
        """"cell": in training, keep only each cell's inputs and output and recompute the rest in
        the backward pass (less memory for one more forward of the cells; same results)."""
        self.recompute = check_recompute(mode, where=self.genotype.name)
        for cell in self.cells:
            cell.recompute = mode == "cell"

    def _run(self, x: torch.Tensor, want_aux: bool = False, take: frozenset[int] = frozenset(),
             stop_at: Optional[int] = None):
        """Stem and cells. `take`: feature_info indices to collect; `stop_at`: last cell to run."""
        s0, s1 = run_stem(self, x)
        features = [s0 if self.family == "imagenet" else s1] if 0 in take else []
        take_cells = {self._feature_cells[k - 1] for k in take if k > 0}
        aux = None
        for i, cell in enumerate(self.cells):
            if stop_at is not None and i > stop_at:
                break
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if want_aux and i == self.aux_index:
                aux = self.auxiliary_head(s1)
            if i in take_cells:
                features.append(s1)
        return s1, aux, features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, want_aux=False)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.global_pool(x))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Logits and auxiliary logits (None when there is no auxiliary head or in eval mode)."""
        want_aux = self.auxiliary_head is not None and self.training
        feats, aux, _ = self._run(x, want_aux=want_aux)
        return self.forward_head(feats), aux

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: Optional[Union[int, list[int]]] = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ):
        """timm's feature API: the stem output and the last cell of each block (see feature_info)."""

        if output_fmt != "NCHW":
            raise ValueError("DARTS networks output NCHW features only")
        take_indices, max_index = feature_take_indices(len(self.feature_info), indices)
        stop_at = None
        if stop_early or intermediates_only:
            stop_at = self._feature_cells[max_index - 1] if max_index > 0 else -1
        final, _, features = self._run(x, take=frozenset(take_indices), stop_at=stop_at)
        return features if intermediates_only else (features, final)

    def prune_intermediate_layers(self, indices: Union[int, list[int]] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:

        take_indices, max_index = feature_take_indices(len(self.feature_info), indices)
        if max_index > 0:
            keep = self._feature_cells[max_index - 1] + 1
            self.cells = self.cells[:keep]
        else:
            self.cells = self.cells[:0]
        if self.auxiliary_head is not None and self.aux_index >= len(self.cells):
            self.auxiliary_head = None
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices
