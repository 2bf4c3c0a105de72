"""The search space: one description shared by the supernet, the discretizers and the genotype.

A `SearchSpace` names the op set and the candidate ops on every edge, the number of intermediate
nodes per cell, the stage layout (which cell type each block of the network uses) and whether the
cell topology is learned (Huang et al., 'Stretchable Cells Help DARTS Search Better'). The same stage layout is what the compiled
network reads from the genotype, so `cell_plan` here and `Genotype.cell_plan` agree cell by cell.

Edges are numbered as DARTS numbers its alpha rows: node 0 (state 2) reads states 0, 1; node 1
(state 3) reads 0, 1, 2; ... so `edge_list[e] = (target_state, source_state)`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from zoo.errors import GenotypeError, ZooError, closest
from zoo.genotype import DEFAULT_STAGES, NUM_CELL_INPUTS
from zoo.ops import DARTS_CANDIDATES, get_op_set, op_set_names

WHERE = "search space"
TOPOLOGIES = ("output", "input")  # how a stretchable space models the topology


@dataclass(frozen=True)
class SearchSpace:
    """Everything that fixes the shape of the supernet's architecture parameters.

    op_set      op registry set the candidate names refer to (`darts`, `sharp`, `thesis`, ...)
    candidates  ops on every edge; None -> the op set's paper candidates (without `none` when
                stretchable, since stretchable cells learn the topology instead)
    nodes       intermediate nodes per cell (DARTS 4, thesis PDARTS-3x 3, stretchable 7)
    stages      cell type per block, alternating normal / reduction, e.g.
                (normal1, reduce, normal2, reduce, normal3) for the thesis' PDARTS-N3
    stretchable learn the output-edge topology with beta variables (stretchable-cells paper, eqs. 11-15)
    max_inputs  k of the standard rule: a node keeps its k strongest incoming edges
    exclude     ops removed from the candidates (ablations, e.g. no dilated convs)
    op_options  op set options (sharp: c_mid); copied into the derived genotype
    out_edges   stretchable only: None = any non-empty set of output edges (stretchable cells);
                k = exactly k output edges per node (the stretchable-cells paper's fixed-topology 'DARTS w/o SC')
    topology    stretchable only: "output" (output edges, eqs. 9-15) or "input" (two input edges per
                node chosen by pair variables, eqs. 3-6; the paper's Table 5 'Input Edges' column)
    edge_norm   one beta per edge, softmaxed over each node's inputs, weighting the edge outputs
                and the derivation (PC-DARTS edge normalization, arXiv:1907.05737 sec. 3.3)
    """

    op_set: str = "darts"
    candidates: Optional[tuple[str, ...]] = None
    nodes: int = 4
    stages: tuple[str, ...] = DEFAULT_STAGES
    stretchable: bool = False
    max_inputs: int = 2
    exclude: tuple[str, ...] = ()
    op_options: Mapping[str, Any] = field(default_factory=dict)
    out_edges: Optional[int] = None
    topology: str = "output"
    edge_norm: bool = False

    def __post_init__(self) -> None:
        # Normalize sequences so that spaces compare equal and hash however they were written.
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        object.__setattr__(self, "op_options", dict(self.op_options))
        if self.op_set not in op_set_names():
            raise GenotypeError(WHERE, "op_set", f"unknown op set {self.op_set!r}",
                                closest(self.op_set, op_set_names()))
        ops = get_op_set(self.op_set)
        if self.candidates is None:
            base = tuple(ops.candidates) or tuple(ops.names)
            if self.stretchable:
                base = tuple(o for o in base if o != "none")
        else:
            base = tuple(self.candidates)
        for name in base + self.exclude:
            if name not in ops.names:
                raise GenotypeError(WHERE, "candidates", f"unknown op {name!r} in op set {self.op_set!r}",
                                    closest(name, ops.names))
        resolved = tuple(o for o in base if o not in self.exclude)
        if len(set(resolved)) != len(resolved):
            raise GenotypeError(WHERE, "candidates", "an op is listed twice", "name each op once")
        if not any(o != "none" for o in resolved):
            raise GenotypeError(WHERE, "candidates", "no op other than `none` is left",
                                "keep at least one real op")
        object.__setattr__(self, "candidates", resolved)
        if not isinstance(self.nodes, int) or self.nodes < 1:
            raise ZooError(f"{WHERE}: nodes: expected a positive whole number, got {self.nodes!r}")
        if not isinstance(self.max_inputs, int) or self.max_inputs < 1:
            raise ZooError(f"{WHERE}: max_inputs: expected a positive whole number, got {self.max_inputs!r}")
        if self.out_edges is not None and (not isinstance(self.out_edges, int) or self.out_edges < 1):
            raise ZooError(f"{WHERE}: out_edges: expected None or a positive whole number, got {self.out_edges!r}")
        if self.topology not in TOPOLOGIES:
            raise ZooError(f"{WHERE}: topology: expected one of {list(TOPOLOGIES)}, got {self.topology!r}")
        if self.edge_norm and self.stretchable:
            raise ZooError(f"{WHERE}: edge_norm and stretchable both give the edges beta variables; choose one")
        self._check_stages()
        for key in self.op_options:
            if key not in ops.options:
                raise GenotypeError(WHERE, f"op_options.{key}", f"op set {self.op_set!r} has no option {key!r}",
                                    closest(key, ops.options) if ops.options else "this op set takes no options")
        ops.check_options(self.op_options, WHERE)

    def _check_stages(self) -> None:
        stages = self.stages
        if len(stages) % 2 == 0 or not stages:
            raise ZooError(f"{WHERE}: stages: {len(stages)} entries (alternate normal and reduction "
                           "cell types, starting and ending with a normal one)")
        kinds: dict[str, bool] = {}
        for k, name in enumerate(stages):
            if not isinstance(name, str) or not name.isidentifier():
                raise ZooError(f"{WHERE}: stages[{k}]: {name!r} is not a valid cell type name "
                               "(use letters, digits and underscores, e.g. normal1)")
            reduction = k % 2 == 1
            if kinds.setdefault(name, reduction) != reduction:
                raise ZooError(f"{WHERE}: stages[{k}]: {name!r} is used both as a normal and as a "
                               "reduction cell (give the two kinds different names)")

    # ------------------------------------------------------------------ derived layout
    @property
    def cell_types(self) -> tuple[str, ...]:
        """Unique cell type names, in order of first appearance in `stages`."""
        return tuple(dict.fromkeys(self.stages))

    def is_reduction(self, cell_type: str) -> bool:
        return self.stages.index(cell_type) % 2 == 1

    @property
    def normal_types(self) -> tuple[str, ...]:
        return tuple(t for t in self.cell_types if not self.is_reduction(t))

    @property
    def reduction_types(self) -> tuple[str, ...]:
        return tuple(t for t in self.cell_types if self.is_reduction(t))

    @property
    def edge_list(self) -> list[tuple[int, int]]:
        return [(NUM_CELL_INPUTS + j, src) for j in range(self.nodes) for src in range(NUM_CELL_INPUTS + j)]

    @property
    def num_edges(self) -> int:
        return sum(NUM_CELL_INPUTS + j for j in range(self.nodes))

    @property
    def num_ops(self) -> int:
        return len(self.candidates)

    def cell_plan(self, layers: int) -> list[str]:
        """Cell type of each of `layers` cells; the same rule as `Genotype.cell_plan` (reductions
        at floor(k L / (R + 1)), the normal type of the block in between)."""
        blocks = self.stages[0::2]
        reductions = self.stages[1::2]
        r = len(reductions)
        positions = [(k * layers) // (r + 1) for k in range(1, r + 1)]
        plan, block = [], 0
        for i in range(layers):
            if i in positions:
                k = positions.index(i)
                plan.append(reductions[k])
                block = k + 1
            else:
                plan.append(blocks[block])
        return plan

    def check_layers(self, layers: int) -> list[str]:
        """The cell plan, or a one-line error when some cell type would get no cell to search in."""
        if not isinstance(layers, int) or layers < 1:
            raise ZooError(f"{WHERE}: layers: expected a positive whole number, got {layers!r}")
        plan = self.cell_plan(layers)
        missing = [t for t in self.cell_types if t not in plan]
        if missing:
            need = len(self.stages)
            raise ZooError(f"{WHERE}: {layers} cells leave cell type {missing[0]!r} without a cell "
                           f"(use at least {need} layers for the stages {list(self.stages)})")
        return plan

    # ------------------------------------------------------------------ (de)serialization
    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML safe); `SearchSpace.from_dict` rebuilds the same space."""
        return {
            "op_set": self.op_set,
            "candidates": list(self.candidates),
            "nodes": self.nodes,
            "stages": list(self.stages),
            "stretchable": self.stretchable,
            "max_inputs": self.max_inputs,
            "exclude": list(self.exclude),
            "op_options": dict(self.op_options),
            "out_edges": self.out_edges,
            "topology": self.topology,
            "edge_norm": self.edge_norm,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchSpace":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            key = sorted(unknown)[0]
            raise ZooError(f"{WHERE}: unknown field {key!r} ({closest(key, known)})")
        kw = dict(data)
        for key in ("candidates", "stages", "exclude"):
            if kw.get(key) is not None:
                kw[key] = tuple(kw[key])
        return cls(**kw)

    def replace(self, **changes: Any) -> "SearchSpace":
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------- ablations


def _swap(ops: Sequence[str], old: str, new: str) -> tuple[str, ...]:
    return tuple(new if o == old else o for o in ops)


# The PDARTS thesis' search-space analysis (Paganucci 2020, secs. 3.4 and 4.2), as (op_set, candidates).
ABLATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "darts": ("darts", DARTS_CANDIDATES),
    # §4.2: DARTS-noDil / PDARTS-noDil.
    "no_dil": ("darts", tuple(o for o in DARTS_CANDIDATES if not o.startswith("dil_conv"))),
    "no_pool": ("darts", tuple(o for o in DARTS_CANDIDATES if "pool" not in o)),
    # §3.4.1: depth-balanced dilated convs, PDARTS-DD and PDARTS-DC.
    "dil_dd": ("thesis", _swap(_swap(DARTS_CANDIDATES, "dil_conv_3x3", "dil_conv_3x3_DD"), "dil_conv_5x5", "dil_conv_5x5_DD")),
    "dil_dc": ("thesis", _swap(_swap(DARTS_CANDIDATES, "dil_conv_3x3", "dil_conv_3x3_DC"), "dil_conv_5x5", "dil_conv_5x5_DC")),
    # §3.4.2: the deep separable conv appended (3x3 and 5x5), or replacing sep_conv_5x5.
    "deep_sep": ("thesis", DARTS_CANDIDATES + ("deep_sep_conv_3x3", "deep_sep_conv_5x5")),
    "deep_sep_for_sep5": ("thesis", _swap(DARTS_CANDIDATES, "sep_conv_5x5", "deep_sep_conv_3x3")),
}
# §4.2: "we exclude each operation within the search space, one by one": no_<op> for each DARTS op.
ABLATIONS.update({f"no_{op}": ("darts", tuple(o for o in DARTS_CANDIDATES if o != op))
                  for op in DARTS_CANDIDATES if op != "none"})


def ablation_space(name: str, **kw: Any) -> SearchSpace:
    """A search space of the thesis' op-set ablations by name (see ABLATIONS); other SearchSpace
    fields by keyword, e.g. ablation_space("dil_dc", nodes=3)."""
    if name not in ABLATIONS:
        raise ZooError(f"{WHERE}: unknown ablation {name!r} ({closest(name, ABLATIONS)})")
    op_set, candidates = ABLATIONS[name]
    if kw.get("stretchable"):
        candidates = tuple(o for o in candidates if o != "none")
    return SearchSpace(op_set=op_set, candidates=candidates, **kw)


# The stage layout of the thesis' PDARTS-N3: one normal cell type per block (Paganucci 2020, sec. 3.3.2).
N3_STAGES = ("normal1", "reduce", "normal2", "reduce", "normal3")
