"""The HyperCuboid search (sharpDARTS, arXiv:1903.09900, sec. 4.1): best-path extraction on hand-made
weights (with its tie rule), scalar against Max-W mixing of a grid layer's node outputs by hand, the
grid as the paper shapes it, the recipe end to end (result file, history, plot), resume, bad input."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
import torch.nn as nn
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.cli import main
from zoo.errors import ZooError
from zoo.search import run_search, supernet as supernet_module
from zoo.search.components import SPACES
from zoo.search.hypercuboid import (HyperCuboid, HyperCuboidSupernet, ResizablePool, best_path, describe_path,
                                    grid_from_recipe, max_w)
from zoo.search.hypercuboid_result import load_hypercuboid_result
from zoo.search.recipes import apply_overrides, get_recipe
from search_helpers import synthetic

TINY_HC = {"channels": 2, "nodes": 2, "layers": 4, "batch_size": 8}


def _grid(entries, n=2, p=2, layers=2):
    """A (layers, n, n, p) weight grid of zeros with the given {(t, i, j, q): w} entries."""
    w = torch.zeros(layers, n, n, p, dtype=torch.float64)
    for index, value in entries.items():
        w[index] = value
    return list(w)


# --------------------------------------------------------------------------- best path by hand
def test_best_path_is_the_maximal_total_not_the_greedy_one():
    # Layer 0: 0->0 (sep) 0.30 is the largest single entry, 0->1 (max) 0.10, 1->1 (sep) 0.25;
    # layer 1: 0->0 (sep) 0.05, 1->0 (max) 0.50. Paths: 0-0-0 = 0.35, 0-1-0 = 0.60, 1-1-0 = 0.75.
    w = _grid({(0, 0, 0, 0): 0.30, (0, 0, 1, 1): 0.10, (0, 1, 1, 0): 0.25,
               (1, 0, 0, 0): 0.05, (1, 1, 0, 1): 0.50})
    path = best_path(w)
    assert path.stem == 1
    assert [(s.c_in, s.c_out, s.primitive) for s in path.steps] == [(1, 1, 0), (1, 0, 1)]
    assert [s.weight for s in path.steps] == [0.25, 0.50]
    assert path.score == 0.75
    assert path.channel_indices() == [1, 1, 0]
    grid = HyperCuboid((8, 16), ("sep_conv_3x3", "max_pool_3x3"), 2)
    assert describe_path(grid, path) == "path 16 -sep3N-> 16 -maxR-> 8 (score 0.7500)"


def test_best_path_tie_rule_prefers_fewer_channels_then_the_first_primitive():
    # Uniform weights: every path scores the same; the rule picks the smallest stem, the smallest
    # output choice at every layer and the first primitive.
    path = best_path([torch.full((3, 3, 2), 1 / 18)] * 4)
    assert path.stem == 0 and [(s.c_in, s.c_out, s.primitive) for s in path.steps] == [(0, 0, 0)] * 4
    assert path.score == pytest.approx(4 / 18)
    # Two paths of 0.75 from stem 0: 0 -(max)-> 0 -(sep)-> 1 and 0 -(sep)-> 1 -(sep)-> 0. At layer 0
    # the smaller output choice (0) wins, although its entry (0.25) is the smaller one.
    w = _grid({(0, 0, 1, 0): 0.5, (0, 0, 0, 1): 0.25, (1, 1, 0, 0): 0.25, (1, 0, 1, 0): 0.5})
    path = best_path(w)
    assert path.stem == 0 and path.score == 0.75
    assert [(s.c_in, s.c_out, s.primitive) for s in path.steps] == [(0, 0, 1), (0, 1, 0)]
    # Equal entries of one (c_in, c_out) pair: the primitive listed first.
    w = _grid({(0, 1, 1, 0): 0.5, (0, 1, 1, 1): 0.5, (1, 1, 1, 1): 0.5}, layers=2)
    path = best_path(w)
    assert path.stem == 1 and [(s.c_out, s.primitive) for s in path.steps] == [(1, 0), (1, 1)]
    # Nested lists are taken as tensors are.
    assert best_path([x.tolist() for x in w]) == path


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.data())
def test_best_path_equals_brute_force(layers, n, p, data):
    """On random grids (values on a coarse lattice, so ties happen), the score is the maximum over
    every path, the path's weights add up to it, and the lexicographically smallest best path wins."""
    values = st.sampled_from([0.0, 0.125, 0.25, 0.5])
    w = torch.tensor(data.draw(st.lists(values, min_size=layers * n * n * p, max_size=layers * n * n * p)),
                     dtype=torch.float64).view(layers, n, n, p)
    path = best_path(list(w))
    best_key, best_score = None, -1.0
    for stem in range(n):
        for choice in itertools.product(itertools.product(range(n), range(p)), repeat=layers):
            c, score = stem, 0.0
            for t, (j, q) in enumerate(choice):
                score += float(w[t, c, j, q])
                c = j
            if score > best_score:  # enumeration order is the tie rule's order: first best kept
                best_key, best_score = (stem, choice), score
    assert path.score == best_score
    assert sum(s.weight for s in path.steps) == best_score
    assert (path.stem, tuple((s.c_out, s.primitive) for s in path.steps)) == best_key
    assert all(a.c_out == b.c_in for a, b in zip(path.steps, path.steps[1:])) and path.steps[0].c_in == path.stem


# --------------------------------------------------------------------------- mixing by hand
class _Const(nn.Module):
    """An op whose output is `value` everywhere, with c_out channels at the input's size."""

    def __init__(self, c_out, value):
        super().__init__()
        self.c_out, self.value = c_out, value

    def forward(self, x):
        return x.new_full((x.shape[0], self.c_out, x.shape[2], x.shape[3]), self.value)


def _constant_grid_net(weighting):
    grid = HyperCuboid((2, 4), ("sep_conv_3x3",), 2)
    net = HyperCuboidSupernet(grid, num_classes=3, weighting=weighting)
    # Layer 0's softmax weights (i, j) in order 00, 01, 10, 11: 0.1, 0.2, 0.3, 0.4.
    with torch.no_grad():
        net.alphas["normal"][0] = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    # op (i, j) outputs 1, 10, 100, 1000 for (0,0), (0,1), (1,0), (1,1).
    net.grid[0] = nn.ModuleList(_Const(c, v) for c, v in ((2, 1.0), (4, 10.0), (2, 100.0), (4, 1000.0)))
    states = [torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3)]
    return net, net.grid_layer(0, states)


def test_scalar_mixing_of_node_outputs_by_hand():
    net, (x0, x1) = _constant_grid_net("scalar")
    # x[0] = 0.1 * 1 + 0.3 * 100 = 30.1;  x[1] = 0.2 * 10 + 0.4 * 1000 = 402.
    assert x0.shape == (1, 2, 3, 3) and x1.shape == (1, 4, 3, 3)
    assert torch.allclose(x0, torch.full_like(x0, 30.1)) and torch.allclose(x1, torch.full_like(x1, 402.0))
    assert torch.allclose(net.layer_mix(0).flatten(), torch.tensor([0.1, 0.2, 0.3, 0.4]))


def test_max_w_mixing_of_node_outputs_by_hand():
    net, (x0, x1) = _constant_grid_net("max_w")
    # eq. 3 with max(w) = 0.4 over the whole layer: m = 1 - 0.4 + w = 0.7, 0.8, 0.9, 1.0;
    # x[0] = 0.7 * 1 + 0.9 * 100 = 90.7;  x[1] = 0.8 * 10 + 1.0 * 1000 = 1008.
    assert torch.allclose(x0, torch.full_like(x0, 90.7)) and torch.allclose(x1, torch.full_like(x1, 1008.0))
    assert torch.allclose(net.layer_mix(0).flatten(), torch.tensor([0.7, 0.8, 0.9, 1.0]))
    # The softmax weights (what the path and the plots read) are the same under both weightings.
    assert torch.allclose(net.layer_weights(0).flatten(), torch.tensor([0.1, 0.2, 0.3, 0.4]))
    assert max_w is supernet_module.max_w  # one Max-W for the cell supernet and the grid


# --------------------------------------------------------------------------- the grid
def test_paper_grid_and_supernet_layout():
    cfg = get_recipe("hypercuboid")
    grid = grid_from_recipe(cfg)
    # sec. 4.1: ((4x4)x3x3x2), channels 2^n for n in 5..8, SharpSepConv and max pool.
    assert grid.channels == (32, 64, 128, 256)
    assert grid.kinds == ("normal", "reduce") * 3
    assert grid.primitives == ("sep_conv_3x3", "max_pool_3x3") and grid.width == 32
    assert (cfg.epochs, cfg.weighting, cfg.strategy) == (60, "scalar", "first_order")
    small = HyperCuboid((2, 4), ("sep_conv_3x3", "max_pool_3x3"), 4)
    net = HyperCuboidSupernet(small, num_classes=10)
    assert {k: tuple(v.shape) for k, v in net.alphas.items()} == {"normal": (2, 8), "reduce": (2, 8)}
    assert len(net.grid) == 4 and all(len(layer) == 8 for layer in net.grid)
    assert net.final_channels == 12  # 3 x the largest choice: 768 for the paper's 256
    # A pool that changes the channel count is resized by a 1x1 conv (the authors' ResizablePool).
    assert len(ResizablePool(2, 2, 1)) == 1 and len(ResizablePool(2, 4, 2)) == 3
    x = torch.randn(2, 3, 16, 16)
    states = [stem(x) for stem in net.stems]
    out = net.grid_layer(1, states)  # a reduction layer halves the resolution
    assert [tuple(s.shape) for s in out] == [(2, 2, 8, 8), (2, 4, 8, 8)]
    assert net(x).shape == (2, 10)
    assert set(net.arch_parameters()).isdisjoint(net.weight_parameters())
    assert len(net.arch_parameters()) + len(net.weight_parameters()) == len(list(net.parameters()))


@pytest.mark.parametrize("overrides, words", [
    ({"layers": 5}, "even --layers"),
    ({"candidates": ("sep_conv_3x3", "maxpool")}, "unknown primitive 'maxpool'"),
    ({"rule": "grouping"}, "rule does not apply"),
    ({"stage_layers": (4, 4)}, "stage_layers does not apply"),
    ({"channels": 512, "nodes": 8}, "lower --nodes"),
])
def test_bad_grid_settings_are_one_line(tmp_path, overrides, words):
    with pytest.raises(ZooError) as e:
        run_search("hypercuboid", data="digits", out=tmp_path / "bad.yaml", overrides=overrides,
                   dataset=synthetic(), progress=False, log=lambda line: None)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- end to end
def _run(tmp_path, name, epochs=2, **kw):
    return run_search("hypercuboid", data="digits", out=tmp_path / f"{name}.yaml", epochs=epochs, seed=1,
                      overrides={**TINY_HC, **kw.pop("overrides", {})}, dataset=synthetic(), progress=False,
                      log=lambda line: None, **kw)


def test_search_writes_the_path_file_history_and_plot(tmp_path):
    path = _run(tmp_path, "hc", overrides={"weighting": "max_w", "nodes": 3})
    result = load_hypercuboid_result(path)
    assert result["weighting"] == "max_w" and result["grid"]["channels"] == [2, 4, 8]
    chosen = result["path"]
    layers = chosen["layers"]
    assert [s["kind"] for s in layers] == ["normal", "reduce"] * 2 and [s["stride"] for s in layers] == [1, 2] * 2
    assert chosen["channels"] == [layers[0]["c_in"]] + [s["c_out"] for s in layers]
    assert all(a["c_out"] == b["c_in"] for a, b in zip(layers, layers[1:]))
    # The recorded path is the best path of the recorded weights (6 decimals can only tie it).
    weights = [torch.tensor(a["weights"], dtype=torch.float64) for a in result["alphas"]]
    assert [tuple(w.shape) for w in weights] == [(3, 3, 2)] * 4
    assert all(abs(float(w.sum()) - 1.0) < 1e-5 for w in weights)
    again = best_path(weights)
    assert again.score == pytest.approx(chosen["score"], abs=1e-5)
    assert chosen["score"] == pytest.approx(sum(s["weight"] for s in layers), abs=1e-5)
    assert result["search"]["recipe"] == "hypercuboid" and result["search"]["epochs"] == 2
    assert result["search"]["settings"]["space"] == "hypercuboid"
    history = json.loads((tmp_path / "hc.history.json").read_text())["records"]
    assert len(history) == 2 and history[-1]["genotype"] == chosen["line"]
    assert set(history[-1]["weights"]) == {"normal", "reduce"} and len(history[-1]["weights"]["normal"][0]) == 18
    assert (tmp_path / "hc.alphas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "path" in (tmp_path / "hc.log").read_text()
    # Plain YAML a person reads: the chosen layers are one line each.
    text = path.read_text()
    assert "kind: hypercuboid_path" in text and "{layer: 1, kind: normal, stride: 1" in text
    with pytest.raises(ZooError, match="not a HyperCuboid result"):
        bogus = tmp_path / "bogus.yaml"
        bogus.write_text(yaml.safe_dump({"name": "x"}))
        load_hypercuboid_result(bogus)


def test_pause_and_resume_reach_the_same_path(tmp_path):
    _run(tmp_path, "ref", epochs=2)
    assert _run(tmp_path, "cut", epochs=2, stop_after_epochs=1) is None
    assert not (tmp_path / "cut.yaml").exists()
    _run(tmp_path, "cut", epochs=2, resume=True)
    ref, cut = load_hypercuboid_result(tmp_path / "ref.yaml"), load_hypercuboid_result(tmp_path / "cut.yaml")
    assert {k: v for k, v in cut.items() if k != "name"} == {k: v for k, v in ref.items() if k != "name"}
    records = [json.loads((tmp_path / f"{n}.history.json").read_text())["records"] for n in ("ref", "cut")]
    assert [r["weights"] for r in records[0]] == [r["weights"] for r in records[1]]


def test_cli_runs_the_recipe_with_max_w_on_digits(tmp_path, capsys):
    out = tmp_path / "cli.yaml"
    args = ["search", "--recipe", "hypercuboid", "--data", "digits", "--weighting", "max_w", "--channels", "2",
            "--nodes", "2", "--layers", "4", "--subset", "32", "--batch-size", "8", "--epochs", "1",
            "--no-progress", "--out", str(out)]
    assert main(args) == 0
    assert f"result: {out}" in capsys.readouterr().out
    assert load_hypercuboid_result(out)["weighting"] == "max_w"
    assert main([*args[:-2], "--layers", "3", "--out", str(tmp_path / "odd.yaml")]) == 2
    err = capsys.readouterr().err
    assert "even --layers" in err and len(err.strip().splitlines()) == 1


def test_digits_preset_and_registration():
    cfg = apply_overrides(get_recipe("hypercuboid"), data="digits")
    grid = SPACES.get(cfg.space).space(cfg)
    assert (grid.channels, grid.layers) == ((4, 8, 16), 4)
    assert math.isclose(cfg.w_lr, 0.025) and cfg.lr_schedule == "cosine_power"


def test_the_space_takes_any_recipe_or_refuses_it_in_one_line():
    from zoo.search.recipes import RECIPES
    for name, recipe in RECIPES.items():
        try:
            cfg = apply_overrides(recipe, {"space": "hypercuboid"}, data="digits")
        except ZooError as e:  # an auxiliary skip, a perturbation or another mixing needs mixed edges
            assert "\n" not in str(e) and "search space hypercuboid has no mixed edges" in str(e)
            continue
        try:
            grid = SPACES.get("hypercuboid").space(cfg)
        except ZooError as e:
            assert "\n" not in str(e) and str(e).startswith("space hypercuboid: ")
        else:
            assert grid.layers == cfg.layers and grid.channels[0] == cfg.channels
