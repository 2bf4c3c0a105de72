"""From architecture weights to a discrete cell: the rules of DARTS, P-DARTS, the thesis and
stretchable cells.

Weights come in as plain data, one `{op: weight}` mapping per edge in `SearchSpace.edge_list`
order, so every rule can be checked by hand on a few numbers.

standard   (DARTS, P-DARTS) an edge's strength is its strongest non-`none` op weight; each node
           keeps its k strongest incoming edges (k = 2) with that op. Edges of a node are listed
           strongest first, as DARTS writes its genotypes; ties keep the lower input first.
grouping   (thesis §3.5) ops fall into the groups none / skip / pool / conv (`OpSet.group`). Per
           edge, a group's score is the SUM of its ops' softmax weights; the best group's best op
           gets the group score as its weight, the other weights stay, and the standard rule runs
           on the result. (The thesis' formula writes alpha, its eq. 3.1 mixes by softmax(alpha);
           sums of logits would mean nothing, so we sum the softmax weights.) A winning `none`
           group changes nothing, since the standard rule ignores `none`: such an edge competes
           with its best individual non-`none` weight.
skip cap   (P-DARTS §3.2.2 / thesis §3.2.2) at most `max_skips` skip_connect in every normal cell
           type: the kept skip_connect with the lowest weight is taken off its edge and the cell
           is derived again, until the cap holds. By default (rerank=True, what the P-DARTS code
           does) "derived again" includes the edge ranking, so the edge now competes with its next
           best op's weight and may lose its place to another edge; rerank=False only swaps the
           op on the same edge for its next best non-skip op.
output_edges (stretchable-cells paper, Table 5) DARTS' alphas, but each state keeps its k = 2 strongest
           output edges instead of each node its 2 strongest input edges.
stretchable (stretchable-cells paper, Huang et al.) the topology is each source's argmax output-edge code; nodes that no live
           state feeds are removed; each kept edge takes its best non-`none` op.
own topology  a rule may be an object with a `cell(weights, edge_list, space, max_skips)` method that
           chooses the edges itself (Fair DARTS' threshold, I-DARTS' per-node ranking); derive_cells
           then calls it in place of the standard top-k selection.
edge normalization (PC-DARTS, arXiv:1907.05737 sec. 3.3) before any rule, each edge's op weights
           are multiplied by its edge weight (the softmax of the betas over the node's inputs), so
           the betas decide which inputs a node keeps; the op chosen on an edge does not change.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Protocol, Sequence, Union

from zoo.errors import ZooError
from zoo.genotype import NUM_CELL_INPUTS, Genotype, make_genotype
from zoo.ops import get_op_set

from .registry import Registry
from .stretchable import live_edges

EdgeWeights = Sequence[Mapping[str, float]]
Node = list[tuple[str, int]]


class CellRule(Protocol):
    """A rule that chooses a cell's edges itself (see "own topology" above)."""

    def cell(self, weights: EdgeWeights, edge_list: Sequence[tuple[int, int]], space: Any,
             max_skips: Optional[int]) -> list[Node]: ...


# A discretization rule turns one cell type's edge weights into the weights the edges and ops are
# ranked by: "standard" ranks by the softmax weights themselves (DARTS); "grouping" first sums
# them per op group and gives the sum to the group's best op (the thesis' grouping rule). Or it is a
# CellRule, which derive_cells asks for the whole cell.
RULES: Registry[Union[Callable[[EdgeWeights, Any], EdgeWeights], CellRule]] = Registry("discretization rule")
SKIP = "skip_connect"


def best_op(weights: Mapping[str, float], exclude: Sequence[str] = ("none",)) -> Optional[tuple[str, float]]:
    """The strongest op not in `exclude` (first listed wins a tie), or None if there is none."""
    best = None
    for op, w in weights.items():
        if op in exclude:
            continue
        if best is None or w > best[1]:
            best = (op, w)
    return best


def _by_target(edge_list: Sequence[tuple[int, int]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for e, (target, _) in enumerate(edge_list):
        out.setdefault(target, []).append(e)
    return out


def select_edges(weights: EdgeWeights, edge_list: Sequence[tuple[int, int]], k: int = 2) -> list[list[int]]:
    """Indices of the kept edges of every node, strongest first (the standard rule's topology)."""
    nodes = []
    for target, edges in sorted(_by_target(edge_list).items()):
        ranked = []
        for e in edges:
            b = best_op(weights[e])
            if b is not None:
                ranked.append((b[1], e))
        # Stable sort on strength only: equal strengths keep the lower input first.
        ranked.sort(key=lambda r: -r[0])
        nodes.append([e for _, e in ranked[:k]])
    return nodes


def _cell_from_selection(weights: EdgeWeights, edge_list: Sequence[tuple[int, int]],
                         selection: Sequence[Sequence[int]], ops: Optional[Mapping[int, str]] = None) -> list[Node]:
    ops = ops or {}
    return [[(ops.get(e) or best_op(weights[e])[0], edge_list[e][1]) for e in node] for node in selection]


def standard_cell(weights: EdgeWeights, edge_list: Sequence[tuple[int, int]], k: int = 2) -> list[Node]:
    """DARTS/P-DARTS rule: per node the k strongest edges, each with its strongest non-none op."""
    return _prune_unfed(_cell_from_selection(weights, edge_list, select_edges(weights, edge_list, k)))


def group_weights(weights: EdgeWeights, group_of: Callable[[str], str]) -> list[dict[str, float]]:
    """Thesis §3.5: the best group's best op carries the group's summed weight."""
    out = []
    for w in weights:
        scores: dict[str, float] = {}
        for op, v in w.items():
            g = group_of(op)
            scores[g] = scores.get(g, 0.0) + v
        new = dict(w)
        if scores:
            group = max(scores, key=lambda g: scores[g])   # first-seen group wins a tie
            members = {op: v for op, v in w.items() if group_of(op) == group}
            top = max(members, key=lambda op: members[op])
            new[top] = scores[group]
        out.append(new)
    return out


RULES.register("standard")(lambda weights, ops: weights)
RULES.register("grouping")(lambda weights, ops: group_weights(weights, ops.group))
# Output-edge derivation (stretchable-cells paper, Table 5 'Output Edges' for DARTS): the weights
# rank as the standard rule's, but every state keeps its k strongest OUTPUT edges (output_edge_cell).
RULES.register("output_edges")(lambda weights, ops: weights)
OUTPUT_EDGE_RULES = ("output_edges",)


def cap_skips(weights: EdgeWeights, edge_list: Sequence[tuple[int, int]], k: int, max_skips: int,
              rerank: bool = True, skip: str = SKIP) -> list[Node]:
    """Standard rule with at most `max_skips` skip_connect edges (P-DARTS §3.2.2)."""
    if max_skips < 0:
        raise ZooError(f"skip cap: max_skips must be 0 or more, got {max_skips}")
    w = [dict(x) for x in weights]
    selection = select_edges(w, edge_list, k)
    forced: dict[int, str] = {}
    while True:
        ops = {e: forced.get(e) or best_op(w[e])[0] for node in selection for e in node}
        skips = [e for node in selection for e in node if ops[e] == skip]
        if len(skips) <= max_skips:
            return _prune_unfed(_cell_from_selection(w, edge_list, selection, ops))
        # The weakest skip goes first; among equals, the first edge in edge order.
        weakest = min(skips, key=lambda e: (w[e][skip], e))
        del w[weakest][skip]
        if rerank:
            selection = select_edges(w, edge_list, k)
        else:
            nxt = best_op(w[weakest])
            if nxt is None:
                # Nothing else can sit on this edge; drop it rather than keep the skip.
                selection = [[e for e in node if e != weakest] for node in selection]
            else:
                forced[weakest] = nxt[0]


def swap_weak_skips(weights: EdgeWeights, ops: Mapping[int, str], max_skips: int, skip: str = SKIP,
                    floor: Optional[float] = None) -> dict[int, str]:
    """The skip cap on fixed edges ({edge: op}): while more than `max_skips` ops are skips, the weakest
    skip (ties: the lower edge) gives its edge to the edge's next best op; the edge is dropped when
    no op is left, or none reaches `floor`."""
    ops = dict(ops)
    w = {i: dict(weights[i]) for i in ops}
    while sum(1 for op in ops.values() if op == skip) > max_skips:
        weakest = min((i for i, op in ops.items() if op == skip), key=lambda i: (w[i][skip], i))
        del w[weakest][skip]
        nxt = best_op(w[weakest])
        if nxt is None or (floor is not None and nxt[1] < floor):
            del ops[weakest]
        else:
            ops[weakest] = nxt[0]
    return ops


def stretchable_cell(weights: EdgeWeights, edge_list: Sequence[tuple[int, int]],
                     chosen: Mapping[int, Sequence[int]], nodes: int,
                     max_skips: Optional[int] = None, skip: str = SKIP,
                     fallback: Optional[Sequence[float]] = None) -> list[Node]:
    """Stretchable cells (Huang et al.): topology from the argmax output-edge codes, ops from the alphas (no `none`).

    With a skip cap the topology stays (it is the betas' choice); the weakest skips are swapped for
    their edge's next best op. `fallback`: per-edge merged probabilities, used only if no node at
    all is fed (possible when empty codes are allowed): the first node then reads its stronger
    input, so the cell is never empty."""
    index = {e: i for i, e in enumerate(edge_list)}
    kept = live_edges(dict(chosen), nodes)
    if not kept and fallback is not None:
        first = NUM_CELL_INPUTS
        kept = [max(((first, s) for s in range(NUM_CELL_INPUTS)), key=lambda e: fallback[index[e]])]
    ops = {}
    for e in kept:
        b = best_op(weights[index[e]])
        if b is not None:
            ops[index[e]] = b[0]
    if max_skips is not None:
        ops = swap_weak_skips(weights, ops, max_skips, skip)
    cell: list[Node] = [[] for _ in range(nodes)]
    for i in sorted(ops):
        target, src = edge_list[i]
        cell[target - NUM_CELL_INPUTS].append((ops[i], src))
    return _prune_unfed(cell)


def output_edge_choice(weights: EdgeWeights, edge_list: Sequence[tuple[int, int]], k: int = 2) -> dict[int, tuple[int, ...]]:
    """{source state: the k targets its strongest output edges feed} (all of them when it has fewer);
    an edge's strength is its strongest non-`none` op weight, ties keep the nearer target."""
    by_source: dict[int, list[tuple[float, int]]] = {}
    for e, (target, src) in enumerate(edge_list):
        b = best_op(weights[e])
        if b is not None:
            by_source.setdefault(src, []).append((b[1], target))
    out = {}
    for src, ranked in sorted(by_source.items()):
        ranked.sort(key=lambda r: -r[0])
        out[src] = tuple(sorted(t for _, t in ranked[:k]))
    return out


def output_edge_cell(weights: EdgeWeights, edge_list: Sequence[tuple[int, int]], nodes: int, k: int = 2,
                     max_skips: Optional[int] = None) -> list[Node]:
    """DARTS alphas derived from the output side: each state keeps its k strongest output edges,
    nodes left without input are removed, each kept edge takes its best non-`none` op."""
    return stretchable_cell(weights, edge_list, output_edge_choice(weights, edge_list, k), nodes, max_skips)


def _prune_unfed(cell: list[Node]) -> list[Node]:
    """Drop edges that read a node left without edges (possible only when an edge has nothing but
    `none` left, or a skip-cap had nothing to put in a skip's place)."""
    live = set(range(NUM_CELL_INPUTS))
    out = []
    for j, node in enumerate(cell):
        node = [(op, s) for op, s in node if s in live]
        if node:
            live.add(j + NUM_CELL_INPUTS)
        out.append(node)
    return out


# --------------------------------------------------------------------------- whole genotype
def scale_edges(weights: EdgeWeights, scales: Sequence[float]) -> list[dict[str, float]]:
    """Every op weight of edge e times scales[e] (edge normalization's derivation weights)."""
    return [{op: v * s for op, v in w.items()} for w, s in zip(weights, scales)]


def derive_cells(supernet: Any, rule: str = "standard", max_skips: Optional[int] = None,
                 rerank: bool = True) -> dict[str, list[Node]]:
    """{cell_type: nodes} for every cell type of the supernet's space."""
    rank_by = RULES.get(rule)
    space = supernet.space
    ops = get_op_set(space.op_set)
    weights = supernet.arch_weights()
    edge_list = space.edge_list
    cells = {}
    for t in space.cell_types:
        if getattr(space, "edge_norm", False):
            weights[t] = scale_edges(weights[t], supernet.edge_scales(t).detach().cpu().tolist())
        cap = None if space.is_reduction(t) else max_skips
        if hasattr(rank_by, "cell"):
            cells[t] = rank_by.cell(weights[t], edge_list, space, cap)
            continue
        w = rank_by(weights[t], ops)
        if space.stretchable:
            chosen = supernet.topology.choose(supernet.betas[t])
            fallback = supernet.edge_scales(t).detach().cpu().tolist()
            cells[t] = stretchable_cell(w, edge_list, chosen, space.nodes, cap, fallback=fallback)
        elif rule in OUTPUT_EDGE_RULES:
            cells[t] = output_edge_cell(w, edge_list, space.nodes, space.max_inputs, cap)
        elif cap is not None:
            cells[t] = cap_skips(w, edge_list, space.max_inputs, cap, rerank=rerank)
        else:
            cells[t] = standard_cell(w, edge_list, space.max_inputs)
    return cells


def derive_genotype(supernet: Any, rule: str = "standard", max_skips: Optional[int] = None,
                    name: str = "searched", rerank: bool = True, title: str = "",
                    provenance: Optional[Mapping[str, Any]] = None,
                    search: Optional[Mapping[str, Any]] = None) -> Genotype:
    """A validated zoo Genotype from a supernet; `zoo.create_model(g)` compiles it.

    Concat is every intermediate node that has edges (all of them under the standard rule)."""
    space = supernet.space
    cells = derive_cells(supernet, rule, max_skips, rerank)
    info = {"rule": rule, "nodes": space.nodes, "layers": supernet.layers, "channels": supernet.channels,
            "candidates": list(space.candidates), "stretchable": space.stretchable}
    if max_skips is not None:
        info["max_skips"] = max_skips
    if search:
        info.update(search)
    kwargs: dict[str, Any] = dict(
        stages=list(space.stages), op_set=space.op_set,
        provenance={"kind": "searched", **dict(provenance or {})}, search=info)
    if space.op_options:
        kwargs["op_options"] = dict(space.op_options)
    if title:
        kwargs["title"] = title
    spec = {t: (space.is_reduction(t), nodes, None) for t, nodes in cells.items()}
    return make_genotype(name, spec, **kwargs)
