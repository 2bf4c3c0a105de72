"""DAG building blocks: layers wired by a directed acyclic graph, with few structural priors.

A master-thesis exposé on differentiable search over general DAG blocks (sec. 4.1) builds networks
from blocks of l layers whose connections follow a DAG on l vertices, with the weights between
layers i < j shared by every block and each block applying its DAG as a mask on them. This module
holds that engine once, for the compiled network and for the search:

    body = DagBody(vertices=4, width=64, layer="dense", built=all_edges(4))   # every shared weight
    h = body(x0, edges=((0, 1), (1, 3)))                                       # one DAG as a mask

A layer with no incoming edge reads the block input (through its own input weights), a layer with
no outgoing edge feeds the block output, and a layer sums (or averages) what reaches it. An edge
that a DAG leaves out is never computed: it contributes nothing and its weights get no gradient
from that block; a weight shared by several blocks receives the sum of their gradients.

Layers are op set `dag`: `dense` (the exposé's default, on flattened inputs), `conv_1x1` and
`conv_3x3` (optionally followed by a 3x3 stride-1 pooling), so that filters and pooling live in the
same space. `DagNetwork` is the compiled block as a timm model (`darts_genotype` builds it from a
genotype file with a `dag:` field).
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Optional, Sequence

import torch
import torch.nn as nn
from timm.layers import create_classifier

from .errors import ZooError
from .genotype import DAG_LAYERS, DagBlock, Genotype

# The block input, as the source of an edge.
IN = -1
# A generous bound on a compiled block (a few million parameters in any searched one).
MAX_DAG_PARAMS = 2_000_000_000

# The op on an edge of op set `dag` (zoo.genotype.DAG_LAYERS): one weight, width -> width.
EDGE_OPS = {
    "dense": lambda w: nn.Linear(w, w, bias=False),
    "conv_1x1": lambda w: nn.Conv2d(w, w, 1, bias=False),
    "conv_3x3": lambda w: nn.Conv2d(w, w, 3, padding=1, bias=False),
}


def all_edges(vertices: int) -> tuple[tuple[int, int], ...]:
    """Every edge a block on `vertices` layers can have, input edges (IN, j) included."""
    return tuple((i, j) for j in range(vertices) for i in (IN, *range(j)))


@functools.lru_cache(maxsize=4096)
def wiring(vertices: int, edges: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """(inputs of each layer, sinks) of a DAG: a layer without a predecessor reads IN."""
    inputs: list[list[int]] = [[] for _ in range(vertices)]
    feeding = set()
    for i, j in edges:
        inputs[j].append(i)
        feeding.add(i)
    ins = tuple(tuple(sorted(x)) if x else (IN,) for x in inputs)
    return ins, tuple(v for v in range(vertices) if v not in feeding)


def used_edges(vertices: int, edges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The shared weights a DAG uses: its edges plus the input edge of each source."""
    ins, _ = wiring(vertices, tuple(sorted(edges)))
    return tuple((i, j) for j, sources in enumerate(ins) for i in sources)


def edge_key(i: int, j: int) -> str:
    """The name of edge (i, j)'s weights in a state dict."""
    return f"in_{j}" if i == IN else f"{i}_{j}"


class _DenseLayer(nn.Module):
    """What a dense layer does after summing its inputs: its own bias, then ReLU."""

    def __init__(self, width: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z + self.bias)


def _conv_layer(width: int, pool: str) -> nn.Module:
    layers: list[nn.Module] = [nn.BatchNorm2d(width), nn.ReLU()]
    if pool == "max":
        layers.append(nn.MaxPool2d(3, stride=1, padding=1))
    elif pool == "avg":
        layers.append(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False))
    return nn.Sequential(*layers)


class DagBody(nn.Module):
    """The layers of a block and the weights of the edges in `built` (pairs (i, j), i = IN for the
    block input); `forward(x, edges)` runs the DAG `edges` over them. Weights of edges the DAG does
    not use are not touched."""

    def __init__(self, vertices: int, width: int, layer: str = "dense", built: Sequence[tuple[int, int]] = (),
                 aggregate: str = "sum", pool: str = "none"):
        super().__init__()
        if layer not in DAG_LAYERS:
            raise ZooError(f"DAG layer {layer!r} is not one of {', '.join(DAG_LAYERS)}")
        self.vertices, self.width, self.layer = vertices, width, layer
        self.aggregate, self.pool = aggregate, pool
        self.edge_ops = nn.ModuleDict({edge_key(i, j): EDGE_OPS[layer](width) for i, j in built})
        self.layers = nn.ModuleList(
            _DenseLayer(width) if layer == "dense" else _conv_layer(width, pool) for _ in range(vertices))

    def _combine(self, terms: list[torch.Tensor]) -> torch.Tensor:
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total / len(terms) if self.aggregate == "mean" and len(terms) > 1 else total

    def _layer(self, j: int, z: torch.Tensor) -> torch.Tensor:
        """Layer j on a stack of blocks (k, B, ...): BatchNorm sees each block's batch on its own."""
        if self.layer == "dense":
            return self.layers[j](z)
        return torch.stack([self.layers[j](zb) for zb in z])

    def masks(self, dags: Sequence[tuple[tuple[int, int], ...]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, l + 1, l) edge masks, row 0 the block input, and (k, l) sink masks."""
        key = (tuple(dags), str(device))
        if getattr(self, "_mask_key", None) != key:
            m = torch.zeros(len(dags), self.vertices + 1, self.vertices)
            s = torch.zeros(len(dags), self.vertices)
            for b, dag in enumerate(dags):
                ins, sinks = wiring(self.vertices, tuple(dag))
                for j, sources in enumerate(ins):
                    for i in sources:
                        m[b, i + 1, j] = 1.0
                s[b, list(sinks)] = 1.0
            self._mask_key, self._masks = key, (m.to(device), s.to(device))
        return self._masks

    def forward_blocks(self, x: torch.Tensor, dags: Sequence[tuple[tuple[int, int], ...]]) -> torch.Tensor:
        """Every DAG of `dags` over the shared weights at once: (k, B, ...) block outputs. Each edge's
        weight runs once on the stacked blocks and its output is multiplied by the blocks' 0/1 mask,
        so a block without the edge adds nothing and passes no gradient to it; an edge no block uses
        is not run at all."""
        k = len(dags)
        m, s = self.masks(dags, x.device)
        shape = (k,) + (1,) * x.dim()  # broadcast a per-block number over (B, ...)
        h: list[torch.Tensor] = []
        for j in range(self.vertices):
            z = None
            for i in (IN, *range(j)):
                col = m[:, i + 1, j]
                if not bool(col.any()):
                    continue
                op = self.edge_ops[edge_key(i, j)]
                if i == IN:
                    t = op(x).unsqueeze(0)
                elif x.dim() > 2:  # convs take (N, C, H, W): fold the blocks into the batch
                    t = op(h[i].flatten(0, 1)).unflatten(0, (k, -1))
                else:
                    t = op(h[i])
                term = col.view(shape) * t
                z = term if z is None else z + term
            if self.aggregate == "mean":
                z = z / m[:, :, j].sum(1).view(shape)
            h.append(self._layer(j, z))
        out = sum(s[:, j].view(shape) * h[j] for j in range(self.vertices))
        if self.aggregate == "mean":
            out = out / s.sum(1).view(shape)
        return out

    def forward(self, x: torch.Tensor, edges: tuple[tuple[int, int], ...]) -> torch.Tensor:
        ins, sinks = wiring(self.vertices, tuple(edges))
        h: list[Optional[torch.Tensor]] = [None] * self.vertices
        for j in range(self.vertices):
            terms = [self.edge_ops[edge_key(i, j)](x if i == IN else h[i]) for i in ins[j]]
            h[j] = self.layers[j](self._combine(terms))
        return self._combine([h[s] for s in sinks])


def make_stem(layer: str, in_chans: int, img_size: int, width: int) -> nn.Module:
    """Input to block width: dense layers see the flattened input, conv layers a 3x3 conv map."""
    if layer == "dense":
        return nn.Sequential(nn.Flatten(1), nn.Linear(in_chans * img_size * img_size, width), nn.ReLU())
    return nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())


def estimate_params(dag: DagBlock, in_features: int, num_classes: int) -> int:
    per_edge = dag.width * dag.width * (9 if dag.layer == "conv_3x3" else 1)
    stem = in_features * dag.width if dag.layer == "dense" else in_features * 9 * dag.width
    return len(used_edges(dag.vertices, dag.edges)) * per_edge + stem + dag.width * (num_classes + 1)


class DagNetwork(nn.Module):
    """A DAG block compiled as a timm model: stem -> block -> (global pool) -> classifier.

    Keywords: `num_classes`, `in_chans`, `img_size` (input side; default 32, the CIFAR family, or
    224), `width` (overrides the genotype's), `global_pool` (conv layers), `drop_rate`."""

    def __init__(self, genotype: Genotype, family: str = "cifar", num_classes: int = 10, in_chans: int = 3,
                 img_size: Optional[int] = None, width: Optional[int] = None, global_pool: str = "avg",
                 drop_rate: float = 0.0, **kwargs: Any):
        super().__init__()
        if kwargs:
            raise ZooError(f"{genotype.name}: DAG block networks take no keyword {sorted(kwargs)[0]!r} (they take "
                           "num_classes, in_chans, img_size, width, global_pool, drop_rate)")
        if genotype.dag is None:
            raise ZooError(f"{genotype.name}: has no `dag:` block; cell genotypes build DartsNetwork")
        dag = genotype.dag
        if width is not None:
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise ZooError(f"{genotype.name}: width = {width!r} must be a positive whole number")
            dag = DagBlock(dag.vertices, dag.edges, dag.layer, width, dag.aggregate, dag.pool)
        img_size = img_size or (32 if family == "cifar" else 224)
        params = estimate_params(dag, in_chans * img_size * img_size, num_classes)
        if params > MAX_DAG_PARAMS:
            raise ZooError(f"{genotype.name}: a DAG block of {params / 1e9:.1f}G parameters is more than this "
                           f"package builds ({MAX_DAG_PARAMS / 1e9:.0f}G); use a smaller width or fewer layers")
        self.genotype, self.dag = genotype, dag
        self.num_classes, self.in_chans, self.img_size = num_classes, in_chans, img_size
        self.drop_rate = drop_rate
        self.stem = make_stem(dag.layer, in_chans, img_size, dag.width)
        self.body = DagBody(dag.vertices, dag.width, dag.layer, used_edges(dag.vertices, dag.edges),
                            dag.aggregate, dag.pool)
        self.num_features = self.head_hidden_size = dag.width
        # What `darts-zoo show` prints for a network: its depth in layers and its width.
        self.layers, self.channels = dag.vertices, dag.width
        self._pool_type = "" if dag.layer == "dense" else global_pool
        self.global_pool, self.classifier = create_classifier(dag.width, num_classes, pool_type=self._pool_type)
        self.head_drop = nn.Dropout(drop_rate)
        self.feature_info = [dict(num_chs=dag.width, reduction=1, module="stem"),
                             dict(num_chs=dag.width, reduction=1, module="body")]

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None and self.dag.layer != "dense":
            self._pool_type = global_pool
        self.global_pool, self.classifier = create_classifier(self.num_features, num_classes,
                                                              pool_type=self._pool_type)

    def set_drop_path(self, prob: float) -> None:
        """Training loops call this for cell networks; a DAG block has no paths to drop."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x), self.dag.edges)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.global_pool(x) if self.dag.layer != "dense" else x)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, no auxiliary logits): the cell networks' training interface."""
        return self(x), None


def count_dags(vertices: int) -> int:
    """DAGs on `vertices` labelled vertices in a fixed topological order: 2^(l(l-1)/2)."""
    return 2 ** (vertices * (vertices - 1) // 2) if vertices >= 1 else 0
