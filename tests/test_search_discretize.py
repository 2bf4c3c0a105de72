"""Discretization rules on hand-made weights, each expected cell worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.ops import get_op_set
from zoo.search.discretize import (cap_skips, group_weights, select_edges, standard_cell,
                                   stretchable_cell)
from zoo.search.space import SearchSpace
from zoo.search.supernet import Supernet

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def _w(*values: float) -> dict[str, float]:
    assert len(values) == len(OPS) and math.isclose(sum(values), 1.0)
    return dict(zip(OPS, values))


# Two intermediate nodes: edges (2,0) (2,1) (3,0) (3,1) (3,2).
EDGES_2 = [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
#                none  max   avg   skip  sep3  sep5  dil3  dil5
GROUPING_CASE = [
    _w(.04, .30, .01, .05, .21, .19, .10, .10),   # (2,0) pool .31, conv .60: max_pool alone / conv as a group
    _w(.31, .10, .10, .20, .10, .10, .05, .04),   # (2,1) `none` group wins (.31): nothing changes
    _w(.05, .05, .05, .05, .23, .19, .19, .19),   # (3,0) convs split .80 among themselves
    _w(.10, .30, .25, .05, .10, .10, .05, .05),   # (3,1) pool .55
    _w(.05, .05, .05, .45, .10, .10, .10, .10),   # (3,2) skip .45 vs conv .40
]


def test_standard_rule_by_hand():
    # Strengths (best non-none op): (2,0) max .30, (2,1) skip .20, (3,0) sep3 .23,
    # (3,1) max .30, (3,2) skip .45 -> node 3 keeps (3,2) then (3,1).
    cell = standard_cell(GROUPING_CASE, EDGES_2, k=2)
    assert cell == [[("max_pool_3x3", 0), ("skip_connect", 1)],
                    [("skip_connect", 2), ("max_pool_3x3", 1)]]
    assert select_edges(GROUPING_CASE, EDGES_2, k=1) == [[0], [4]]


def test_grouping_rule_by_hand_differs_from_standard():
    grouped = group_weights(GROUPING_CASE, get_op_set("darts").group)
    # (2,0): conv group .21+.19+.10+.10 = .60 goes to sep_conv_3x3, its strongest member.
    assert grouped[0]["sep_conv_3x3"] == pytest.approx(.60)
    assert grouped[0]["max_pool_3x3"] == pytest.approx(.30)          # other weights stay
    # (2,1): `none` (.31) beats conv (.29), pool (.20), skip (.20): the weights are unchanged.
    assert grouped[1] == GROUPING_CASE[1]
    assert grouped[2]["sep_conv_3x3"] == pytest.approx(.80)
    assert grouped[3]["max_pool_3x3"] == pytest.approx(.55)
    assert grouped[4]["skip_connect"] == pytest.approx(.45)
    # Node 3 now ranks (3,0) .80 > (3,1) .55 > (3,2) .45.
    assert standard_cell(grouped, EDGES_2) == [[("sep_conv_3x3", 0), ("skip_connect", 1)],
                                                [("sep_conv_3x3", 0), ("max_pool_3x3", 1)]]


def _supernet_with_weights(space, weights_by_type, layers=3):
    net = Supernet(space, channels=4, layers=layers, num_classes=3)
    with torch.no_grad():
        for t, rows in weights_by_type.items():
            net.alphas[t].copy_(torch.log(torch.tensor([[r[o] for o in OPS] for r in rows])))
    return net


def test_supernet_genotype_uses_the_rules():
    space = SearchSpace(nodes=2)
    reduce_rows = [_w(.02, .50, .10, .10, .10, .08, .05, .05)] * 5
    net = _supernet_with_weights(space, {"normal": GROUPING_CASE, "reduce": reduce_rows})
    probs = net.arch_weights()["normal"]
    assert probs[0]["max_pool_3x3"] == pytest.approx(.30)
    standard = net.genotype()
    grouping = net.genotype(rule="grouping", name="g")
    assert [[(e.op, e.input) for e in n] for n in standard.cells["normal"].nodes] == \
        [[("max_pool_3x3", 0), ("skip_connect", 1)], [("skip_connect", 2), ("max_pool_3x3", 1)]]
    assert [[(e.op, e.input) for e in n] for n in grouping.cells["normal"].nodes] == \
        [[("sep_conv_3x3", 0), ("skip_connect", 1)], [("sep_conv_3x3", 0), ("max_pool_3x3", 1)]]
    assert [[e.op for e in n] for n in standard.cells["reduce"].nodes] == [["max_pool_3x3"] * 2] * 2
    assert grouping.search["rule"] == "grouping" and grouping.provenance["kind"] == "searched"
    assert standard.cells["normal"].concat == (2, 3)
    # The genotype round-trips through the file format and compiles.
    again = zoo.genotype_from_dict(__import__("yaml").safe_load(zoo.dump_genotype(grouping)))
    assert again.cells == grouping.cells
    model = zoo.create_model(grouping, layers=3, channels=4, num_classes=3, auxiliary=False)
    model.eval()
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 3)


def _skip_case(e5=(.4, .1, .5)):
    # Three nodes, nine edges; ops skip / sep3 / none only.
    rows = [(.6, .3, .1), (.5, .4, .1),                       # node 2: (2,0) (2,1)
            (.7, .2, .1), (.1, .3, .6), (.2, .25, .55),       # node 3: (3,0) (3,1) (3,2)
            e5, (.08, .12, .8), (.3, .2, .5), (.05, .38, .57)]  # node 4: (4,0) (4,1) (4,2) (4,3)
    return [dict(zip(("skip_connect", "sep_conv_3x3", "none"), r)) for r in rows]


EDGES_3 = SearchSpace(nodes=3).edge_list


def test_skip_cap_by_hand():
    w = _skip_case()
    # Uncapped: four skips, on (2,0) .6, (2,1) .5, (3,0) .7, (4,0) .4.
    assert standard_cell(w, EDGES_3) == [
        [("skip_connect", 0), ("skip_connect", 1)],
        [("skip_connect", 0), ("sep_conv_3x3", 1)],
        [("skip_connect", 0), ("sep_conv_3x3", 3)]]
    # P-DARTS (rerank): (4,0) goes first; its sep3 (.1) loses to (4,2)'s skip (.3), which then is the
    # weakest skip and yields to sep3 (.2); last (2,1) (.5) becomes sep3. Two skips remain.
    assert cap_skips(w, EDGES_3, 2, 2) == [
        [("skip_connect", 0), ("sep_conv_3x3", 1)],
        [("skip_connect", 0), ("sep_conv_3x3", 1)],
        [("sep_conv_3x3", 3), ("sep_conv_3x3", 2)]]
    # In place: (4,0) keeps its edge with sep3, then (2,1) swaps to sep3.
    assert cap_skips(w, EDGES_3, 2, 2, rerank=False) == [
        [("skip_connect", 0), ("sep_conv_3x3", 1)],
        [("skip_connect", 0), ("sep_conv_3x3", 1)],
        [("sep_conv_3x3", 0), ("sep_conv_3x3", 3)]]
    # Cap 0 removes them all; a cap above the count changes nothing.
    assert all(op != "skip_connect" for node in cap_skips(w, EDGES_3, 2, 0) for op, _ in node)
    assert cap_skips(w, EDGES_3, 2, 4) == standard_cell(w, EDGES_3)


def test_skip_cap_only_touches_normal_cells():
    space = SearchSpace(nodes=2)
    skipish = [_w(.02, .08, .05, .50, .15, .10, .05, .05)] * 5
    net = _supernet_with_weights(space, {"normal": skipish, "reduce": skipish})
    g = net.genotype(max_skips=1)
    assert g.cells["normal"].op_counts().get("skip_connect", 0) == 1
    assert g.cells["reduce"].op_counts()["skip_connect"] == 4
    assert g.search["max_skips"] == 1


def test_stretchable_cell_removes_unfed_nodes():
    edges = SearchSpace(nodes=3).edge_list
    w = [{"sep_conv_3x3": .6, "skip_connect": .4}] * len(edges)
    # State 0 feeds 3 only, 1 feeds 3 and 4, 2 feeds 4 (but nobody feeds 2), 3 feeds 4.
    chosen = {0: (3,), 1: (3, 4), 2: (4,), 3: (4,)}
    cell = stretchable_cell(w, edges, chosen, nodes=3)
    assert cell == [[], [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)],
                    [("sep_conv_3x3", 1), ("sep_conv_3x3", 3)]]
    # With a skip cap the topology stays and the op is swapped.
    w2 = [{"sep_conv_3x3": .3, "skip_connect": .7}] * len(edges)
    capped = stretchable_cell(w2, edges, chosen, nodes=3, max_skips=1)
    assert [len(n) for n in capped] == [0, 2, 2]
    assert sum(op == "skip_connect" for n in capped for op, _ in n) == 1
