"""Differentiable Hyperparameter Grid Search on a HyperCuboid (sharpDARTS, Hundt, Jain, Hager,
arXiv:1903.09900, sec. 4.1, Fig. 6): the MultiChannelNet search space.

The grid. A HyperCuboid HC = (filter scale pairs, normal layers, reduction layers, primitives):
`layers` grid layers alternate a normal layer (stride 1) and a reduction layer (stride 2), N R N R
..., as the authors' MultiChannelNetwork runs them; every layer holds one op for every (input
channels, output channels, primitive) triple over the channel choices C, 2C, 4C, ... (n of them).
The network keeps one feature map per channel choice ("graph node"):

    x_0[c]   = BN(conv3x3(image))                     the stem, one per channel choice c
    x_t[j]   = sum_{i, p} m_t[i, j, p] * op_t[i, j, p](x_{t-1}[i])
    logits   = linear(pool(sum_c SharpSepConv(c -> F)(x_T[c])))        F = 3 * the largest choice

where m_t are the layer's mixing weights: w_t = softmax(alpha_t) over the whole layer (all C x C x P
entries at once, as the authors' code takes it), and m_t = w_t (DARTS' scalar weighting) or
m_t = 1 - max(w_t) + w_t (Max-W, eq. 3, the max over the same layer). The paper's grid is
((4x4)x3x3x2): channels 32..256, 3 normal and 3 reduction layers, primitives SharpSepConv and max
pool; F is then 768, the authors' final_linear_filters.

The result is not a cell but a path: one op per layer whose input channels are the previous op's
output channels. "Larger weights imply a better choice of graph node and we therefore search for an
optimal path through a sequence of primitive weights which maximizes the total path score"
(sec. 4.1): `best_path` is that maximum (dynamic programming over the channel choices, exact).
Ties: among paths of equal score (to 1e-12) the one whose choices, read from the stem on, are
smallest wins: the fewer stem channels, then at each layer the fewer output channels, then the
primitive listed first.

Choices of this implementation (docs/search-fidelity.md, HyperCuboid): grid ops are built with
affine=False BatchNorms as the DARTS supernet's are (the authors' grid uses affine ones); every op
runs every step (the authors skip ops whose weight is under 1/N^2 unless always_apply_ops).

Recipe fields reused, so that no new field is needed: `channels` is the smallest channel choice,
`nodes` the number of channel choices (the authors' code likewise passes its `steps` argument),
`layers` the grid layers (even), `candidates` the primitives, `weighting` scalar or max_w.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.errors import ZooError, closest
from zoo.ops import sep_chain
from zoo.settings import MAX_CHANNELS

from .supernet import WEIGHTINGS, max_w

if TYPE_CHECKING:
    from .pdarts import Stage
    from .recipes import SearchRecipe

WHERE = "space hypercuboid"
KINDS = ("normal", "reduce")
TIE_TOL = 1e-12
# The paper's grid primitives (sec. 4.1: "SharpSepConv and MaxPool"); the others are the same
# blocks at other kernels / pools, for ablations.
DEFAULT_PRIMITIVES = ("sep_conv_3x3", "max_pool_3x3")


class ResizablePool(nn.Sequential):
    """A 3x3 pool (stride 1 or 2); when the channel count changes, a 1x1 conv and BN after it
    (the authors' ResizablePool, BN eps 1e-3)."""

    def __init__(self, c_in: int, c_out: int, stride: int, kind: str = "max"):
        pool = (nn.MaxPool2d(3, stride=stride, padding=1) if kind == "max"
                else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
        layers: list[nn.Module] = [pool]
        if c_in != c_out:
            layers += [nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, eps=1e-3, affine=False)]
        super().__init__(*layers)


def _sharp_sep(kernel: int, dilation: int = 1):
    # SharpSepConv (sec. 3, Fig. 3) from c_in to c_out with its middle width c_out (C_mid_mult 1).
    return lambda c_in, c_out, stride: sep_chain([c_in, c_out, c_out], kernel, stride, [dilation, 1], affine=False)


PRIMITIVES = {
    "sep_conv_3x3": _sharp_sep(3),
    "sep_conv_5x5": _sharp_sep(5),
    "dil_conv_3x3": _sharp_sep(3, 2),
    "max_pool_3x3": lambda c_in, c_out, stride: ResizablePool(c_in, c_out, stride, "max"),
    "avg_pool_3x3": lambda c_in, c_out, stride: ResizablePool(c_in, c_out, stride, "avg"),
}


def short_name(primitive: str) -> str:
    """sep_conv_3x3 -> sep3, dil_conv_3x3 -> dil3, max_pool_3x3 -> max."""
    head, _, size = primitive.partition("_conv_")
    if size:
        return f"{head}{size.split('x')[0]}"
    return primitive.split("_")[0]


@dataclasses.dataclass(frozen=True)
class HyperCuboid:
    """The grid: channel choices, primitives and the number of grid layers (normal, reduce, ...)."""

    channels: tuple[int, ...]
    primitives: tuple[str, ...]
    layers: int

    @property
    def kinds(self) -> tuple[str, ...]:
        """normal / reduce of every grid layer, in order."""
        return tuple(KINDS[t % 2] for t in range(self.layers))

    @property
    def blocks(self) -> int:
        return self.layers // 2

    @property
    def shape(self) -> tuple[int, int, int]:
        """(input channel choices, output channel choices, primitives) of one layer."""
        return len(self.channels), len(self.channels), len(self.primitives)

    @property
    def width(self) -> int:
        c, _, p = self.shape
        return c * c * p

    def label(self, i: int, j: int, p: int) -> str:
        """One grid entry: input channels > output channels, primitive."""
        return f"{self.channels[i]}>{self.channels[j]} {self.primitives[p]}"

    def labels(self) -> list[str]:
        c, _, p = self.shape
        return [self.label(i, j, k) for i in range(c) for j in range(c) for k in range(p)]

    def to_dict(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "primitives": list(self.primitives), "layers": self.layers,
                "kinds": list(self.kinds)}

    @property
    def candidates(self) -> tuple[str, ...]:
        """The primitives, under the name a cell space's candidates have (the run reports them)."""
        return self.primitives


def grid_from_recipe(cfg: "SearchRecipe", layers: Optional[int] = None) -> HyperCuboid:
    """The recipe's grid, or a one-line error for a setting the grid cannot take."""
    refuse = [("stage_layers", bool(cfg.stage_layers), "the grid is searched in one stage; drop --stage-layers"),
              ("stretchable", cfg.stretchable, "the grid has no cell topology; drop --stretchable"),
              ("space_ablation", cfg.space_ablation is not None, "the grid's primitives are --candidates"),
              ("rule", cfg.rule != "standard", "the grid's result is its best path, not a discretized cell; "
                                               "drop --rule"),
              ("max_skips", cfg.max_skips is not None, "the grid has no skip_connect; drop --max-skips"),
              ("partial_channels", getattr(cfg, "partial_channels", 1) != 1, "the grid's ops see every channel"),
              ("edge_norm", bool(getattr(cfg, "edge_norm", False)), "the grid has no cell edges to normalize")]
    for name, bad, why in refuse:
        if bad:
            raise ZooError(f"{WHERE}: {name} does not apply: {why}")
    layers = cfg.layers if layers is None else layers
    if layers % 2:
        raise ZooError(f"{WHERE}: layers {layers}: the grid alternates normal and reduction layers (N R N R ...); "
                       "give an even --layers (the paper's MultiChannelNet: 6)")
    channels = tuple(cfg.channels * 2 ** k for k in range(cfg.nodes))
    if channels[-1] > MAX_CHANNELS:
        raise ZooError(f"{WHERE}: {cfg.nodes} channel choices from {cfg.channels} reach {channels[-1]} channels, "
                       f"above {MAX_CHANNELS}; lower --nodes (the number of channel choices) or --channels")
    primitives = tuple(cfg.candidates) if cfg.candidates else DEFAULT_PRIMITIVES
    for name in primitives:
        if name not in PRIMITIVES:
            raise ZooError(f"{WHERE}: unknown primitive {name!r} in --candidates ({closest(name, PRIMITIVES)})")
    if len(set(primitives)) != len(primitives):
        raise ZooError(f"{WHERE}: --candidates lists a primitive twice; name each once")
    if cfg.weighting not in WEIGHTINGS:
        raise ZooError(f"{WHERE}: unknown weighting {cfg.weighting!r} ({closest(cfg.weighting, WEIGHTINGS)})")
    return HyperCuboid(channels, primitives, layers)


# --------------------------------------------------------------------------- the best path
@dataclasses.dataclass(frozen=True)
class PathStep:
    layer: int  # 0-based grid layer
    c_in: int  # channel choice index
    c_out: int
    primitive: int
    weight: float


@dataclasses.dataclass(frozen=True)
class GridPath:
    stem: int  # channel choice index of the stem the path starts from
    steps: tuple[PathStep, ...]
    score: float

    def channel_indices(self) -> list[int]:
        return [self.stem] + [s.c_out for s in self.steps]


def _as_grid(weights: Any) -> list[list[list[list[float]]]]:
    out = []
    for w in weights:
        w = w.detach().double().cpu().tolist() if isinstance(w, torch.Tensor) else w
        out.append([[[float(v) for v in row_p] for row_p in row_j] for row_j in w])
    return out


def best_path(weights: Sequence[Any]) -> GridPath:
    """The path of maximal total weight through the grid (sec. 4.1), with the tie rule of the
    module docstring. `weights[t][i][j][p]` is layer t's weight of input choice i, output
    choice j, primitive p (tensors or nested lists). Exact: the best score from each (layer,
    input choice) to the end, computed backwards, then the path read forwards from the stem."""
    grid = _as_grid(weights)
    if not grid:
        raise ZooError(f"{WHERE}: best_path needs at least one grid layer")
    n = len(grid[0])
    # to_end[t][i]: the best score of layers t.. when layer t reads channel choice i.
    to_end = [[0.0] * n for _ in range(len(grid) + 1)]
    for t in range(len(grid) - 1, -1, -1):
        for i in range(n):
            to_end[t][i] = max(w + to_end[t + 1][j] for j, row in enumerate(grid[t][i]) for w in row)

    def first_best(options):
        options = list(options)
        top = max(score for score, _ in options)
        return next(choice for score, choice in options if score >= top - TIE_TOL * max(1.0, abs(top)))

    stem = first_best((to_end[0][i], i) for i in range(n))
    steps, c = [], stem
    for t, layer in enumerate(grid):
        j, p = first_best((layer[c][j][p] + to_end[t + 1][j], (j, p))
                          for j in range(n) for p in range(len(layer[c][j])))
        steps.append(PathStep(t, c, j, p, layer[c][j][p]))
        c = j
    return GridPath(stem, tuple(steps), to_end[0][stem])


def describe_path(grid: HyperCuboid, path: GridPath) -> str:
    """One line: stem channels, then each layer as -primitive(N|R)-> its output channels."""
    parts = [str(grid.channels[path.stem])]
    for s, kind in zip(path.steps, grid.kinds):
        parts.append(f"-{short_name(grid.primitives[s.primitive])}{kind[0].upper()}-> {grid.channels[s.c_out]}")
    return f"path {' '.join(parts)} (score {path.score:.4f})"


# --------------------------------------------------------------------------- the supernet
class HyperCuboidSupernet(nn.Module):
    """MultiChannelNet: the stems, every grid layer's ops, the head. Architecture parameters are
    `alphas["normal"]` and `alphas["reduce"]`, each (grid layers of that kind) x (C*C*P), rows in
    the order the layers run, entries in (input choice, output choice, primitive) order, as the
    authors' weights are laid out ([stride, layer, C_in, C_out, primitive])."""

    def __init__(self, grid: HyperCuboid, num_classes: int = 10, in_chans: int = 3, weighting: str = "scalar",
                 alpha_init: float = 1e-3):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ZooError(f"{WHERE}: unknown weighting {weighting!r} ({closest(weighting, WEIGHTINGS)})")
        self.hypercuboid = grid
        self.weighting = weighting
        self.num_classes = num_classes
        cs = grid.channels
        self.stems = nn.ModuleList(nn.Sequential(nn.Conv2d(in_chans, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
                                   for c in cs)
        self.grid = nn.ModuleList()
        for kind in grid.kinds:
            stride = 2 if kind == "reduce" else 1
            self.grid.append(nn.ModuleList(PRIMITIVES[name](c_in, c_out, stride)
                                           for c_in in cs for c_out in cs for name in grid.primitives))
        self.final_channels = 3 * cs[-1]
        self.heads = nn.ModuleList(_sharp_sep(3)(c, self.final_channels, 1) for c in cs)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.final_channels, num_classes)
        # DARTS' initialization: 1e-3 * N(0, 1), nearly uniform.
        self.alphas = nn.ParameterDict({kind: nn.Parameter(alpha_init * torch.randn(grid.kinds.count(kind), grid.width))
                                        for kind in KINDS})
        labels = grid.labels()
        self.edge_candidates = {kind: [list(labels) for _ in range(grid.kinds.count(kind))] for kind in KINDS}

    # ------------------------------------------------------------------ engine interface
    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def set_skip_dropout(self, p: float) -> None:
        """The grid has no skip_connect: nothing to drop."""

    # ------------------------------------------------------------------ weights
    def _row(self, t: int) -> torch.Tensor:
        return self.alphas[self.hypercuboid.kinds[t]][t // 2]

    def layer_weights(self, t: int) -> torch.Tensor:
        """Softmax over all of layer t's entries, as (C, C, P)."""
        return torch.softmax(self._row(t), dim=-1).view(self.hypercuboid.shape)

    def layer_mix(self, t: int) -> torch.Tensor:
        """What multiplies each op's output in layer t: the softmax weights, Max-W reweighted if asked."""
        w = torch.softmax(self._row(t), dim=-1)
        if self.weighting == "max_w":
            w = max_w(w)
        return w.view(self.hypercuboid.shape)

    def arch_weights(self) -> dict[str, list[dict[str, float]]]:
        """Softmax weights as plain data: {normal|reduce: [{entry label: weight} per layer]}."""
        labels = self.hypercuboid.labels()
        with torch.no_grad():
            return {kind: [dict(zip(labels, torch.softmax(row, dim=-1).tolist())) for row in self.alphas[kind]]
                    for kind in KINDS}

    def grid_weights(self) -> list[torch.Tensor]:
        """Every layer's softmax weights (C, C, P), in the order the layers run."""
        with torch.no_grad():
            return [self.layer_weights(t).detach().cpu() for t in range(self.hypercuboid.layers)]

    def best_path(self) -> GridPath:
        return best_path(self.grid_weights())

    def describe(self) -> str:
        return describe_path(self.hypercuboid, self.best_path())

    # ------------------------------------------------------------------ forward
    def grid_layer(self, t: int, states: Sequence[torch.Tensor],
                   mix: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        """The node outputs of layer t: x_t[j] = sum_{i, p} m[i, j, p] op(x_{t-1}[i])."""
        mix = self.layer_mix(t) if mix is None else mix
        n, _, n_prim = self.hypercuboid.shape
        ops = self.grid[t]
        out = []
        for j in range(n):
            node = None
            for i in range(n):
                for p in range(n_prim):
                    h = mix[i, j, p] * ops[(i * n + j) * n_prim + p](states[i])
                    node = h if node is None else node + h
            out.append(node)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [stem(x) for stem in self.stems]
        for t in range(self.hypercuboid.layers):
            states = self.grid_layer(t, states)
        features = sum(head(s) for head, s in zip(self.heads, states))
        return self.classifier(torch.flatten(self.global_pool(features), 1))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(x), y)

    # ------------------------------------------------------------------ result
    def write_result(self, cfg: "SearchRecipe", user_overrides: Mapping[str, Any], data: str, seed: int, paths: Any,
                     history: list, version: str, world_size: int):
        """The engine's hook for a result that is not a genotype: the path file (YAML) at --out."""
        from .hypercuboid_result import write_hypercuboid_result
        return write_hypercuboid_result(self, cfg, user_overrides, data, seed, paths, history, version, world_size)


def record_grid(record: Mapping[str, Any], grid: HyperCuboid) -> list[torch.Tensor]:
    """A history record's weights as the grid's layers (C, C, P), in the order the layers run."""
    out = []
    for t, kind in enumerate(grid.kinds):
        out.append(torch.tensor(record["weights"][kind][t // 2], dtype=torch.float64).view(grid.shape))
    return out


class HyperCuboidSpace:
    """The registry entry (SPACES["hypercuboid"]): the grid from the recipe, its supernet, its plot."""

    result_hint = "the best path through the grid; zoo.search.hypercuboid_result.load_hypercuboid_result reads it"

    def space(self, cfg: "SearchRecipe") -> HyperCuboid:
        return grid_from_recipe(cfg)

    def supernet(self, cfg: "SearchRecipe", space: HyperCuboid, stage: "Stage", num_classes: int,
                 candidates: Optional[Mapping[str, Sequence[Sequence[str]]]]) -> HyperCuboidSupernet:
        grid = space if stage.layers == space.layers else grid_from_recipe(cfg, stage.layers)
        return HyperCuboidSupernet(grid, num_classes=num_classes, in_chans=3, weighting=cfg.weighting)

    def plot_history(self, path: Any, cfg: "SearchRecipe", records: Sequence[Mapping[str, Any]],
                     title: str = "") -> None:
        from .history import plot_hypercuboid
        if not records:
            return
        grid = grid_from_recipe(cfg)
        final = record_grid(records[-1], grid)
        plot_hypercuboid(path, grid, [record_grid(r, grid) for r in records], [r["global_epoch"] for r in records],
                         best_path(final), title=title)


__all__ = ["DEFAULT_PRIMITIVES", "GridPath", "HyperCuboid", "HyperCuboidSpace", "HyperCuboidSupernet", "PRIMITIVES",
           "PathStep", "ResizablePool", "best_path", "describe_path", "grid_from_recipe", "record_grid"]
