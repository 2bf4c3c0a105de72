"""One declaration of every setting's domain: the checks, and the issue's examples ending in one
line (exit 2) before any work, through the CLI and the Python API alike."""

import pytest
import timm

import zoo
from zoo.benchmarks.train import TRAIN_SETTINGS, Trainer
from zoo.cli import main
from zoo.search.recipes import OVERRIDABLE, RECIPES, SEARCH_SETTINGS, apply_overrides
from zoo.settings import BATCH_SIZE, NETWORK, Setting, SettingError


def test_a_setting_checks_and_converts_by_hand():
    assert BATCH_SIZE.check("96") == 96 and BATCH_SIZE.check(64.0) == 64
    for bad, why in [("0", "must be a whole number from 1 to 65536"), ("2.5", "not a whole number"),
                     (True, "not a whole number"), ("nan", "not finite"), ("x", "not a whole number"),
                     (10 ** 20, "from 1 to 65536"), (None, "a value is required")]:
        with pytest.raises(SettingError) as e:
            BATCH_SIZE.check(bad)
        assert why in str(e.value) and str(e.value).startswith("batch_size (--batch-size) = ")
    frac = Setting("train_fraction", float, low=0, high=1, low_open=True, high_open=True)
    assert frac.check("0.5") == 0.5 and frac.allowed() == "a number strictly between 0 and 1"
    with pytest.raises(SettingError):
        frac.check(1.0)
    lists = Setting("stage_ops", int, low=1, high=64, many=True)
    assert lists.check("8, 5,3") == (8, 5, 3) and lists.check([8, "5"]) == (8, 5)
    clip = Setting("grad_clip", float, low=0, optional=True)
    assert clip.check("none") is None and clip.check(5) == 5.0
    even = Setting("channels", int, low=2, high=64, even=True)
    with pytest.raises(SettingError, match="not even"):
        even.check(7)


def test_every_shipped_search_recipe_lies_in_its_domain():
    for name, recipe in RECIPES.items():
        values = {k: getattr(recipe, k) for k in OVERRIDABLE}
        assert SEARCH_SETTINGS.check(values, name) is not None
        SEARCH_SETTINGS.check_relations(values, name)
        SEARCH_SETTINGS.check(recipe.digits, name)


@pytest.mark.parametrize("overrides,needle", [
    ({"w_lr_min": 0.1}, "w_lr_min 0.1 is above w_lr 0.025"),
    ({"a_betas": "0.5"}, "a_betas needs two values"),
    ({"stage_layers": "5,11"}, "one per stage"),
    ({"nodes": 1000}, "nodes (--nodes) = 1000: must be a whole number from 1 to 16"),
])
def test_search_relations_and_bounds(overrides, needle):
    with pytest.raises(SettingError) as e:
        apply_overrides(RECIPES["pdarts"], overrides)
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("argv,needle", [
    (["train", "pdarts_3b", "--data", "digits", "--ema", "1.5"], "ema (--ema) = '1.5'"),
    (["train", "pdarts_3b", "--data", "digits", "--ema", "1"], "ema (--ema) = '1'"),
    (["train", "pdarts_3b", "--data", "digits", "--limit-train", "-5"], "limit_train (--limit-train) = '-5'"),
    (["train", "pdarts_3b", "--data", "digits", "--lr", "1e6"], "lr (--lr) = '1e6'"),
    (["train", "pdarts_3b", "--data", "digits", "--threads", "0"], "threads (--threads) = '0'"),
    (["train", "pdarts_3b", "--data", "digits", "--workers", "-1"], "workers (--workers) = '-1'"),
    (["train", "pdarts_3b", "--data", "digits", "--seed", str(10 ** 20)], "seed (--seed)"),
    (["train", "pdarts_3b", "--data", "digits", "--layers", "1"], "cannot hold 2 reductions"),
    (["train", "pdarts_3b", "--data", "digits", "--device", "meta"], "not meta"),
    (["search", "--recipe", "darts_v1", "--data", "digits", "--threads", "0"], "threads (--threads) = '0'"),
    (["search", "--recipe", "darts_v1", "--data", "digits", "--channels", "0"], "channels (--channels) = '0'"),
    (["search", "--recipe", "darts_v1", "--data", "digits", "--seed", str(10 ** 20)], "seed (--seed)"),
    (["search", "--recipe", "darts_v1", "--data", "digits", "--device", "meta"], "not meta"),
    (["search", "--recipe", "darts_v1", "--data", "digits", "--nodes", "100000"], "nodes (--nodes)"),
    (["search-bench", "speed", "--device", "banana"], "not a device name"),
    (["search-bench", "speed", "--steps", "0"], "steps (--steps) = '0'"),
    (["show", "pdarts_3b", "--layers", "0"], "layers (--layers) = '0'"),
    (["eval", "pdarts_3b", "--data", "digits", "--batch-size", "0"], "batch_size (--batch-size) = '0'"),
])
def test_cli_settings_out_of_their_domain_end_in_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err, err
    assert not any(tmp_path.iterdir()), "nothing may be written before the settings are checked"


@pytest.mark.parametrize("kwargs,needle", [
    ({"drop_path_rate": 1.5}, "drop_path_rate = 1.5"),
    ({"num_classes": -1}, "num_classes = -1"),
    ({"in_chans": 0}, "in_chans = 0"),
    ({"layers": "many"}, "not a whole number"),
])
def test_create_model_keywords_out_of_their_domain(kwargs, needle):
    for build in (lambda: zoo.create_model("darts_v2", **kwargs), lambda: timm.create_model("darts_v2", **kwargs)):
        with pytest.raises(SettingError) as e:
            build()
        assert needle in str(e.value) and "\n" not in str(e.value)


def test_the_python_api_checks_the_same_domains():
    with pytest.raises(SettingError, match=r"ema \(--ema\) = 1"):
        Trainer("pdarts_3b", "digits", ema=1)
    assert set(TRAIN_SETTINGS.names) >= {"epochs", "batch_size", "lr", "ema", "seed", "workers"}
    assert NETWORK["drop_path_rate"].check(0.3) == 0.3
