"""Recomputing activations instead of storing them changes memory and time only: the same loss,
gradients and BatchNorm statistics as the plain run, in the supernet (per cell, per mixed op), in a
search step, in the compiled network's training step, and through the run options and CLIs."""

import copy

import pytest
import torch

import zoo
from zoo.cli import main
from zoo.search import SearchSpace, Supernet, make_strategy, run_search

TIGHT = dict(rtol=1e-6, atol=1e-7)
# A small space that still has every kind of layer a recomputation must replay: convs, pools with
# BatchNorm, the skip with its dropout, and `none`.
OPS = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


def loss_grads_buffers(net, forward, seed=1):
    torch.manual_seed(seed)  # the same dropout / drop-path draws for every mode
    loss = forward(net)
    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)], \
        [b.detach().clone() for b in net.buffers()]


def assert_same(a, b):
    torch.testing.assert_close(a[0], b[0], **TIGHT)
    assert len(a[1]) == len(b[1]) and len(a[2]) == len(b[2])
    for x, y in zip(a[1], b[1]):
        torch.testing.assert_close(x, y, **TIGHT)
    for x, y in zip(a[2], b[2]):  # running statistics and batch counters: one update per forward
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("space, k", [(SearchSpace(candidates=OPS, nodes=2), 1),
                                      (SearchSpace(candidates=OPS, nodes=2, edge_norm=True), 4)],
                         ids=["darts", "pc_darts"])
def test_supernet_recompute_gives_the_same_loss_gradients_and_statistics(space, k):
    torch.manual_seed(0)
    net = Supernet(space, channels=8, layers=3, partial_channels=k, skip_dropout=0.3)
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    results = {}
    for mode in ("none", "cell", "mixed_op"):
        n = copy.deepcopy(net)
        n.set_recompute(mode)
        results[mode] = loss_grads_buffers(n, lambda m: m.loss(x, y))
    assert_same(results["cell"], results["none"])
    assert_same(results["mixed_op"], results["none"])
    with pytest.raises(zoo.ZooError, match="recompute 'op' is not one of none, cell, mixed_op"):
        net.set_recompute("op")


@pytest.mark.parametrize("strategy", ["first_order", "second_order"])
def test_a_search_step_with_recompute_moves_the_same_way(strategy):
    torch.manual_seed(0)
    base = Supernet(SearchSpace(candidates=OPS, nodes=2), channels=4, layers=3)
    batches = [(torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))) for _ in range(2)]
    after = {}
    for mode in ("none", "cell"):
        net = copy.deepcopy(base)
        net.set_recompute(mode)
        w = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        a = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        stats = make_strategy(strategy, net, w, a).step(*batches)
        after[mode] = (stats, [p.detach().clone() for p in net.parameters()])
    assert after["cell"][0] == pytest.approx(after["none"][0], rel=1e-6)
    for x, y in zip(after["cell"][1], after["none"][1]):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


def test_network_recompute_per_cell_matches_the_plain_training_step():
    torch.manual_seed(0)
    net = zoo.create_model("pc_darts", layers=3, channels=4, drop_path_rate=0.2, auxiliary=True)
    net.train()
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([1, 7])

    def forward(m):
        logits, aux = m.forward_train(x)
        return torch.nn.functional.cross_entropy(logits, y) + 0.4 * torch.nn.functional.cross_entropy(aux, y)

    plain_net = copy.deepcopy(net)
    plain = loss_grads_buffers(plain_net, forward)
    rec = copy.deepcopy(net)
    rec.set_recompute("cell")
    assert all(c.recompute for c in rec.cells)
    assert_same(loss_grads_buffers(rec, forward), plain)
    with torch.no_grad():  # eval and no_grad run the plain path
        torch.testing.assert_close(rec.eval()(x), plain_net.eval()(x), rtol=0, atol=0)
    with pytest.raises(zoo.ZooError, match="recompute 'mixed_op' is not one of none, cell"):
        rec.set_recompute("mixed_op")


@pytest.mark.slow
def test_a_search_run_with_recompute_writes_the_same_genotype(tmp_path):
    kw = dict(data="digits", seed=0, progress=False, log=lambda line: None, threads=1,
              overrides={"epochs": 1, "subset": 32, "batch_size": 16, "layers": 3, "channels": 4, "nodes": 2})
    plain = run_search("darts_v1", out=tmp_path / "plain.yaml", **kw)
    cell = run_search("darts_v1", out=tmp_path / "cell.yaml", recompute="cell", **kw)
    a, b = zoo.load_genotype(plain), zoo.load_genotype(cell)
    assert a.cells == b.cells and a.search["alphas"] == b.search["alphas"]
    assert "recompute" not in a.search["settings"]  # a run option: not part of what was searched


def test_bad_recompute_values_are_one_line_errors(tmp_path, capsys):
    assert main(["search", "--recipe", "darts_v1", "--data", "digits", "--recompute", "cells",
                 "--out", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "recompute" in err and "cell" in err and not (tmp_path / "x.yaml").exists()
    assert main(["train", "darts_v1", "--data", "digits", "--recompute", "mixed_op",
                 "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "recompute" in err


def test_the_memory_estimate_counts_what_recomputing_keeps(monkeypatch):
    from zoo import budget
    g = zoo.zoo_genotype("darts_v2")
    e = budget.estimate_network(g, "cifar", layers=3, channels=4)
    # 32x32 stem of 3 * 4 channels, kept twice (conv, BN): 2 * 12 * 1024; cell outputs: 4 nodes x
    # (4 ch at 32x32, 8 ch at 16x16, 16 ch at 8x8).
    stem, outputs = 2 * 12 * 1024, 4 * (4 * 1024 + 8 * 256 + 16 * 64)
    largest = e.recomputed - stem - outputs
    assert 0 < largest < e.activations - stem
    assert e.stored("cell") == e.recomputed < e.activations and e.stored("none") == e.activations
    assert e.bytes(8, "cell") - e.bytes(8) == 4 * 8 * (e.recomputed - e.activations)
    # A batch that fits only when recomputing: refused plain, accepted with recompute="cell".
    monkeypatch.setattr(budget, "memory_limit", lambda device=None: (e.bytes(64) + e.bytes(64, "cell")) // 2)
    with pytest.raises(zoo.ZooError, match="needs about"):
        budget.check_network(g, "cifar", batch=64, layers=3, channels=4)
    assert budget.check_network(g, "cifar", batch=64, layers=3, channels=4, recompute="cell") == e


def test_speed_rows_are_set_beside_the_plain_step():
    from zoo.benchmarks.search_speed import add_ratios, format_speed
    row = dict(device="cpu", device_name="CPU", strategy="first_order", amp=False, channels_last=False)
    rows = [dict(row, config="plain", images_per_s=10.0, seconds_per_step=6.4, peak_memory_mib=1000.0),
            dict(row, config="recompute_cell", images_per_s=8.0, seconds_per_step=8.0, peak_memory_mib=400.0),
            dict(row, config="pc_darts", images_per_s=25.0, seconds_per_step=2.56, peak_memory_mib=350.0),
            dict(row, config="plain", strategy="second_order", images_per_s=4.0, seconds_per_step=16.0,
                 peak_memory_mib=2000.0),
            dict(row, config="recompute_cell", strategy="second_order", images_per_s=3.0, seconds_per_step=21.3,
                 peak_memory_mib=700.0)]
    add_ratios(rows)
    assert [r["speed_vs_plain"] for r in rows] == pytest.approx([1.0, 0.8, 2.5, 1.0, 0.75])
    assert [r["memory_vs_plain"] for r in rows] == pytest.approx([1.0, 0.4, 0.35, 1.0, 0.35])
    table = format_speed({"setting": dict(layers=8, channels=16, batch_size=64, image_size=32), "torch": "x",
                          "rows": rows})
    assert "| CPU | first_order | pc_darts | fp32 | 25.0 | 2.560 | 350 | 2.50x | 0.35x |" in table
    with pytest.raises(zoo.ZooError, match="unknown configuration 'pc'"):
        from zoo.benchmarks.search_speed import search_speed
        search_speed(device="cpu", configs=("pc",))
