"""Issue 8 secs. 2-3: the stretchable-cells paper's variants (input-edge topology, fixed output edges,
DARTS derived from the output side, search depth = evaluation depth with C for the parameter budget)
and the thesis' settings (op ablations from the recipe, PDARTS-N3-2g's training recipe)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

import zoo
from zoo.models import genotype_dir
from zoo.search.discretize import output_edge_cell, output_edge_choice
from zoo.search.recipes import (apply_overrides, eval_channels_for_budget, eval_network, get_recipe)
from zoo.search.space import SearchSpace
from zoo.search.stretchable import InputEdgeTopology
from zoo.search.supernet import Supernet

from search_helpers import search

LOG = math.log


def test_input_edge_merged_probabilities_by_hand():
    # Two intermediate nodes. Node 2 has one pair {0, 1}: s = 1 on both edges. Node 3 reads a pair
    # of {0, 1, 2}: p(0,1) = 0.5, p(0,2) = 0.3, p(1,2) = 0.2, so (eq. 6) s(0,3) = 0.5 + 0.3,
    # s(1,3) = 0.5 + 0.2, s(2,3) = 0.3 + 0.2. Edge order: (2,0) (2,1) (3,0) (3,1) (3,2).
    topo = InputEdgeTopology(2)
    assert topo.num_betas == 4 and topo.codes[3] == ((0, 1), (0, 2), (1, 2))
    betas = torch.tensor([0.0, LOG(5), LOG(3), LOG(2)])
    assert topo.merged(betas).tolist() == pytest.approx([1.0, 1.0, 0.8, 0.7, 0.5])
    assert topo.choose(betas) == {0: (2, 3), 1: (2, 3), 2: ()}
    assert float(topo.regularizer(betas)) == 0.0
    # Three nodes: node 4 has C(4, 2) = 6 pairs; uniform p gives s = 3/6 on each of its 4 edges.
    topo3 = InputEdgeTopology(3)
    assert topo3.num_betas == 1 + 3 + 6
    assert topo3.merged(torch.zeros(10)).tolist()[-4:] == pytest.approx([0.5] * 4)


def test_input_edge_supernet_derives_two_inputs_per_node():
    torch.manual_seed(0)
    space = SearchSpace(nodes=3, stretchable=True, topology="input")
    net = Supernet(space, channels=4, layers=3, num_classes=3)
    with torch.no_grad():  # node 3 reads (0, 1) of (0,1) (0,2) (1,2); node 4 reads (1, 3), the 5th of
        # (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
        net.betas["normal"][1:].copy_(torch.tensor([3.0, 0, 0, 0.0, 0, 0, 0, 3.0, 0]))
    g = net.genotype()
    assert [sorted(e.input for e in n) for n in g.cells["normal"].nodes] == [[0, 1], [0, 1], [1, 3]]
    assert all(len(n) == 2 for n in g.cells["reduce"].nodes)
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_output_edge_derivation_by_hand():
    # Edges (2,0) (2,1) (3,0) (3,1) (3,2). With one output edge each, 0 and 1 both feed node 3, node 2
    # is fed by nobody and is removed (with its edge to 3).
    w = [{"none": 0.9, "sep_conv_3x3": 0.6}, {"skip_connect": 0.2}, {"max_pool_3x3": 0.7},
         {"sep_conv_3x3": 0.3}, {"avg_pool_3x3": 0.9}]
    edges = SearchSpace(nodes=2).edge_list
    assert output_edge_choice(w, edges, k=1) == {0: (3,), 1: (3,), 2: (3,)}
    assert output_edge_cell(w, edges, 2, k=1) == [[], [("max_pool_3x3", 0), ("sep_conv_3x3", 1)]]
    assert output_edge_cell(w, edges, 2, k=2) == [[("sep_conv_3x3", 0), ("skip_connect", 1)],
                                                   [("max_pool_3x3", 0), ("sep_conv_3x3", 1), ("avg_pool_3x3", 2)]]


def test_eval_channels_reach_the_budget_as_the_zoo_files_do():
    g = zoo.load_genotype(genotype_dir() / "milenas_sc_l8.yaml")
    bare = dataclasses.replace(g, presets={})
    assert eval_channels_for_budget(bare, 8, 3.5e6) == g.presets["cifar"].channels == 51
    cfg = get_recipe("milenas_sc_l8")
    assert eval_network(cfg, bare) == (8, 51)
    assert eval_network(dataclasses.replace(cfg, eval_params_m=None, eval_layers=None), bare) == (8, 36)


def test_recipes_and_ablation_overrides():
    for layers in (8, 12, 16):
        r = apply_overrides(get_recipe(f"milenas_sc_l{layers}"), data="digits")
        assert r.layers == layers and r.eval_layers is None and r.stretchable
    assert get_recipe("darts_wo_sc").out_edges == 2 and get_recipe("darts_wo_sc_input").topology == "input"
    assert get_recipe("darts_v2_output_edges").rule == "output_edges"
    # Thesis §3.4 / §4.2 ablations from the recipe: the stage op counts follow the smaller set.
    assert apply_overrides(get_recipe("pdarts"), {"space_ablation": "no_dil"}).stage_ops == (6, 3, 1)
    assert apply_overrides(get_recipe("pdarts"), {"space_ablation": "deep_sep"}).stage_ops == (10, 7, 5)
    assert apply_overrides(get_recipe("pdarts"), {"space_ablation": "dil_dd"}).stage_ops == (8, 5, 3)
    assert apply_overrides(get_recipe("pdarts"), {"space_ablation": "no_sep_conv_3x3"}).stage_ops == (7, 4, 2)
    with pytest.raises(zoo.ZooError, match="not both"):
        apply_overrides(get_recipe("darts_v1"), {"space_ablation": "no_dil", "candidates": "skip_connect"})


def test_pdarts_n3_2g_training_recipe():
    from zoo.benchmarks.recipes import default_recipe
    r = default_recipe("pdarts_n3_2g", "cifar10")
    assert (r.name, r.epochs, r.batch_size, r.lr) == ("pdarts_n3_2g", 600, 64, 0.015)


TINY_SC = {"channels": 4, "batch_size": 8, "subset": 32}


@pytest.mark.slow
@pytest.mark.parametrize("recipe,overrides", [
    ("milenas_sc_l8", {}), ("milenas_sc_l12", {}), ("milenas_sc_l16", {}),
    ("milenas_sc", {"layers": 6}),
    ("darts_wo_sc", {"nodes": 3}), ("darts_wo_sc_input", {"nodes": 3}),
    ("darts_v2_output_edges", {"nodes": 3, "layers": 3}),
    ("pdarts", {"space_ablation": "no_dil", "stage_layers": "3,3,3"}),
])
def test_new_recipes_run_on_digits(tmp_path, recipe, overrides):
    out = search(tmp_path, recipe, recipe=recipe, overrides={**TINY_SC, **overrides}, epochs=1)
    g = zoo.load_genotype(out)
    cfg = apply_overrides(get_recipe(recipe), {**TINY_SC, **overrides}, data="digits")
    preset = g.presets["cifar"]
    if cfg.eval_layers is None:  # evaluated at the search depth
        assert preset.layers == g.search["settings"]["layers"] == cfg.layers
    if cfg.eval_params_m is not None:
        assert preset.channels == eval_channels_for_budget(dataclasses.replace(g, presets={}), preset.layers,
                                                           cfg.eval_params_m * 1e6)
    model = zoo.create_model(g, layers=3, channels=4, num_classes=10, auxiliary=False)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    history = json.loads(out.with_suffix(".history.json").read_text())
    records = history["records"] if isinstance(history, dict) else history
    assert records and "weights" in records[-1]
    if cfg.stretchable:
        assert "betas" in records[-1] and "betas" in g.search
        scales = records[-1]["edge_scales"]
        assert set(scales) == set(records[-1]["betas"]) and all(0 <= p < 1e6 for s in scales.values() for p in s)
        assert out.with_suffix(".betas.png").read_bytes()[:4] == b"\x89PNG"
    assert out.with_suffix(".alphas.png").exists()


def test_random_operations_keep_the_topology():
    import random

    from zoo.benchmarks.search_vs_random import random_operations
    like = zoo.load_genotype(genotype_dir() / "milenas_sc_l8.yaml")
    g = random_operations(like, random.Random(0), name="r")
    for name, cell in like.cells.items():
        assert [[e.input for e in n] for n in g.cells[name].nodes] == [[e.input for e in n] for n in cell.nodes]
        assert g.cells[name].concat == cell.concat
    ops = {e.op for c in g.cells.values() for n in c.nodes for e in n}
    assert "none" not in ops and len(ops) > 2
    zoo.create_model(g, layers=3, channels=4, auxiliary=False)
