"""DARTS-: the auxiliary skip's beta schedule by hand, one edge's output as mixed op plus beta * x
by hand, the skip on every edge (FactorizedReduce on reducing edges), the recipe, and a digits
search whose genotype the zoo builds."""

import pytest
import torch

from zoo.errors import ZooError
from zoo.ops import FactorizedReduce
from zoo.search import SearchSpace, Supernet
from zoo.search.recipes import apply_overrides, get_recipe

from search_helpers import tiny_digits_search
from zoo.search.supernet import MixedOp


def small(aux_skip=1.0, **kw):
    space = SearchSpace(candidates=("none", "skip_connect", "max_pool_3x3"), nodes=2)
    return Supernet(space, channels=4, layers=3, aux_skip=aux_skip, **kw)


def test_beta_decays_linearly_from_beta0_at_each_epoch_start():
    net = small(aux_skip=1.0)
    # beta = 1 * (50 - e) / 50 (the authors' DecayScheduler, stepped with the 0-based epoch)
    got = {e: net.begin_epoch(e, 50)["aux_skip"] for e in (0, 1, 10, 25, 49)}
    assert got == pytest.approx({0: 1.0, 1: 0.98, 10: 0.8, 25: 0.5, 49: 0.02})
    edges = [m for m in net.modules() if isinstance(m, MixedOp)]
    assert edges and all(m.aux_weight == pytest.approx(0.02) for m in edges)
    half = small(aux_skip=0.5)
    assert half.begin_epoch(2, 4)["aux_skip"] == pytest.approx(0.25)   # 0.5 * (1 - 2/4)


def test_one_edge_is_the_mixed_op_plus_beta_x_by_hand():
    net = small(aux_skip=1.0).eval()
    net.begin_epoch(10, 50)                                   # beta = 0.8
    edge = net.cells[0].edges[0]                              # normal cell: stride 1
    assert edge.candidates == ("none", "skip_connect", "max_pool_3x3")
    x = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]]]).expand(1, 4, 2, 2).contiguous()
    w = torch.tensor([0.2, 0.5, 0.3])
    # pool on a 2x2 map with padding 1: every window holds the whole map, so every output is max = 3;
    # its BatchNorm (affine-free, eval, fresh running stats: mean 0, var 1) divides by sqrt(1 + 1e-5).
    pool = torch.full_like(x, 3.0) / (1 + 1e-5) ** 0.5
    want = 0.2 * 0 + 0.5 * x + 0.3 * pool + 0.8 * x
    torch.testing.assert_close(edge(x, w), want, rtol=1e-6, atol=1e-6)
    net.begin_epoch(50, 50)                                   # beta = 0: the edge is DARTS' mixed op
    torch.testing.assert_close(edge(x, w), 0.5 * x + 0.3 * pool, rtol=1e-6, atol=1e-6)


def test_every_edge_has_the_skip_and_reducing_edges_a_factorized_reduce():
    net = small(aux_skip=1.0)
    for cell in net.cells:
        for (target, src), edge in zip(net.space.edge_list, cell.edges):
            reducing = cell.reduction and src < 2
            assert isinstance(edge.aux, FactorizedReduce if reducing else torch.nn.Identity)
    x = torch.randn(2, 3, 16, 16)
    assert net(x).shape == (2, 10)
    plain = small(aux_skip=0.0)
    assert all(m.aux is None for m in plain.modules() if isinstance(m, MixedOp))
    with pytest.raises(ZooError, match="aux_skip -1"):
        small(aux_skip=-1.0)


def test_darts_minus_recipe_is_the_authors():
    r = get_recipe("darts_minus")
    assert (r.aux_skip, r.strategy) == (1.0, "first_order")
    assert (r.layers, r.channels, r.nodes, r.epochs, r.batch_size) == (8, 16, 4, 50, 64)
    assert (r.w_lr, r.w_lr_min, r.w_momentum, r.w_wd, r.grad_clip) == (0.025, 0.001, 0.9, 3e-4, 5.0)
    assert (r.a_lr, tuple(r.a_betas), r.a_wd) == (3e-4, (0.5, 0.999), 1e-3)
    assert apply_overrides(r, data="digits").aux_skip == 1.0
    assert "arXiv:2009.01027" in r.source


@pytest.mark.slow
def test_darts_minus_digits_search_writes_a_genotype_the_zoo_builds(tmp_path):
    g, history = tiny_digits_search(tmp_path, "darts_minus")
    assert g.search["settings"]["aux_skip"] == 1.0
    assert '"aux_skip": 1.0' in history and '"aux_skip": 0.5' in history
