"""The genotype: the one vocabulary shared by the compiler, the supernet and every search method.

A genotype file (YAML) describes one or more cell types, which cell type each stage of the
network uses, the op set the op names refer to, network presets per dataset family, and where
the cell comes from. `load_genotype` validates a file completely before anything is built, so a
mistake is reported once, with the field that holds it, instead of as a shape error deep inside
torch. The format is documented in `docs/genotype-schema.md` and, for editors, in
`zoo/genotype.schema.json`.

Longer than the package's other modules on purpose: the types and the one validator that guards
them stay together, so a field cannot be added without its check.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from .errors import GenotypeError, closest
from .ops import get_op_set
from .atomic import atomic_write_bytes
from .paths import is_safe_name
from .runtime import first_line

SCHEMA_VERSION = 1
PROVENANCE_KINDS = ("exact", "reconstructed", "searched")
FAMILIES = ("cifar", "imagenet")
DEFAULT_STAGES = ("normal", "reduce", "normal", "reduce", "normal")

# The first two states of every cell are its inputs (outputs of cells k-2 and k-1);
# intermediate node i of the file is state i + 2.
NUM_CELL_INPUTS = 2

# Bounds checked before a file becomes objects (size, aliases, nesting) and on its content. Each is
# generous, at least 10x any published cell (the largest shipped file is ~5 KB; MiLeNAS cells have
# 6 nodes, PDARTS-N3 has 4 cell types, every network 5 stages and 2 edges per node), so only a
# mistake or a hostile file reaches one. docs/genotype-schema.md ("Limits") lists them.
MAX_FILE_BYTES = 256 * 1024   # the pure-Python YAML reader takes ~1 s for this much on a loaded core
MAX_YAML_ALIASES = 64         # `*name` references; an alias bomb needs thousands
MAX_YAML_DEPTH = 32           # nesting, aliases followed; a genotype file nests 7 levels
MAX_YAML_VALUES = 100_000     # scalars, lists and mappings, aliases expanded; a file has ~500
MAX_CELL_TYPES = 64
MAX_NODES = 64                # intermediate nodes per cell
MAX_EDGES = 64                # edges per node
MAX_STAGES = 63               # odd: normal, reduce, ..., normal (31 reductions)
MAX_NAME_LENGTH = 128         # names, op names, op set names, op option names
MAX_TITLE_LENGTH = 1000
MAX_LAYERS = 256              # presets' layers; also zoo.budget's cell bound (= zoo.settings' layers bound)
MAX_WHOLE_NUMBER = 2 ** 63 - 1  # any integer anywhere in a genotype
# DAG blocks (op set `dag`): vertices and width of one block. The search enumerates at most a few
# thousand DAGs (2**(l(l-1)/2) on l vertices), so 64 vertices is far beyond any searched block.
MAX_DAG_VERTICES = 64
MAX_DAG_WIDTH = 8192
DAG_AGGREGATES = ("sum", "mean")
# The layers of op set `dag`, built by zoo.dag_network. Kept out of the cell op-set registry on
# purpose: a cell search offered these ops would build linear layers on feature maps.
DAG_OP_SET = "dag"
DAG_LAYERS = ("dense", "conv_1x1", "conv_3x3")
DAG_POOLS = ("none", "max", "avg")


@dataclass(frozen=True)
class Edge:
    op: str
    input: int


@dataclass(frozen=True)
class CellType:
    """One cell type. `nodes[i]` holds the edges summed into state `i + 2`."""

    name: str
    reduction: bool
    nodes: tuple[tuple[Edge, ...], ...]
    concat: tuple[int, ...]

    @property
    def live_states(self) -> tuple[int, ...]:
        return tuple(i + NUM_CELL_INPUTS for i, edges in enumerate(self.nodes) if edges)

    @property
    def multiplier(self) -> int:
        """Output channels of the cell in units of its working width C."""
        return len(self.concat)

    @property
    def edges(self) -> tuple[tuple[int, Edge], ...]:
        """(target state, edge) for every edge, in node order."""
        return tuple(
            (i + NUM_CELL_INPUTS, e) for i, node in enumerate(self.nodes) for e in node
        )

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, e in self.edges:
            counts[e.op] = counts.get(e.op, 0) + 1
        return counts

    def depth(self) -> int:
        """Longest chain of ops from a cell input to the output (the paper's 'cell depth')."""
        depth = {0: 0, 1: 0}
        for target, _ in self.edges:
            depth.setdefault(target, 0)
        for i, node in enumerate(self.nodes):
            if node:
                depth[i + NUM_CELL_INPUTS] = 1 + max(depth[e.input] for e in node)
        return max(depth[s] for s in self.concat)


@dataclass(frozen=True)
class DagBlock:
    """A building block of layers wired by a DAG (a master-thesis exposé on differentiable search over
    general DAG blocks, sec. 4.1). Vertices 0..vertices-1 are layers in topological order; an edge
    (i, j), i < j, feeds layer i into layer j through the op `layer` (op set `dag`). A layer with no
    incoming edge reads the block input, a layer with no outgoing edge feeds the block output;
    a layer combines its inputs by `aggregate` (sum or mean); conv layers may be followed by a
    3x3 stride-1 pooling (`pool`)."""

    vertices: int
    edges: tuple[tuple[int, int], ...]
    layer: str = "dense"
    width: int = 64
    aggregate: str = "sum"
    pool: str = "none"

    @property
    def sources(self) -> tuple[int, ...]:
        """Layers that read the block input."""
        fed = {j for _, j in self.edges}
        return tuple(v for v in range(self.vertices) if v not in fed)

    @property
    def sinks(self) -> tuple[int, ...]:
        """Layers whose outputs form the block output."""
        feeding = {i for i, _ in self.edges}
        return tuple(v for v in range(self.vertices) if v not in feeding)

    def depth(self) -> int:
        """Layers on the longest path from the block input to its output."""
        longest = [1] * self.vertices
        for i, j in sorted(self.edges, key=lambda e: e[1]):
            longest[j] = max(longest[j], longest[i] + 1)
        return max(longest)


@dataclass(frozen=True)
class Preset:
    """Network size for one dataset family; the paper's headline setting. `recipe` names the
    training recipe the paper trained it with (`darts-zoo train` checks that it exists; None: the
    family's default recipe). It is not a network argument."""

    layers: int
    channels: int
    auxiliary: bool = True
    drop_path: float = 0.2
    stem_multiplier: int = 3
    recipe: str | None = None


@dataclass(frozen=True)
class Genotype:
    name: str
    cells: Mapping[str, CellType]
    stages: tuple[str, ...] = DEFAULT_STAGES
    op_set: str = "darts"
    op_options: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Preset] = field(default_factory=dict)
    title: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=lambda: {"kind": "searched"})
    published: Mapping[str, Any] = field(default_factory=dict)
    reference: Mapping[str, Any] = field(default_factory=dict)
    search: Mapping[str, Any] = field(default_factory=dict)
    # A DAG building block instead of cells (op set `dag`); then `cells` is empty and `stages` ().
    dag: DagBlock | None = None

    @property
    def normal_types(self) -> tuple[str, ...]:
        return tuple(s for s in self.stages if not self.cells[s].reduction)

    @property
    def num_reductions(self) -> int:
        return sum(1 for s in self.stages if self.cells[s].reduction)

    def preset(self, family: str) -> Preset:
        if family not in FAMILIES:
            raise GenotypeError(self.name, "presets", f"unknown family {family!r}",
                                f"use one of {', '.join(FAMILIES)}")
        if family in self.presets:
            return self.presets[family]
        return DEFAULT_PRESETS[family]

    def cell_plan(self, layers: int) -> list[str]:
        """Cell type of each of `layers` cells: reductions at L/3, 2L/3 (DARTS), generalized
        to R reductions at floor(k L / (R + 1))."""
        reductions = [s for s in self.stages if self.cells[s].reduction]
        normals = self.normal_types
        r = len(reductions)
        positions = [(k * layers) // (r + 1) for k in range(1, r + 1)]
        plan, block = [], 0
        for i in range(layers):
            if i in positions:
                plan.append(reductions[positions.index(i)])
                block = positions.index(i) + 1
            else:
                plan.append(normals[block])
        return plan

    def with_options(self, **options: Any) -> "Genotype":
        return dataclasses.replace(self, op_options={**self.op_options, **options})


DEFAULT_PRESETS = {
    "cifar": Preset(layers=20, channels=36, auxiliary=True, drop_path=0.2),
    "imagenet": Preset(layers=14, channels=48, auxiliary=True, drop_path=0.0),
}


# --------------------------------------------------------------------------- parsing
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 2, 40, 40, 4, 3


def _show(value: Any, limit: int = 80) -> str:
    """A value as a message shows it: one line, at most `limit` characters, never raising (a
    file's value can be a 4000-digit number, a deep list, or a string with newlines)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # e.g. str() of an int beyond Python's digit limit
        text = f"<{type(value).__name__}>"
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str) -> str:
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _where(where: Any) -> str:
    """A file or source name for a message: one line, its middle elided beyond 200 characters."""
    text = _one_line(str(where))
    return text if len(text) <= 200 else f"{text[:100]}...{text[-97:]}"


def _clip(text: str, limit: int) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key(key: Any) -> str:
    """A mapping key as part of a field path: itself when it is a short plain string."""
    if isinstance(key, str) and len(key) <= MAX_NAME_LENGTH and key.isprintable():
        return key
    return _show(key, 60)


def check_structure(data: Any, where: str) -> None:
    """Python data (a Hub config, a dict built in code) within the file limits: nested at most
    MAX_YAML_DEPTH levels, at most MAX_YAML_VALUES values, no container holding itself. Walks
    iteratively and stops at the first bound, so a cyclic or exponential structure costs nothing."""
    stack: list[tuple[Any, int, tuple]] = [(data, 1, ())]
    count = 0
    while stack:
        value, depth, path = stack.pop()
        count += 1
        if isinstance(value, int) and not -MAX_WHOLE_NUMBER <= value <= MAX_WHOLE_NUMBER:
            # Nothing in a genotype counts that far, and Python cannot even print an int of 4300+ digits.
            field = "".join(f"[{k}]" if isinstance(k, int) else f".{_key(k)}" for k in path).lstrip(".")
            raise GenotypeError(where, field, f"{value.bit_length()}-bit whole number, beyond 64 bits",
                                "use a number below 2**63")
        if count > MAX_YAML_VALUES:
            raise GenotypeError(where, "", f"holds more than {MAX_YAML_VALUES} values",
                                "a genotype has a few hundred; remove the bulk")
        if depth > MAX_YAML_DEPTH:
            raise GenotypeError(where, "", f"is nested deeper than {MAX_YAML_DEPTH} levels (or contains itself)",
                                "a genotype nests about 7 levels; flatten the structure")
        if isinstance(value, Mapping):
            children = [(x, k) for k, v in value.items() for x in (k, v)]
        elif isinstance(value, (list, tuple)):
            children = [(x, i) for i, x in enumerate(value)]
        elif isinstance(value, (set, frozenset)):
            children = [(x, "<set>") for x in value]
        else:
            continue
        if count + len(children) > MAX_YAML_VALUES:
            raise GenotypeError(where, "", f"holds more than {MAX_YAML_VALUES} values",
                                "a genotype has a few hundred; remove the bulk")
        stack.extend((child, depth + 1, path + (key,)) for child, key in children)


class _Parser:
    """Turns a parsed YAML mapping into a Genotype, naming the field of every problem."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, path: str, problem: str, fix: str = "") -> GenotypeError:
        return GenotypeError(self.where, _one_line(path), _one_line(problem), _one_line(fix))

    def at_most(self, items: Sequence[Any], limit: int, path: str, what: str, fix: str) -> None:
        if len(items) > limit:
            raise self.fail(path, f"{len(items)} {what}, more than the {limit} a genotype may have", fix)

    def short_name(self, value: Any, path: str, what: str) -> str:
        self.expect(value, str, path, what)
        if len(value) > MAX_NAME_LENGTH or not value.isprintable():
            raise self.fail(path, f"{_show(value, 60)} is not {what} (longer than {MAX_NAME_LENGTH} "
                                  "characters or not printable)", "use a short name")
        return value

    def expect(self, value: Any, kind: type | tuple, path: str, what: str) -> Any:
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(path, f"expected {what}, got {value!r}")
        if not isinstance(value, kind):
            got = type(value).__name__ if value is not None else "nothing"
            raise self.fail(path, f"expected {what}, got {got}")
        return value

    def safe_name(self, value: Any, path: str) -> str:
        # Names become file names (`show --draw`, search outputs) and arrive from Hub configs:
        # refuse anything that is not a plain name rather than clean it behind the user's back.
        self.expect(value, str, path, "a string")
        if not is_safe_name(value):
            raise self.fail(path, f"{value[:80]!r} is not a valid name",
                            "use 1-128 letters, digits and _ . + -, starting with a letter, digit or _")
        return value

    def positive_int(self, value: Any, path: str) -> int:
        self.expect(value, int, path, "a positive whole number")
        if value <= 0:
            raise self.fail(path, f"must be a positive whole number, got {_show(value)}")
        return value

    def parse(self, data: Any) -> Genotype:
        if data is None:
            raise self.fail("", "the file is empty", "write a genotype; see docs/genotype-schema.md")
        self.expect(data, dict, "", "a mapping at the top level (name:, cells:, ...)")
        known = {"schema", "name", "title", "op_set", "op_options", "cells", "stages", "presets",
                 "source", "provenance", "published", "reference", "search", "dag"}
        for key in data:
            if key not in known:
                raise self.fail(_key(key), "unknown field", closest(_key(key), known))
        version = data.get("schema", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise self.fail("schema", f"version {_show(version)} is not supported",
                            f"this darts-zoo reads schema {SCHEMA_VERSION}")
        if "name" not in data:
            raise self.fail("name", "missing", "add `name: my_cell`")
        name = self.safe_name(data["name"], "name")
        op_set = self.short_name(data.get("op_set", "dag" if "dag" in data else "darts"), "op_set", "an op set name")
        op_options = dict(self.expect(data.get("op_options") or {}, dict, "op_options",
                                      "a mapping of option: value"))
        for key in op_options:
            self.short_name(key, f"op_options.{_key(key)}", "an option name")
        title = data.get("title", "")
        title = title if isinstance(title, str) else _show(title, MAX_TITLE_LENGTH)
        if len(title) > MAX_TITLE_LENGTH:
            raise self.fail("title", f"{len(title)} characters, more than {MAX_TITLE_LENGTH}",
                            "keep the title to one line; put details under source:")
        dag = None
        if "dag" in data:
            for key in ("cells", "stages", "presets"):
                if key in data:
                    raise self.fail(key, "a DAG block genotype has no cells, stages or presets",
                                    "describe the block under `dag:` only (see docs/dag-blocks.md)")
            dag = self.dag_block(data["dag"])
        elif "cells" not in data:
            raise self.fail("cells", "missing", "add `cells:` with at least a normal and a reduce cell")
        raw_cells = self.expect(data.get("cells", {}), dict, "cells", "a mapping of cell name: cell")
        self.at_most(raw_cells, MAX_CELL_TYPES, "cells", "cell types",
                     "a network uses a few cell types; stages: says which block uses which")
        cells = {self.safe_name(n, f"cells.{_key(n)}"): self.cell(n, c) for n, c in raw_cells.items()}
        stages = () if dag else self.stages(data.get("stages", list(DEFAULT_STAGES)), cells)
        presets = {}
        raw_presets = self.expect(data.get("presets") or {}, dict, "presets", "a mapping")
        for family, p in raw_presets.items():
            presets[family] = self.preset(_key(family), p)
        provenance = self.expect(data.get("provenance") or {"kind": "searched"}, dict,
                                 "provenance", "a mapping with `kind:`")
        kind = provenance.get("kind")
        if kind not in PROVENANCE_KINDS:
            raise self.fail("provenance.kind", f"{_show(kind)} is not a provenance kind",
                            f"use one of {', '.join(PROVENANCE_KINDS)}")
        for key in ("source", "published", "reference", "search"):
            self.expect(data.get(key) or {}, dict, key, "a mapping")
        for setting, row in (data.get("reference") or {}).items():
            self.reference_row(_key(setting), row)
        return Genotype(
            name=name, cells=cells, stages=stages, op_set=op_set, op_options=op_options,
            presets=presets, title=title, source=dict(data.get("source") or {}),
            provenance=dict(provenance), published=dict(data.get("published") or {}),
            reference=dict(data.get("reference") or {}), search=dict(data.get("search") or {}), dag=dag,
        )

    def dag_block(self, raw: Any) -> DagBlock:
        self.expect(raw, dict, "dag", "a mapping with vertices:, edges:, layer:, width:")
        fields = ("vertices", "edges", "layer", "width", "aggregate", "pool")
        for key in raw:
            if key not in fields:
                raise self.fail(f"dag.{_key(key)}", "unknown field", closest(_key(key), fields))
        for key in ("vertices", "edges"):
            if key not in raw:
                raise self.fail(f"dag.{key}", "missing", "give the number of layers and the [i, j] edges")
        vertices = self.positive_int(raw["vertices"], "dag.vertices")
        if vertices > MAX_DAG_VERTICES:
            raise self.fail("dag.vertices", f"{_show(vertices)} layers, more than the {MAX_DAG_VERTICES} a block may have",
                            f"use at most {MAX_DAG_VERTICES}")
        width = self.positive_int(raw.get("width", 64), "dag.width")
        if width > MAX_DAG_WIDTH:
            raise self.fail("dag.width", f"{_show(width)} units, more than {MAX_DAG_WIDTH}", f"use at most {MAX_DAG_WIDTH}")
        layer = self.short_name(raw.get("layer", "dense"), "dag.layer", "an op name of op set dag")
        if layer not in DAG_LAYERS:
            raise self.fail("dag.layer", f"unknown op {_show(layer)} in op set {DAG_OP_SET!r}", closest(layer, DAG_LAYERS))
        aggregate = self.short_name(raw.get("aggregate", "sum"), "dag.aggregate", "sum or mean")
        if aggregate not in DAG_AGGREGATES:
            raise self.fail("dag.aggregate", f"{_show(aggregate)} is not a way to combine inputs",
                            f"use one of {', '.join(DAG_AGGREGATES)}")
        pool = self.short_name(raw.get("pool", "none"), "dag.pool", "none, max or avg")
        if pool not in DAG_POOLS:
            raise self.fail("dag.pool", f"{_show(pool)} is not a pooling", f"use one of {', '.join(DAG_POOLS)}")
        raw_edges = self.expect(raw["edges"] if raw["edges"] is not None else [], list, "dag.edges",
                                "a list of [i, j] edges")
        self.at_most(raw_edges, vertices * (vertices - 1) // 2, "dag.edges", "edges",
                     "a DAG on l layers has at most l(l-1)/2 edges; check for repeated edges")
        edges = []
        for k, e in enumerate(raw_edges):
            path = f"dag.edges[{k}]"
            if not (isinstance(e, list) and len(e) == 2):
                raise self.fail(path, f"expected an edge [i, j], got {_show(e)}", "write e.g. [0, 1]")
            i, j = (self.expect(v, int, path, "two layer indices") for v in e)
            if not 0 <= i < j < vertices:
                raise self.fail(path, f"[{_show(i)}, {_show(j)}] is not an edge of a DAG on {vertices} layers",
                                f"write [i, j] with 0 <= i < j <= {vertices - 1}")
            edges.append((i, j))
        if len(set(edges)) != len(edges):
            raise self.fail("dag.edges", "lists an edge twice", "name each edge once")
        return DagBlock(vertices=vertices, edges=tuple(sorted(edges)), layer=layer, width=width,
                        aggregate=aggregate, pool=pool)

    def reference_row(self, setting: str, row: Any) -> None:
        """A count measured on the authors' code: {family, overrides, params_m, macs_m, note}."""
        path = f"reference.{setting}"
        self.expect(row, dict, path, "a mapping with params_m:, macs_m:")
        allowed = ("family", "overrides", "params_m", "macs_m", "note")
        for key in row:
            if key not in allowed:
                raise self.fail(f"{path}.{_key(key)}", "unknown field", closest(_key(key), allowed))
        for key in ("params_m", "macs_m"):
            if key not in row:
                raise self.fail(f"{path}.{key}", "missing", "give the reference count in millions")
            self.expect(row[key], (int, float), f"{path}.{key}", "a number")
        family = row.get("family", setting)
        if family not in FAMILIES:
            raise self.fail(f"{path}.family", f"{_show(family)} is not a dataset family",
                            f"add `family:` with one of {', '.join(FAMILIES)}")
        self.expect(row.get("overrides", {}), dict, f"{path}.overrides", "a mapping of keyword: value")

    def cell(self, name: str, raw: Any) -> CellType:
        path = f"cells.{name}"
        self.expect(raw, dict, path, "a mapping with reduction:, nodes:, concat:")
        for key in raw:
            if key not in ("reduction", "nodes", "concat"):
                raise self.fail(f"{path}.{_key(key)}", "unknown field",
                                closest(_key(key), ("reduction", "nodes", "concat")))
        reduction = raw.get("reduction", name.startswith("reduce"))
        self.expect(reduction, bool, f"{path}.reduction", "true or false")
        if "nodes" not in raw:
            raise self.fail(f"{path}.nodes", "missing", "list the nodes, each a list of [op, input] edges")
        raw_nodes = self.expect(raw["nodes"], list, f"{path}.nodes", "a list of nodes")
        if not raw_nodes:
            raise self.fail(f"{path}.nodes", "a cell needs at least one node")
        self.at_most(raw_nodes, MAX_NODES, f"{path}.nodes", "nodes",
                     "published cells have 3-6 nodes; check for repeated lines")
        nodes = []
        for i, raw_node in enumerate(raw_nodes):
            state = i + NUM_CELL_INPUTS
            npath = f"{path}.nodes[{i}]"
            raw_node = self.expect(raw_node if raw_node is not None else [], list, npath,
                                   "a list of [op, input] edges")
            self.at_most(raw_node, MAX_EDGES, npath, "edges", "published nodes have 1-2 edges")
            edges = []
            for k, raw_edge in enumerate(raw_node):
                edges.append(self.edge(raw_edge, f"{npath}[{k}]", state))
            nodes.append(tuple(edges))
        live = {i + NUM_CELL_INPUTS for i, n in enumerate(nodes) if n}
        if not live:
            raise self.fail(f"{path}.nodes", "every node is empty", "give at least one node an edge")
        for i, node in enumerate(nodes):
            for k, e in enumerate(node):
                if e.input >= NUM_CELL_INPUTS and e.input not in live:
                    raise self.fail(f"{path}.nodes[{i}][{k}]",
                                    f"reads state {e.input}, a node with no edges",
                                    "give that node edges or read another state")
        if "concat" in raw:
            concat = self.expect(raw["concat"], list, f"{path}.concat", "a list of node states")
            if not concat:
                raise self.fail(f"{path}.concat", "is empty", "list the states to concatenate, e.g. [2, 3, 4, 5]")
            for k, s in enumerate(concat):
                self.expect(s, int, f"{path}.concat[{k}]", "a state index")
                if s not in live:
                    valid = sorted(live)
                    raise self.fail(f"{path}.concat[{k}]", f"state {_show(s)} is not a node with edges",
                                    f"live node states are {valid}")
            if len(set(concat)) != len(concat):
                raise self.fail(f"{path}.concat", "lists a state twice", "name each state once")
            concat = tuple(concat)
        else:
            # Omitted: every live intermediate node, the rule of DARTS and of stretchable cells.
            concat = tuple(sorted(live))
        return CellType(name=name, reduction=reduction, nodes=tuple(nodes), concat=concat)

    def edge(self, raw: Any, path: str, state: int) -> Edge:
        if isinstance(raw, dict):
            if set(raw) != {"op", "input"}:
                raise self.fail(path, "an edge mapping needs exactly `op:` and `input:`")
            op, src = raw["op"], raw["input"]
        elif isinstance(raw, (list, tuple)) and len(raw) == 2:
            op, src = raw
        else:
            raise self.fail(path, f"expected an edge [op, input], got {_show(raw)}",
                            "write e.g. [sep_conv_3x3, 1]")
        self.short_name(op, f"{path}.op", "an op name")
        self.expect(src, int, f"{path}.input", "a state index")
        if src < 0:
            raise self.fail(f"{path}.input", f"negative input {_show(src)}", "inputs are 0, 1 or an earlier node")
        if src >= state:
            raise self.fail(f"{path}.input", f"state {state} cannot read state {_show(src)}",
                            f"a node reads the cell inputs 0, 1 or an earlier node (< {state})")
        return Edge(op=op, input=src)

    def stages(self, raw: Any, cells: dict[str, CellType]) -> tuple[str, ...]:
        self.expect(raw, list, "stages", "a list of cell names, e.g. [normal, reduce, normal, reduce, normal]")
        self.at_most(raw, MAX_STAGES, "stages", "entries",
                     "published networks have 5 (normal, reduce, normal, reduce, normal)")
        for k, s in enumerate(raw):
            self.expect(s, str, f"stages[{k}]", "a cell name")
            if s not in cells:
                raise self.fail(f"stages[{k}]", f"cell type {_show(s)} is not defined under cells",
                                closest(_key(s), cells))
        if len(raw) % 2 == 0 or len(raw) < 3:
            raise self.fail("stages", f"{len(raw)} entries",
                            "alternate normal and reduction cell types, starting and ending with a normal one, "
                            "with at least one reduction (the auxiliary head sits after the last)")
        for k, s in enumerate(raw):
            want_reduction = k % 2 == 1
            if cells[s].reduction != want_reduction:
                kind = "a reduction" if want_reduction else "a normal"
                raise self.fail(f"stages[{k}]", f"{s!r} is in the place of {kind} cell",
                                "alternate normal and reduction cell types")
        return tuple(raw)

    def preset(self, family: str, raw: Any) -> Preset:
        path = f"presets.{family}"
        if family not in FAMILIES:
            raise self.fail(path, "unknown dataset family", closest(family, FAMILIES))
        self.expect(raw, dict, path, "a mapping with layers:, channels:")
        fields = {f.name for f in dataclasses.fields(Preset)}
        for key in raw:
            if key not in fields:
                raise self.fail(f"{path}.{_key(key)}", "unknown field", closest(_key(key), fields))
        base = DEFAULT_PRESETS[family]
        values = {**dataclasses.asdict(base), **raw}
        layers = self.positive_int(values["layers"], f"{path}.layers")
        if layers > MAX_LAYERS:
            raise self.fail(f"{path}.layers", f"{_show(layers)} cells, more than the {MAX_LAYERS} darts-zoo builds",
                            f"use at most {MAX_LAYERS}; published networks have 8-26")
        channels = self.positive_int(values["channels"], f"{path}.channels")
        stem = self.positive_int(values["stem_multiplier"], f"{path}.stem_multiplier")
        self.expect(values["auxiliary"], bool, f"{path}.auxiliary", "true or false")
        drop = self.expect(values["drop_path"], (int, float), f"{path}.drop_path", "a number")
        if not 0 <= drop < 1 or math.isnan(drop):
            raise self.fail(f"{path}.drop_path", f"{_show(drop)} is not a probability", "use a value in [0, 1)")
        # A training recipe's name; `darts-zoo train` checks that it exists, the core does not know them.
        recipe = self.safe_name(raw["recipe"], f"{path}.recipe") if "recipe" in raw else base.recipe
        return Preset(layers=layers, channels=channels, auxiliary=values["auxiliary"],
                      drop_path=float(drop), stem_multiplier=stem, recipe=recipe)


def validate_ops(g: Genotype, where: str | None = None) -> None:
    """Every op name must exist in the genotype's op set (checked after parsing so that
    op sets registered by plugins are seen)."""

    where = where or g.name
    if g.dag is not None:
        if g.op_set != DAG_OP_SET:
            raise GenotypeError(where, "op_set", f"a DAG block's layers are op set {DAG_OP_SET!r}, not {g.op_set!r}",
                                f"write op_set: {DAG_OP_SET} or leave it out")
        if g.dag.pool != "none" and g.dag.layer == "dense":
            raise GenotypeError(where, "dag.pool", "pooling needs conv layers, not dense ones",
                                "use pool: none, or a conv layer such as conv_3x3")
        return
    if g.op_set == DAG_OP_SET:
        raise GenotypeError(where, "op_set", "op set 'dag' builds DAG blocks, not cells",
                            "describe the block under `dag:` (see docs/dag-blocks.md)")
    try:
        ops = get_op_set(g.op_set)
    except KeyError as e:
        raise GenotypeError(where, "op_set", str(e.args[0])) from None
    for cname, cell in g.cells.items():
        for i, node in enumerate(cell.nodes):
            for k, e in enumerate(node):
                if e.op not in ops.names:
                    raise GenotypeError(where, f"cells.{cname}.nodes[{i}][{k}].op",
                                        f"unknown op {e.op!r} in op set {g.op_set!r}",
                                        closest(e.op, ops.names))
                if e.op == "none":
                    raise GenotypeError(where, f"cells.{cname}.nodes[{i}][{k}].op",
                                        "`none` is a search-only op and cannot be compiled",
                                        "remove the edge")
    unknown = set(g.op_options) - set(ops.options)
    if unknown:
        name = sorted(unknown)[0]
        raise GenotypeError(where, f"op_options.{name}", f"op set {g.op_set!r} has no option {name!r}",
                            closest(name, ops.options) if ops.options else "this op set takes no options")
    ops.check_options(g.op_options, where)


def genotype_from_dict(data: Any, where: str = "<genotype>") -> Genotype:
    """Validate a mapping in the file's format (a Hub config, a dict built in code): the same
    bounds as a file (nesting, size, cells, nodes, edges, stages, names), the schema, the ops."""
    where = _where(where)
    check_structure(data, where)
    g = _Parser(where).parse(data)
    validate_ops(g, where)
    return g


class _YamlLimit(yaml.MarkedYAMLError):
    """A bound of the loader, raised while composing, before any object is constructed."""

    def __init__(self, mark: Any, problem: str, fix: str):
        super().__init__(problem=problem, problem_mark=mark)
        self.fix = fix


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader (the same tags, the same plain objects) that refuses an alias bomb, deep
    nesting and a recursive alias while the document is still a graph of nodes: aliases are
    counted and nesting is bounded as they are composed, then the graph's size with every alias
    expanded is computed (each shared node once) before a single object is constructed. A
    value that the constructor cannot read (a 13th month, a 5000-digit number) is a YAML error
    at its position, not a ValueError."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _YamlLimit(self.peek_event().start_mark, f"more than {MAX_YAML_ALIASES} YAML aliases (*name)",
                                 "write the repeated values out instead of aliasing them")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlLimit(self.peek_event().start_mark, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                 "a genotype file nests about 7 levels; flatten the structure")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return self.construct_document(node)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError, ArithmeticError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value ({_clip(first_line(e), 100)})", node.start_mark) from None


def _check_graph(root: Any) -> None:
    """The composed document within MAX_YAML_VALUES values and MAX_YAML_DEPTH levels with every
    alias expanded, and no node that contains itself. Memoized per node: linear in the file."""
    done: dict[int, tuple[int, int]] = {}   # id(node) -> (values, height), aliases expanded
    open_nodes: set[int] = set()

    def visit(node: Any, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_nodes:
            raise _YamlLimit(node.start_mark, "a YAML alias refers to a node that contains it",
                             "remove the recursive alias")
        if key not in done:
            if depth > MAX_YAML_DEPTH:
                raise _YamlLimit(node.start_mark, f"nested deeper than {MAX_YAML_DEPTH} levels (aliases followed)",
                                 "a genotype file nests about 7 levels; flatten the structure")
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [x for pair in node.value for x in pair]
            else:
                children = []
            open_nodes.add(key)
            size, height = 1, 0
            for child in children:
                s, h = visit(child, depth + 1)
                size, height = size + s, max(height, h)
                if size > MAX_YAML_VALUES:
                    raise _YamlLimit(node.start_mark, f"holds more than {MAX_YAML_VALUES} values once its aliases are expanded",
                                     "write the values out without aliases, or remove the bulk")
            open_nodes.discard(key)
            done[key] = (size, height + 1)
        size, height = done[key]
        if depth - 1 + height > MAX_YAML_DEPTH:
            raise _YamlLimit(node.start_mark, f"nested deeper than {MAX_YAML_DEPTH} levels (aliases followed)",
                             "a genotype file nests about 7 levels; flatten the structure")
        return size, height

    visit(root, 1)


def load_genotype(path: str | Path) -> Genotype:
    """Read and fully validate a genotype file; every problem is a one-line GenotypeError."""
    path = Path(path)
    where = _where(path)
    limit = f"{MAX_FILE_BYTES // 1024} KiB"
    try:
        if not path.exists():
            raise GenotypeError(where, "", "no such file", "check the path, or `darts-zoo list` for zoo names")
        if path.is_dir():
            raise GenotypeError(where, "", "is a directory", "give a .yaml genotype file")
        if not path.is_file():
            raise GenotypeError(where, "", "is not a regular file", "give a .yaml genotype file")
        # The size before reading, and never more than the limit read: a 50 MB file (or one that
        # grows while it is read) is refused without being loaded.
        size = path.stat().st_size
        if size <= MAX_FILE_BYTES:
            with open(path, "rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
            size = len(raw)
    except OSError as e:
        raise GenotypeError(where, "", f"cannot be read ({_one_line(e.strerror or first_line(e))})",
                            "check the path and its permissions") from None
    if size > MAX_FILE_BYTES:
        raise GenotypeError(where, "", f"is {size} bytes, more than the {limit} a genotype file may have",
                            "a genotype file is a few KB; check that this is the right file")
    if b"\0" in raw:
        raise GenotypeError(where, "", "is a binary file, not YAML", "give a .yaml genotype file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GenotypeError(where, "", "is not UTF-8 text", "save the file as UTF-8 YAML") from None
    if not text.strip():
        raise GenotypeError(where, "", "the file is empty", "write a genotype; see docs/genotype-schema.md")
    try:
        # yaml.safe_load's loader with bounds (see _BoundedLoader): safe, and never expands an alias bomb.
        data = yaml.load(text, Loader=_BoundedLoader)
    except _YamlLimit as e:
        mark = e.problem_mark
        raise GenotypeError(where, f"line {mark.line + 1}, column {mark.column + 1}", e.problem, e.fix) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = _clip(str(getattr(e, "problem", None) or first_line(e)), 160)
        raise GenotypeError(where, at, f"malformed YAML: {problem}",
                            "fix the YAML syntax at that position") from None
    return genotype_from_dict(data, where)


# --------------------------------------------------------------------------- writing
class _FlowList(list):
    """An edge, written on one line as [op, input]."""


def _flow_representer(dumper: yaml.SafeDumper, data: _FlowList):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_FlowList, _flow_representer)


def _plain(value: Any) -> Any:
    """YAML-safe plain data (no numpy or torch scalars, no tuples)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        # A row of numbers or names (e.g. one edge's alphas) stays on one line.
        flat = all(isinstance(v, (int, float, str, bool)) or v is None for v in items)
        return _FlowList(items) if flat and items else items
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def genotype_to_dict(g: Genotype) -> dict[str, Any]:
    cells = {}
    for name, cell in g.cells.items():
        cells[name] = {
            "reduction": cell.reduction,
            # One node per line, as the zoo's files are written: [[op, input], [op, input]].
            "nodes": [_FlowList(_FlowList([e.op, e.input]) for e in node) for node in cell.nodes],
            "concat": _FlowList(cell.concat),
        }
    out: dict[str, Any] = {"schema": SCHEMA_VERSION, "name": g.name}
    if g.title:
        out["title"] = g.title
    out["op_set"] = g.op_set
    if g.op_options:
        out["op_options"] = _plain(g.op_options)
    if g.dag is not None:
        d = g.dag
        out["dag"] = {"vertices": d.vertices, "width": d.width, "layer": d.layer, "aggregate": d.aggregate,
                      "pool": d.pool, "edges": [_FlowList(e) for e in d.edges]}
    else:
        out["cells"] = cells
        out["stages"] = _FlowList(g.stages)
    if g.presets:
        out["presets"] = {f: preset_to_dict(p) for f, p in g.presets.items()}
    for key in ("source", "provenance", "published", "reference", "search"):
        value = getattr(g, key)
        if value:
            out[key] = _plain(value)
    return out


def preset_to_dict(p: Preset) -> dict[str, Any]:
    """A preset as the file writes it: `recipe` only when it is set."""
    out = dataclasses.asdict(p)
    if out["recipe"] is None:
        del out["recipe"]
    return out


def dump_genotype(g: Genotype) -> str:
    return yaml.dump(genotype_to_dict(g), Dumper=_Dumper, sort_keys=False, width=100)


def save_genotype(g: Genotype, path: str | Path) -> Path:
    """Write atomically: a reader never sees half a file, an interrupted write leaves none."""

    return atomic_write_bytes(path, dump_genotype(g).encode("utf-8"))


def make_genotype(name: str, cells: Mapping[str, tuple[bool, Sequence[Sequence[tuple[str, int]]],
                                                       Sequence[int] | None]], **kwargs: Any) -> Genotype:
    """Build and validate a genotype from Python data:
    cells = {"normal": (False, [[("sep_conv_3x3", 0), ...], ...], concat_or_None), ...}."""
    raw_cells = {}
    for cname, (reduction, nodes, concat) in cells.items():
        raw = {"reduction": reduction, "nodes": [[list(e) for e in node] for node in nodes]}
        if concat is not None:
            raw["concat"] = list(concat)
        raw_cells[cname] = raw
    data = {"name": name, "cells": raw_cells}
    for key, value in kwargs.items():
        if key == "stages":
            value = list(value)
        elif key == "presets":
            value = {f: preset_to_dict(p) if isinstance(p, Preset) else dict(p) for f, p in value.items()}
        data[key] = value
    return genotype_from_dict(data, where=name)
