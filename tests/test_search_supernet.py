"""Search space and supernet: layout, op-set ablations, the mixed op computed by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import zoo
from zoo.errors import ZooError
from zoo.ops import get_op_set
from zoo.search.space import ABLATIONS, N3_STAGES, SearchSpace, ablation_space
from zoo.search.supernet import MixedOp, SkipDropout, Supernet



def test_default_space_is_darts():
    space = SearchSpace()
    assert space.candidates == get_op_set("darts").candidates
    assert space.num_edges == 14 and len(space.edge_list) == 14
    assert space.edge_list[:5] == [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    assert space.cell_types == ("normal", "reduce")
    assert SearchSpace(nodes=3).num_edges == 9           # thesis §3.3.1: 9 instead of 14 rows


def test_stage_layouts_match_the_compiled_network():
    g = zoo.make_genotype("n3", {
        t: (t == "reduce", [[("skip_connect", 0), ("skip_connect", 1)]], None) for t in N3_STAGES},
        stages=N3_STAGES)
    space = SearchSpace(stages=N3_STAGES)
    assert space.cell_types == ("normal1", "reduce", "normal2", "normal3")
    assert space.normal_types == ("normal1", "normal2", "normal3")
    for layers in (5, 8, 11, 14, 17, 20):
        assert space.cell_plan(layers) == g.cell_plan(layers)
    assert space.cell_plan(11) == ["normal1"] * 3 + ["reduce"] + ["normal2"] * 3 + ["reduce"] + ["normal3"] * 3
    with pytest.raises(ZooError, match="normal3"):
        space.check_layers(3)


def test_ablations_and_exclusions():
    no_dil = SearchSpace(exclude=("dil_conv_3x3", "dil_conv_5x5"))
    assert no_dil.candidates == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                                 "sep_conv_3x3", "sep_conv_5x5")
    assert ablation_space("no_dil").candidates == no_dil.candidates
    dc = ablation_space("dil_dc", nodes=3)
    assert dc.op_set == "thesis" and dc.nodes == 3
    assert "dil_conv_3x3_DC" in dc.candidates and "dil_conv_3x3" not in dc.candidates
    deep = ablation_space("deep_sep")
    assert deep.candidates[-2:] == ("deep_sep_conv_3x3", "deep_sep_conv_5x5")
    assert "sep_conv_5x5" not in ablation_space("deep_sep_for_sep5").candidates
    for name in ABLATIONS:
        space = ablation_space(name)
        Supernet(space, channels=4, layers=3, num_classes=2)   # every ablation builds
    stretch = SearchSpace(stretchable=True)
    assert "none" not in stretch.candidates and len(stretch.candidates) == 7


@pytest.mark.parametrize("kw, match", [
    (dict(candidates=("sep_conv_3x3", "sep_cov_5x5")), "sep_conv_5x5"),
    (dict(op_set="nope"), "op set"),
    (dict(stages=("normal", "reduce")), "stages"),
    (dict(stages=("normal", "normal", "normal")), "both"),
    (dict(candidates=("none",)), "none"),
    (dict(nodes=0), "nodes"),
])
def test_bad_spaces_are_one_line_errors(kw, match):
    with pytest.raises(ZooError, match=match) as err:
        SearchSpace(**kw)
    assert "\n" not in str(err.value)


def test_space_round_trips():
    space = SearchSpace(nodes=3, stages=N3_STAGES, exclude=("dil_conv_5x5",))
    assert SearchSpace.from_dict(space.to_dict()) == space


def _bn(x):
    # Training-mode BatchNorm without affine parameters, by hand.
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


def test_mixed_op_is_the_softmax_weighted_sum_by_hand():
    torch.manual_seed(0)
    cands = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3")
    op = MixedOp(get_op_set("darts"), cands, channels=4, stride=1)
    # Only the separable conv has parameters: every BN is non-affine, pools get one of their own.
    assert sum(p.numel() for p in op.parameters()) == 2 * (4 * 9 + 4 * 4)
    assert isinstance(op.ops[1][1], nn.BatchNorm2d) and not op.ops[1][1].affine
    assert isinstance(op.ops[3][1], SkipDropout)
    x = torch.randn(3, 4, 6, 6)
    alpha = torch.tensor([0.3, -1.0, 0.5, 2.0, 0.1])
    w = torch.softmax(alpha, 0)
    expected = (w[0] * 0
                + w[1] * _bn(F.max_pool2d(x, 3, 1, 1))
                + w[2] * _bn(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
                + w[3] * x
                + w[4] * op.ops[4](x))
    assert torch.allclose(op(x, w), expected, atol=1e-5)


def test_supernet_parameters_and_shapes():
    torch.manual_seed(0)
    net = Supernet(SearchSpace(stages=N3_STAGES, nodes=3), channels=4, layers=5, num_classes=7)
    assert {t: tuple(a.shape) for t, a in net.alphas.items()} == {
        "normal1": (9, 8), "reduce": (9, 8), "normal2": (9, 8), "normal3": (9, 8)}
    assert len(net.betas) == 0
    arch = {id(p) for p in net.arch_parameters()}
    assert len(arch) == 4 and not arch & {id(p) for p in net.weight_parameters()}
    assert len(net.arch_parameters()) + len(net.weight_parameters()) == len(list(net.parameters()))
    # Nearly uniform start, as DARTS initializes.
    assert float(net.alphas["normal1"].detach().abs().max()) < 0.01
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 7)
    again = Supernet.from_config(net.config())
    again.load_state_dict(net.state_dict())
    assert again.config() == net.config()


def test_imagenet_stem_and_sharp_options():
    torch.manual_seed(0)
    space = SearchSpace(op_set="sharp", candidates=("skip_connect", "choke_conv_3x3"), nodes=2,
                        op_options={"c_mid": 6})
    net = Supernet(space, channels=4, layers=3, num_classes=5, stem="imagenet")
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    # choke_conv's middle width is the option's 6, not the cell width 4.
    choke = net.cells[0].edges[0].ops[1]
    assert choke[0][2].out_channels == 6
    g = net.genotype()
    assert g.op_set == "sharp" and g.op_options == {"c_mid": 6}
    with pytest.raises(ZooError, match="c_mid"):
        SearchSpace(op_set="sharp", op_options={"c_mdi": 6})


def test_pruned_candidates_and_ragged_edges():
    space = SearchSpace(nodes=2)
    cands = {"normal": [("none", "skip_connect", "sep_conv_3x3")] * 4 + [("max_pool_3x3",)],
             "reduce": [("max_pool_3x3", "skip_connect")] * 5}
    net = Supernet(space, channels=4, layers=3, num_classes=3, edge_candidates=cands)
    assert tuple(net.alphas["normal"].shape) == (5, 3)
    w = net.op_weights("normal")
    assert torch.allclose(w.sum(-1), torch.ones(5))
    assert w[4, 0] == 1.0 and w[4, 1:].abs().sum() == 0        # one candidate: weight 1, rest masked
    assert [len(m.ops) for m in net.cells[0].edges] == [3, 3, 3, 3, 1]
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 3)
    assert net.arch_weights()["reduce"][0].keys() == {"max_pool_3x3", "skip_connect"}
    with pytest.raises(ZooError, match="edges"):
        Supernet(space, channels=4, layers=3, edge_candidates={"normal": cands["normal"][:3]})


def test_max_w_weighting_by_hand():
    space = SearchSpace(nodes=2, candidates=("skip_connect", "sep_conv_3x3", "avg_pool_3x3"))
    net = Supernet(space, channels=4, layers=3, num_classes=3, weighting="max_w")
    with torch.no_grad():
        net.alphas["normal"].copy_(torch.log(torch.tensor([[0.5, 0.3, 0.2]] * 5)))
    # sharpDARTS eq. 3: 1 - max(w) + w -> the strongest op gets 1.
    assert torch.allclose(net.edge_weights("normal"), torch.tensor([[1.0, 0.8, 0.7]] * 5))


def test_skip_dropout_reaches_only_identity_skips():
    torch.manual_seed(0)
    net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, num_classes=3, skip_dropout=0.3)
    drops = [m for m in net.modules() if isinstance(m, SkipDropout)]
    # Normal cell: 5 stride-1 skips; reduction cells: only the node-to-node edge (3,2) is stride 1.
    assert len(drops) == 5 + 1 + 1
    assert all(m.p == 0.3 for m in drops)
    net.set_skip_dropout(0.7)
    assert all(m.p == 0.7 for m in drops)
    x = torch.ones(1000)
    m = drops[0].train()
    out = m(x)
    assert 0.6 < float((out == 0).float().mean()) < 0.8 and torch.allclose(out[out != 0], x[:1] / 0.3)
    assert torch.equal(m.eval()(x), x)
