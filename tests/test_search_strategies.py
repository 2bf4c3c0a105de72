"""Architecture-update strategies: the exact gradients they promise, and a few real steps each."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

import zoo
from zoo.errors import ZooError
from zoo.search.space import N3_STAGES, SearchSpace
from zoo.search.strategies import FirstOrder, MixedLevel, SecondOrder, make_strategy
from zoo.search.supernet import Supernet



def _batches(seed: int, n: int = 4, size: int = 8, classes: int = 3, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g, dtype=dtype)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def _optimizers(net, lr=0.1):
    w = torch.optim.SGD(net.weight_parameters(), lr, momentum=0.9, weight_decay=3e-4)
    a = torch.optim.Adam(net.arch_parameters(), 3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    return w, a


def _weight_names(net):
    arch = {id(p) for p in net.arch_parameters()}
    return [n for n, p in net.named_parameters() if id(p) not in arch]


def _exact_unrolled_grad(net, w_opt, xi, train, val):
    """grad_a L_val(w'(a), a) with w'(a) = w - xi (grad_w L_train(w, a) + wd w + mu buf), by
    double backward through the unrolled step: the quantity DARTS approximates."""
    names = _weight_names(net)
    params = dict(net.named_parameters())
    weights = [params[n] for n in names]
    g = torch.autograd.grad(F.cross_entropy(net(train[0]), train[1]), weights,
                            create_graph=True, allow_unused=True)
    group = w_opt.param_groups[0]
    unrolled = {}
    for n, p, gi in zip(names, weights, g):
        gi = torch.zeros_like(p) if gi is None else gi
        buf = w_opt.state[p].get("momentum_buffer", torch.zeros_like(p))
        unrolled[n] = p - xi * (gi + group["weight_decay"] * p + group["momentum"] * buf)
    loss = F.cross_entropy(functional_call(net, unrolled, (val[0],)), val[1])
    return torch.autograd.grad(loss, net.arch_parameters())


def test_second_order_matches_exact_unrolled_gradient():
    torch.manual_seed(0)
    net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, num_classes=3).double()
    w_opt, a_opt = _optimizers(net)
    train, val = _batches(1, dtype=torch.float64), _batches(2, dtype=torch.float64)
    # A piecewise-linear ReLU net is smooth only below ~1e-4 in weight space, so the difference
    # step is taken small here; the default eps = 0.01 / ||v|| is checked on a smooth model below.
    strategy = SecondOrder(net, w_opt, a_opt, r=1e-6)
    strategy.weight_step(train)                  # a momentum buffer, as in the middle of a search
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_(0.0, 0.5)                  # away from uniform, so every term matters
    xi = strategy.current_xi()
    assert xi == pytest.approx(0.1)
    before = [p.detach().clone() for p in net.weight_parameters()]
    a_opt.zero_grad()
    strategy.compute_arch_grads(train, val)
    approx = [a.grad.clone() for a in net.arch_parameters()]
    # The unrolled step is undone: the weights are bit-identical afterwards.
    for p, b in zip(net.weight_parameters(), before):
        assert torch.equal(p, b)
    exact = _exact_unrolled_grad(net, w_opt, xi, train, val)
    first_order = torch.autograd.grad(net.loss(*val), net.arch_parameters())
    for a, e, f in zip(approx, exact, first_order):
        assert torch.allclose(a, e, rtol=1e-6, atol=1e-9)
        # ...and the second-order term is not negligible, so the test has teeth.
        assert (e - f).abs().max() > 1e-3


def test_hessian_vector_product_sees_the_same_dropout_masks():
    torch.manual_seed(0)
    net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, num_classes=3, skip_dropout=0.5).double()
    strategy = SecondOrder(net, *_optimizers(net), r=1e-7)
    v = [torch.randn_like(p) for p in net.weight_parameters()]
    hvp = strategy.hessian_vector_product(v, _batches(3, dtype=torch.float64))
    # Different masks in the two passes would divide an O(1) difference by 2 eps = 2e-7 / ||v||.
    assert all(torch.isfinite(h).all() and h.abs().max() < 1e3 for h in hvp)


class _SmoothNet(nn.Module):
    """A smooth stand-in with the supernet interface: softmax(alpha)-mixed tanh layers."""

    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 5)
        self.l2 = nn.Linear(6, 5)
        self.head = nn.Linear(5, 3)
        self.alphas = nn.ParameterDict({"normal": nn.Parameter(torch.randn(1, 2))})
        self.displacements: list[float] = []
        self.reference = None

    def arch_parameters(self):
        return list(self.alphas.values())

    def weight_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("alphas")]

    def forward(self, x):
        if self.reference is not None:
            self.displacements.append(float(torch.sqrt(sum(
                ((p.detach() - r) ** 2).sum() for p, r in zip(self.weight_parameters(), self.reference)))))
        w = torch.softmax(self.alphas["normal"], -1)[0]
        return self.head(w[0] * torch.tanh(self.l1(x)) + w[1] * torch.sin(self.l2(x)))


def test_second_order_default_eps_on_a_smooth_model():
    torch.manual_seed(0)
    net = _SmoothNet().double()
    w_opt, a_opt = _optimizers(net, lr=0.05)
    g = torch.Generator().manual_seed(3)
    train = (torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g))
    val = (torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g))
    strategy = make_strategy("second_order", net, w_opt, a_opt)
    assert strategy.r == 0.01
    strategy.weight_step(train)
    a_opt.zero_grad()
    net.reference = [p.detach().clone() for p in net.weight_parameters()]
    strategy.compute_arch_grads(train, val)
    net.reference = None
    # Forward passes: L_train(w), L_val(w'), then L_train(w + eps v) and L_train(w - eps v), each
    # 0.01 away from w: eps = 0.01 / ||v||.
    assert len(net.displacements) == 4
    assert net.displacements[0] == 0.0
    assert net.displacements[2] == pytest.approx(0.01, rel=1e-9)
    assert net.displacements[3] == pytest.approx(0.01, rel=1e-9)
    exact = _exact_unrolled_grad(net, w_opt, 0.05, train, val)
    assert torch.allclose(net.alphas["normal"].grad, exact[0], rtol=1e-5, atol=1e-10)


def test_plain_sgd_unroll_ignores_momentum_and_decay():
    torch.manual_seed(0)
    net = _SmoothNet().double()
    w_opt, a_opt = _optimizers(net, lr=0.05)
    g = torch.Generator().manual_seed(4)
    train = (torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g))
    val = (torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g))
    strategy = SecondOrder(net, w_opt, a_opt, unroll="sgd", xi=0.2, r=1e-6)
    strategy.weight_step(train)
    a_opt.zero_grad()
    strategy.compute_arch_grads(train, val)
    plain = torch.optim.SGD(net.weight_parameters(), 0.2)       # no momentum, no weight decay
    exact = _exact_unrolled_grad(net, plain, 0.2, train, val)
    assert torch.allclose(net.alphas["normal"].grad, exact[0], rtol=1e-6, atol=1e-12)


def test_first_order_gradient_is_the_validation_gradient():
    torch.manual_seed(1)
    net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, num_classes=3)
    w_opt, a_opt = _optimizers(net)
    train, val = _batches(5), _batches(6)
    reference = copy.deepcopy(net)
    expected = torch.autograd.grad(reference.loss(*val), reference.arch_parameters())
    FirstOrder(net, w_opt, a_opt).step(train, val)
    for a, e in zip(net.arch_parameters(), expected):
        assert torch.allclose(a.grad, e, atol=1e-6)


@pytest.mark.parametrize("one_pass", [False, True])
def test_mixed_level_gradient_is_train_plus_lambda_val(one_pass):
    torch.manual_seed(2)
    net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, num_classes=3)
    w_opt, a_opt = _optimizers(net)
    train, val = _batches(7), _batches(8)
    reference = copy.deepcopy(net)
    g_train = torch.autograd.grad(reference.loss(*train), reference.arch_parameters())
    g_val = torch.autograd.grad(reference.loss(*val), reference.arch_parameters())
    w_train = torch.autograd.grad(reference.loss(*train), reference.weight_parameters(), allow_unused=True)
    lam = 0.5
    strategy = make_strategy("milenas", net, w_opt, a_opt, lam=lam, one_pass=one_pass)
    assert isinstance(strategy, MixedLevel)
    weights_before = [p.detach().clone() for p in net.weight_parameters()]
    stats = strategy.step(train, val)
    for a, gt, gv in zip(net.arch_parameters(), g_train, g_val):
        assert torch.allclose(a.grad, gt + lam * gv, atol=1e-6)
        assert not torch.allclose(gt, gt + lam * gv)
    assert set(stats) >= {"train_loss", "train_acc", "val_loss", "val_acc"}
    if not one_pass:
        return  # the default steps the weights at the updated alphas: tests/test_search_fidelity.py
    # one_pass: the weights moved along grad L_train at the old alphas (SGD, first step: w - lr (g + wd w)).
    for p, b, gw in zip(net.weight_parameters(), weights_before, w_train):
        gw = torch.zeros_like(b) if gw is None else gw
        norm = math.sqrt(sum(float((g ** 2).sum()) for g in w_train if g is not None))
        gw = gw * min(1.0, 5.0 / (norm + 1e-6))
        assert torch.allclose(p, b - 0.1 * (gw + 3e-4 * b), atol=1e-6)


def test_one_level_uses_the_training_batch_for_both():
    torch.manual_seed(3)
    net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, num_classes=3)
    w_opt, a_opt = _optimizers(net)
    train = _batches(9)
    reference = copy.deepcopy(net)
    expected = torch.autograd.grad(reference.loss(*train), reference.arch_parameters())
    stats = make_strategy("one_level", net, w_opt, a_opt).step(train, None)
    for a, e in zip(net.arch_parameters(), expected):
        assert torch.allclose(a.grad, e, atol=1e-6)
    assert "val_loss" not in stats


def test_warmup_trains_weights_only():
    torch.manual_seed(4)
    for name in ("first_order", "one_level", "mixed_level"):
        net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, num_classes=3)
        w_opt, a_opt = _optimizers(net)
        strategy = make_strategy(name, net, w_opt, a_opt, warmup=True)
        alphas = [a.detach().clone() for a in net.arch_parameters()]
        weights = [p.detach().clone() for p in net.weight_parameters()]
        stats = strategy.step(_batches(10), _batches(11))
        assert set(stats) == {"train_loss", "train_acc"}
        assert all(torch.equal(a, b) for a, b in zip(net.arch_parameters(), alphas))
        assert any(not torch.equal(p, b) for p, b in zip(net.weight_parameters(), weights))
        strategy.warmup = False
        strategy.step(_batches(10), _batches(11))
        assert any(not torch.equal(a, b) for a, b in zip(net.arch_parameters(), alphas))


def test_unknown_strategy_is_a_one_line_error():
    net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, num_classes=3)
    with pytest.raises(ZooError, match="second_order") as err:
        make_strategy("secnd_order", net, *_optimizers(net))
    assert "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["first_order", "second_order", "one_level", "mixed_level"])
def test_end_to_end_steps_then_compile(name):
    torch.manual_seed(5)
    space = SearchSpace(nodes=3)
    net = Supernet(space, channels=4, layers=3, num_classes=3)
    w_opt, a_opt = _optimizers(net, lr=0.05)
    strategy = make_strategy(name, net, w_opt, a_opt)
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    for k in range(3):
        stats = strategy.step(_batches(20 + k), _batches(40 + k))
        assert all(math.isfinite(v) for v in stats.values()), stats
    assert all(torch.isfinite(a).all() for a in net.arch_parameters())
    assert all(torch.isfinite(p).all() for p in net.weight_parameters())
    assert all(not torch.equal(a, b) for a, b in zip(net.arch_parameters(), alphas))
    g = net.genotype()
    assert g.provenance["kind"] == "searched"
    assert set(g.cells) == {"normal", "reduce"}
    assert all(len(node) == 2 for cell in g.cells.values() for node in cell.nodes)
    model = zoo.create_model(g, layers=4, channels=4, num_classes=3, auxiliary=False)
    model.eval()
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 3)


@pytest.mark.slow
def test_three_normal_types_three_nodes_give_four_cell_types():
    torch.manual_seed(6)
    space = SearchSpace(nodes=3, stages=N3_STAGES)
    net = Supernet(space, channels=4, layers=5, num_classes=3)
    assert list(net.alphas) == ["normal1", "reduce", "normal2", "normal3"]
    assert net.plan == ("normal1", "reduce", "normal2", "reduce", "normal3")
    w_opt, a_opt = _optimizers(net, lr=0.05)
    strategy = make_strategy("first_order", net, w_opt, a_opt)
    for k in range(2):
        strategy.step(_batches(60 + k), _batches(70 + k))
    g = net.genotype(rule="grouping", max_skips=2)
    assert set(g.cells) == {"normal1", "reduce", "normal2", "normal3"}
    assert g.stages == N3_STAGES
    assert all(len(cell.nodes) == 3 and cell.concat == (2, 3, 4) for cell in g.cells.values())
    model = zoo.create_model(g, layers=5, channels=4, num_classes=3, auxiliary=False)
    assert model.plan == ("normal1", "reduce", "normal2", "reduce", "normal3")
    model.eval()
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 3)


@pytest.mark.slow
def test_stretchable_mixed_level_search_compiles():
    torch.manual_seed(7)
    space = SearchSpace(nodes=4, stretchable=True)
    assert "none" not in space.candidates
    net = Supernet(space, channels=4, layers=3, num_classes=3)
    w_opt, a_opt = _optimizers(net, lr=0.05)
    strategy = make_strategy("mixed_level", net, w_opt, a_opt)
    betas = [b.detach().clone() for b in net.betas.values()]
    for k in range(2):
        stats = strategy.step(_batches(80 + k), _batches(90 + k))
    assert "topology_reg" in stats and math.isfinite(stats["topology_reg"])
    assert all(not torch.equal(b, c) for b, c in zip(net.betas.values(), betas))
    g = net.genotype()
    model = zoo.create_model(g, layers=3, channels=4, num_classes=3, auxiliary=False)
    model.eval()
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 3)
