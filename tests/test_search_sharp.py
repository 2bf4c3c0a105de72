"""sharpDARTS search (Hundt, Jain, Hager, arXiv:1903.09900): the op sets as the authors released
them, Max-W against scalar weighting (eq. 3) by hand, cosine power annealing (eq. 2) as the search's
weight schedule, cutout and AutoAugment in the search's training transform, and the two recipes
end to end on the digits data."""

from __future__ import annotations

import json
import math

import pytest
import timm
import torch

import zoo
from zoo.cli import main
from zoo.ops import DARTS_CANDIDATES, SHARP_CANDIDATES, SHARPSEPCONV_CANDIDATES, get_op_set
from zoo.search import SCHEDULES, SearchSpace, Supernet, run_search
from zoo.search.components import CellSpace
from zoo.search.recipes import apply_overrides, get_recipe
from zoo.settings import SettingError

# The authors' released lists (ahundt/sharpDARTS, cnn/genotypes.py): PRIMITIVES and DARTS_PRIMITIVES.
AUTHORS_PRIMITIVES = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3", "flood_conv_3x3",
                      "dil_flood_conv_3x3", "choke_conv_3x3", "dil_choke_conv_3x3")
AUTHORS_DARTS_PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                            "dil_conv_3x3", "dil_conv_5x5")


def test_search_op_sets_are_the_authors_lists():
    assert SHARP_CANDIDATES == AUTHORS_PRIMITIVES == get_op_set("sharp").candidates
    assert SHARPSEPCONV_CANDIDATES == AUTHORS_DARTS_PRIMITIVES == DARTS_CANDIDATES
    sharp = CellSpace().space(get_recipe("sharpdarts"))
    ssc = CellSpace().space(get_recipe("sharpsepconv_darts"))
    assert (sharp.op_set, sharp.candidates, sharp.op_options) == ("sharp", AUTHORS_PRIMITIVES, {"c_mid": 32})
    assert (ssc.op_set, ssc.candidates, ssc.op_options) == ("sharp", AUTHORS_DARTS_PRIMITIVES, {"c_mid": 32})


def _three_op_net(weighting):
    space = SearchSpace(candidates=("none", "max_pool_3x3", "skip_connect"), nodes=1)
    net = Supernet(space, channels=4, layers=3, weighting=weighting)
    with torch.no_grad():
        for t in space.cell_types:  # softmax of log(w) is w: the edge's weights are 0.5, 0.3, 0.2
            net.alphas[t].copy_(torch.log(torch.tensor([0.5, 0.3, 0.2])).expand_as(net.alphas[t]))
    return net


def test_max_w_and_scalar_weighting_on_a_three_op_edge_by_hand():
    scalar, max_w = _three_op_net("scalar"), _three_op_net("max_w")
    # Scalar (DARTS): w_i = softmax(alpha)_i.  Max-W (eq. 3): 1 - max(w) + w_i = 1 - 0.5 + w_i.
    assert scalar.edge_weights("normal")[0].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert max_w.edge_weights("normal")[0].tolist() == pytest.approx([1.0, 0.8, 0.7])
    # The edge's output is sum_i weight_i * op_i(x): none is 0, skip is x, the pool is BN(maxpool(x)).
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    for net, (w_pool, w_skip) in ((scalar, (0.3, 0.2)), (max_w, (0.8, 0.7))):
        edge = net.cells[0].edges[0]
        pool = edge.ops[1](x)
        got = edge(x, net.edge_weights("normal")[0])
        assert torch.allclose(got, w_pool * pool + w_skip * x, atol=1e-6)
    # The supernet's weight is what the recipe and the command line choose.
    cfg = apply_overrides(get_recipe("sharpdarts"), {"weighting": "max_w"})
    assert cfg.weighting == "max_w"
    with pytest.raises(SettingError, match="weighting"):
        apply_overrides(get_recipe("sharpdarts"), {"weighting": "max"})


def _lrs(name, epochs, lr, lr_min, power):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = SCHEDULES.get(name)(opt, epochs, lr_min, power)
    out = []
    for _ in range(epochs + 1):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cosine_power_search_schedule_at_chosen_epochs_by_hand():
    # eq. 2 with T = 10, lr 0.025 -> 0.001, p = 2: at t = 5 the cosine term is 1/2, and
    # (2^1.5 - 2) / (2^2 - 2) = sqrt(2) - 1 = 0.41421356 of the range.
    lrs = _lrs("cosine_power", 10, 0.025, 0.001, 2.0)
    assert lrs[0] == pytest.approx(0.025)
    assert lrs[5] == pytest.approx(0.001 + 0.024 * 0.41421356, rel=1e-7)
    assert lrs[10] == pytest.approx(0.001)
    # p = 10 at t = 5: (10^1.5 - 10) / 90 = 0.24025307; t = 2: cos term (1 + cos(0.2 pi)) / 2 = 0.9045085.
    lrs = _lrs("cosine_power", 10, 1.0, 0.0, 10.0)
    assert lrs[5] == pytest.approx(0.24025307, rel=1e-7)
    assert lrs[2] == pytest.approx((10 ** 1.9045085 - 10) / 90, rel=1e-6)


def test_cosine_power_tends_to_cosine_annealing_as_p_tends_to_one():
    cosine = _lrs("cosine", 10, 0.025, 0.001, 2.0)
    for t in range(11):  # plain cosine annealing: lr_min + (lr - lr_min) (1 + cos(pi t / T)) / 2
        assert cosine[t] == pytest.approx(0.001 + 0.012 * (1 + math.cos(math.pi * t / 10)), rel=1e-6)
    assert _lrs("cosine_power", 10, 0.025, 0.001, 1.0) == pytest.approx(cosine, rel=1e-6)  # p = 1 exactly
    for p in (1.001, 1 + 1e-5):  # the limit of eq. 2, not its special case
        assert _lrs("cosine_power", 10, 0.025, 0.001, p) == pytest.approx(cosine, rel=5 * (p - 1))


def test_cutout_and_autoaugment_reach_the_search_training_transform(tmp_path, monkeypatch):
    import zoo.search.run as run_module

    seen = []
    real = run_module.build_transform

    def spy(name, train, **kw):
        seen.append((name, train, kw))
        return real(name, train, **kw)

    monkeypatch.setattr(run_module, "build_transform", spy)
    run_search("darts_v1", data="digits", out=tmp_path / "t.yaml", epochs=1, seed=0, progress=False,
               log=lambda line: None, overrides={"channels": 4, "layers": 3, "nodes": 1, "batch_size": 8,
                                                 "subset": 16, "cutout": 8, "autoaugment": True})
    assert seen == [("digits", True, {"cutout": 8, "autoaugment": True})]
    r = get_recipe("darts_v1")
    assert (r.cutout, r.autoaugment, r.weighting, r.c_mid, r.lr_schedule) == (0, False, "scalar", None, "cosine")


def test_recipes_carry_the_published_settings():
    for name in ("sharpdarts", "sharpsepconv_darts"):
        r = get_recipe(name)
        assert (r.strategy, r.op_set, r.c_mid, r.batch_size, r.epochs, r.cutout, r.autoaugment, r.weighting,
                r.lr_schedule, r.lr_power, r.layers, r.channels, r.nodes) == (
            "first_order", "sharp", 32, 48, 60, 16, True, "scalar", "cosine_power", 2.0, 8, 16, 4)
        assert "arXiv:1903.09900" in r.source and r.digits
    with pytest.raises(SettingError, match="c_mid"):
        apply_overrides(get_recipe("darts_v1"), {"c_mid": 16})


@pytest.mark.slow
@pytest.mark.parametrize("recipe, extra", [
    ("sharpdarts", []),
    ("sharpsepconv_darts", ["--weighting", "max_w", "--c-mid", "16", "--lr-power", "3"]),
])
def test_recipe_runs_on_digits_and_writes_a_buildable_genotype(tmp_path, recipe, extra, capsys):
    out = tmp_path / f"{recipe}.yaml"
    code = main(["search", "--recipe", recipe, "--data", "digits", "--epochs", "2", "--channels", "4",
                 "--layers", "3", "--subset", "32", "--batch-size", "8", "--seed", "0", "--no-progress",
                 "--out", str(out), *extra])
    assert code == 0, capsys.readouterr()
    g = zoo.load_genotype(out)
    s = g.search
    assert g.op_set == "sharp" and s["recipe"] == recipe and s["preset"] == "digits"
    width = 9 if recipe == "sharpdarts" else 8
    assert all(len(row) == width for rows in s["alphas"].values() for row in rows)
    settings = s["settings"]
    assert settings["cutout"] == 16 and settings["autoaugment"] is True and settings["lr_schedule"] == "cosine_power"
    if extra:
        assert (settings["weighting"], settings["c_mid"], settings["lr_power"]) == ("max_w", 16, 3.0)
        assert g.op_options == {"c_mid": 16}
    else:
        assert settings["weighting"] == "scalar" and g.op_options == {"c_mid": 32}
    model = timm.create_model("darts_genotype", genotype=str(out), layers=5, channels=8)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    hist = json.loads(out.with_name(f"{recipe}.history.json").read_text())
    recs = hist["records"]
    assert len(recs) == 2 and recs[0]["weights"]["normal"] != recs[1]["weights"]["normal"]
    assert all(len(row) == width for row in recs[-1]["weights"]["normal"])
    assert out.with_name(f"{recipe}.alphas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_search_speed_takes_an_op_set(capsys):
    from zoo.benchmarks.search_speed import format_speed, search_speed

    tiny = dict(device="cpu", steps=1, isolate=False, strategies=("first_order",), layers=3, channels=4,
                batch_size=4, image_size=8)
    ssc = search_speed(op_set="sharp", candidates=DARTS_CANDIDATES, **tiny)
    assert (ssc["setting"]["op_set"], ssc["setting"]["candidates"]) == ("sharp", list(DARTS_CANDIDATES))
    assert ssc["rows"][0]["seconds_per_step"] > 0
    assert "op set sharp (8 ops)" in format_speed(ssc)
    assert search_speed(**tiny)["setting"]["op_set"] == "darts"
    code = main(["search-bench", "speed", "--device", "cpu", "--steps", "1", "--layers", "3", "--channels", "4",
                 "--batch-size", "4", "--image-size", "8", "--op-set", "sharp", "--configs", "plain",
                 "--strategies", "first_order"])
    assert code == 0 and "op set sharp (9 ops)" in capsys.readouterr().out
