"""A stage's weights, momentum and Adam moments carried into the next one (DrNAS' progressive
search): the channel map and widening by hand, every tensor's source, momentum through the same
channel choice, the unchanged function when nothing widens, the alphas' Adam state, the recipe
relations, and a staged search that resumes across the boundary to the same genotype."""

import json

import pytest
import torch

from zoo.errors import ZooError
from zoo.search import SearchSpace, Supernet
from zoo.search.recipes import apply_overrides, get_recipe
from zoo.search.stage_transfer import carry_alphas, carry_weights, channel_map, source_names, widen
from search_helpers import comparable, search

OPS = ("none", "skip_connect", "max_pool_3x3", "sep_conv_3x3", "dil_conv_3x3")


def test_channel_map_keeps_the_old_channels_and_draws_the_new_ones_from_them():
    g = torch.Generator().manual_seed(0)
    m = channel_map(3, 7, g)
    assert m[:3].tolist() == [0, 1, 2] and len(m) == 7 and all(0 <= i < 3 for i in m[3:].tolist())
    same = torch.cat([torch.arange(3), torch.randint(0, 3, (4,), generator=torch.Generator().manual_seed(0))])
    assert m.tolist() == same.tolist()


def test_widen_reads_every_grown_dimension_through_one_map_per_size():
    # A pointwise conv weight (out 2, in 2, 1, 1) grown to (3, 3, 1, 1) with map (0, 1, 0):
    # W'[o, i] = W[m[o], m[i]]: rows and columns both read old channel 0 for the new channel.
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(2, 2, 1, 1)
    maps = {(2, 3): torch.tensor([0, 1, 0])}
    got = widen(w, torch.Size([3, 3, 1, 1]), maps).view(3, 3)
    assert got.tolist() == [[1.0, 2.0, 1.0], [3.0, 4.0, 3.0], [1.0, 2.0, 1.0]]
    # A depthwise weight (2, 1, 3, 3): only dimension 0 grows; equal dimensions stay.
    dw = torch.arange(18.0).view(2, 1, 3, 3)
    assert torch.equal(widen(dw, torch.Size([3, 1, 3, 3]), maps)[2], dw[0])
    with pytest.raises(ZooError, match="shrinks from 3 to 2 channels"):
        widen(torch.zeros(3), torch.Size([2]), {})


def _pair(k_first=4, k_second=2, kept=("skip_connect", "sep_conv_3x3", "dil_conv_3x3")):
    space = SearchSpace(candidates=OPS, nodes=2)
    torch.manual_seed(0)
    first = Supernet(space, channels=8, layers=3, num_classes=3, partial_channels=k_first)
    cands = {t: [kept] * space.num_edges for t in space.cell_types}
    second = Supernet(space, channels=8, layers=3, num_classes=3, partial_channels=k_second, edge_candidates=cands)
    return first, second


def test_every_tensor_comes_from_the_same_op_on_the_same_edge_or_the_same_name():
    first, second = _pair()
    names = source_names(first, second)
    # sep_conv_3x3 is candidate 1 of the kept ops and candidate 3 of the first stage's, on every edge.
    key = "cells.0.edges.2.mixed.ops.1.0.1.weight"
    assert names[key] == ("cells.0.edges.2.mixed.ops.3.0.1.weight", (0, 2, "sep_conv_3x3"))
    assert names["cells.1.preprocess1.1.weight"] == ("cells.1.preprocess1.1.weight", None)
    assert names["classifier.weight"] == ("classifier.weight", None)
    assert not any(n.startswith("alphas") for n in names)
    assert set(names) == set(second.state_dict()) - {"alphas.normal", "alphas.reduce"}


def test_carried_weights_widen_through_one_map_and_the_momentum_follows_it():
    first, second = _pair()
    first_opt = torch.optim.SGD(first.weight_parameters(), lr=0.1, momentum=0.9)
    with torch.no_grad():
        for p in first.weight_parameters():
            p.add_(torch.randn_like(p))
            first_opt.state[p]["momentum_buffer"] = 2.0 * p.detach().clone()
    second_opt = torch.optim.SGD(second.weight_parameters(), lr=0.1, momentum=0.9)
    n = carry_weights(first, second, first_opt, second_opt, torch.Generator().manual_seed(1))
    assert n == len(second.state_dict()) - 2
    old, new = first.state_dict(), second.state_dict()
    # Outside the ops: identical copies (same shapes).
    for name in ("stem.0.weight", "cells.2.preprocess1.1.weight", "classifier.bias"):
        assert torch.equal(new[name], old[name])
    # In an op: the first 2 channels (C/K = 8/4) are the old ones, the other 2 (8/2 = 4) copies of them.
    pw = new["cells.0.edges.0.mixed.ops.1.0.2.weight"]   # sep_conv_3x3's first pointwise conv, 4 x 4
    assert pw.shape == (4, 4, 1, 1)
    assert torch.equal(pw[:2, :2], old["cells.0.edges.0.mixed.ops.3.0.2.weight"])
    # One map per op and size: the depthwise conv before it and the pointwise conv copy the same channel.
    dw_new, dw_old = new["cells.0.edges.0.mixed.ops.1.0.1.weight"], old["cells.0.edges.0.mixed.ops.3.0.1.weight"]
    for c in (2, 3):
        src = next(i for i in range(2) if torch.equal(dw_new[c], dw_old[i]))
        assert torch.equal(pw[c, :2], old["cells.0.edges.0.mixed.ops.3.0.2.weight"][src])
    # Momentum: widened through the same maps, so it is still twice the weight everywhere.
    for name, p in second.named_parameters():
        if p.requires_grad and not name.startswith("alphas"):
            torch.testing.assert_close(second_opt.state[p]["momentum_buffer"], 2.0 * p.detach())


def test_without_widening_the_carried_supernet_computes_the_same_function():
    first, second = _pair(k_first=2, k_second=2, kept=OPS)
    first.train()
    first(torch.randn(8, 3, 8, 8))       # running statistics worth carrying
    carry_weights(first, second)
    with torch.no_grad():
        for t in first.alphas:
            second.alphas[t].copy_(first.alphas[t])
    first.eval(), second.eval()
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(second(x), first(x))


def test_a_stage_of_other_depth_or_an_op_the_previous_stage_lacked_is_refused():
    space = SearchSpace(candidates=OPS, nodes=2)
    shallow, deep = Supernet(space, channels=8, layers=3), Supernet(space, channels=8, layers=5)
    with pytest.raises(ZooError, match="previous stage has 3 cells, this one 5"):
        carry_weights(shallow, deep)
    narrow = Supernet(SearchSpace(candidates=OPS[:3], nodes=2), channels=8, layers=3)
    with pytest.raises(ZooError, match="op 'sep_conv_3x3' of cell 0 edge 0 was not in the previous stage"):
        carry_weights(narrow, Supernet(space, channels=8, layers=3))


def test_the_alphas_adam_state_continues_for_the_kept_ops():
    first, second = _pair(kept=("dil_conv_3x3", "skip_connect"))
    a1 = torch.optim.Adam(first.arch_parameters(), lr=0.1)
    for p in first.arch_parameters():
        p.grad = torch.arange(p.numel(), dtype=torch.float32).view_as(p)
    a1.step(), a1.step()
    a2 = torch.optim.Adam(second.arch_parameters(), lr=0.1)
    carry_alphas(first, second, a1, a2)
    old, new = a1.state[first.alphas["normal"]], a2.state[second.alphas["normal"]]
    assert float(new["step"]) == 2.0
    # Kept ops dil_conv_3x3 (column 4 of OPS) and skip_connect (column 1), in that order.
    torch.testing.assert_close(new["exp_avg"], old["exp_avg"][:, [4, 1]])
    torch.testing.assert_close(new["exp_avg_sq"], old["exp_avg_sq"][:, [4, 1]])
    # A stage without an architecture step yet has no state to carry.
    a3 = torch.optim.Adam(second.arch_parameters(), lr=0.1)
    carry_alphas(first, second, torch.optim.Adam(first.arch_parameters()), a3)
    assert not a3.state


def test_drnas_recipes_carry_weights_and_unequal_stages_are_refused():
    assert get_recipe("drnas").carry_weights and get_recipe("drnas_kl").carry_weights
    assert not get_recipe("pdarts").carry_weights
    with pytest.raises(ZooError, match=r"carry_weights needs stages of equal depth, stage_layers is \[5, 11, 17\]"):
        apply_overrides(get_recipe("pdarts"), {"carry_weights": True})


def test_a_carried_staged_search_resumes_across_the_boundary_to_the_same_genotype(tmp_path):
    tiny = {"channels": 8, "stage_layers": "3,3", "stage_ops": "5,3", "stage_dropout": "0,0", "batch_size": 8,
            "nodes": 2, "stage_partial_channels": "4,2", "carry_weights": True, "carry_alphas": True,
            "candidates": ",".join(OPS)}
    kw = dict(recipe="pdarts", overrides=tiny, epochs=2)
    search(tmp_path, "ref", **kw)
    assert search(tmp_path, "cut", stop_after_epochs=2, **kw) is None       # at the end of stage 1
    search(tmp_path, "cut", resume=True, **kw)
    assert comparable(tmp_path / "cut.yaml") == comparable(tmp_path / "ref.yaml")
    ref = json.loads((tmp_path / "ref.history.json").read_text())["records"]
    assert [r["stage"] for r in ref] == [0, 0, 1, 1]
    # The carry is wired: stage 1 is the same without it, stage 2 is not.
    search(tmp_path, "fresh", recipe="pdarts", overrides={**tiny, "carry_weights": False}, epochs=2)
    fresh = json.loads((tmp_path / "fresh.history.json").read_text())["records"]
    assert fresh[1]["train_loss"] == ref[1]["train_loss"] and fresh[2]["train_loss"] != ref[2]["train_loss"]
    assert ref[-1]["genotype"] and comparable(tmp_path / "ref.yaml")[2]["settings"]["carry_weights"] is True
