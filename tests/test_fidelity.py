"""Every count measured on the authors' public implementations (the `reference` rows of
genotypes/*.yaml): our compiled networks count exactly what the authors' code counts."""

import pytest

import zoo
from zoo.counting import count_macs, count_params


def _rows():
    for name in zoo.ZOO_NAMES:
        g = zoo.zoo_genotype(name)
        for setting, row in g.reference.items():
            yield pytest.param(name, setting, row, id=f"{name}-{setting}")


@pytest.mark.parametrize("name,setting,row", list(_rows()))
def test_reference_counts(name, setting, row):
    family = row.get("family", setting)
    model = zoo.create_model(name, family=family, **row.get("overrides", {}))
    size = (3, 32, 32) if family == "cifar" else (3, 224, 224)
    params_m = count_params(model) / 1e6
    macs_m = count_macs(model, size) / 1e6
    # Equal to the digits the reference table shows: 4 decimals for params, 1 for MACs.
    assert f"{params_m:.4f}" == f"{row['params_m']:.4f}"
    assert f"{macs_m:.1f}" == f"{row['macs_m']:.1f}"


def test_every_reference_row_is_covered():
    """The 13 counts measured on the authors' public implementations plus the two PDARTS-3b
    reconstruction checks."""
    settings = {(n, s) for n in zoo.ZOO_NAMES for s in zoo.zoo_genotype(n).reference}
    expected = {
        ("darts_v1", "cifar"), ("darts_v2", "cifar"), ("pdarts", "cifar"), ("pc_darts", "cifar"),
        ("sharpdarts", "cifar"), ("sharpsepconv_darts", "cifar"), ("darts_v2", "cifar_ssc"),
        ("darts_v1", "imagenet"), ("darts_v2", "imagenet"), ("pdarts", "imagenet"),
        ("sharpdarts", "imagenet"), ("sharpdarts", "imagenet_cmid96"), ("sharpsepconv_darts", "imagenet"),
        ("pdarts_3b", "cifar"), ("pdarts_3b", "cifar_20l_c42"),
    }
    assert expected <= settings
