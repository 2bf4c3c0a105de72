"""Every skip-collapse method with the engine's other options (docs/skip-collapse.md, the combination
matrix): each pair either takes one real search step and derives a genotype the zoo builds, or is
refused in one line before anything is built. The refused pairs are pinned here."""

import pytest
import torch

import zoo
from zoo.errors import ZooError
from zoo.search.components import CellSpace
from zoo.search.mixing import make_perturbation, make_regularizer
from zoo.search.pdarts import next_stage_candidates
from zoo.search.recipes import apply_overrides, get_recipe
from zoo.search.strategies import make_strategy

METHODS = ("darts_minus", "beta_darts", "sdarts_rs", "sdarts_adv", "fair_darts", "i_darts", "gdas", "drnas_kl")
OPTIONS = {
    "partial_channels": {"partial_channels": 2},
    "edge_norm": {"edge_norm": True},
    "pdarts_stages": "stages",
    "stretchable": {"stretchable": True},
    "max_w": {"weighting": "max_w"},
    "second_order": {"strategy": "second_order"},
    "mixed_level": {"strategy": "mixed_level"},
}
# Refused, each with its reason (docs/skip-collapse.md): sigmoid / node softmax exclude any second
# weighting of a node's inputs; Max-W reweights softmax probabilities only; a rule that chooses its own
# topology would ignore the stretchable topology variables.
REFUSED = {(m, o) for m in ("fair_darts", "i_darts") for o in ("edge_norm", "stretchable", "max_w")} | {
    ("gdas", "max_w"), ("drnas_kl", "max_w"), ("gdas", "stretchable")}


def _settings(recipe, option):
    r = get_recipe(recipe)
    if option == "pdarts_stages":
        if r.stage_layers:  # DrNAS has stages of its own
            return {"channels": 12, "stage_layers": (3, 3)}
        n = len(r.candidates) if r.candidates else 8
        return {"channels": 8, "stage_layers": (3, 4), "stage_ops": (n, n - 3), "stage_dropout": (0.1, 0.4),
                "max_skips": 1}
    size = {"channels": 12, "stage_layers": (3, 3)} if r.stage_layers else {"channels": 8, "layers": 3}
    if option == "partial_channels" and r.stage_partial_channels:
        return {**size, "stage_partial_channels": (4, 2), "partial_channels": 2}
    return {**size, **OPTIONS[option]}


def _one_step(cfg, space, stage, candidates):
    net = CellSpace().supernet(cfg, space, stage, 10, candidates)
    w = torch.optim.SGD(net.weight_parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4)
    a = torch.optim.Adam(net.arch_parameters(), lr=0.01)
    parts = {"regularizer": make_regularizer(cfg.arch_regularizer, cfg.arch_regularizer_kwargs),
             "perturbation": make_perturbation(cfg.perturbation, cfg.perturbation_kwargs)}
    strategy = make_strategy(cfg.strategy, net, w, a, grad_clip=cfg.grad_clip, **dict(cfg.strategy_kwargs),
                             **{k: v for k, v in parts.items() if v is not None})
    strategy.begin_epoch(1, 2)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    stats = strategy.step((x, y), (x, y))
    assert all(v == v for v in stats.values()), stats  # no NaN
    return net


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("recipe", METHODS)
def test_each_method_with_each_option_steps_or_is_refused_in_one_line(recipe, option):
    torch.manual_seed(0)
    try:
        cfg = apply_overrides(get_recipe(recipe), _settings(recipe, option), data="digits")
        space = CellSpace().space(cfg)
        plan = cfg.stage_plan()
        net = _one_step(cfg, space, plan[0], None)
    except ZooError as e:
        assert (recipe, option) in REFUSED, f"refused unexpectedly: {e}"
        assert "\n" not in str(e)
        return
    assert (recipe, option) not in REFUSED, "accepted, but documented as refused"
    for stage in plan[1:]:
        net = _one_step(cfg, space, stage, next_stage_candidates(net, stage.ops_per_edge))
    genotype = net.genotype(rule=cfg.rule, max_skips=cfg.max_skips, name="combined")
    model = zoo.create_model(genotype, layers=3, channels=8)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 10)
