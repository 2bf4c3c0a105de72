"""DrNAS: concentration and Dirichlet mean by hand, the pathwise sample, the KL anchor term against
its closed form on a 3-op edge, the per-stage K schedule, the recipes, bad regularizer options, and a
digits search (two stages, ops pruned 7 -> 4) whose genotype the zoo builds."""

import json
import math

import pytest
import torch
from torch.distributions import Dirichlet

import zoo
from zoo.errors import ZooError
from zoo.search import SearchSpace, Supernet, run_search
from zoo.search.components import CellSpace
from zoo.search.drnas import DRNAS_OPS, DirichletKL, DirichletMixing, concentration, dirichlet_kl
from zoo.search.partial_channels import stage_partial_channels, stage_partial_channels_problem
from zoo.search.recipes import apply_overrides, get_recipe


def test_concentration_and_dirichlet_mean_by_hand():
    # elu(-ln 2) + 1 = 0.5, elu(0) + 1 = 1, elu(1.5) + 1 = 2.5; mean = beta / 4 = (0.125, 0.25, 0.625).
    alphas = torch.tensor([[-math.log(2), 0.0, 1.5]])
    assert concentration(alphas)[0].tolist() == pytest.approx([0.5, 1.0, 2.5])
    mixing = DirichletMixing(SearchSpace())
    assert mixing.probabilities(alphas, None)[0].tolist() == pytest.approx([0.125, 0.25, 0.625])
    assert mixing.forward_weights(alphas, None, training=False)[0].tolist() == pytest.approx([0.125, 0.25, 0.625])
    # A ragged edge: only its first two candidates, beta (0.5, 1) -> (1/3, 2/3, 0).
    mask = torch.tensor([[True, True, False]])
    assert mixing.probabilities(alphas, mask)[0].tolist() == pytest.approx([1 / 3, 2 / 3, 0.0])


def test_training_draws_a_dirichlet_sample_with_a_pathwise_gradient():
    mixing = DirichletMixing(SearchSpace())
    alphas = torch.tensor([[-math.log(2), 0.0, 1.5], [0.0, 0.0, 0.0]], requires_grad=True)
    torch.manual_seed(3)
    theta = mixing.forward_weights(alphas, None, training=True)
    torch.manual_seed(3)
    same = Dirichlet(torch.tensor([[0.5, 1.0, 2.5], [1.0, 1.0, 1.0]])).rsample()
    torch.testing.assert_close(theta.detach(), same)
    assert theta.detach().sum(-1).tolist() == pytest.approx([1.0, 1.0]) and bool((theta > 0).all())
    (grad,) = torch.autograd.grad(theta[0, 2], alphas)
    assert bool((grad[0] != 0).all()) and bool((grad[1] == 0).all())   # each edge's own sample
    # Many draws average to the mean (0.125, 0.25, 0.625); a ragged row never draws its missing op.
    mask = torch.tensor([[True, True, True], [True, False, True]])
    draws = torch.stack([mixing.forward_weights(alphas.detach(), mask, training=True) for _ in range(4000)])
    assert draws[:, 0].mean(0).tolist() == pytest.approx([0.125, 0.25, 0.625], abs=0.01)
    assert bool((draws[:, 1, 1] == 0).all()) and draws[:, 1].mean(0).tolist() == pytest.approx([0.5, 0, 0.5], abs=0.02)


def test_kl_to_the_uniform_anchor_against_the_closed_form():
    # KL(Dir(a) || Dir(1,1,1)) = ln G(a0) - sum ln G(a_i) - ln G(3) + sum (a_i - 1)(psi(a_i) - psi(a0)).
    # a = elu(0, 1, 2) + 1 = (1, 2, 3), a0 = 6: ln 120 - ln 2 - ln 2 + 1 * (psi(2) - psi(6))
    # + 2 * (psi(3) - psi(6)), psi(2) - psi(6) = 1 - 137/60, psi(3) - psi(6) = 3/2 - 137/60:
    # ln 30 - 77/60 - 94/60 = ln 30 - 171/60.
    one_edge = math.log(30) - 171 / 60
    assert float(dirichlet_kl(torch.tensor([[0.0, 1.0, 2.0]]))) == pytest.approx(one_edge, rel=1e-5)
    assert float(dirichlet_kl(torch.zeros(4, 3))) == pytest.approx(0.0, abs=1e-6)   # at the anchor
    # A ragged edge over its own two candidates: a = (1, 2): ln G(3) + (psi(2) - psi(3)) = ln 2 - 1/2.
    ragged = dirichlet_kl(torch.tensor([[0.0, 1.0, 5.0]]), torch.tensor([[True, True, False]]))
    assert float(ragged) == pytest.approx(math.log(2) - 0.5, rel=1e-5)
    # The regularizer: scale * the sum over cell types and edges (one edge of `normal` off the anchor).
    net = Supernet(SearchSpace(candidates=("skip_connect", "sep_conv_3x3", "max_pool_3x3"), nodes=2),
                   channels=4, layers=3, mixing="dirichlet")
    with torch.no_grad():
        for a in net.alphas.values():
            a.zero_()
        net.alphas["normal"][3] = torch.tensor([0.0, 1.0, 2.0])
    assert float(DirichletKL(scale=1e-3)(net).detach()) == pytest.approx(1e-3 * one_edge, rel=1e-5)


def test_a_bad_regularizer_option_is_a_one_line_error():
    for kwargs, match in (({"scale": -1}, "scale -1 must be a number 0 or more"),
                          ({"prior": 0}, "prior 0 must be a number above 0"),
                          ({"scale": "big"}, "scale 'big' must be a number"),
                          ({"lam": 1}, "unknown option 'lam'")):
        with pytest.raises(ZooError, match=match) as err:
            DirichletKL(**kwargs)
        assert "\n" not in str(err.value)


def test_stage_k_schedule():
    assert stage_partial_channels((6, 4), 2, 6) == (6, 4)       # DrNAS: K 6, then 4
    assert stage_partial_channels((), 3, 4) == (4, 4, 4)        # no schedule: the recipe's K in every stage
    assert stage_partial_channels_problem((6, 4), 2, 36) is None
    assert stage_partial_channels_problem((), 2, 36) is None
    assert "has 1 entries but there are 2 stages" in stage_partial_channels_problem((6,), 2, 36)
    assert "must not grow" in stage_partial_channels_problem((4, 6), 2, 36)
    assert "must be 1 or more" in stage_partial_channels_problem((6, 0), 2, 36)
    assert "channels 16 do not split into 1/6 parts" in stage_partial_channels_problem((6, 4), 2, 16)


def test_drnas_recipes_are_the_authors_cifar_setting():
    r = get_recipe("drnas")
    assert (r.mixing, r.strategy, r.candidates, r.channels) == ("dirichlet", "first_order", DRNAS_OPS, 36)
    assert "none" not in r.candidates and len(r.candidates) == 7
    assert (r.stage_layers, r.stage_ops, r.partial_channels, r.epochs, r.warmup_epochs) == ((20, 20), (7, 4), 6, 25, 10)
    assert (r.batch_size, r.w_lr, r.w_lr_min, r.w_momentum, r.w_wd, r.grad_clip) == (64, 0.1, 0.0, 0.9, 3e-4, 5.0)
    assert (r.a_lr, tuple(r.a_betas), r.a_wd, r.arch_regularizer) == (6e-4, (0.5, 0.999), 1e-3, None)
    kl = get_recipe("drnas_kl")
    assert (kl.a_wd, kl.arch_regularizer, dict(kl.arch_regularizer_kwargs)) == (
        0.0, "dirichlet_kl", {"scale": 1e-3, "prior": 1.0})
    digits = apply_overrides(r, data="digits")
    assert (digits.channels, digits.stage_layers, digits.stage_ops) == (12, (5, 5), (7, 4))


@pytest.mark.slow
def test_drnas_kl_digits_search_prunes_to_four_ops_and_writes_a_genotype_the_zoo_builds(tmp_path):
    # About 25 s of CPU time on one thread (--data digits --epochs 1: two stages of one epoch).
    out = run_search("drnas_kl", data="digits", epochs=1, out=tmp_path / "drnas.yaml", seed=0, progress=False,
                     log=lambda line: None, threads=1)
    g = zoo.load_genotype(out)
    assert g.search["settings"]["mixing"] == "dirichlet"
    records = json.loads((tmp_path / "drnas.history.json").read_text())["records"]
    assert [r["stage"] for r in records] == [0, 1]
    assert {len(c) for c in records[1]["candidates"]["normal"]} == {4}   # 7 ops pruned to 4 per edge
    assert all(r["arch_reg"] > 0 for r in records)                        # the KL term entered the objective
    kept = {edge.op for node in g.cells["normal"].nodes for edge in node}
    assert kept <= set(DRNAS_OPS)
    model = zoo.create_model(out, layers=5, channels=12)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_drnas_stages_widen_the_ops_from_k6_to_k4():
    cfg = apply_overrides(get_recipe("drnas"), data="digits")
    space = CellSpace().space(cfg)
    k = [CellSpace().supernet(cfg, space, s, 10, None if i == 0 else
         {t: [cfg.candidates[:4]] * space.num_edges for t in space.cell_types}).partial_channels
         for i, s in enumerate(cfg.stage_plan())]
    assert k == [6, 4]


def test_carry_alphas_copies_the_kept_ops_alphas_into_the_next_stage():
    from zoo.search.stage_transfer import carry_alphas
    space = SearchSpace(candidates=("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3"), nodes=1)
    first = Supernet(space, channels=4, layers=3, num_classes=3)
    with torch.no_grad():
        for t in space.cell_types:
            first.alphas[t].copy_(torch.tensor([[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]]))
    kept = {t: [("max_pool_3x3", "skip_connect"), ("none", "avg_pool_3x3")] for t in space.cell_types}
    second = Supernet(space, channels=4, layers=3, num_classes=3, edge_candidates=kept)
    carry_alphas(first, second)
    assert second.alphas["normal"].tolist() == [[pytest.approx(0.4), pytest.approx(0.2)], [1.0, 3.0]]


def test_drnas_stages_carry_the_alphas_and_run_one_cosine(tmp_path):
    import json
    from search_helpers import TINY_STAGED, search
    search(tmp_path, "span", recipe="pdarts", epochs=2, overrides={
        **TINY_STAGED, "stage_layers": "3,3", "stage_ops": "8,5", "stage_dropout": "0.1,0.4", "w_lr_min": 0,
        "lr_spans_stages": True, "carry_alphas": True})
    records = json.loads((tmp_path / "span.history.json").read_text())["records"]
    # one cosine over the run's 4 epochs from 0.025: 0.025 (1 + cos(pi e / 4)) / 2 (per stage: 0.025, 0.0125 twice)
    assert [round(r["lr"], 5) for r in records] == [0.025, 0.02134, 0.0125, 0.00366]
    # stage 2's first epoch trains only the weights, so its op weights are stage 1's last softmax
    # restricted to the kept ops and renormalized: the carried alphas
    end1, start2 = records[1], records[2]
    for t, edges in start2["weights"].items():
        for e, row in enumerate(edges):
            before = dict(zip(end1["candidates"][t][e], end1["weights"][t][e]))
            kept = start2["candidates"][t][e]
            total = sum(before[o] for o in kept)
            assert row == pytest.approx([before[o] / total for o in kept], rel=1e-4)
    assert get_recipe("drnas").carry_alphas and get_recipe("drnas").lr_spans_stages
