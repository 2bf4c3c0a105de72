"""Fair DARTS: sigmoid mixing, the zero-one loss (value, gradient, architecture step only) and the
threshold derivation, each by hand on a few numbers; the recipe, its refusals and a digits search
whose genotype the zoo builds."""

import math

import pytest
import torch

import zoo
from zoo.errors import ZooError
from zoo.search import SearchSpace, Supernet, make_strategy
from zoo.search.discretize import RULES, derive_cells
from zoo.search.fair_darts import FAIR_OPS, ThresholdRule, ZeroOneLoss, zero_one_loss
from zoo.search.recipes import apply_overrides, get_recipe

from search_helpers import TINY, search

OPS3 = ("skip_connect", "avg_pool_3x3", "max_pool_3x3")


def same(t, want, atol=1e-6):
    torch.testing.assert_close(t.detach(), torch.tensor(want, dtype=t.dtype), rtol=0, atol=atol)


def logit(p):
    return math.log(p / (1 - p))


def small_net(**kw):
    torch.manual_seed(0)
    # nodes=1: two edges (state 2 <- 0, state 2 <- 1), three ops each.
    return Supernet(SearchSpace(candidates=OPS3, nodes=1), channels=4, layers=3, num_classes=3,
                    mixing="sigmoid", **kw)


# sigma(alpha) of the hand example: edge 0 (0.5, 0.75, 0.25), edge 1 (0.9, 0.1, 0.8).
SIGMAS = [[0.5, 0.75, 0.25], [0.9, 0.1, 0.8]]


def set_sigmas(net, normal=SIGMAS, reduce=None):
    with torch.no_grad():
        net.alphas["normal"].copy_(torch.tensor([[logit(p) for p in row] for row in normal]))
        net.alphas["reduce"].zero_() if reduce is None else net.alphas["reduce"].copy_(
            torch.tensor([[logit(p) for p in row] for row in reduce]))


def test_sigmoid_mixing_weights_every_op_on_its_own():
    net = small_net()
    set_sigmas(net)
    # Independent sigmoids: edge 0 sums to 1.5 and edge 1 to 1.8, not to 1 as a softmax would.
    same(net.op_weights("normal"), SIGMAS)
    same(net.edge_weights("normal"), SIGMAS)
    same(net.op_weights("reduce"), [[0.5] * 3] * 2)
    # The supernet's edge mixes exactly sum_o sigma_o * o(x) (pools then a non-affine BN each).
    net.eval()
    cell = net.cells[0]
    x = torch.randn(2, 4, 6, 6)
    w = net.edge_weights("normal")
    with torch.no_grad():
        want = sum(w[1, i] * op(x) for i, op in enumerate(cell.edges[1].ops))
        torch.testing.assert_close(cell.edges[1](x, w[1]), want)


def test_sigmoid_of_a_pruned_candidate_is_zero():
    space = SearchSpace(candidates=OPS3, nodes=1)
    cands = {t: [OPS3[:2], OPS3] for t in space.cell_types}  # edge 0 lost max_pool_3x3 (P-DARTS)
    net = Supernet(space, channels=4, layers=3, edge_candidates=cands, mixing="sigmoid")
    with torch.no_grad():
        net.alphas["normal"].copy_(torch.tensor([[logit(0.75), 0.0, logit(0.99)], [0.0, 0.0, 0.0]]))
        net.alphas["reduce"].zero_()
    same(net.op_weights("normal"), [[0.75, 0.5, 0.0], [0.5, 0.5, 0.5]])
    # The zero-one loss counts only real candidates: N = 5 normal + 5 reduce (both pruned); the one
    # square that is not 0 is (0.75 - 0.5)^2 = 0.0625 (the pruned 0.99 does not count).
    assert float(zero_one_loss(net).detach()) == pytest.approx(-0.0625 / 10)


def test_zero_one_loss_value_and_gradient_by_hand():
    net = small_net()
    set_sigmas(net)  # reduce alphas 0: sigma 0.5
    # N = 2 cell types x 2 edges x 3 ops = 12. Squares (sigma - 0.5)^2 of the normal cell:
    # 0, 0.0625, 0.0625, 0.16, 0.16, 0.09 -> 0.535; of the reduce cell: 0. L01 = -0.535 / 12.
    loss = ZeroOneLoss()(net)            # weight 10 (the authors' --aux_loss_weight)
    assert float(loss.detach()) == pytest.approx(-10 * 0.535 / 12)
    loss.backward()
    # d/d alpha = -(10 / 12) * 2 (sigma - 0.5) * sigma (1 - sigma):
    # sigma 0.5 -> 0; 0.75 -> -(10/12) * 0.09375; 0.25 -> +(10/12) * 0.09375;
    # 0.9 -> -(10/12) * 0.072; 0.1 -> +(10/12) * 0.072; 0.8 -> -(10/12) * 0.096.
    c = 10 / 12
    same(net.alphas["normal"].grad, [[0.0, -c * 0.09375, c * 0.09375], [-c * 0.072, c * 0.072, -c * 0.096]])
    assert net.alphas["reduce"].grad.abs().max() == 0
    with pytest.raises(ZooError, match="weight -1"):
        ZeroOneLoss(weight=-1)
    with pytest.raises(ZooError, match="unknown option 'w01'"):
        ZeroOneLoss(w01=10)


def test_zero_one_loss_enters_the_architecture_step_only():
    torch.manual_seed(1)
    batch = (torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))

    def arch_and_weight_grads(regularizer):
        net = small_net()
        set_sigmas(net)
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.0)
        a_opt = torch.optim.Adam(net.arch_parameters(), lr=0.0)
        s = make_strategy("first_order", net, w_opt, a_opt, regularizer=regularizer)
        stats = s.step(batch, batch)   # lr 0: nothing moves, the gradients stay readable
        return stats, [p.grad.clone() for p in net.arch_parameters()], [
            p.grad.clone() for p in net.weight_parameters() if p.grad is not None]

    plain_stats, plain_arch, plain_w = arch_and_weight_grads(None)
    reg_stats, reg_arch, reg_w = arch_and_weight_grads(ZeroOneLoss())
    assert reg_stats["arch_reg"] == pytest.approx(-10 * 0.535 / 12)
    c = 10 / 12
    # The architecture gradient differs by exactly the zero-one loss' gradient (previous test).
    torch.testing.assert_close(reg_arch[0] - plain_arch[0], torch.tensor(
        [[0.0, -c * 0.09375, c * 0.09375], [-c * 0.072, c * 0.072, -c * 0.096]]), rtol=0, atol=1e-6)
    torch.testing.assert_close(reg_arch[1], plain_arch[1], rtol=0, atol=1e-7)
    # The weight step never sees it.
    for a, b in zip(plain_w, reg_w):
        assert torch.equal(a, b)


SKIP, SEP = "skip_connect", "sep_conv_3x3"
EDGES2 = [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]


class _Space:
    nodes = 2
    max_inputs = 2


def test_threshold_rule_by_hand():
    rule = ThresholdRule()        # 0.85
    weights = [
        {SKIP: 0.9, SEP: 0.3},    # (2,0): best skip 0.90 >= 0.85: kept
        {SKIP: 0.2, SEP: 0.8},    # (2,1): best sep 0.80 < 0.85: dropped although among the top 2
        {SKIP: 0.95, SEP: 0.1},   # (3,0): 0.95 passes, but is only the third strongest edge of node 1
        {SKIP: 0.1, SEP: 0.99},   # (3,1): sep 0.99, strongest
        {SKIP: 0.5, SEP: 0.97},   # (3,2): sep 0.97, second
    ]
    assert rule.cell(weights, EDGES2, _Space(), None) == [[(SKIP, 0)], [(SEP, 1), (SEP, 2)]]
    # Node 0 without edges: node 1's edge from state 2 goes with it (an isolated node is ignored).
    weights[0] = {SKIP: 0.6, SEP: 0.3}
    assert rule.cell(weights, EDGES2, _Space(), None) == [[], [(SEP, 1)]]
    # A lower threshold keeps (2,1) too.
    assert ThresholdRule(0.75).cell(weights, EDGES2, _Space(), None) == [[(SEP, 1)], [(SEP, 1), (SEP, 2)]]


def test_threshold_rule_skip_cap_and_empty_cell_fallback():
    rule = ThresholdRule()
    weights = [{SKIP: 0.9, SEP: 0.88}, {SKIP: 0.95, SEP: 0.2}, {SKIP: 0.0, SEP: 0.0},
               {SKIP: 0.1, SEP: 0.99}, {SKIP: 0.5, SEP: 0.97}]
    # Two skips on node 0; cap 1: the weaker (2,0) 0.90 takes its next op sep 0.88 (passes);
    # cap 0: (2,1) has only sep 0.2 left, under the threshold, so the edge goes.
    assert rule.cell(weights, EDGES2, _Space(), 1) == [[(SKIP, 1), (SEP, 0)], [(SEP, 1), (SEP, 2)]]
    assert rule.cell(weights, EDGES2, _Space(), 0) == [[(SEP, 0)], [(SEP, 1), (SEP, 2)]]
    # Nothing passes: the strongest pair among edges reading the cell inputs, (3,1) sep 0.6.
    low = [{SKIP: 0.5, SEP: 0.4}, {SKIP: 0.3, SEP: 0.2}, {SKIP: 0.1, SEP: 0.1},
           {SKIP: 0.1, SEP: 0.6}, {SKIP: 0.7, SEP: 0.1}]
    assert rule.cell(low, EDGES2, _Space(), None) == [[], [(SEP, 1)]]
    with pytest.raises(ZooError, match="threshold 1.5"):
        ThresholdRule(1.5)


def test_derivation_from_a_supernet_uses_the_sigmoids():
    net = small_net()
    set_sigmas(net, reduce=[[0.1, 0.2, 0.3], [0.86, 0.2, 0.1]])
    assert "fair_threshold" in RULES
    cells = derive_cells(net, rule="fair_threshold")
    # normal: edge 1 best skip 0.9 passes; edge 0 best avg 0.75 does not. reduce: edge 1 skip 0.86.
    assert cells == {"normal": [[("skip_connect", 1)]], "reduce": [[("skip_connect", 1)]]}


def test_recipe_is_the_authors_setting_and_refuses_what_it_cannot_mix():
    r = get_recipe("fair_darts")
    assert (r.mixing, r.arch_regularizer, dict(r.arch_regularizer_kwargs), r.rule) == (
        "sigmoid", "zero_one", {"weight": 10.0}, "fair_threshold")
    assert r.candidates == FAIR_OPS and "none" not in r.candidates
    assert (r.strategy, r.layers, r.channels, r.nodes, r.epochs, r.batch_size) == ("first_order", 8, 16, 4, 50, 128)
    assert (r.w_lr, r.w_lr_min, r.w_momentum, r.w_wd, r.grad_clip) == (0.005, 0.001, 0.9, 3e-4, 5.0)
    assert (r.a_lr, tuple(r.a_betas), r.a_wd, r.train_fraction) == (3e-3, (0.9, 0.999), 1e-3, 0.5)
    assert "arXiv:1911.12126" in r.source and "xiaomi-automl/FairDARTS" in r.source
    with pytest.raises(ZooError, match="max_w"):
        apply_overrides(r, {"weighting": "max_w"})
    with pytest.raises(ZooError, match="edge_norm, mixing sigmoid"):
        Supernet(SearchSpace(candidates=OPS3, nodes=1, edge_norm=True), channels=4, layers=3, mixing="sigmoid")
    with pytest.raises(ZooError, match="stretchable cells, mixing sigmoid"):
        Supernet(SearchSpace(candidates=OPS3, nodes=2, stretchable=True), channels=4, layers=3, mixing="sigmoid")
    # Partial channels (PC-DARTS' K without edge betas) mix as usual.
    pc = Supernet(SearchSpace(candidates=OPS3, nodes=1), channels=4, layers=3, mixing="sigmoid", partial_channels=2)
    assert pc(torch.randn(2, 3, 8, 8)).shape == (2, 10)


@pytest.mark.slow
def test_fair_darts_digits_search_writes_a_genotype_the_zoo_builds(tmp_path):
    out = search(tmp_path, "fair", recipe="fair_darts", overrides=TINY, epochs=1)
    g = zoo.load_genotype(out)
    assert g.search["settings"]["rule"] == "fair_threshold"
    assert g.search["settings"]["mixing"] == "sigmoid"
    ops = {e.op for cell in g.cells.values() for node in cell.nodes for e in node}
    assert ops <= set(FAIR_OPS)
    model = zoo.create_model(out, layers=3, channels=4)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
