"""No name read from a file reaches outside its folder: checkpoint pointers of searches and
training runs, genotype and cell names that become drawing files, and search output names."""

import dataclasses
import json

import pytest
import torch

import zoo
from zoo.errors import CheckpointError, GenotypeError, ZooError
from zoo.genotype import genotype_from_dict
from zoo.paths import child_path, is_safe_name
from zoo.checkpoint import CheckpointStore

ESCAPES = ["../victim.bin", "../../victim.bin", "/tmp/victim.bin", "sub/x.pt", "..", ".", "",
           "..\\victim.bin", "a\x00b", "-rf", ".hidden"]


@pytest.mark.parametrize("name", ESCAPES)
def test_names_that_could_leave_a_folder_are_refused(tmp_path, name):
    assert not is_safe_name(name)
    with pytest.raises(ZooError, match="not a plain file name"):
        child_path(tmp_path, name, "here")


def test_plain_names_are_kept(tmp_path):
    for name in ("s0-e0001.safetensors", "pdarts_n3_2g", "v1.2+local", "_x"):
        assert child_path(tmp_path, name, "here") == tmp_path / name


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "outside").write_bytes(b"secret")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "link.pt").symlink_to(tmp_path / "outside")
    with pytest.raises(ZooError, match="leads outside"):
        child_path(tmp_path / "run", "link.pt", "here")


def _victim(tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"keep me")
    return victim


@pytest.mark.parametrize("escape", ["../victim.bin", "ABS"])
def test_training_checkpoint_pointer_cannot_read_or_delete_outside(tmp_path, escape):
    victim = _victim(tmp_path)
    name = str(victim) if escape == "ABS" else escape
    store = CheckpointStore(tmp_path / "run" / "checkpoints", kind="training")
    store.save("epoch_0001", {"w": torch.ones(2)}, {"epoch": 1}, {"epoch": 1})
    meta = json.loads(store.latest.read_text())
    meta["files"]["tensors"] = name
    store.latest.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not a plain file name"):
        store.load()
    # The rotation after the next epoch deletes only this folder's own files, never one a pointer names.
    store.save("epoch_0002", {"w": torch.ones(2)}, {"epoch": 2}, {"epoch": 2})
    assert victim.read_bytes() == b"keep me"


@pytest.mark.parametrize("role", ["tensors", "state"])
@pytest.mark.parametrize("escape", ["../victim.bin", "ABS"])
def test_search_checkpoint_pointer_cannot_read_outside(tmp_path, role, escape):
    victim = _victim(tmp_path)
    store = CheckpointStore(tmp_path / "s.ckpt", kind="search")
    store.save("s0-e0001", {"w": torch.ones(2)}, {"x": torch.zeros(1)}, {"stage": 0, "epoch": 1})
    meta = json.loads(store.latest.read_text())
    meta["files"][role] = str(victim) if escape == "ABS" else escape
    store.latest.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not a plain file name"):
        store.load()
    # Saving the next epoch only ever deletes files it lists inside its own folder.
    store.save("s0-e0002", {"w": torch.ones(2)}, {"x": torch.zeros(1)}, {"stage": 0, "epoch": 2})
    assert victim.read_bytes() == b"keep me"


def _genotype_dict(name="ok", cell="normal"):
    return {"name": name, "cells": {
        cell: {"reduction": False, "nodes": [[["sep_conv_3x3", 0], ["skip_connect", 1]]]},
        "reduce": {"reduction": True, "nodes": [[["max_pool_3x3", 0], ["max_pool_3x3", 1]]]}},
        "stages": [cell, "reduce", cell, "reduce", cell]}


@pytest.mark.parametrize("bad", ["../../escaped", "/abs/name", "a/b", ".hidden", "x" * 200, "has space"])
def test_genotype_and_cell_names_are_validated_as_names(bad):
    with pytest.raises(GenotypeError, match=r"name: .* is not a valid name"):
        genotype_from_dict(_genotype_dict(name=bad), where="t")
    with pytest.raises(GenotypeError, match=r"cells\..* is not a valid name"):
        genotype_from_dict(_genotype_dict(cell=bad), where="t")


def test_show_draw_with_a_hostile_name_writes_nothing(tmp_path, capsys):
    from zoo.cli import main

    path = tmp_path / "evil.yaml"
    data = _genotype_dict(name="../../escaped")
    import yaml

    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "deep" / "draw"
    assert main(["show", str(path), "--draw", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a valid name" in err
    assert not any(p.suffix in (".png", ".svg") for p in tmp_path.rglob("*"))


def test_draw_of_a_genotype_built_in_code_stays_in_its_folder(tmp_path):
    from zoo.draw import draw_genotype

    g = zoo.zoo_genotype("darts_v2")
    evil = dataclasses.replace(g, name="../escaped")
    with pytest.raises(ZooError, match="not a plain file name"):
        draw_genotype(evil, tmp_path / "d")
    assert not list(tmp_path.rglob("*.png"))


def test_search_out_whose_name_is_not_a_genotype_name_is_refused_before_work(tmp_path):
    from zoo.search import run_search

    with pytest.raises(ZooError, match="cannot be a genotype name"):
        run_search("darts_v1", data="digits", out=tmp_path / "my cell.yaml", progress=False)
    assert not list(tmp_path.iterdir())
