"""I-DARTS: the node-level softmax (one softmax over all ops of all incoming edges of a node) and
the node_topk derivation that may keep two ops of the same edge, by hand; a cell with such a node
compiles and runs; the recipe, its refusals and a digits search whose genotype the zoo builds."""

import math

import pytest
import torch

import zoo
from zoo.errors import ZooError
from zoo.search import SearchSpace, Supernet
from zoo.search.discretize import RULES, derive_cells, standard_cell
from zoo.search.i_darts import NodeSoftmax, node_groups
from zoo.search.recipes import apply_overrides, get_recipe

from search_helpers import TINY, search

OPS3 = ("none", "skip_connect", "avg_pool_3x3")
LN = math.log


def same(t, want, atol=1e-6):
    torch.testing.assert_close(t.detach(), torch.tensor(want, dtype=t.dtype), rtol=0, atol=atol)


def net_with(alphas_normal, nodes=1, **kw):
    torch.manual_seed(0)
    net = Supernet(SearchSpace(candidates=OPS3, nodes=nodes), channels=4, layers=3, num_classes=3,
                   mixing="node_softmax", **kw)
    with torch.no_grad():
        net.alphas["normal"].copy_(torch.tensor(alphas_normal))
        net.alphas["reduce"].zero_()
    return net


def test_node_softmax_normalizes_over_the_whole_node_not_per_edge():
    # One node, 2 incoming edges x 3 ops. exp(alpha): edge (2,0) 1, 2, 1; edge (2,1) 3, 1, 2; sum 10.
    net = net_with([[0.0, LN(2), 0.0], [LN(3), 0.0, LN(2)]])
    p = net.op_weights("normal")
    same(p, [[0.1, 0.2, 0.1], [0.3, 0.1, 0.2]])
    assert float(p.sum().detach()) == pytest.approx(1.0)
    # Per edge the weights sum to 0.4 and 0.6: the edges compete for the node's unit of weight.
    same(p.sum(dim=1), [0.4, 0.6])
    same(net.edge_weights("normal"), [[0.1, 0.2, 0.1], [0.3, 0.1, 0.2]])
    # Reduce alphas all 0: 6 equal logits, 1/6 each.
    same(net.op_weights("reduce"), [[1 / 6] * 3] * 2)


def test_each_node_has_its_own_softmax():
    # Two nodes: node 0 = edges (2,0), (2,1); node 1 = edges (3,0), (3,1), (3,2).
    assert node_groups(SearchSpace(nodes=2).edge_list) == [[0, 1], [2, 3, 4]]
    net = net_with([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [LN(4), 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, LN(2)]],
                   nodes=2)
    # node 0: 6 logits 0 -> 1/6 each. node 1: exp 4, 1, 1 | 1, 1, 1 | 1, 1, 2, sum 13.
    same(net.op_weights("normal"), [[1 / 6] * 3, [1 / 6] * 3, [4 / 13, 1 / 13, 1 / 13], [1 / 13] * 3,
                                    [1 / 13, 1 / 13, 2 / 13]])


def test_pruned_candidates_leave_the_node_softmax():
    # Edge (2,0) lost avg_pool_3x3 (P-DARTS): its logit (here ln 100) must not take any weight.
    space = SearchSpace(candidates=OPS3, nodes=1)
    cands = {t: [OPS3[:2], OPS3] for t in space.cell_types}
    net = Supernet(space, channels=4, layers=3, edge_candidates=cands, mixing="node_softmax")
    with torch.no_grad():
        net.alphas["normal"].copy_(torch.tensor([[0.0, LN(2), LN(100)], [LN(3), 0.0, LN(2)]]))
    # exp: 1, 2 | 3, 1, 2 -> sum 9.
    same(net.op_weights("normal"), [[1 / 9, 2 / 9, 0.0], [3 / 9, 1 / 9, 2 / 9]])
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)


SKIP, AVG = "skip_connect", "avg_pool_3x3"


class _Space:
    nodes = 1


def test_node_topk_may_keep_two_ops_of_the_same_edge():
    rule = RULES.get("node_topk")
    # node 0: edge (2,0) none 0.30, skip 0.25, avg 0.20; edge (2,1) none 0.05, skip 0.10, avg 0.10.
    # `none` is never derived: the two strongest real pairs are both on edge (2,0); state 1 gets none.
    weights = [{"none": 0.30, SKIP: 0.25, AVG: 0.20}, {"none": 0.05, SKIP: 0.10, AVG: 0.10}]
    assert rule.cell(weights, [(2, 0), (2, 1)], _Space(), None) == [[(SKIP, 0), (AVG, 0)]]
    # DARTS' rule would keep one op per edge: skip<0 and the better of edge (2,1) (skip, first listed).
    assert standard_cell(weights, [(2, 0), (2, 1)]) == [[(SKIP, 0), (SKIP, 1)]]
    # Skip cap 0: skip<0 leaves the pool (avg<0 0.20 and skip<1 0.10 come up), then skip<1 does too:
    # avg<0 0.20 and avg<1 0.10 remain.
    assert rule.cell(weights, [(2, 0), (2, 1)], _Space(), 0) == [[(AVG, 0), (AVG, 1)]]


def test_a_cell_with_two_ops_from_one_input_compiles_and_runs():
    # softmax over the node: exp none 1, skip 6, avg 5 | none 1, skip 2, avg 1 -> skip<0 and avg<0 win.
    net = net_with([[0.0, LN(6), LN(5)], [0.0, LN(2), 0.0]])
    cells = derive_cells(net, rule="node_topk")
    assert cells["normal"] == [[(SKIP, 0), (AVG, 0)]]
    g = net.genotype(rule="node_topk", name="two_from_one")
    assert [(e.op, e.input) for e in g.cells["normal"].nodes[0]] == [(SKIP, 0), (AVG, 0)]
    model = zoo.create_model(g, layers=3, channels=4)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_recipe_and_refusals():
    r = get_recipe("i_darts")
    assert (r.mixing, r.rule, r.strategy) == ("node_softmax", "node_topk", "first_order")
    # The DARTS CIFAR-10 search setting (recipe darts_v1).
    d = get_recipe("darts_v1")
    for field in ("layers", "channels", "nodes", "epochs", "batch_size", "w_lr", "w_lr_min", "w_momentum", "w_wd",
                  "grad_clip", "a_lr", "a_betas", "a_wd", "train_fraction", "candidates"):
        assert getattr(r, field) == getattr(d, field), field
    assert "EMNLP" in r.source and "RNN" in r.source and "DARTS CIFAR-10" in r.source
    with pytest.raises(ZooError, match="max_w"):
        apply_overrides(r, {"weighting": "max_w"})
    with pytest.raises(ZooError, match="edge_norm, mixing node_softmax"):
        NodeSoftmax(SearchSpace(edge_norm=True))
    with pytest.raises(ZooError, match="stretchable cells, mixing node_softmax"):
        NodeSoftmax(SearchSpace(stretchable=True))
    with pytest.raises(ZooError, match="unknown option 'tau'"):
        NodeSoftmax(SearchSpace(), tau=1.0)
    # Partial channels (K = 2) mix as usual.
    pc = net_with([[0.0] * 3] * 2, partial_channels=2)
    assert pc(torch.randn(2, 3, 8, 8)).shape == (2, 3)


@pytest.mark.slow
def test_i_darts_digits_search_writes_a_genotype_the_zoo_builds(tmp_path):
    out = search(tmp_path, "idarts", recipe="i_darts", overrides=TINY, epochs=1)
    g = zoo.load_genotype(out)
    assert (g.search["settings"]["mixing"], g.search["settings"]["rule"]) == ("node_softmax", "node_topk")
    for cell in g.cells.values():
        assert all(len(node) == 2 for node in cell.nodes)
    model = zoo.create_model(out, layers=3, channels=4)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
