"""SDARTS: the clip by hand, seeded random offsets inside the box, PGD steps by hand on a linear loss
(no supernet), the epsilon schedule, the attack's eval mode, the perturbation reaching the weight
step only (a spy on every mixed op), the recipes, and digits searches whose genotypes the zoo builds."""

import pytest
import torch

import zoo
from zoo.errors import ZooError
from zoo.search import SearchSpace, Supernet, run_search
from zoo.search.mixing import PERTURBATIONS, make_perturbation
from zoo.search.recipes import get_recipe
from zoo.search.sdarts import (AdversarialPerturbation, RandomPerturbation, clip_rows, pgd_attack,
                               uniform_noise)
from zoo.search.strategies import make_strategy
from zoo.search.supernet import MixedOp

ONE = torch.ones(1, 1)


def test_clip_rows_by_hand():
    w = torch.tensor([[0.5, 0.7, -0.2],      # clamp -> (0.5, 0.7, 0), / 1.2
                      [-0.1, -0.3, -0.2],    # clamps to all zeros: 1 on the largest before the clip
                      [0.2, 0.3, 0.5]])      # already on the simplex: unchanged
    got = clip_rows(w, torch.ones(3, 1))
    torch.testing.assert_close(got, torch.tensor([[5 / 12, 7 / 12, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]))
    masked = clip_rows(torch.tensor([[0.2, 0.3, 0.9]]), ONE, mask=torch.tensor([[True, True, False]]))
    torch.testing.assert_close(masked, torch.tensor([[0.4, 0.6, 0.0]]))   # a pruned op stays at 0


class Holder:
    """What a perturbation reads from the strategy: its supernet."""

    def __init__(self, net):
        self.net = net


def small_supernet(seed=0):
    torch.manual_seed(seed)
    space = SearchSpace(candidates=("none", "skip_connect", "max_pool_3x3", "avg_pool_3x3"), nodes=2)
    net = Supernet(space, channels=4, layers=3)
    with torch.no_grad():
        for a in net.alphas.values():
            a.normal_()
    return net


def test_seeded_random_offsets_stay_in_the_box_and_the_clip_holds():
    net = small_supernet()
    g = torch.Generator().manual_seed(5)
    noise = uniform_noise(torch.zeros(1000, 4), 0.3, g)
    assert float(noise.min()) >= -0.3 and float(noise.max()) <= 0.3 and float(noise.std()) > 0.15
    rs = RandomPerturbation(epsilon=0.3, generator=torch.Generator().manual_seed(7))
    assert rs.begin_epoch(49, 50)["sdarts_epsilon"] == pytest.approx(0.03 + 0.27 * 49 / 50)
    offsets = rs.offsets(Holder(net), None)
    replay = torch.Generator().manual_seed(7)
    for t in net.space.cell_types:
        base = net.edge_weights(t).detach()
        raw = uniform_noise(base, rs.eps, replay)                 # the same draw, in the box
        assert float(raw.abs().max()) <= rs.eps
        perturbed = base + offsets[t]
        torch.testing.assert_close(perturbed, clip_rows(base + raw, torch.ones(len(base), 1)))
        assert float(perturbed.min()) >= 0 and float(perturbed.max()) <= 1
        torch.testing.assert_close(perturbed.sum(-1), torch.ones(len(base)))
        assert float(offsets[t].abs().max()) > 0.01


def test_epsilon_schedule_and_bad_options():
    assert [RandomPerturbation().begin_epoch(e, 50)["sdarts_epsilon"] for e in (0, 25, 49)] == pytest.approx(
        [0.03, 0.165, 0.2946])
    assert AdversarialPerturbation().eps == pytest.approx(0.03)              # before the first begin_epoch
    assert PERTURBATIONS.get("random") is RandomPerturbation
    assert PERTURBATIONS.get("adversarial") is AdversarialPerturbation
    for name, kwargs, words in (("random", {"epsilon": -0.1}, "epsilon -0.1 is below 0"),
                                ("adversarial", {"epsilon_start": -1}, "epsilon_start -1 is below 0"),
                                ("adversarial", {"steps": 0}, "steps 0 is not a whole number"),
                                ("adversarial", {"step_size": 0.0}, "step_size 0.0 is not above 0")):
        with pytest.raises(ZooError, match=words) as err:
            make_perturbation(name, kwargs)
        assert "\n" not in str(err.value)


def linear_loss(base, c):
    """L(delta) = sum(c * (A + delta)): its gradient is c, so every sign step is known."""
    return lambda delta: sum((c[t] * (base[t] + delta[t])).sum() for t in base)


def test_pgd_steps_by_hand_on_a_linear_loss():
    base = {"normal": torch.tensor([[0.2, 0.3, 0.5]])}
    c = {"normal": torch.tensor([[1.0, -1.0, 0.0]])}
    # step 1: + 0.1 * sign(c) = (0.3, 0.2, 0.5); step 2: (0.4, 0.1, 0.5), offset (0.2, -0.2, 0) projected
    # to the 0.15 box -> (0.35, 0.15, 0.5), on the simplex already.
    got = pgd_attack(base, linear_loss(base, c), eps=0.15, steps=2, step_size=0.1, random_start=False)
    torch.testing.assert_close(got["normal"], torch.tensor([[0.15, -0.15, 0.0]]))
    one = pgd_attack(base, linear_loss(base, c), eps=0.15, steps=1, step_size=0.1, random_start=False)
    torch.testing.assert_close(one["normal"], torch.tensor([[0.1, -0.1, 0.0]]))


def test_pgd_clips_each_step_and_drops_an_attack_that_lowers_the_loss():
    base = {"normal": torch.tensor([[0.05, 0.9, 0.05]])}
    c = {"normal": torch.tensor([[-1.0, 1.0, 1.0]])}
    # (0.05, 0.9, 0.05) + 0.1 * (-1, 1, 1) = (-0.05, 1.0, 0.15) -> clamp (0, 1, 0.15) -> / 1.15
    got = pgd_attack(base, linear_loss(base, c), eps=0.3, steps=1, step_size=0.1, random_start=False)
    torch.testing.assert_close(got["normal"], torch.tensor([[0.0, 1 / 1.15, 0.15 / 1.15]]) - base["normal"])
    # (0.8, 0.1, 0.1) + 0.1 = (0.9, 0.2, 0.2) / 1.3: the loss 0.8 + 0.9 * 0.2 = 0.98 falls to
    # (0.9 + 0.9 * 0.4) / 1.3 = 0.969, so the attack is dropped: zero offsets, as the authors' code.
    flat = {"normal": torch.tensor([[0.8, 0.1, 0.1]])}
    c2 = {"normal": torch.tensor([[1.0, 0.9, 0.9]])}
    dropped = pgd_attack(flat, linear_loss(flat, c2), eps=0.3, steps=1, step_size=0.1, random_start=False)
    assert torch.equal(dropped["normal"], torch.zeros(1, 3))


def test_adversarial_offsets_on_a_supernet_run_in_eval_mode():
    net = small_supernet().train()
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    running = [b.clone() for b in net.buffers()]
    adv = AdversarialPerturbation(epsilon=0.3, steps=3, generator=torch.Generator().manual_seed(1))
    adv.begin_epoch(40, 50)
    offsets = adv.offsets(Holder(net), (x, y))
    assert net.training                                                    # mode restored
    assert all(torch.equal(a, b) for a, b in zip(running, net.buffers()))  # BatchNorm statistics untouched
    assert all(p.grad is None for p in net.parameters())                   # no gradient left behind
    for t in net.space.cell_types:
        perturbed = net.edge_weights(t).detach() + offsets[t]
        assert float(perturbed.min()) >= 0 and float(perturbed.max()) <= 1 + 1e-6
        torch.testing.assert_close(perturbed.sum(-1), torch.ones(len(perturbed)))
        assert float(offsets[t].abs().max()) > 0


@pytest.mark.parametrize("name", ["random", "adversarial"])
def test_the_perturbation_reaches_the_weight_step_only(monkeypatch, name):
    net = small_supernet(seed=1)
    kwargs = {"generator": torch.Generator().manual_seed(3)}
    if name == "adversarial":
        kwargs["steps"] = 2
    perturbation = make_perturbation(name, kwargs)
    perturbation.begin_epoch(49, 50)
    strategy = make_strategy("first_order", net, torch.optim.SGD(net.weight_parameters(), lr=0.01),
                             torch.optim.Adam(net.arch_parameters(), lr=0.1), perturbation=perturbation)
    where = {id(edge): (cell.cell_type, e) for cell in net.cells for e, edge in enumerate(cell.edges)}
    seen = []
    phase = ["arch"]
    forward = MixedOp.forward

    def spy(self, x, weights, index=None):
        seen.append((phase[0], where[id(self)], weights.detach().clone()))
        return forward(self, x, weights) if index is None else forward(self, x, weights, index)

    given = {}
    offsets = perturbation.offsets

    def spy_offsets(strat, batch):
        phase[0] = "attack"
        given.update(offsets(strat, batch))
        phase[0] = "weight"
        return given

    monkeypatch.setattr(MixedOp, "forward", spy)
    monkeypatch.setattr(perturbation, "offsets", spy_offsets)
    before = {t: net.op_weights(t).detach().clone() for t in net.space.cell_types}
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    strategy.step((x, y), (x, y))
    after = {t: net.op_weights(t).detach() for t in net.space.cell_types}
    arch = [s for s in seen if s[0] == "arch"]
    weight = [s for s in seen if s[0] == "weight"]
    assert arch and weight and len(weight) == len(arch)
    for _, (t, e), w in arch:                      # the architecture step: plain softmax weights
        torch.testing.assert_close(w, before[t][e])
    for _, (t, e), w in weight:                    # the weight step: the new softmax plus the offsets
        torch.testing.assert_close(w, after[t][e] + given[t][e])
    if name == "random":  # (an attack that does not raise the loss is dropped, leaving zeros)
        assert all(float(o.abs().max()) > 0 for o in given.values())
    assert not torch.equal(before["normal"], after["normal"])   # the alphas did step in between


def test_sdarts_recipes_are_the_authors():
    for name, kind in (("sdarts_rs", "random"), ("sdarts_adv", "adversarial")):
        r = get_recipe(name)
        assert (r.strategy, r.perturbation, r.perturbation_kwargs["epsilon"]) == ("first_order", kind, 0.3)
        assert "none" not in r.candidates and len(r.candidates) == 7
        assert (r.layers, r.channels, r.epochs, r.batch_size, r.w_lr, r.w_lr_min, r.grad_clip) == (
            8, 16, 50, 64, 0.025, 0.001, 5.0)
        assert (r.a_lr, r.a_wd) == (3e-4, 1e-3) and "arXiv:2002.05283" in r.source
    assert get_recipe("sdarts_adv").perturbation_kwargs["steps"] == 7


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["sdarts_rs", "sdarts_adv"])
def test_sdarts_digits_search_writes_a_genotype_the_zoo_builds(tmp_path, recipe):
    out = run_search(recipe, data="digits", out=tmp_path / f"{recipe}.yaml", seed=0, progress=False,
                     log=lambda line: None, threads=1,
                     overrides={"epochs": 2, "subset": 48, "batch_size": 16, "layers": 3, "channels": 4,
                                "nodes": 2})
    g = zoo.load_genotype(out)
    assert g.search["settings"]["perturbation"] == recipe.split("_")[1].replace("rs", "random").replace(
        "adv", "adversarial")
    model = zoo.create_model(out, layers=3, channels=8)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert '"sdarts_epsilon"' in (tmp_path / f"{recipe}.history.json").read_text()
