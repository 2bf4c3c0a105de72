"""GDAS: the temperature schedule, the straight-through sample (value one-hot, gradient the soft
sample's) on a 3-op edge, one op computed per edge, the strongest-pairs derivation, the weights-first
step order, the recipe (its per-epoch cosine and BN-ReLU head), and a bad temperature. The digits
command: tests/test_search_method_commands.py."""

import math

import pytest
import torch

import zoo
from zoo.errors import ZooError
from zoo.search import SearchSpace, Supernet, run_search
from zoo.search.discretize import RULES
from zoo.search.gdas import GumbelMixing, WeightsFirst, gumbel_noise, straight_through, temperature
from zoo.search.recipes import get_recipe
from zoo.search.supernet import MixedOp


def test_temperature_is_linear_per_epoch_from_10_to_0_1():
    # tau_e = 10 - 9.9 * e / (E - 1); E = 100: e = 33 -> 10 - 3.3 = 6.7, the last epoch (99) -> 0.1.
    assert temperature(0, 100) == 10.0
    assert temperature(33, 100) == pytest.approx(6.7)
    assert temperature(99, 100) == pytest.approx(0.1)
    assert temperature(0, 1) == 10.0     # a one-epoch search stays at tau_max
    mixing = GumbelMixing(SearchSpace(), tau_max=4.0, tau_min=1.0)
    assert mixing.tau == 4.0
    # E = 4: 4 - 3 * 2 / 3 = 2
    assert mixing.begin_epoch(2, 4) == {"tau": pytest.approx(2.0)} and mixing.tau == pytest.approx(2.0)


def test_straight_through_value_is_one_hot_and_gradient_is_the_soft_samples():
    # p = (0.2, 0.3, 0.5) and noise g = (log 5, 0, log 0.4): log p + g = log(1, 0.3, 0.2); at tau 0.5
    # the soft sample is softmax(2 log(1, 0.3, 0.2)) = (1, 0.09, 0.04) / 1.13 = (100, 9, 4) / 113.
    alphas = torch.tensor([0.2, 0.3, 0.5]).log().requires_grad_()
    gumbels = torch.tensor([math.log(5), 0.0, math.log(0.4)])
    weights, index = straight_through(alphas, gumbels, tau=0.5)
    assert int(index) == 0
    torch.testing.assert_close(weights.detach(), torch.tensor([1.0, 0.0, 0.0]), rtol=0, atol=1e-7)
    # d/dalpha sum(c * w), c = (1, 2, 3), is the soft sample's: (1 / tau) p_i (c_i - p.c) with
    # p.c = (100 + 18 + 12) / 113 = 130 / 113, i.e. 2 * (100 * -17, 9 * 96, 4 * 209) / 113^2.
    c = torch.tensor([1.0, 2.0, 3.0])
    (grad,) = torch.autograd.grad((c * weights).sum(), alphas)
    torch.testing.assert_close(grad, torch.tensor([-3400.0, 1728.0, 1672.0]) / 12769, rtol=1e-5, atol=1e-7)


def test_mixing_samples_with_its_noise_and_never_draws_a_missing_candidate():
    mixing = GumbelMixing(SearchSpace())
    alphas = torch.zeros(4, 3)
    mask = torch.tensor([[True, True, True]] * 3 + [[True, False, False]])
    mixing.generator = torch.Generator().manual_seed(5)
    weights, index = mixing.forward_weights(alphas, mask, training=True)
    noise = gumbel_noise(alphas, torch.Generator().manual_seed(5))     # the same draw, by hand
    expected = (alphas.masked_fill(~mask, -math.inf).log_softmax(-1) + noise).argmax(-1)
    assert index.tolist() == expected.tolist() and int(index[3]) == 0
    assert weights.detach().sum(-1).tolist() == pytest.approx([1.0] * 4)
    # Evaluation samples too (the authors' network has no eval branch).
    assert isinstance(mixing.forward_weights(alphas, None, training=False), tuple)
    # probabilities, which derivation and plots see, stay the softmax.
    assert mixing.probabilities(torch.tensor([[0.0, math.log(3)]]), None)[0].tolist() == pytest.approx([0.25, 0.75])


def test_mixed_op_computes_only_the_sampled_op():
    torch.manual_seed(0)
    mixed = MixedOp(zoo.get_op_set("darts"), ("none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"), 4, 1)
    calls = [0] * 4
    for i, op in enumerate(mixed.ops):
        op.register_forward_hook(lambda *a, i=i: calls.__setitem__(i, calls[i] + 1))
    alphas = torch.zeros(4, requires_grad=True)
    gumbels = torch.tensor([0.0, 0.0, 1.0, 0.0])        # sep_conv_3x3 (2) wins
    w, index = straight_through(alphas, gumbels, tau=1.0)
    x = torch.randn(2, 4, 8, 8)
    out = mixed(x, w, index)
    assert calls == [0, 0, 1, 0]
    with torch.no_grad():
        want = mixed.ops[2](x)                          # value: 1 * sep_conv(x) + 0 + 0 + 0
    torch.testing.assert_close(out.detach(), want, rtol=1e-6, atol=1e-6)
    (grad,) = torch.autograd.grad(out.sum(), alphas)
    assert bool((grad != 0).all())                      # the other weights pass their gradient


def test_a_gumbel_supernet_runs_one_op_per_edge_in_training_and_eval():
    torch.manual_seed(0)
    space = SearchSpace(nodes=2)
    net = Supernet(space, channels=4, layers=3, mixing="gumbel")
    calls = []
    for cell in net.cells:
        for edge in cell.edges:
            for op in edge.ops:
                op.register_forward_hook(lambda *a: calls.append(1))
    for train in (True, False):
        net.train(train)
        calls.clear()
        with torch.no_grad():
            assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)
        assert len(calls) == 3 * space.num_edges         # 3 cells, one op per edge


def test_gdas_rule_keeps_each_nodes_two_strongest_op_input_pairs():
    # edges (2,0) (2,1) (3,0) (3,1) (3,2); `none` is never chosen.
    weights = [{"none": 0.9, "skip_connect": 0.05, "sep_conv_3x3": 0.05},
               {"none": 0.1, "skip_connect": 0.5, "sep_conv_3x3": 0.4},
               {"none": 0.0, "skip_connect": 0.2, "sep_conv_3x3": 0.8},
               {"none": 0.2, "skip_connect": 0.3, "sep_conv_3x3": 0.5},
               {"none": 0.5, "skip_connect": 0.45, "sep_conv_3x3": 0.05}]
    edge_list = [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    space = SearchSpace(candidates=("none", "skip_connect", "sep_conv_3x3"), nodes=2)
    rule = RULES.get("gdas")
    # node 0: skip<1 0.5, sep<1 0.4 (both from input 1; DARTS' rule would take sep<0 as its second edge)
    # node 1: sep<0 0.8, sep<1 0.5 (skip<2 0.45 third)
    assert rule.cell(weights, edge_list, space, None) == [
        [("skip_connect", 1), ("sep_conv_3x3", 1)], [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)]]
    # At most 0 skips: node 0's skip<1 leaves the pool; skip<0 (0.05, listed before the tied sep<0) comes in
    # and leaves too; sep<0 takes the place.
    assert rule.cell(weights, edge_list, space, 0) == [
        [("sep_conv_3x3", 1), ("sep_conv_3x3", 0)], [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)]]


def test_weights_first_steps_the_weights_then_the_alphas():
    net = Supernet(SearchSpace(nodes=2), channels=4, layers=3, mixing="gumbel")
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=0.1)
    strategy = WeightsFirst(net, w_opt, a_opt)
    order = []
    for name in ("weight_step", "arch_step"):
        inner = getattr(strategy, name)
        setattr(strategy, name, lambda *a, inner=inner, name=name: order.append(name) or inner(*a))
    batch = (torch.randn(2, 3, 16, 16), torch.tensor([1, 2]))
    stats = strategy.step(batch, batch)
    assert order == ["weight_step", "arch_step"] and {"train_loss", "val_loss"} <= set(stats)
    strategy.warmup = True
    order.clear()
    strategy.step(batch, batch)
    assert order == ["weight_step"]


def test_gdas_recipe_is_the_authors_cifar_setting():
    r = get_recipe("gdas")
    assert (r.mixing, dict(r.mixing_kwargs), r.strategy, r.rule) == (
        "gumbel", {"tau_max": 10.0, "tau_min": 0.1}, "weights_first", "gdas")
    assert (r.layers, r.channels, r.nodes, r.epochs, r.batch_size) == (6, 16, 4, 250, 256)
    assert (r.w_lr, r.w_lr_min, r.w_momentum, r.w_wd, r.grad_clip) == (0.025, 0.001, 0.9, 5e-4, 5.0)
    assert (r.a_lr, tuple(r.a_betas), r.a_wd, r.warmup_epochs) == (3e-4, (0.5, 0.999), 1e-3, 0)
    assert "none" in SearchSpace().candidates and r.candidates is None
    assert r.search_head == "bn_relu_pool" and r.lr_schedule == "cosine"


def test_the_weights_cosine_is_the_authors_per_epoch_values():
    # The authors' CosineAnnealingLR (warm-up 0) reads only the integer epoch e:
    # lr_e = 0.001 + 0.024 * (1 + cos(pi e / 250)) / 2: 0.025 at e 0, 0.013 at e 125, and at e 249
    # 0.001 + 0.012 * (1 + cos(0.996 pi)) = 0.001 + 0.012 * 2 sin^2(0.002 pi) = 0.001 + 0.012 * 0.000079
    # = 0.00100095.
    from zoo.search.components import SCHEDULES
    r = get_recipe("gdas")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=r.w_lr)
    sched = SCHEDULES.get(r.lr_schedule)(opt, r.epochs, r.w_lr_min, r.lr_power)
    lrs = []
    for _ in range(r.epochs):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.025)
    assert lrs[125] == pytest.approx(0.013)
    assert lrs[249] == pytest.approx(0.001 + 0.012 * (1 + math.cos(math.pi * 249 / 250)))
    assert lrs[249] == pytest.approx(0.00100095, abs=1e-8)


def test_the_bn_relu_head_sits_between_the_last_cell_and_the_pooling():
    torch.manual_seed(0)
    space = SearchSpace(candidates=("skip_connect", "avg_pool_3x3"), nodes=1)
    net = Supernet(space, channels=4, layers=3, num_classes=3, head="bn_relu_pool")
    plain = Supernet(space, channels=4, layers=3, num_classes=3)
    assert plain.head_act is None and net.config()["head"] == "bn_relu_pool"
    bn = net.head_act[0]
    assert bn.affine and any(p is bn.weight for p in net.weight_parameters())
    with torch.no_grad():
        bn.weight.fill_(2.0)
        bn.bias.fill_(-0.5)
    net.eval()  # running stats 0 / 1: the BN is 2 x - 0.5 (up to its eps)
    captured = {}
    net.cells[-1].register_forward_hook(lambda m, i, o: captured.update(out=o))
    x = torch.randn(2, 3, 8, 8)
    logits = net(x)
    by_hand = torch.relu(2.0 * captured["out"] / math.sqrt(1 + bn.eps) - 0.5).mean(dim=(2, 3))
    torch.testing.assert_close(logits, net.classifier(by_hand))
    assert Supernet.from_config(net.config()).head_act is not None
    with pytest.raises(ZooError, match="unknown head 'bn_relu'"):
        Supernet(space, channels=4, layers=3, head="bn_relu")


@pytest.mark.parametrize("kwargs", [{"tau_min": 0}, {"tau_max": -1.0}, {"tau_max": 0.1, "tau_min": 1.0},
                                    {"tau_min": "cold"}])
def test_a_bad_temperature_is_a_one_line_error(kwargs):
    with pytest.raises(ZooError, match="must be numbers above 0 with tau_min <= tau_max") as err:
        Supernet(SearchSpace(nodes=2), channels=4, layers=3, mixing="gumbel", mixing_kwargs=kwargs)
    assert "\n" not in str(err.value)
    with pytest.raises(ZooError, match="unknown option 'tau'"):
        GumbelMixing(SearchSpace(), tau=1.0)


def test_a_search_with_a_bad_temperature_stops_before_writing_anything(tmp_path):
    with pytest.raises(ZooError, match="tau_max 0.1, tau_min 1 must be numbers above 0"):
        run_search("gdas", data="digits", epochs=1, out=tmp_path / "run" / "g.yaml", progress=False,
                   log=lambda line: None, overrides={"mixing_kwargs": {"tau_max": 0.1, "tau_min": 1}})
    assert not (tmp_path / "run").exists()


def test_the_unrolled_step_predicts_a_nesterov_sgd_step_exactly():
    # w' of the second-order step must be the weight optimizer's next step, Nesterov included:
    # buf' = mu buf + g, step = g + mu buf' (first step: buf' = g); checked against torch's own step.
    from zoo.search.strategies import SecondOrder
    torch.manual_seed(0)
    net = Supernet(SearchSpace(candidates=("skip_connect", "avg_pool_3x3"), nodes=1), channels=4, layers=3,
                   num_classes=3)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    strategy = SecondOrder(net, w_opt, torch.optim.Adam(net.arch_parameters(), lr=0.1))
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    for _ in range(2):  # the first step (no buffer yet), then one with a buffer
        w_opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        grads = [p.grad.clone() for p in strategy.weights]
        predicted = [p.detach() - 0.1 * d for p, d in zip(strategy.weights, strategy._optimizer_direction(grads))]
        w_opt.step()
        for p, q in zip(strategy.weights, predicted):
            assert torch.allclose(p.detach(), q, atol=1e-6)
    assert get_recipe("gdas").w_nesterov
