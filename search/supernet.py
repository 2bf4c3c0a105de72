"""The supernet: every candidate op on every edge, mixed by softmax weights (DARTS, arXiv:1806.09055, eq. 2).

Ops come from the zoo's op registry built with `affine=False`, pools followed by a non-affine
BatchNorm, as the DARTS family does, so a derived genotype compiles to exactly the ops that were
searched. Architecture parameters live per cell type: `alphas[t]` is (num_edges x num_ops), rows in
`SearchSpace.edge_list` order; `betas[t]` (stretchable spaces only) holds the topology logits of
`OutputEdgeTopology`, or (edge-normalized spaces, PC-DARTS) one logit per edge. Each edge has its
own candidate list (`edge_candidates`), which P-DARTS prunes between stages by building the next
stage's supernet with fewer ops and more cells: pruned ops are not built at all.

Compute and memory: `none` is never run (it adds exactly zero; its weight still takes its share of
the softmax); `partial_channels=K` sends only 1/K of each edge's channels through the ops
(PC-DARTS, search/partial_channels.py); `set_recompute("cell" | "mixed_op")` stores only each
cell's (or each mixed op's) inputs and recomputes the rest in the backward pass, with the same
losses and gradients.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.errors import GenotypeError, ZooError, closest
from zoo.genotype import NUM_CELL_INPUTS, Genotype
from zoo.network import add_stem, check_recompute, recomputed, run_stem
from zoo.ops import FactorizedReduce, OpSet, ReLUConvBN, get_op_set, is_identity

from .discretize import derive_genotype
from .mixing import candidate_mask, linear_decay, make_mixing
from .partial_channels import EdgeNormalization, PartialChannels, check_partial_channels
from .space import SearchSpace
from .stretchable import OutputEdgeTopology, make_topology

WEIGHTINGS = ("scalar", "max_w")
STEMS = ("cifar", "imagenet")
# What sits between the last cell and the classifier: DARTS' global average pooling, or GDAS' BN-ReLU
# before it (the `lastact` of the GDAS authors' NASNet search network, an affine BatchNorm).
HEADS = ("pool", "bn_relu_pool")
# What the supernet recomputes in the backward pass instead of storing (none: store everything).
RECOMPUTE = ("none", "cell", "mixed_op")


def max_w(w: torch.Tensor) -> torch.Tensor:
    """Max-W weighting (sharpDARTS, arXiv:1903.09900, eq. 3) of softmax weights over the last dim:
    1 - max(w) + w_i, so the strongest op is mixed at 1 and every other at its lag behind it. The
    max is not detached (the authors' MixedOp keeps its gradient). Shared by every space."""
    return 1.0 - w.max(dim=-1, keepdim=True).values + w


class SkipDropout(nn.Module):
    """Dropout on the identity skip_connect (P-DARTS §3.2.2): its rate is set from outside, per
    epoch, by `Supernet.set_skip_dropout`; at 0 it is the identity."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p > 0.0 and self.training:
            return F.dropout(x, self.p, training=True)
        return x


def build_search_op(ops: OpSet, name: str, channels: int, stride: int,
                    options: Mapping[str, Any]) -> nn.Module:
    op = ops.build(name, channels, stride, affine=False, **options)
    if ops.group(name) == "pool":
        return nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
    if is_identity(op):
        # Only the parameter-free identity gets dropout; the stride-2 skip is a FactorizedReduce.
        return nn.Sequential(op, SkipDropout())
    return op


class MixedOp(nn.Module):
    """sum_o w_o * o(x) over the edge's candidate ops; `none` (zero) is not run, since w * 0
    adds nothing to the sum and nothing to any gradient.

    With a sampled `index` (GDAS' hard Gumbel sample) only op `index` runs: the output is
    w_index * o_index(x) + sum of the other weights, which are 0 in value under straight-through
    sampling but pass their gradient (as the GDAS authors' cell adds them).
    `aux`: DARTS-' auxiliary skip, added as `aux_weight * aux(x)` while its weight is above 0.
    """

    def __init__(self, ops: OpSet, candidates: Sequence[str], channels: int, stride: int,
                 options: Optional[Mapping[str, Any]] = None, aux_skip: bool = False):
        super().__init__()
        self.candidates = tuple(candidates)
        self.ops = nn.ModuleList(build_search_op(ops, name, channels, stride, options or {})
                                 for name in self.candidates)
        self.active = tuple(i for i, name in enumerate(self.candidates) if ops.group(name) != "none")
        # aux skip (DARTS-): parameter-free at stride 1; at stride 2 the same FactorizedReduce as skip_connect's
        self.aux: Optional[nn.Module] = None
        if aux_skip:
            self.aux = nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine=False)
        self.aux_weight = 0.0

    def forward(self, x: torch.Tensor, weights: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        if index is not None:
            i = int(index)
            out = weights[i] * self.ops[i](x) + (weights.sum() - weights[i])
        else:
            out = None
            for i in self.active:
                h = weights[i] * self.ops[i](x)
                out = h if out is None else out + h
            if out is None:  # only `none` left on this edge: its (zero) output has the right shape
                out = weights[0] * self.ops[0](x)
        if self.aux is not None and self.aux_weight > 0:  # aux skip (DARTS-)
            out = out + self.aux_weight * self.aux(x)
        return out


class SearchCell(nn.Module):
    """A cell with a MixedOp on every edge of the DAG; outputs all intermediate nodes."""

    def __init__(self, space: SearchSpace, cell_type: str, reduction: bool, reduction_prev: bool,
                 c_prev_prev: int, c_prev: int, c: int, edge_candidates: Sequence[Sequence[str]],
                 partial_channels: int = 1, aux_skip: bool = False):
        super().__init__()
        self.cell_type = cell_type
        self.reduction = reduction
        self.nodes = space.nodes
        self.recompute = "none"
        ops = get_op_set(space.op_set)
        self.preprocess0 = (FactorizedReduce(c_prev_prev, c, affine=False) if reduction_prev
                            else ReLUConvBN(c_prev_prev, c, 1, affine=False))
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, affine=False)
        self.edges = nn.ModuleList()
        k = partial_channels
        for (target, src), cands in zip(space.edge_list, edge_candidates):
            stride = 2 if reduction and src < NUM_CELL_INPUTS else 1
            mixed = MixedOp(ops, cands, c // k, stride, space.op_options, aux_skip=aux_skip)
            self.edges.append(PartialChannels(mixed, k, stride) if k > 1 else mixed)
        self.out_channels = space.nodes * c

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                scales: Optional[torch.Tensor] = None, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.recompute == "cell" and self.training:
            return recomputed(self, self._forward, s0, s1, weights, scales, index)
        return self._forward(s0, s1, weights, scales, index)

    def _edge(self, e: int, x: torch.Tensor, w: torch.Tensor, index: Optional[torch.Tensor]) -> torch.Tensor:
        # An edge takes a sampled op index only when the mixing samples one (PartialChannels and test
        # doubles of MixedOp take (x, w) otherwise).
        args = (x, w) if index is None else (x, w, index[e])
        if self.recompute == "mixed_op" and self.training:
            return recomputed(self.edges[e], self.edges[e], *args)
        return self.edges[e](*args)

    def _forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                 scales: Optional[torch.Tensor] = None, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        e = 0
        for _ in range(self.nodes):
            node = None
            for src in range(len(states)):
                h = self._edge(e, states[src], weights[e], index)
                if scales is not None:
                    # Edge normalization scales the whole edge output, bypassed channels included.
                    h = scales[e] * h
                node = h if node is None else node + h
                e += 1
            states.append(node)
        return torch.cat(states[NUM_CELL_INPUTS:], dim=1)


class Supernet(nn.Module):
    """The search network: stem, `layers` search cells following `space.cell_plan`, classifier.

    channels, layers      C and the number of cells (DARTS 16 / 8; P-DARTS 16 / 5-11-17)
    stem                  "cifar" (one 3x3 conv) or "imagenet" (three stride-2 convs, as zoo's network)
    edge_candidates       {cell_type: [ops of edge e, ...]}; default: space.candidates on every edge
    weighting             "scalar" (DARTS softmax) or "max_w" (sharpDARTS eq. 3: 1 - max(w) + w)
    skip_dropout          initial dropout rate after the identity skip_connect (P-DARTS)
    partial_channels      K of PC-DARTS: 1/K of every edge's channels go through its ops (1: all)
    mixing                how alphas become op weights: an entry of search.mixing.MIXINGS (DARTS'
                          softmax; sigmoid, Gumbel or Dirichlet samples, ...), with `mixing_kwargs`
    aux_skip              DARTS-' auxiliary skip on every edge, at this weight in the first epoch of a
                          stage, decaying linearly to 0 (`begin_epoch`); 0: none built
    head                  "pool" (DARTS) or "bn_relu_pool" (GDAS: BatchNorm + ReLU before the pooling)
    """

    def __init__(self, space: SearchSpace, channels: int = 16, layers: int = 8, num_classes: int = 10,
                 in_chans: int = 3, stem: str = "cifar", stem_multiplier: int = 3,
                 edge_candidates: Optional[Mapping[str, Sequence[Sequence[str]]]] = None,
                 weighting: str = "scalar", skip_dropout: float = 0.0, alpha_init: float = 1e-3,
                 partial_channels: int = 1, mixing: str = "softmax",
                 mixing_kwargs: Optional[Mapping[str, Any]] = None, aux_skip: float = 0.0,
                 head: str = "pool"):
        super().__init__()
        if head not in HEADS:
            raise ZooError(f"supernet: unknown head {head!r} ({closest(head, HEADS)})")
        if stem not in STEMS:
            raise ZooError(f"supernet: unknown stem {stem!r} ({closest(stem, STEMS)})")
        if weighting not in WEIGHTINGS:
            raise ZooError(f"supernet: unknown weighting {weighting!r} ({closest(weighting, WEIGHTINGS)})")
        check_partial_channels(channels, partial_channels, "supernet")
        self.partial_channels = partial_channels
        self.space = space
        self.channels = channels
        self.layers = layers
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.stem_kind = stem
        self.stem_multiplier = stem_multiplier
        self.weighting = weighting
        if aux_skip < 0:
            raise ZooError(f"supernet: aux_skip {aux_skip} is below 0; give the auxiliary skip's initial weight "
                           "(DARTS-: 1) or 0 for none")
        self.aux_skip = float(aux_skip)
        self.mixing_name = mixing
        self.mixing_kwargs = dict(mixing_kwargs or {})
        self.mixing = make_mixing(mixing, space, self.mixing_kwargs)
        self._offsets: Optional[Mapping[str, torch.Tensor]] = None
        self.plan = tuple(space.check_layers(layers))
        self.edge_candidates = self._resolve_candidates(edge_candidates)

        c = channels
        stem_info = add_stem(self, stem, in_chans, c, stem_multiplier)
        c_prev_prev = c_prev = stem_info.width
        reduction_prev = stem_info.reduction_prev

        self.cells = nn.ModuleList()
        c_curr = c
        for cell_type in self.plan:
            reduction = space.is_reduction(cell_type)
            if reduction:
                c_curr *= 2
            cell = SearchCell(space, cell_type, reduction, reduction_prev, c_prev_prev, c_prev, c_curr,
                              self.edge_candidates[cell_type], partial_channels, aux_skip=self.aux_skip > 0)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.out_channels
        self.head = head
        self.head_act: Optional[nn.Module] = (nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU())
                                              if head == "bn_relu_pool" else None)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

        # Architecture parameters: DARTS initializes them at 1e-3 * N(0, 1), i.e. nearly uniform.
        width = max(len(c) for cands in self.edge_candidates.values() for c in cands)
        self.alphas = nn.ParameterDict()
        self._ragged: dict[str, bool] = {}
        for t in space.cell_types:
            self.alphas[t] = nn.Parameter(alpha_init * torch.randn(space.num_edges, width))
            lengths = torch.tensor([len(c) for c in self.edge_candidates[t]])
            mask = torch.arange(width)[None, :] < lengths[:, None]
            self._ragged[t] = not bool(mask.all())
            self.register_buffer(f"mask_{t}", mask, persistent=False)
        self.betas = nn.ParameterDict()
        self.topology: Optional[OutputEdgeTopology] = None
        self.edge_norm: Optional[EdgeNormalization] = None
        if space.stretchable:
            self.topology = make_topology(space.nodes, space.topology, out_edges=space.out_edges)
            for t in space.cell_types:
                self.betas[t] = nn.Parameter(self.topology.init_betas(alpha_init))
        elif space.edge_norm:
            self.edge_norm = EdgeNormalization(space.nodes)
            for t in space.cell_types:
                self.betas[t] = nn.Parameter(self.edge_norm.init_betas(alpha_init))
        self.recompute = "none"
        self.set_skip_dropout(skip_dropout)
        self.set_aux_skip(self.aux_skip)

    def _resolve_candidates(self, given: Optional[Mapping[str, Sequence[Sequence[str]]]]) -> dict[str, list[tuple[str, ...]]]:
        space = self.space
        ops = get_op_set(space.op_set)
        out = {}
        for t in space.cell_types:
            if given is None or t not in given:
                out[t] = [tuple(space.candidates)] * space.num_edges
                continue
            edges = [tuple(c) for c in given[t]]
            if len(edges) != space.num_edges:
                raise ZooError(f"supernet: edge_candidates[{t!r}] has {len(edges)} edges, the space has "
                               f"{space.num_edges} ({space.nodes} nodes)")
            for e, cands in enumerate(edges):
                if not cands:
                    raise ZooError(f"supernet: edge_candidates[{t!r}][{e}] is empty (keep at least one op)")
                for name in cands:
                    if name not in ops.names:
                        raise GenotypeError("supernet", f"edge_candidates.{t}[{e}]",
                                            f"unknown op {name!r} in op set {space.op_set!r}",
                                            closest(name, ops.names))
            out[t] = edges
        if given is not None:
            extra = set(given) - set(space.cell_types)
            if extra:
                name = sorted(extra)[0]
                raise ZooError(f"supernet: edge_candidates names cell type {name!r}, which is not in the "
                               f"stages ({closest(name, space.cell_types)})")
        return out

    # ------------------------------------------------------------------ parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.values()) + list(self.betas.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def set_recompute(self, mode: str) -> None:
        """"cell" or "mixed_op": in training, store only each cell's (each mixed op's) inputs and
        recompute its activations in the backward pass; "none": store everything."""
        self.recompute = check_recompute(mode, RECOMPUTE, "supernet")
        for cell in self.cells:
            cell.recompute = mode

    def set_aux_skip(self, weight: float) -> None:
        """The weight of DARTS-' auxiliary skip on every edge (no effect without `aux_skip`)."""
        self.aux_skip_weight = float(weight) if self.aux_skip > 0 else 0.0
        for m in self.modules():
            if isinstance(m, MixedOp):
                m.aux_weight = self.aux_skip_weight

    def begin_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        """Schedules of the supernet's own components at the start of an epoch of `epochs`."""
        values = dict(self.mixing.begin_epoch(epoch, epochs))
        if self.aux_skip > 0:  # aux skip (DARTS-): linear decay to 0 over the stage
            self.set_aux_skip(linear_decay(self.aux_skip, epoch, epochs))
            values["aux_skip"] = self.aux_skip_weight
        return values

    @contextlib.contextmanager
    def weight_offsets(self, offsets: Optional[Mapping[str, torch.Tensor]]) -> Iterator[None]:
        """Add `offsets[t]` to the mixed weights of cell type t in every forward pass inside the block
        (SDARTS' perturbations)."""
        before, self._offsets = self._offsets, offsets
        try:
            yield
        finally:
            self._offsets = before

    def set_skip_dropout(self, p: float) -> None:
        self.skip_dropout = float(p)
        for m in self.modules():
            if isinstance(m, SkipDropout):
                m.p = float(p)

    # ------------------------------------------------------------------ weights of the mixed ops
    def _mask(self, cell_type: str) -> Optional[torch.Tensor]:
        return candidate_mask(self, cell_type) if self._ragged[cell_type] else None

    def op_weights(self, cell_type: str) -> torch.Tensor:
        """The mixing's probabilities of each edge's own candidates (num_edges x width; DARTS: the
        softmax of the alphas; 0 where an edge has fewer candidates than the widest edge)."""
        return self.mixing.probabilities(self.alphas[cell_type], self._mask(cell_type))

    def edge_weights(self, cell_type: str) -> torch.Tensor:
        """What multiplies each op's output in the forward pass (see `mixed_weights`)."""
        return self.mixed_weights(cell_type)[0]

    def mixed_weights(self, cell_type: str) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(weights, index): the mixing's forward weights, Max-W reweighted if asked, times the
        merged topology probability s~(i, j) when stretchable, plus any weight offsets; `index`:
        the op each edge runs alone when the mixing samples one (else None)."""
        w = self.mixing.forward_weights(self.alphas[cell_type], self._mask(cell_type), self.training)
        index = None
        if isinstance(w, tuple):
            w, index = w
        if self.weighting == "max_w":
            w = max_w(w)
            if self._ragged[cell_type]:
                w = w * self._mask(cell_type).to(w.dtype)
        if self.topology is not None:
            w = w * self.topology.merged(self.betas[cell_type]).unsqueeze(-1)
        if self._offsets is not None and cell_type in self._offsets:
            w = w + self._offsets[cell_type]
        return w, index

    def edge_scales(self, cell_type: str) -> Optional[torch.Tensor]:
        """The betas' weight of every edge: s~(i, j) (stretchable spaces), the softmax over the
        node's inputs (edge normalization), else None."""
        if self.topology is not None:
            return self.topology.merged(self.betas[cell_type])
        if self.edge_norm is not None:
            return self.edge_norm.weights(self.betas[cell_type])
        return None

    def topology_regularizer(self) -> Optional[torch.Tensor]:
        """Sum over cell types of r(beta) (stretchable-cells paper, eq. 14); None without topology variables."""
        if self.topology is None:
            return None
        return sum(self.topology.regularizer(b) for b in self.betas.values())

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = {t: self.mixed_weights(t) for t in self.space.cell_types}
        # Edge normalization scales whole edge outputs (bypassed channels too), so it is applied
        # per edge in the cell; the stretchable topology is folded into the op weights above.
        scales = ({t: self.edge_scales(t) for t in self.space.cell_types} if self.edge_norm is not None
                  else dict.fromkeys(self.space.cell_types))
        s0, s1 = run_stem(self, x)
        for cell in self.cells:
            w, index = mixed[cell.cell_type]
            s0, s1 = s1, cell(s0, s1, w, scales[cell.cell_type], index)
        if self.head_act is not None:
            s1 = self.head_act(s1)
        return self.classifier(torch.flatten(self.global_pool(s1), 1))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(x), y)

    # ------------------------------------------------------------------ inspection
    def arch_weights(self) -> dict[str, list[dict[str, float]]]:
        """Softmax op weights as plain data: {cell_type: [{op: weight} per edge]} (for logs/plots)."""
        out = {}
        with torch.no_grad():
            for t in self.space.cell_types:
                w = self.op_weights(t).detach().cpu().tolist()
                out[t] = [dict(zip(cands, row)) for cands, row in zip(self.edge_candidates[t], w)]
        return out

    def topology_weights(self) -> dict[str, dict[str, dict[str, float]]]:
        """Stretchable spaces: {cell_type: {source state: {"3,5": p(code)}}}; empty otherwise."""
        if self.topology is None:
            return {}
        out = {}
        with torch.no_grad():
            for t, b in self.betas.items():
                probs = self.topology.code_probs(b.detach().cpu())
                out[t] = {str(s): {",".join(map(str, code)) or "-": float(p)
                                   for code, p in zip(self.topology.codes[s], probs[s].tolist())}
                          for s in self.topology.sources}
        return out

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain data: `Supernet.from_config(net.config())` rebuilds the
        same architecture (load the state_dict into it to resume)."""
        return {
            "space": self.space.to_dict(), "channels": self.channels, "layers": self.layers,
            "num_classes": self.num_classes, "in_chans": self.in_chans, "stem": self.stem_kind,
            "stem_multiplier": self.stem_multiplier, "weighting": self.weighting,
            "skip_dropout": self.skip_dropout, "partial_channels": self.partial_channels,
            "mixing": self.mixing_name, "mixing_kwargs": dict(self.mixing_kwargs), "aux_skip": self.aux_skip,
            "head": self.head,
            "edge_candidates": {t: [list(c) for c in cands] for t, cands in self.edge_candidates.items()},
        }

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "Supernet":
        cfg = dict(cfg)
        space = SearchSpace.from_dict(cfg.pop("space"))
        return cls(space, **cfg)

    def genotype(self, rule: str = "standard", max_skips: Optional[int] = None, name: str = "searched",
                 **kwargs: Any) -> Genotype:
        """The discrete cell(s): see `discretize.derive_genotype` for the rules."""

        return derive_genotype(self, rule=rule, max_skips=max_skips, name=name, **kwargs)
