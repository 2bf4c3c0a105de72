"""The engine's slots for the skip-collapse methods (search/mixing.py): mixing, architecture
regularizer, weight-step perturbation, the epoch hook, DARTS-' auxiliary skip and rules that choose
their own topology. Hand-computed on tiny supernets."""

import dataclasses

import pytest
import torch
import torch.nn as nn

from zoo.errors import ZooError
from zoo.search import SearchSpace, Supernet, make_strategy
from zoo.search.discretize import RULES, derive_cells
from zoo.search.mixing import ARCH_REGULARIZERS, MIXINGS, ArchRegularizer, Mixing, linear_decay
from zoo.search.recipes import RECIPES, apply_overrides, register_recipe
from zoo.search.supernet import MixedOp
from zoo.ops import get_op_set


def _net(**kw):
    torch.manual_seed(0)
    space = SearchSpace(candidates=("none", "skip_connect", "avg_pool_3x3"), nodes=1)
    return Supernet(space, channels=4, layers=3, num_classes=3, **kw)


def _opts(net):
    w = torch.optim.SGD(net.weight_parameters(), lr=0.1)
    a = torch.optim.Adam(net.arch_parameters(), lr=0.1)
    return w, a


def test_default_mixing_is_the_softmax_of_the_alphas():
    net = _net()
    with torch.no_grad():
        net.alphas["normal"].copy_(torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 0.0]]))
    e = torch.exp(torch.tensor([0.0, 1.0, 2.0]))
    assert torch.allclose(net.op_weights("normal")[0], e / e.sum())
    assert torch.allclose(net.edge_weights("normal"), net.op_weights("normal"))


class _Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return 2 * x


def test_a_sampled_index_runs_only_that_op_and_passes_the_other_weights_gradients():
    mixed = MixedOp(get_op_set("darts"), ("skip_connect", "skip_connect", "skip_connect"), 2, 1)
    spies = [_Counting() for _ in range(3)]
    mixed.ops = nn.ModuleList(spies)
    x = torch.ones(1, 2, 1, 1)
    w = torch.tensor([0.0, 1.0, 0.0], requires_grad=True)
    out = mixed(x, w, torch.tensor(1))
    assert [s.calls for s in spies] == [0, 1, 0]
    # 1 * 2x + (0 + 0): value 2 everywhere; d(sum out)/dw = [numel, sum(2x), numel] = [2, 4, 2]
    assert torch.allclose(out, 2 * x)
    out.sum().backward()
    assert w.grad.tolist() == [2.0, 4.0, 2.0]


class _FirstOp(Mixing):
    """Test mixing: uniform probabilities; the forward pass always samples op 1."""

    name = "test_first_op"

    def probabilities(self, alphas, mask):
        return torch.full_like(alphas, 1.0 / alphas.shape[-1])

    def forward_weights(self, alphas, mask, training):
        w = torch.zeros_like(alphas)
        w[:, 1] = 1.0
        return w + alphas - alphas.detach(), torch.ones(alphas.shape[0], dtype=torch.long)

    def begin_epoch(self, epoch, epochs):
        return {"tau": 10.0 - epoch}


@pytest.fixture
def first_op_mixing():
    MIXINGS.register("test_first_op")(_FirstOp)
    yield
    MIXINGS.unregister("test_first_op")


def test_a_registered_mixing_drives_the_supernet_and_its_schedule(first_op_mixing):
    net = _net(mixing="test_first_op")
    assert torch.allclose(net.op_weights("normal"), torch.full((2, 3), 1 / 3))
    w, index = net.mixed_weights("normal")
    assert index.tolist() == [1, 1] and w[:, 1].tolist() == [1.0, 1.0]
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 3)
    strategy = make_strategy("first_order", net, *_opts(net))
    assert strategy.begin_epoch(3, 10) == {"tau": 7.0}
    assert Supernet.from_config(net.config()).mixing_name == "test_first_op"


class _SumOfAlphas(ArchRegularizer):
    def __init__(self, coefficient=1.0):
        self.coefficient = coefficient
        self.scale = 0.0

    def begin_epoch(self, epoch, epochs):
        self.scale = self.coefficient * epoch / epochs
        return {"reg_scale": self.scale}

    def __call__(self, supernet):
        return self.scale * sum(a.sum() for a in supernet.alphas.values())


def test_the_regularizer_enters_the_architecture_gradient_with_its_scheduled_weight():
    net = _net()
    batch = (torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
    plain = make_strategy("first_order", net, *_opts(net))
    plain.compute_arch_grads(batch, batch)
    base = [p.grad.clone() for p in plain.arch]
    for p in plain.arch:
        p.grad = None
    reg = _SumOfAlphas(coefficient=2.0)
    strategy = make_strategy("first_order", net, *_opts(net), regularizer=reg)
    assert strategy.begin_epoch(1, 4) == {"reg_scale": 0.5}
    stats = strategy.compute_arch_grads(batch, batch)
    # d(0.5 * sum(alpha))/d alpha = 0.5 on every entry, added to the validation gradient
    for g0, p in zip(base, strategy.arch):
        assert torch.allclose(p.grad, g0 + 0.5, atol=1e-6)
    assert stats["arch_reg"] == pytest.approx(0.5 * float(sum(a.detach().sum() for a in net.alphas.values())), rel=1e-5)


class _Spy:
    """A perturbation that records which forward passes ran under its offsets."""

    def __init__(self):
        self.calls = 0

    def begin_epoch(self, epoch, epochs):
        return {"epsilon": 0.1 * epoch}

    def offsets(self, strategy, batch):
        self.calls += 1
        return {t: torch.full_like(strategy.net.alphas[t].detach(), 0.25) for t in strategy.net.space.cell_types}


def test_the_perturbation_offsets_the_weight_step_only():
    net = _net()
    seen = []
    original = net.mixed_weights

    def recording(t):
        w, i = original(t)
        seen.append(float(w[0, 1].detach()) - float(net.op_weights(t)[0, 1].detach()))
        return w, i

    net.mixed_weights = recording
    spy = _Spy()
    strategy = make_strategy("first_order", net, *_opts(net), perturbation=spy)
    assert strategy.begin_epoch(2, 5) == {"epsilon": pytest.approx(0.2)}
    batch = (torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
    seen.clear()
    strategy.arch_step(batch, batch)
    assert seen and all(abs(d) < 1e-6 for d in seen)  # the alphas' pass is unperturbed
    seen.clear()
    strategy.weight_step(batch)
    assert spy.calls == 1
    assert seen and all(abs(d - 0.25) < 1e-6 for d in seen)
    assert net._offsets is None  # the offsets end with the weight step


def test_aux_skip_adds_beta_times_the_input_and_decays_linearly():
    mixed = MixedOp(get_op_set("darts"), ("none", "avg_pool_3x3"), 2, 1, aux_skip=True)
    mixed.aux_weight = 0.75
    x = torch.ones(1, 2, 3, 3)
    w = torch.tensor([0.5, 0.0])  # the pool's weight 0: the output is 0.75 * x alone
    assert torch.allclose(mixed(x, w), 0.75 * x)
    net = _net(aux_skip=1.0)
    values = [net.begin_epoch(e, 4)["aux_skip"] for e in range(4)]
    assert values == [1.0, 0.75, 0.5, 0.25] == [linear_decay(1.0, e, 4) for e in range(4)]
    assert all(m.aux_weight == 0.25 for m in net.modules() if isinstance(m, MixedOp))
    reduce_edges = [m for c in net.cells if c.reduction for m in c.edges[:2]]
    assert all(type(m.aux).__name__ == "FactorizedReduce" for m in reduce_edges)
    with pytest.raises(ZooError, match="aux_skip"):
        _net(aux_skip=-1.0)


class _KeepSecondInput:
    """A rule with its own topology: each node keeps only its edge from state 1, with its best op."""

    def cell(self, weights, edge_list, space, max_skips):
        nodes = []
        for target in range(2, 2 + space.nodes):
            e = next(i for i, (t, s) in enumerate(edge_list) if t == target and s == 1)
            op = max((o for o in weights[e] if o != "none"), key=weights[e].get)
            nodes.append([(op, 1)])
        return nodes


def test_a_rule_with_its_own_cell_method_chooses_the_topology():
    RULES.register("test_second_input")(_KeepSecondInput())
    try:
        net = _net()
        with torch.no_grad():
            net.alphas["normal"].copy_(torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 5.0]]))
        cells = derive_cells(net, rule="test_second_input")
        assert cells["normal"] == [[("avg_pool_3x3", 1)]]
    finally:
        RULES.unregister("test_second_input")


def test_recipe_relations_of_the_new_slots(first_op_mixing):
    base = RECIPES["darts_v1"]
    with pytest.raises(ZooError, match="max_w"):
        apply_overrides(base, {"mixing": "test_first_op", "weighting": "max_w"})
    with pytest.raises(ZooError, match="space cell"):
        apply_overrides(RECIPES["hypercuboid"], {"aux_skip": 1.0})
    with pytest.raises(ZooError, match="already registered"):
        register_recipe(dataclasses.replace(base))
    ARCH_REGULARIZERS.register("test_sum")(_SumOfAlphas)
    try:
        r = apply_overrides(base, {"arch_regularizer": "test_sum", "arch_regularizer_kwargs": {"coefficient": 2}})
        assert r.arch_regularizer == "test_sum"
    finally:
        ARCH_REGULARIZERS.unregister("test_sum")


def test_mapping_flags_take_key_value_pairs_and_update_the_recipes_mapping():
    from zoo.search.recipes import SEARCH_SETTINGS
    setting = SEARCH_SETTINGS["perturbation_kwargs"]
    assert setting.check(["epsilon=0.1", "steps=3", "name=adv"]) == {"epsilon": 0.1, "steps": 3, "name": "adv"}
    with pytest.raises(ZooError, match="is not KEY=VALUE"):
        setting.check(["epsilon"])
    adv = RECIPES["sdarts_adv"]
    r = apply_overrides(adv, {"perturbation_kwargs": ["epsilon=0.1"]})
    assert r.perturbation_kwargs == {**adv.perturbation_kwargs, "epsilon": 0.1}


@pytest.mark.parametrize("flags, message", [
    (["--recipe", "sdarts_rs", "--perturbation-kwargs", "epsilon=-1"], "epsilon -1 is below 0"),
    (["--recipe", "gdas", "--mixing-kwargs", "tau_min=0"], "must be numbers above 0"),
    (["--recipe", "sdarts_adv", "--perturbation-kwargs", "steps=zero"], "perturbation_kwargs {'epsilon': 0.3, "
     "'steps': 'zero'} do not fit it"),
])
def test_bad_method_settings_are_one_line_before_any_file(tmp_path, capsys, flags, message):
    from zoo.cli import main
    out = tmp_path / "g.yaml"
    assert main(["search", *flags, "--data", "digits", "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
