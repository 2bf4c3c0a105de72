"""The genotype schema: loading, validation of every kind of bad input, round-trips."""

import textwrap

import pytest
import torch

import zoo
from zoo import GenotypeError, load_genotype
from zoo.cli import main
from zoo.genotype import dump_genotype, genotype_from_dict, genotype_to_dict, save_genotype

GOOD = textwrap.dedent("""\
    name: my_cell
    op_set: darts
    cells:
      normal:
        reduction: false
        nodes:
          - [[sep_conv_3x3, 0], [skip_connect, 1]]
          - [[sep_conv_5x5, 2], [max_pool_3x3, 0]]
        concat: [2, 3]
      reduce:
        reduction: true
        nodes:
          - [[max_pool_3x3, 0], [max_pool_3x3, 1]]
          - [[skip_connect, 2], [avg_pool_3x3, 1]]
    presets:
      cifar: {layers: 5, channels: 8}
    """)


def write(tmp_path, text, name="cell.yaml"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def error_of(tmp_path, text) -> str:
    path = write(tmp_path, text)
    with pytest.raises(GenotypeError) as info:
        load_genotype(path)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    assert str(path) in message, "errors name the file"
    return message


def test_good_file_loads_and_compiles(tmp_path):
    g = load_genotype(write(tmp_path, GOOD))
    assert g.name == "my_cell" and g.stages == ("normal", "reduce", "normal", "reduce", "normal")
    assert g.cells["normal"].concat == (2, 3)
    assert g.cells["reduce"].concat == (2, 3), "omitted concat = every live node"
    assert g.cells["normal"].depth() == 2
    model = zoo.create_model(write(tmp_path, GOOD), num_classes=7)
    assert model.layers == 5 and model.channels == 8
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_preset_names_its_training_recipe(tmp_path):
    """`recipe` is optional, kept as written (the core does not know the recipes), written back only
    when set, and never reaches the network builder."""
    g = load_genotype(write(tmp_path, GOOD))
    assert g.preset("cifar").recipe is None and g.preset("imagenet").recipe is None
    assert "recipe" not in dump_genotype(g)
    text = GOOD.replace("channels: 8}", "channels: 8, recipe: my_recipe}")
    named = load_genotype(write(tmp_path, text, "named.yaml"))
    assert named.preset("cifar").recipe == "my_recipe"
    assert "recipe: my_recipe" in dump_genotype(named)
    assert genotype_from_dict(genotype_to_dict(named)) == named
    assert zoo.create_model(named, num_classes=3).layers == 5
    assert {n: zoo.zoo_genotype(n).preset("cifar").recipe for n in ("pdarts_3b", "darts_v2", "sharpdarts")} == \
        {"pdarts_3b": "pdarts_3b", "darts_v2": "darts", "sharpdarts": "sharpdarts"}


def test_round_trip_is_lossless(tmp_path):
    for name in zoo.ZOO_NAMES:
        g = zoo.zoo_genotype(name)
        path = save_genotype(g, tmp_path / f"{name}.yaml")
        again = load_genotype(path)
        assert again == g, name
        assert dump_genotype(again) == dump_genotype(g)


@pytest.mark.parametrize("text,expected", [
    ("name: x\ncells: [unclosed\n", "malformed YAML"),
    ("", "the file is empty"),
    ("   \n\n", "the file is empty"),
    ("- just\n- a list\n", "expected a mapping at the top level"),
    (GOOD.replace("sep_conv_5x5", "sep_conv_5x6"), "unknown op 'sep_conv_5x6'"),
    (GOOD.replace("[sep_conv_5x5, 2]", "[sep_conv_5x5, 3]"), "state 3 cannot read state 3"),
    (GOOD.replace("[sep_conv_5x5, 2]", "[sep_conv_5x5, 7]"), "state 3 cannot read state 7"),
    (GOOD.replace("[sep_conv_5x5, 2]", "[sep_conv_5x5, -1]"), "negative input -1"),
    (GOOD.replace("concat: [2, 3]", "concat: [2, 3, 6]"), "state 6 is not a node with edges"),
    (GOOD.replace("concat: [2, 3]", "concat: []"), "is empty"),
    (GOOD + "stages: [normal, reduce, normal2, reduce, normal]\n", "cell type 'normal2' is not defined"),
    (GOOD + "stages: [normal, normal, normal]\n", "is in the place of a reduction cell"),
    (GOOD + "stages: [normal, reduce]\n", "alternate normal and reduction"),
    (GOOD.replace("layers: 5", "layers: -3"), "must be a positive whole number, got -3"),
    (GOOD.replace("channels: 8", "channels: eight"), "expected a positive whole number, got str"),
    (GOOD.replace("layers: 5", "layers: 5.5"), "expected a positive whole number, got float"),
    (GOOD.replace("reduction: false", "reduction: maybe"), "expected true or false"),
    (GOOD.replace("op_set: darts", "op_set: dartz"), "did you mean 'darts'"),
    (GOOD.replace("name: my_cell", "nmae: my_cell"), "unknown field"),
    (GOOD.replace("[skip_connect, 1]", "[skip_connect]"), "expected an edge [op, input]"),
    (GOOD.replace("[skip_connect, 1]", "[skip_connect, one]"), "expected a state index, got str"),
    (GOOD + "provenance: {kind: guessed}\n", "'guessed' is not a provenance kind"),
    (GOOD.replace("[max_pool_3x3, 0]]", "[none, 0]]", 1), "`none` is a search-only op"),
    (GOOD + "op_options: {c_mid: 32}\n", "op set 'darts' has no option 'c_mid'"),
    (GOOD.replace("cifar: {layers", "cifra: {layers"), "did you mean 'cifar'"),
    (GOOD.replace("channels: 8}", "channels: 8, recipe: 3}"), "presets.cifar.recipe: expected a string, got int"),
    (GOOD.replace("channels: 8}", "channels: 8, recipe: ../darts}"), "presets.cifar.recipe: '../darts' is not a "
                                                                     "valid name"),
])
def test_bad_input_is_one_clear_line(tmp_path, expected, text):
    assert expected in error_of(tmp_path, text)


def test_unknown_op_suggests_the_closest_names(tmp_path):
    message = error_of(tmp_path, GOOD.replace("sep_conv_5x5", "sepconv_5x5"))
    assert "cells.normal.nodes[1][0].op" in message, "names the field path"
    assert "did you mean 'sep_conv_5x5'" in message


def test_binary_and_non_utf8_files(tmp_path):
    assert "binary file" in error_of(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    assert "not UTF-8" in error_of(tmp_path, b"name: caf\xe9\n")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(GenotypeError, match="no such file"):
        load_genotype(tmp_path / "nope.yaml")
    with pytest.raises(GenotypeError, match="is a directory"):
        load_genotype(tmp_path)


def test_empty_nodes_are_removed_but_not_referenced(tmp_path):
    text = GOOD.replace("- [[sep_conv_5x5, 2], [max_pool_3x3, 0]]", "- []\n      - [[sep_conv_5x5, 2]]")
    text = text.replace("concat: [2, 3]", "concat: [2, 4]")
    g = load_genotype(write(tmp_path, text))
    assert g.cells["normal"].live_states == (2, 4)
    model = zoo.create_model(g, layers=3, channels=4)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 10)
    bad = GOOD.replace("- [[sep_conv_5x5, 2], [max_pool_3x3, 0]]", "- []\n      - [[sep_conv_5x5, 3]]")
    assert "reads state 3, a node with no edges" in error_of(tmp_path, bad)


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace("sep_conv_5x5", "sep_conv_9x9"))
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown op 'sep_conv_9x9'" in err and "Traceback" not in err
    assert main(["show", "pdarts_4c"]) == 2
    err = capsys.readouterr().err
    assert "is not a zoo model or a genotype file: did you mean" in err and "'pdarts_3b'" in err


def test_any_number_of_edges_and_nodes():
    """Stretchable cells: nodes with 1..n inputs; the compiled cell sums them all."""
    g = genotype_from_dict({
        "name": "wide",
        "cells": {
            "normal": {"nodes": [[["sep_conv_3x3", 0]],
                                 [["skip_connect", 0], ["dil_conv_3x3", 1], ["avg_pool_3x3", 2]],
                                 [["sep_conv_5x5", 3]],
                                 [["max_pool_3x3", 1], ["skip_connect", 2], ["skip_connect", 3], ["sep_conv_3x3", 4]]]},
            "reduce": {"reduction": True, "nodes": [[["max_pool_3x3", 0], ["max_pool_3x3", 1]]]},
        },
    })
    assert len(g.cells["normal"].edges) == 9 and g.cells["normal"].depth() == 4
    model = zoo.create_model(g, layers=4, channels=4)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 10)
    # 4 nodes concatenated in the normal cell, 1 in the reduce cell: 4*C -> 1*2C widths chain.
    assert model.cells[0].out_channels == 16 and model.cells[1].out_channels == 8


def test_zoo_files_satisfy_the_json_schema():
    import json
    from pathlib import Path

    import jsonschema
    import yaml

    schema = json.loads((Path(zoo.__file__).parent / "genotype.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in sorted(zoo.genotype_dir().glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = yaml.safe_load(GOOD.replace("layers: 5", "layers: -5"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
