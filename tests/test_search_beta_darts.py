"""beta-DARTS: the Beta-Decay regularizer's value and gradient by hand on a 2-edge 3-op cell pair,
its lambda schedule, its place in the architecture objective, the recipe, and a digits search
whose genotype the zoo builds."""

import math

import pytest
import torch

from zoo.errors import ZooError
from zoo.search import SearchSpace, Supernet
from zoo.search.beta_decay import BetaDecay, beta_decay_loss
from zoo.search.mixing import ARCH_REGULARIZERS, make_regularizer
from zoo.search.recipes import apply_overrides, get_recipe

from search_helpers import tiny_digits_search
from zoo.search.strategies import make_strategy

LN2 = math.log(2)


def two_edge_supernet():
    """nodes=1: each cell type has 2 edges (node 2 <- states 0, 1), 3 ops each."""
    space = SearchSpace(candidates=("none", "skip_connect", "avg_pool_3x3"), nodes=1)
    net = Supernet(space, channels=4, layers=3)
    with torch.no_grad():
        # exp-row sums 8, 4 (normal) and 2, 1 (reduce): logsumexp = 3 ln2, 2 ln2, ln2, 0.
        net.alphas["normal"].copy_(torch.tensor([[0.0, math.log(3), math.log(4)], [LN2, 0.0, 0.0]]))
        net.alphas["reduce"].copy_(torch.tensor([[0.0, -LN2, -LN2], [-LN2, -2 * LN2, -2 * LN2]]))
    return net


def test_value_and_gradient_by_hand():
    net = two_edge_supernet()
    # mean of the four rows' logsumexp: (3 + 2 + 1 + 0) ln2 / 4 = 1.5 ln2
    loss = beta_decay_loss(net)
    assert float(loss.detach()) == pytest.approx(1.5 * LN2, rel=1e-6)
    reg = BetaDecay(lam_max=50, ramp_epochs=100)
    reg.begin_epoch(10, 50)                                   # lambda = 50 * 10 / 100 = 5
    value = reg(net)
    assert float(value.detach()) == pytest.approx(5 * 1.5 * LN2, rel=1e-6)
    g_normal, g_reduce = torch.autograd.grad(value, [net.alphas["normal"], net.alphas["reduce"]])
    # d/d alpha = lambda * softmax(row) / 4 rows:
    #   [0, ln3, ln4] -> softmax (1, 3, 4) / 8;  [ln2, 0, 0] -> (2, 1, 1) / 4
    #   [0, -ln2, -ln2] -> (1, .5, .5) / 2;      [-ln2, -2ln2, -2ln2] -> (.5, .25, .25)
    want_normal = torch.tensor([[1 / 8, 3 / 8, 4 / 8], [2 / 4, 1 / 4, 1 / 4]]) * 5 / 4
    want_reduce = torch.tensor([[1 / 2, 1 / 4, 1 / 4], [1 / 2, 1 / 4, 1 / 4]]) * 5 / 4
    torch.testing.assert_close(g_normal, want_normal, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(g_reduce, want_reduce, rtol=1e-6, atol=1e-7)


def test_pruned_edges_take_the_smoothmax_over_their_own_candidates():
    space = SearchSpace(candidates=("none", "skip_connect", "avg_pool_3x3"), nodes=1)
    cands = {"normal": [("none", "skip_connect", "avg_pool_3x3"), ("skip_connect", "avg_pool_3x3")],
             "reduce": [("none", "skip_connect", "avg_pool_3x3")] * 2}
    net = Supernet(space, channels=4, layers=3, edge_candidates=cands)
    with torch.no_grad():
        for a in net.alphas.values():
            a.zero_()
        net.alphas["normal"][1, 2] = 100.0   # outside edge 1's two candidates: must not count
    # rows: ln3, ln2 (two candidates), ln3, ln3
    assert float(beta_decay_loss(net).detach()) == pytest.approx((3 * math.log(3) + LN2) / 4, rel=1e-6)


def test_lambda_schedule():
    reg = BetaDecay()                                          # the authors' 50 * epoch / 100
    assert [reg.begin_epoch(e, 50)["beta_decay_lambda"] for e in (0, 1, 10, 49)] == pytest.approx(
        [0.0, 0.5, 5.0, 24.5])
    over_stage = BetaDecay(lam_max=25, ramp_epochs=None)       # 25 reached after the stage's 4 epochs
    assert [over_stage.begin_epoch(e, 4)["beta_decay_lambda"] for e in range(4)] == pytest.approx(
        [0.0, 6.25, 12.5, 18.75])
    assert float(BetaDecay()(two_edge_supernet()).detach()) == 0.0      # before begin_epoch: the first epoch's 0


def test_bad_options_are_one_line_errors():
    assert ARCH_REGULARIZERS.get("beta_decay") is BetaDecay
    for kwargs, words in (({"lam_max": -1}, "lam_max -1 is below 0"),
                          ({"ramp_epochs": 0}, "ramp_epochs 0 is not a whole number"),
                          ({"lambda": 3}, "unknown option 'lambda'")):
        with pytest.raises(ZooError, match=words) as err:
            make_regularizer("beta_decay", kwargs)
        assert "\n" not in str(err.value)


def test_the_first_order_step_differentiates_loss_plus_regularizer():
    torch.manual_seed(0)
    net = two_edge_supernet()
    reg = BetaDecay(lam_max=50, ramp_epochs=100)
    reg.begin_epoch(4, 50)                                     # lambda 2
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=1e-3)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.0)
    strategy = make_strategy("first_order", net, w_opt, a_opt, regularizer=reg)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    stats = strategy.compute_arch_grads((x, y), (x, y))
    assert stats["arch_reg"] == pytest.approx(2 * 1.5 * LN2, rel=1e-6)
    ce = torch.nn.functional.cross_entropy(net(x), y)
    want = torch.autograd.grad(ce + 2 * beta_decay_loss(net), net.alphas["normal"])[0]
    torch.testing.assert_close(net.alphas["normal"].grad, want, rtol=1e-5, atol=1e-7)


def test_beta_darts_recipe():
    r = get_recipe("beta_darts")
    assert (r.strategy, r.arch_regularizer, dict(r.arch_regularizer_kwargs)) == (
        "first_order", "beta_decay", {"lam_max": 50.0, "ramp_epochs": 100})
    assert (r.layers, r.channels, r.epochs, r.batch_size, r.w_lr, r.w_lr_min) == (8, 16, 50, 64, 0.025, 0.001)
    assert (r.a_lr, tuple(r.a_betas), r.a_wd) == (3e-4, (0.5, 0.999), 1e-3)   # the code keeps the alphas' decay
    d = apply_overrides(r, data="digits")
    assert dict(d.arch_regularizer_kwargs) == {"lam_max": 25.0, "ramp_epochs": None}
    assert "arXiv:2203.01665" in r.source


@pytest.mark.slow
def test_beta_darts_digits_search_writes_a_genotype_the_zoo_builds(tmp_path):
    g, history = tiny_digits_search(tmp_path, "beta_darts")
    assert g.search["settings"]["arch_regularizer"] == "beta_decay"
    assert '"beta_decay_lambda"' in history
