"""Bounds before work: inputs that used to hang or blow up end in one line, fast, and the refusal
comes before the expensive step (tested by making that step fail the test if it is reached)."""

import copy
import time
from pathlib import Path

import pytest
import timm
import torch
import yaml

import zoo
import zoo.budget
import zoo.models
from zoo import genotype as gmod
from zoo.cli import main
from zoo.errors import GenotypeError, ZooError

SECONDS = 10  # generous: CI is a loaded 2-core machine; each refusal takes milliseconds
PDARTS_3B = (zoo.genotype_dir() / "pdarts_3b.yaml").read_text()


def cli_error(capsys, *argv: str) -> str:
    start = time.perf_counter()
    code = main(list(argv))
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("darts-zoo: error: "), err
    assert elapsed < SECONDS
    return lines[0]


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and len(text) < 1000
    return text


@pytest.fixture
def no_build(monkeypatch):
    """Building a network fails the test: a refusal must come before it."""
    def build(*args, **kwargs):
        raise AssertionError("the network was built")
    monkeypatch.setattr(zoo.models, "build_model_with_cfg", build)


@pytest.fixture
def no_construct(monkeypatch):
    """Constructing Python objects from YAML fails the test: a refusal must come before it."""
    def construct(self, node):
        raise AssertionError("the YAML document was constructed")
    monkeypatch.setattr(gmod._BoundedLoader, "construct_document", construct)


def write(tmp_path: Path, text: str, name: str = "cell.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- network size
def test_show_3000_layers_is_one_line(capsys, no_build):
    line = cli_error(capsys, "show", "pdarts_3b", "--layers", "3000")
    assert "3000" in line and "256" in line


@pytest.mark.parametrize("entry", ["timm", "zoo"])
def test_3000_layers_refused_before_building(entry, no_build):
    start = time.perf_counter()
    with pytest.raises(ZooError) as e:
        if entry == "timm":
            timm.create_model("pdarts_3b", layers=3000)
        else:
            zoo.create_model("pdarts_3b", layers=3000)
    assert "3000" in one_line(e) and time.perf_counter() - start < SECONDS


def test_preset_layers_in_a_file_are_bounded(tmp_path):
    path = write(tmp_path, PDARTS_3B.replace("cifar: {layers: 26", "cifar: {layers: 100000000"))
    with pytest.raises(GenotypeError) as e:
        zoo.load_genotype(path)
    assert "presets.cifar.layers" in one_line(e) and "256" in one_line(e)


def test_cell_plan_is_never_reached_beyond_the_bound(no_build):
    """A Genotype built in code with a huge preset (no loader in the way) is refused by the build
    check before `cell_plan` would make a list of that many cells."""
    g = zoo.zoo_genotype("pdarts_3b")
    big = type(g.presets["cifar"])(layers=10 ** 12, channels=36)
    import dataclasses
    huge = dataclasses.replace(g, presets={"cifar": big})
    with pytest.raises(ZooError) as e:
        zoo.create_model(huge)
    assert "256" in one_line(e)


def test_memory_beyond_the_machine_is_refused_before_building(tmp_path, capsys, no_build):
    # In a file, the preset's channels are not a keyword the settings check; only the memory bounds them.
    path = write(tmp_path, PDARTS_3B.replace("cifar: {layers: 26, channels: 36", "cifar: {layers: 26, channels: 200000"))
    line = cli_error(capsys, "show", str(path))
    assert "GiB" in line and "memory" in line


def test_memory_limit_uses_the_estimate(monkeypatch, no_build):
    monkeypatch.setattr(zoo.budget, "memory_limit", lambda device=None: 2 ** 30)
    with pytest.raises(ZooError) as e:
        zoo.create_model("pdarts_3b", channels=256)
    assert "1.0 GiB" in one_line(e) and "parameters" in one_line(e)


def test_too_many_ops_refused(no_build):
    node = [["skip_connect", 0]] * 64
    cells = {"normal": {"nodes": [node] * 64}, "reduce": {"reduction": True, "nodes": [node] * 64}}
    g = zoo.genotype_from_dict({"name": "wide", "cells": cells})
    with pytest.raises(ZooError) as e:
        zoo.create_model(g, layers=3)
    assert "8192" in one_line(e)


@pytest.mark.parametrize("name", zoo.ZOO_NAMES)
@pytest.mark.parametrize("family", ["cifar", "imagenet"])
def test_estimate_counts_parameters_exactly(name, family):
    kwargs = dict(layers=6, channels=8, num_classes=7)
    model = zoo.create_model(name, family=family, **kwargs)
    estimate = zoo.budget.estimate_network(zoo.zoo_genotype(name), family, **kwargs)
    assert estimate.params == sum(p.numel() for p in model.parameters())
    assert estimate.cells == 6


def test_estimate_draws_no_random_numbers():
    """Shaping ops on the meta device must not move the RNG, or seeded builds would change."""
    g = zoo.zoo_genotype("sharpdarts")
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    zoo.budget.estimate_network(g, "cifar", channels=44, layers=7)
    assert torch.equal(torch.rand(4), expected)


# --------------------------------------------------------------------------- genotype files
def test_50mb_file_is_refused_without_reading(tmp_path, capsys, monkeypatch):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as f:
        f.write(PDARTS_3B.encode())
        f.truncate(50 * 2 ** 20)  # sparse: 50 MB without writing them
    real_open = open

    def guarded_open(file, *args, **kwargs):
        assert Path(file) != path, "the oversized file was opened"
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)
    line = cli_error(capsys, "show", str(path))
    assert "256 KiB" in line and "big.yaml" in line


def test_file_just_over_the_limit_is_refused(tmp_path):
    path = write(tmp_path, PDARTS_3B + "search:\n  pad: '" + "x" * gmod.MAX_FILE_BYTES + "'\n")
    with pytest.raises(GenotypeError) as e:
        zoo.load_genotype(path)
    assert "256 KiB" in one_line(e)


def test_cell_with_1000_nodes(tmp_path, capsys, no_build):
    node = "      - [[skip_connect, 0], [sep_conv_3x3, 1]]\n"
    path = write(tmp_path, PDARTS_3B.replace(node, node * 1000, 1))
    line = cli_error(capsys, "show", str(path))
    assert "cells.normal.nodes" in line and "64" in line


def billion_laughs() -> str:
    text = PDARTS_3B + "search:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 10):
        text += f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return text


def test_billion_laughs_refused_before_construction(tmp_path, capsys, no_construct, no_build):
    path = write(tmp_path, billion_laughs())
    line = cli_error(capsys, "show", str(path))
    assert "aliases" in line and "64" in line and "line " in line


def test_alias_bomb_within_the_alias_count_refused_before_construction(tmp_path, no_construct):
    # 2 aliases per level, 30 levels: 60 aliases, 2^30 values once expanded.
    text = PDARTS_3B + "search:\n  a0: &a0 [x, x]\n"
    text += "".join(f"  a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 31))
    with pytest.raises(GenotypeError) as e:
        zoo.load_genotype(write(tmp_path, text))
    assert "100000 values once its aliases are expanded" in one_line(e)


@pytest.mark.parametrize("text, words", [
    ("search: &r {x: *r}\n", "contains it"),
    ("search: " + "[" * 50000 + "]" * 50000 + "\n", "deeper than 32"),
    ("search: {d: 2001-13-45}\n", "month must be in 1..12"),
    ("search: {d: " + "1" * 5000 + "}\n", "cannot read this value"),
])
def test_yaml_that_blows_up_python(tmp_path, text, words):
    with pytest.raises(GenotypeError) as e:
        zoo.load_genotype(write(tmp_path, PDARTS_3B + text))
    assert words in one_line(e)


def test_loader_stays_safe(tmp_path):
    with pytest.raises(GenotypeError) as e:
        zoo.load_genotype(write(tmp_path, PDARTS_3B + "search: !!python/object/apply:os.system [echo hi]\n"))
    assert "malformed YAML" in one_line(e)


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["cells"].update({f"c{i}": copy.deepcopy(d["cells"]["normal"]) for i in range(70)}), "cells"),
    (lambda d: d["cells"]["normal"]["nodes"][0].extend(["skip_connect", 0] for _ in range(70)), "cells.normal.nodes[0]"),
    (lambda d: d.update(stages=["normal", "reduce"] * 40 + ["normal"]), "stages"),
    (lambda d: d["cells"]["normal"]["nodes"][0][0].__setitem__(0, "x" * 5000), "cells.normal.nodes[0][0].op"),
    (lambda d: d.update(op_set="y" * 5000), "op_set"),
    (lambda d: d.update(title="t" * 5000), "title"),
])
def test_content_bounds_in_files_and_dicts(tmp_path, edit, field):
    doc = yaml.safe_load(PDARTS_3B)
    edit(doc)
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict(doc)
    assert f": {field}:" in one_line(e)
    with pytest.raises(GenotypeError) as e:
        zoo.load_genotype(write(tmp_path, yaml.safe_dump(doc)))
    assert f": {field}:" in one_line(e)


def test_dicts_that_contain_themselves_or_nest_deeply():
    doc = yaml.safe_load(PDARTS_3B)
    doc["search"] = {"loop": doc}
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict(doc)
    assert "contains itself" in one_line(e)
    doc = yaml.safe_load(PDARTS_3B)
    shared = [1]
    for _ in range(60):  # 2^60 values if expanded
        shared = [shared, shared]
    doc["search"] = {"bomb": shared}
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict(doc)
    assert "deeper" in one_line(e) or "values" in one_line(e)


def test_unreadable_paths_are_one_line(tmp_path):
    for path in (tmp_path / ("n" * 5000 + ".yaml"), Path("/dev/zero")):
        with pytest.raises(GenotypeError) as e:
            zoo.load_genotype(path)
        one_line(e)


def test_messages_stay_one_short_line():
    doc = yaml.safe_load(PDARTS_3B)
    doc["a\nb" * 100] = 1
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict(doc)
    assert "unknown field" in one_line(e)
    doc = yaml.safe_load(PDARTS_3B)
    doc["cells"]["normal"]["nodes"][1][0][1] = 10 ** 40
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict(doc)
    assert "cannot read state" not in one_line(e) and "nodes[1][0][1]: 133-bit whole number" in one_line(e)
    doc["cells"]["normal"]["nodes"][1][0][1] = 2 ** 62
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict(doc)
    assert "cannot read state" in one_line(e)


def test_numbers_beyond_64_bits_are_refused_anywhere():
    """Python cannot even print an int of 4300+ digits (a Genotype's repr would raise)."""
    doc = yaml.safe_load(PDARTS_3B)
    doc["search"] = {"seeds": [1, 10 ** 5000]}
    with pytest.raises(GenotypeError) as e:
        zoo.genotype_from_dict(doc)
    assert "search.seeds[1]" in one_line(e)


def test_op_that_cannot_be_shaped_is_one_line(no_build):
    doc = yaml.safe_load((zoo.genotype_dir() / "sharpdarts.yaml").read_text())
    doc["op_options"] = {"c_mid": 2 ** 62}
    with pytest.raises(ZooError) as e:
        zoo.create_model(zoo.genotype_from_dict(doc), layers=3, channels=4)
    assert "cannot be built" in one_line(e)


# --------------------------------------------------------------------------- show --draw
def test_draw_onto_an_existing_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("zoo.commands.create_model", lambda *a, **k: pytest.fail("built before checking --draw"))
    target = tmp_path / "taken.png"
    target.write_text("x")
    line = cli_error(capsys, "show", "pdarts_3b", "--draw", str(target))
    assert "is a file" in line
    line = cli_error(capsys, "show", "pdarts_3b", "--draw", str(target / "sub"))
    assert "cannot be created" in line
    assert target.read_text() == "x"


def test_draw_errors_are_zoo_errors(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(ZooError):
        zoo.draw.draw_genotype(zoo.zoo_genotype("pdarts_3b"), target)


def test_a_local_dir_with_a_damaged_config_is_one_line_naming_the_file(tmp_path):
    from zoo.errors import HubError

    (tmp_path / "config.json").write_text("{ not json")
    with pytest.raises(HubError) as e:
        zoo.create_model(f"local-dir:{tmp_path}")
    assert str(e.value).startswith(f"{tmp_path / 'config.json'}: not valid JSON") and "\n" not in str(e.value)
    with pytest.raises(HubError, match="no such file"):
        zoo.create_model(f"local-dir:{tmp_path / 'missing'}")


def test_stages_without_a_reduction_make_no_network():
    from zoo.genotype import genotype_from_dict

    data = {"name": "x", "stages": ["normal"], "cells": {
        "normal": {"reduction": False, "nodes": [[["sep_conv_3x3", 0], ["skip_connect", 1]]]},
        "reduce": {"reduction": True, "nodes": [[["max_pool_3x3", 0], ["max_pool_3x3", 1]]]}}}
    with pytest.raises(zoo.GenotypeError, match="at least one reduction"):
        genotype_from_dict(data)
