"""The DAG search (zoo.search.dag_space, dag_search): the space and its counts, sampling under
constraints, the edge-probability update, the softmax over blocks, the alternating phases."""

import json
import random

import pytest
import timm
import torch
from hypothesis import given, settings, strategies as st

import zoo
from zoo.errors import ZooError
from zoo.search.dag_search import DagSearchConfig, DagSupernet, phase_indices, run_dag_search, save_dag_genotype
from zoo.search.dag_space import Archive, DagSpace, EdgeDistribution, complete_dag, dag_depth, enumerate_dags


def test_space_sizes_by_hand():
    assert [DagSpace(l).count() for l in (2, 3, 4, 5)] == [2, 8, 64, 1024]
    assert DagSpace(4, max_skip=1).allowed == ((0, 1), (1, 2), (2, 3)) and DagSpace(4, max_skip=1).count() == 8
    assert DagSpace(4, max_skip=2).count() == 2 ** 5
    assert DagSpace(4, max_skip=0).count() == 1                    # only the empty DAG
    # at least half of the 6 edges: C(6,3) + C(6,4) + C(6,5) + C(6,6)
    assert DagSpace(4, min_density=0.5).count() == 20 + 15 + 6 + 1
    for space in (DagSpace(4), DagSpace(5, max_skip=2, max_density=0.5), DagSpace(4, min_density=0.5)):
        dags = enumerate_dags(space)
        assert len(dags) == len(set(dags)) == space.count() and all(space.contains(d) for d in dags)


def test_depth_by_hand():
    assert dag_depth(4, ()) == 1
    assert dag_depth(4, ((0, 3),)) == 2
    assert dag_depth(4, complete_dag(4)) == 4
    assert dag_depth(5, ((0, 2), (2, 4), (1, 4))) == 3


@settings(max_examples=60, deadline=None)
@given(l=st.integers(2, 6), skip=st.one_of(st.none(), st.integers(1, 5)),
       lo=st.floats(0, 1), width=st.floats(0, 1), p=st.floats(0.05, 0.95), seed=st.integers(0, 10_000))
def test_samples_respect_the_constraints(l, skip, lo, width, p, seed):
    space = DagSpace(l, skip, lo, min(1.0, lo + width))
    if space.count() == 0:
        return
    dist = EdgeDistribution(space, p=p)
    rng = random.Random(seed)
    for _ in range(10):
        assert space.contains(dist.sample(rng))
    k = min(3, space.count())
    drawn = dist.sample_distinct(k, rng)
    assert len(set(drawn)) == k and all(space.contains(d) for d in drawn)


def test_update_rule_on_a_hand_made_case():
    dist = EdgeDistribution(DagSpace(3), p=0.5, p_min=0.3)
    a, b = ((0, 1),), ((0, 1), (1, 2))
    dist.update([a, b], [0.75, 0.25], rate=0.5)
    # p <- (1 - 0.5) p + 0.5 * sum_b w_b [e in b], then clipped to [0.3, 0.7]
    assert dist.probs[(0, 1)] == 0.7                      # 0.25 + 0.5 * 1.0 = 0.75, clipped
    assert dist.probs[(1, 2)] == pytest.approx(0.375)     # 0.25 + 0.5 * 0.25
    assert dist.probs[(0, 2)] == 0.3                      # 0.25 + 0, clipped


def test_archive_keeps_the_best_share():
    arch = Archive()
    arch.add([((0, 1),), ()], [0.75, 0.25])
    arch.add([(), ((1, 2),)], [0.6, 0.4])
    assert arch.top() == [(((0, 1),), 1.5), ((), 1.2), (((1, 2),), 0.8)]


def test_softmax_over_blocks():
    cfg = DagSearchConfig(vertices=3, blocks=2, width=4)
    net = DagSupernet(cfg, 1, 2, 3)
    net.dags = [((0, 1),), complete_dag(3)]
    with torch.no_grad():
        net.alpha.copy_(torch.log(torch.tensor([1.0, 3.0])))
    assert net.block_weights().tolist() == pytest.approx([0.25, 0.75])
    x = torch.randn(5, 1, 2, 2)
    blocks = net.body.forward_blocks(net.stem(x), net.dags)
    torch.testing.assert_close(net(x), net.classifier(0.25 * blocks[0] + 0.75 * blocks[1]))


def test_phase_splits():
    w, a = phase_indices(10, "same", 0)
    assert w == a == list(range(10))
    w, a = phase_indices(10, "separate", 0)
    assert not set(w) & set(a) and sorted(w + a) == list(range(10)) and len(w) == 5


def _data(n=60):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 3, 3, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("split,sampling", [("same", "fixed"), ("separate", "adaptive")])
def test_search_runs_both_splits_and_writes_a_genotype(tmp_path, split, sampling):
    cfg = DagSearchConfig.checked(vertices=3, blocks=3, width=8, rounds=3, weight_steps=2, arch_steps=2,
                                  split=split, sampling=sampling, batch_size=16)
    res = run_dag_search(cfg, _data(), 3, test=_data(20), data="noise")
    rounds = [r["dags"] for r in res.history]
    assert len(rounds) == 3
    if sampling == "fixed":
        assert rounds[0] == rounds[1] == rounds[2]
    else:
        # the best block of a round is carried into the next one (elites = 1)
        best = max(range(3), key=lambda b: res.history[0]["weights"][b])
        assert rounds[1][0] == rounds[0][best]
    assert res.best in res.dags and sum(res.weights) == pytest.approx(1.0)
    path = save_dag_genotype(res, tmp_path / "found.yaml")
    g = zoo.load_genotype(path)
    assert g.provenance["kind"] == "searched" and g.dag.edges == res.best
    assert g.search["settings"]["split"] == split
    history = json.loads((tmp_path / "found.history.json").read_text())
    assert [r["round"] for r in history["records"]] == [1, 2, 3]
    assert (tmp_path / "found.probs.png").read_bytes()[:4] == b"\x89PNG"
    m = timm.create_model("darts_genotype", genotype=str(path), in_chans=1, img_size=3, num_classes=3)
    assert m(_data(2)[0]).shape == (2, 3)


@pytest.mark.parametrize("values,text", [
    (dict(vertices=1), "vertices (--vertices) = 1"),
    (dict(blocks=0), "blocks (--blocks) = 0"),
    (dict(vertices=3, max_skip=1, min_density=0.1, max_density=0.2), "leaves no DAG"),
    (dict(vertices=4, blocks=2, max_skip=0), "leaves 1 DAG, fewer than the 2 blocks"),
    (dict(min_density=0.8, max_density=0.2), "min_density 0.8 > max_density 0.2"),
    (dict(blocks=2, elites=2), "elites = 2"),
])
def test_bad_settings_are_one_line(values, text):
    with pytest.raises(ZooError) as e:
        DagSearchConfig.checked(**values)
    assert text in str(e.value) and "\n" not in str(e.value)


def test_one_block_is_a_valid_search():
    cfg = DagSearchConfig.checked(vertices=2, blocks=1, width=4, rounds=2, weight_steps=1, arch_steps=1)
    assert cfg.elites == 0
    res = run_dag_search(cfg, _data(), 3)
    assert res.weights == [1.0] and len(res.history) == 2


def test_cli_refuses_bad_settings_in_one_line(tmp_path, capsys):
    from zoo.cli import main

    assert main(["search-bench", "dag", "--vertices", "1", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vertices (--vertices) = '1'" in err
    assert main(["search-bench", "dag", "--vertices", "4", "--blocks", "2", "--max-skip", "0",
                 "--out", str(tmp_path / "s")]) == 2
    assert "leaves 1 DAG" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
