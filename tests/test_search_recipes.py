"""Search recipes: the papers' settings, the digits preset, and how overrides apply."""

import pytest

from zoo.errors import ZooError
from zoo.search.recipes import RECIPES, apply_overrides, get_recipe


def test_every_recipe_of_the_cli_exists_and_cites_its_source():
    assert set(RECIPES) == {"darts_v1", "darts_v2", "pdarts", "pdarts_3b", "pdarts_n3_2g", "milenas",
                            "milenas_sc"} | {"sharpdarts", "sharpsepconv_darts"} | {
                            "milenas_sc_l8", "milenas_sc_l12", "milenas_sc_l16", "darts_wo_sc", "darts_wo_sc_input",
                            "darts_v2_output_edges"} | {"hypercuboid", "pc_darts"} | {
                            "darts_minus", "beta_darts", "sdarts_rs", "sdarts_adv", "fair_darts", "drnas", "drnas_kl", "gdas",
                            "i_darts"}
    for r in RECIPES.values():
        assert len(r.source) > 40
        apply_overrides(r, {})  # the paper setting itself passes the checks
        apply_overrides(r, {}, data="digits")


def test_paper_settings():
    v1, v2 = get_recipe("darts_v1"), get_recipe("darts_v2")
    assert (v1.strategy, v2.strategy) == ("first_order", "second_order")
    assert (v1.layers, v1.channels, v1.epochs, v1.batch_size) == (8, 16, 50, 64)
    assert (v1.w_lr, v1.w_lr_min, v1.w_momentum, v1.w_wd) == (0.025, 0.001, 0.9, 3e-4)
    assert (v1.a_lr, v1.a_betas, v1.a_wd, v1.train_fraction) == (3e-4, (0.5, 0.999), 1e-3, 0.5)
    p = get_recipe("pdarts")
    assert p.stage_layers == (5, 11, 17) and p.stage_ops == (8, 5, 3)
    assert p.stage_dropout == (0.1, 0.4, 0.7) and (p.epochs, p.warmup_epochs) == (25, 10)
    assert (p.batch_size, p.a_lr, p.w_lr_min, p.max_skips) == (96, 6e-4, 0.0, 2)
    assert [s.layers for s in p.stage_plan()] == [5, 11, 17] and p.total_epochs() == 75
    b3 = get_recipe("pdarts_3b")
    assert b3.nodes == 3 and b3.max_skips == 2 and b3.eval_layers == 26
    n3 = get_recipe("pdarts_n3_2g")
    assert n3.stage_layers == (11, 14, 17) and n3.rule == "grouping" and n3.max_skips is None
    assert len(set(n3.stages[0::2])) == 3  # three normal cell types
    sc = get_recipe("milenas_sc")
    assert sc.stretchable and sc.strategy == "mixed_level" and "none" not in sc.candidates
    assert sc.strategy_kwargs == {"lam": 1.0, "topology_reg": 10.0} and sc.grad_clip is None
    # The authors' code: P-DARTS clips the alpha gradients to 5, MiLeNAS clips no weights.
    assert all(get_recipe(n).strategy_kwargs == {"arch_grad_clip": 5.0} for n in ("pdarts", "pdarts_3b", "pdarts_n3_2g"))
    m = get_recipe("milenas")
    assert m.strategy == "mixed_level" and m.grad_clip is None and not m.stretchable and m.nodes == 4


def test_digits_preset_then_user_overrides_win():
    r = apply_overrides(get_recipe("pdarts_3b"), {"channels": 6}, data="digits")
    assert r.channels == 6                       # user beats preset
    assert r.stage_layers == (3, 5, 5) and r.subset == 512  # preset beats paper
    assert r.nodes == 3 and r.max_skips == 2     # the method is kept
    assert apply_overrides(get_recipe("pdarts_3b"), {}).subset is None


def test_epochs_override_keeps_the_warmup_share():
    assert apply_overrides(get_recipe("pdarts"), {"epochs": 5}).warmup_epochs == 2
    assert apply_overrides(get_recipe("pdarts"), {"epochs": 1}).warmup_epochs == 0
    assert apply_overrides(get_recipe("pdarts"), {"epochs": 5, "warmup_epochs": 1}).warmup_epochs == 1
    assert apply_overrides(get_recipe("darts_v1"), {"epochs": 5}).warmup_epochs == 0


def test_list_overrides_parse_from_cli_text():
    r = apply_overrides(get_recipe("pdarts"), {"stage_layers": "5,8,11", "stage_dropout": "0,0.3,0.6"})
    assert r.stage_layers == (5, 8, 11) and r.stage_dropout == (0.0, 0.3, 0.6)


@pytest.mark.parametrize("recipe,overrides,message", [
    ("pdarts", {"layers": 5}, "--stage-layers"),
    ("darts_v1", {"chanels": 8}, "did you mean 'channels'"),
    ("darts_v1", {"channels": "x"}, "not a whole number"),
    ("darts_v1", {"channels": 7}, "even"),
    ("darts_v1", {"layers": 2}, "from 3 to 256"),
    ("pdarts", {"stage_layers": "5,a"}, "not a whole number"),
    ("pdarts", {"stage_ops": "8,5"}, "one per stage"),
    ("pdarts", {"stage_ops": "5,8,3"}, "must not grow"),
    ("pdarts", {"warmup_epochs": 25}, "no epoch that updates"),
    ("darts_v1", {"train_fraction": 1.0}, "strictly between 0 and 1"),
    ("darts_v1", {"strategy": "second"}, "did you mean"),
    ("darts_v1", {"w_lr": float("nan")}, "finite"),
    ("milenas", {"grad_clip": "x"}, "not a number"),
    ("darts_v1", {"grad_clip": -1}, "from 0 to"),
])
def test_bad_overrides_are_one_line_errors(recipe, overrides, message):
    with pytest.raises(ZooError) as e:
        apply_overrides(get_recipe(recipe), overrides)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unknown_recipe():
    with pytest.raises(ZooError, match="did you mean 'pdarts'"):
        get_recipe("pdart")
