"""Ops and network semantics against hand-computed values."""

import pytest
import torch
import torch.nn as nn

import zoo
from zoo.ops import FactorizedReduce, get_op_set


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def dilations(module: nn.Module) -> list[int]:
    return [m.dilation[0] for m in module.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]


C = 16
# One SepBlock C->C, 3x3: depthwise 9C + pointwise C*C + BN 2C = 144 + 256 + 32 = 432.
HAND_COUNTS = {
    ("darts", "sep_conv_3x3"): 2 * 432,
    ("darts", "sep_conv_5x5"): 2 * (25 * C + C * C + 2 * C),
    ("darts", "dil_conv_3x3"): 432,
    ("darts", "dil_conv_5x5"): 25 * C + C * C + 2 * C,
    ("darts", "skip_connect"): 0,
    ("darts", "max_pool_3x3"): 0,
    # SharpSepConv C -> c_mid -> C. flood: c_mid = 4C = 64:
    # block 1: 9*16 + 16*64 + 2*64 = 1296; block 2: 9*64 + 64*16 + 2*16 = 1632.
    ("sharp", "flood_conv_3x3"): 1296 + 1632,
    ("sharp", "dil_flood_conv_3x3"): 1296 + 1632,
    # choke: c_mid = 32: block 1: 144 + 512 + 64 = 720; block 2: 288 + 512 + 32 = 832.
    ("sharp", "choke_conv_3x3"): 720 + 832,
    ("sharp", "sep_conv_3x3"): 2 * 432,
    ("sharp", "dil_conv_3x3"): 2 * 432,
    # thesis: DD and DC are two C->C blocks; deep sep: 16 -> 8 -> 8 -> 8 -> 16:
    # 144+128+16, 72+64+16, 72+64+16, 72+128+32 = 288 + 152 + 152 + 232.
    ("thesis", "dil_conv_3x3_DD"): 2 * 432,
    ("thesis", "dil_conv_3x3_DC"): 2 * 432,
    ("thesis", "deep_sep_conv_3x3"): 288 + 152 + 152 + 232,
}


@pytest.mark.parametrize("op_set,name", list(HAND_COUNTS))
def test_op_parameter_counts(op_set, name):
    op = get_op_set(op_set).build(name, C, stride=1)
    assert n_params(op) == HAND_COUNTS[(op_set, name)]
    x = torch.randn(2, C, 8, 8)
    assert op(x).shape == x.shape
    reduced = get_op_set(op_set).build(name, C, stride=2)
    assert reduced(x).shape == (2, C, 4, 4), "stride 2 halves the resolution"


@pytest.mark.parametrize("op_set,name,expected", [
    ("darts", "sep_conv_3x3", [1, 1]), ("darts", "dil_conv_5x5", [2]),
    ("sharp", "dil_conv_3x3", [2, 1]), ("sharp", "dil_choke_conv_3x3", [2, 1]),
    ("thesis", "dil_conv_3x3_DD", [2, 2]), ("thesis", "dil_conv_5x5_DC", [2, 1]),
])
def test_dilation_pattern(op_set, name, expected):
    assert dilations(get_op_set(op_set).build(name, C, stride=1)) == expected


def test_c_mid_option_and_supernet_affine():
    ops = get_op_set("sharp")
    assert n_params(ops.build("choke_conv_3x3", C, 1, c_mid=96)) > n_params(ops.build("choke_conv_3x3", C, 1))
    # affine=False (the supernet's ops): no BN weights, so fewer parameters.
    assert n_params(get_op_set("darts").build("sep_conv_3x3", C, 1, affine=False)) == 2 * 432 - 4 * C


def test_factorized_reduce_and_zero():
    fr = FactorizedReduce(8, 16)
    assert fr(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)
    assert fr(torch.randn(1, 8, 7, 7)).shape == (1, 16, 4, 4), "odd sizes are padded, not crashed"
    zero = get_op_set("darts").build("none", C, stride=2)
    out = zero(torch.randn(1, C, 8, 8))
    assert out.shape == (1, C, 4, 4) and out.abs().sum() == 0


def test_avg_pool_excludes_padding():
    pool = get_op_set("darts").build("avg_pool_3x3", 1, stride=1)
    assert pool(torch.ones(1, 1, 4, 4)).min().item() == 1.0, "count_include_pad=False"


def test_unknown_op_in_registry():
    with pytest.raises(KeyError, match="did you mean 'sep_conv_3x3'"):
        get_op_set("darts").build("sep_conv3x3", C, 1)


def test_plugin_op():
    @zoo.register_op("darts", "test_conv_1x1")
    def _(c, stride, affine, **_):
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1, stride=stride, bias=False), nn.BatchNorm2d(c, affine=affine))

    try:
        g = zoo.make_genotype("plug", {"normal": (False, [[("test_conv_1x1", 0), ("skip_connect", 1)]], None),
                                       "reduce": (True, [[("test_conv_1x1", 0), ("max_pool_3x3", 1)]], None)})
        assert zoo.create_model(g, layers=3, channels=4)(torch.randn(1, 3, 16, 16)).shape == (1, 10)
    finally:
        del get_op_set("darts").builders["test_conv_1x1"]
    assert "test_conv_1x1" not in get_op_set("darts").names


def test_cell_plan_and_widths():
    g = zoo.zoo_genotype("darts_v2")
    plan = g.cell_plan(20)
    assert [i for i, c in enumerate(plan) if c == "reduce"] == [6, 13], "reductions at L/3 and 2L/3"
    m = zoo.create_model("darts_v2", layers=8, channels=16)
    # C doubles at each reduction; a cell outputs len(concat) * C.
    assert [c.out_channels for c in m.cells] == [64, 64, 128, 128, 128, 256, 256, 256]
    assert m.aux_index == 5 and m.auxiliary_head.features[2].in_channels == 256


def test_three_normal_cell_types_per_block():
    g = zoo.make_genotype("n3", {
        "normal1": (False, [[("sep_conv_3x3", 0), ("sep_conv_3x3", 1)]], None),
        "normal2": (False, [[("skip_connect", 0), ("sep_conv_5x5", 1)], [("skip_connect", 2)]], None),
        "normal3": (False, [[("skip_connect", 0), ("skip_connect", 1)]], None),
        "reduce": (True, [[("max_pool_3x3", 0), ("max_pool_3x3", 1)]], None),
    }, stages=["normal1", "reduce", "normal2", "reduce", "normal3"])
    assert g.cell_plan(8) == ["normal1", "normal1", "reduce", "normal2", "normal2", "reduce", "normal3", "normal3"]
    m = zoo.create_model(g, layers=8, channels=8)
    # normal1: 1 node x C 8; reduce: 1 x 16; normal2: 2 nodes x 16; reduce: 1 x 32; normal3: 1 x 32.
    assert [c.out_channels for c in m.cells] == [8, 8, 16, 32, 32, 32, 32, 32]
    assert m(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_drop_path_skips_identity_edges():
    g = zoo.make_genotype("skips", {"normal": (False, [[("skip_connect", 0), ("skip_connect", 1)]], None),
                                    "reduce": (True, [[("max_pool_3x3", 0), ("max_pool_3x3", 1)]], None)})
    m = zoo.create_model(g, layers=3, channels=4, drop_path_rate=0.9, auxiliary=False).train()
    cell = m.cells[0]
    s = torch.randn(1, 12, 8, 8)
    # Identity edges are never dropped, so with only skips the output is deterministic.
    torch.manual_seed(0)
    a = cell(s, s, 0.9)
    torch.manual_seed(1)
    assert torch.equal(a, cell(s, s, 0.9))
