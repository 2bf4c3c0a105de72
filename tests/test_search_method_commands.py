"""`darts-zoo search --recipe R --data digits --epochs 1` for every method against skip collapse, GDAS
and I-DARTS: the command exits 0, its genotype file records the method, and `zoo.create_model` builds
and runs that file at its own evaluation preset.

The commands run as written, through the console script's `main`, plus `--subset 64` so that
nine searches fit the suite (the recipes' digits subsets of 256-512 images take 25-120 s each on
two cores, docs/skip-collapse.md); the preset's network, method and schedules are unchanged."""

import json

import pytest
import torch

import zoo
from zoo.cli import main

METHODS = {  # recipe -> (setting, value) its genotype file must record
    "darts_minus": ("aux_skip", 1.0),
    "beta_darts": ("arch_regularizer", "beta_decay"),
    "sdarts_rs": ("perturbation", "random"),
    "sdarts_adv": ("perturbation", "adversarial"),
    "fair_darts": ("mixing", "sigmoid"),
    "i_darts": ("mixing", "node_softmax"),
    "gdas": ("mixing", "gumbel"),
    "drnas": ("mixing", "dirichlet"),
    "drnas_kl": ("arch_regularizer", "dirichlet_kl"),
}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(METHODS))
def test_the_digits_command_writes_a_genotype_the_zoo_builds(recipe, tmp_path, capsys):
    out = tmp_path / f"{recipe}.yaml"
    code = main(["search", "--recipe", recipe, "--data", "digits", "--epochs", "1", "--subset", "64",
                 "--out", str(out), "--no-progress", "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    g = zoo.load_genotype(out)
    key, value = METHODS[recipe]
    assert g.search["recipe"] == recipe and g.search["settings"][key] == value
    assert g.search["data"]["name"] == "digits" and g.search["data"]["subset"] == 64
    model = zoo.create_model(out).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    records = json.loads((tmp_path / f"{recipe}.history.json").read_text())["records"]
    assert len(records) == (2 if recipe.startswith("drnas") else 1)   # DrNAS: two stages of one epoch
    if recipe == "gdas":
        assert records[0]["schedule"] == {"tau": 10.0}     # one epoch: tau_max throughout
