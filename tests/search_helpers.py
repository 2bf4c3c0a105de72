"""Tiny search settings and helpers shared by the search run and resume tests."""

import torch
from torch.utils.data import TensorDataset

import zoo
from zoo.search import run_search

TINY = {"channels": 4, "layers": 3, "nodes": 2, "batch_size": 8}
TINY_STAGED = {"channels": 4, "stage_layers": "3,3,3", "batch_size": 8}
CLI_TINY = ["--channels", "4", "--layers", "3", "--nodes", "2", "--subset", "32", "--batch-size", "8",
            "--no-progress"]



def synthetic(n=32, size=16, seed=0):
    """Images whose class is a brightness level: learnable in a step or two, 16x16 for speed."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 3, size, size, generator=g) * 0.3 + (y.float() / 5 - 1)[:, None, None, None]
    return TensorDataset(x, y)


def search(tmp_path, name, recipe="darts_v1", overrides=TINY, epochs=2, **kw):
    kw.setdefault("dataset", synthetic())
    return run_search(recipe, data="digits", out=tmp_path / f"{name}.yaml", epochs=epochs, seed=3,
                      overrides=overrides, progress=False, log=lambda line: None, **kw)


def comparable(path):
    """Everything a search decides (cells, alphas, record), without the file's own name."""
    g = zoo.load_genotype(path)
    return g.cells, g.stages, g.search, g.presets, g.source


def tiny_digits_search(tmp_path, recipe, epochs=2, **overrides):
    """A short digits search of `recipe` at a tiny size (real digits images); checks that the zoo builds
    and runs the genotype it writes, and returns (genotype, history file text)."""
    size = {"epochs": epochs, "subset": 48, "batch_size": 16, "layers": 3, "channels": 4, "nodes": 2}
    out = run_search(recipe, data="digits", out=tmp_path / f"{recipe}.yaml", seed=0, progress=False,
                     log=lambda line: None, threads=1, overrides={**size, **overrides})
    model = zoo.create_model(out, layers=3, channels=8)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    return zoo.load_genotype(out), (tmp_path / f"{recipe}.history.json").read_text()
