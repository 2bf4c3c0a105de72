"""P-DARTS: stage plan, pruning between stages, the skip-dropout schedule."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.errors import ZooError
from zoo.search.pdarts import (EXTENDED_STAGES, PDARTS_STAGES, build_stage, next_stage_candidates,
                               plan_for_space, prune_candidates, skip_dropout_rate, stage_plan)
from zoo.search.space import N3_STAGES, SearchSpace

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")



def test_stage_plans():
    assert [s.layers for s in PDARTS_STAGES] == [5, 11, 17]
    assert [s.ops_per_edge for s in PDARTS_STAGES] == [8, 5, 3]
    assert [s.skip_dropout for s in PDARTS_STAGES] == [0.1, 0.4, 0.7]
    assert all(s.epochs == 25 and s.warmup_epochs == 10 for s in PDARTS_STAGES)
    assert [s.layers for s in EXTENDED_STAGES] == [11, 14, 17]
    assert [s.ops_per_edge for s in plan_for_space(SearchSpace(exclude=("dil_conv_5x5",)))] == [7, 4, 2]
    with pytest.raises(ZooError):
        stage_plan(cells=(5, 11), ops=(8, 5, 3))


def test_skip_dropout_schedule_values():
    # Linear during the 10 warm-up epochs: r (E - e - 1) / E; then r exp(-0.2 (e - 10)).
    assert skip_dropout_rate(0, 0.4) == pytest.approx(0.4 * 24 / 25)
    assert skip_dropout_rate(9, 0.4) == pytest.approx(0.4 * 15 / 25)
    assert skip_dropout_rate(10, 0.4) == pytest.approx(0.4)
    assert skip_dropout_rate(15, 0.4) == pytest.approx(0.4 * math.exp(-1.0))
    assert skip_dropout_rate(24, 0.7) == pytest.approx(0.7 * math.exp(-2.8))
    assert PDARTS_STAGES[0].dropout_at(5) == pytest.approx(0.1 * 19 / 25)
    assert skip_dropout_rate(3, 0.0) == 0.0


def test_prune_candidates_keeps_the_top_ops_in_order():
    #          none  max  avg  skip sep3 sep5 dil3 dil5
    row = [0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.05]
    assert prune_candidates([row], [OPS], 5) == [
        ("none", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")]
    # After the last stage P-DARTS drops `none` first.
    assert prune_candidates([row], [OPS], 3, drop_none=True) == [
        ("avg_pool_3x3", "skip_connect", "dil_conv_3x3")]
    # Edges already pruned: only the first len(candidates) entries of a row count; tensors work.
    cands = [("none", "skip_connect", "sep_conv_3x3"), ("max_pool_3x3", "sep_conv_5x5", "dil_conv_3x3")]
    alphas = torch.tensor([[2.0, 1.0, 3.0], [0.5, -1.0, 0.7]])
    assert prune_candidates(alphas, cands, 2) == [("none", "sep_conv_3x3"), ("max_pool_3x3", "dil_conv_3x3")]
    assert prune_candidates(alphas, cands, 1, drop_none=True) == [("sep_conv_3x3",), ("dil_conv_3x3",)]


def test_stages_rebuild_with_fewer_ops_and_more_cells():
    torch.manual_seed(0)
    space = SearchSpace(nodes=2, stages=N3_STAGES)
    first = build_stage(space, PDARTS_STAGES[0], channels=4, num_classes=3)
    assert first.layers == 5 and first.skip_dropout == pytest.approx(0.1 * 24 / 25)
    with torch.no_grad():
        for t, a in first.alphas.items():
            a.copy_(torch.arange(8.0).repeat(5, 1))            # dil_conv_5x5 strongest ... none weakest
        first.alphas["reduce"][0] = torch.tensor([7.0, 6, 5, 4, 3, 2, 1, 0])
    pruned = next_stage_candidates(first, PDARTS_STAGES[1].ops_per_edge)
    assert pruned["normal1"][0] == OPS[3:]
    assert pruned["reduce"][0] == OPS[:5] and pruned["reduce"][1] == OPS[3:]
    second = build_stage(space, PDARTS_STAGES[1], pruned, channels=4, num_classes=3)
    assert second.layers == 11 and tuple(second.alphas["normal2"].shape) == (5, 5)
    assert second.edge_candidates == pruned
    assert second.plan.count("normal1") == 3 and second.plan.count("reduce") == 2
    assert [m.candidates for m in second.cells[3].edges] == pruned["reduce"]
    assert second(torch.randn(2, 3, 8, 8)).shape == (2, 3)
    with pytest.raises(ZooError, match="candidates"):
        build_stage(space, PDARTS_STAGES[2], pruned, channels=4)


def test_final_stage_derivation_never_picks_none():
    space = SearchSpace(nodes=2)
    cands = {t: [("none", "skip_connect", "sep_conv_3x3")] * 5 for t in space.cell_types}
    net = build_stage(space, PDARTS_STAGES[2], cands, channels=4, num_classes=3)
    with torch.no_grad():
        for a in net.alphas.values():
            a.copy_(torch.tensor([[5.0, 1.0, 2.0]] * 5))        # `none` dominates everywhere
    g = net.genotype(max_skips=2)
    for cell in g.cells.values():
        assert all(e.op == "sep_conv_3x3" for _, e in cell.edges)
    assert prune_candidates(net.alphas["normal"], cands["normal"], 1, drop_none=True) == \
        [("sep_conv_3x3",)] * 5
