"""Stretchable cells: topology codes, merged probabilities and the regularizer on hand-made betas."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.search.space import SearchSpace
from zoo.search.stretchable import OutputEdgeTopology, live_edges, num_codes
from zoo.search.supernet import Supernet

LOG = math.log



def test_code_sets():
    topo = OutputEdgeTopology(nodes=2)
    # States 0 and 1 feed nodes 2 and 3: codes {2}, {3}, {2,3}; state 2 feeds only 3.
    assert topo.sources == [0, 1, 2]
    assert topo.codes[0] == ((2,), (3,), (2, 3))
    assert topo.codes[2] == ((3,),)
    assert topo.num_betas == 7
    # "Stretchable Cells Help DARTS Search Better" (section "Search with stretchable cells") uses
    # N = 9 (7 intermediate nodes): 2 * (2^7 - 1) + (2^6 - 1) + ... + (2^1 - 1).
    assert OutputEdgeTopology(nodes=7).num_betas == 2 * 127 + 63 + 31 + 15 + 7 + 3 + 1 == 374
    assert OutputEdgeTopology(nodes=2, include_empty=True).codes[0] == ((), (2,), (3,), (2, 3))
    pairs = OutputEdgeTopology(nodes=4, out_edges=2)
    assert pairs.codes[0] == ((2, 3), (2, 4), (3, 4), (2, 5), (3, 5), (4, 5))
    assert pairs.codes[4] == ((5,),)                      # one posterior node: it takes that edge
    assert num_codes(4) == 15 and num_codes(4, include_empty=True) == 16 and num_codes(4, 2) == 6


def test_merged_probabilities_by_hand():
    topo = OutputEdgeTopology(nodes=2)
    # p_0 = (1/8, 2/8, 5/8) over {2},{3},{2,3}; p_1 = (6/8, 1/8, 1/8); scale (2^2 - 1) / 2^1 = 1.5.
    betas = torch.tensor([LOG(1), LOG(2), LOG(5), LOG(6), LOG(1), LOG(1), 0.3])
    s = topo.merged(betas)
    # Edge order (2,0) (2,1) (3,0) (3,1) (3,2):
    # s(0,2) = 1.5 (1/8 + 5/8), s(1,2) = 1.5 (6/8 + 1/8), s(0,3) = 1.5 (2/8 + 5/8),
    # s(1,3) = 1.5 (1/8 + 1/8), s(2,3) = 1 * 1.
    assert torch.allclose(s, torch.tensor([1.125, 1.3125, 1.3125, 0.375, 1.0]))
    assert topo.regularizer(betas) == 0.0


@pytest.mark.parametrize("kw", [dict(nodes=4), dict(nodes=7), dict(nodes=4, out_edges=2)])
def test_uniform_betas_give_unit_merged_probability(kw):
    # The scale of eqs. 10 and 13 makes every edge weigh 1 under a uniform topology distribution.
    topo = OutputEdgeTopology(**kw)
    assert torch.allclose(topo.merged(torch.zeros(topo.num_betas)), torch.ones(len(topo.edge_list)))


def test_regularizer_by_hand():
    topo = OutputEdgeTopology(nodes=2)
    # Both inputs prefer {3}: node 2 is fed by no argmax code.
    betas = torch.tensor([LOG(1), LOG(5), LOG(2), LOG(1), LOG(6), LOG(3), 0.0], requires_grad=True)
    # Node 2: (1 - (2/8) / (5/8)) * (1 - 0.3 / 0.6) = 0.6 * 0.5; node 3 is fed: 0.
    r = topo.regularizer(betas)
    assert float(r.detach()) == pytest.approx(0.3)
    assert torch.allclose(topo.merged(betas.detach()),
                          torch.tensor([1.5 * 3 / 8, 1.5 * 0.4, 1.5 * 7 / 8, 1.5 * 0.9, 1.0]))
    # Aggressive: descending r moves probability towards codes that feed node 2...
    r.backward()
    stepped = betas.detach() - 0.5 * betas.grad
    assert float(topo.regularizer(stepped)) < 0.3
    p_before, p_after = topo.code_probs(betas.detach())[0], topo.code_probs(stepped)[0]
    assert p_after[0] + p_after[2] > p_before[0] + p_before[2]
    # ...passive: a valid topology gets no gradient at all.
    valid = torch.tensor([LOG(1), LOG(2), LOG(5), LOG(6), LOG(1), LOG(1), 0.0], requires_grad=True)
    topo.regularizer(valid).backward()
    assert valid.grad.abs().max() == 0.0


def test_live_edges_drop_unfed_nodes():
    assert live_edges({0: (3,), 1: (3,), 2: (3,)}, nodes=2) == [(3, 0), (3, 1)]
    # Node 3 is fed only by the unfed node 2: both go, node 4 reads the inputs.
    assert live_edges({0: (4,), 1: (4,), 2: (3,), 3: (4,)}, nodes=3) == [(4, 0), (4, 1)]


def test_stretchable_supernet_and_genotype():
    torch.manual_seed(0)
    space = SearchSpace(nodes=2, stretchable=True)
    net = Supernet(space, channels=4, layers=3, num_classes=3)
    assert {t: tuple(b.shape) for t, b in net.betas.items()} == {"normal": (7,), "reduce": (7,)}
    assert len(net.arch_parameters()) == 4
    invalid = torch.tensor([LOG(1), LOG(5), LOG(2), LOG(1), LOG(6), LOG(3), 0.0])
    with torch.no_grad():
        net.betas["normal"].copy_(invalid)
        net.betas["reduce"].copy_(torch.tensor([LOG(1), LOG(2), LOG(5), LOG(6), LOG(1), LOG(1), 0.0]))
        net.alphas["normal"].zero_()
        net.alphas["normal"][:, space.candidates.index("sep_conv_5x5")] = 1.0
    # Forward weights: softmax(alpha) times s~ per edge.
    expected = net.op_weights("normal") * net.topology.merged(invalid).unsqueeze(-1)
    assert torch.allclose(net.edge_weights("normal"), expected)
    assert float(net.topology_regularizer().detach()) == pytest.approx(0.3)
    g = net.genotype()
    normal = g.cells["normal"]
    assert normal.nodes[0] == () and normal.concat == (3,)
    assert [(e.op, e.input) for e in normal.nodes[1]] == [("sep_conv_5x5", 0), ("sep_conv_5x5", 1)]
    # Reduce: 0 -> {2,3}, 1 -> {2}, 2 -> {3}: node 2 reads 0 and 1, node 3 reads 0 and 2.
    assert [[e.input for e in n] for n in g.cells["reduce"].nodes] == [[0, 1], [0, 2]]
    assert g.cells["reduce"].concat == (2, 3)
    model = zoo.create_model(g, layers=3, channels=4, num_classes=3, auxiliary=False)
    model.eval()
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 3)
    assert set(net.topology_weights()["normal"]["0"]) == {"2", "3", "2,3"}
