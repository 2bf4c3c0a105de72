"""PC-DARTS: partial channels, channel shuffle, edge normalization and its derivation, each by hand
on a few numbers; `none` is not run and pruned P-DARTS ops are not built; the recipe and a digits
search whose genotype the zoo builds."""

import math

import pytest
import torch
import torch.nn as nn

import zoo
from zoo.errors import ZooError
from zoo.ops import Zero
from zoo.search import SearchSpace, Supernet, run_search
from zoo.search.partial_channels import EdgeNormalization, PartialChannels, channel_shuffle
from zoo.search.pdarts import build_stage, stage_plan
from zoo.search.recipes import apply_overrides, get_recipe
from zoo.search.supernet import MixedOp


def channels_as_values(n=1, c=8, h=2, w=2):
    """x[b, k] == k everywhere: a channel's values name it."""
    return torch.arange(c, dtype=torch.float32).view(1, c, 1, 1).expand(n, c, h, w).clone()


def test_channel_shuffle_by_hand():
    x = channels_as_values(c=8)
    # 4 groups of 2: (0 1)(2 3)(4 5)(6 7) -> the first of every group, then the second of every group.
    assert channel_shuffle(x, 4)[0, :, 0, 0].tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert channel_shuffle(x, 2)[0, :, 0, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    assert torch.equal(channel_shuffle(x, 1), x)


class Recorder(nn.Module):
    """A stand-in mixed op: remembers its input, returns 10 x input."""

    def forward(self, x, weights):
        self.seen = x.clone()
        return 10 * x


def test_sampled_channels_pass_through_the_ops_and_the_rest_bypass_them():
    x = channels_as_values(c=8)
    rec = Recorder()
    out = PartialChannels(rec, k=4, stride=1)(x, torch.ones(1))
    assert rec.seen[0, :, 0, 0].tolist() == [0, 1]      # the first C/K = 2 channels go through the op
    # Before the shuffle: [10*0, 10*1, 2, 3, 4, 5, 6, 7]; shuffled in 4 groups as above.
    assert out[0, :, 0, 0].tolist() == [0, 2, 4, 6, 10, 3, 5, 7]


def test_reducing_edge_max_pools_the_bypassed_channels():
    x = torch.arange(2 * 16, dtype=torch.float32).view(1, 2, 4, 4)

    class Halve(nn.Module):
        def forward(self, x, weights):
            return x[:, :, ::2, ::2] * 0 - 1   # -1 everywhere, at half the resolution

    out = PartialChannels(Halve(), k=2, stride=2)(x, torch.ones(1))
    # Channel 1 holds 16..31 row by row; 2x2 max pools give 21, 23, 29, 31. Shuffle of 2 groups of 1: same order.
    assert out.shape == (1, 2, 2, 2)
    assert out[0, 0].flatten().tolist() == [-1, -1, -1, -1]
    assert out[0, 1].flatten().tolist() == [21, 23, 29, 31]


def test_a_pc_supernet_builds_its_ops_at_c_over_k():
    net = Supernet(SearchSpace(edge_norm=True), channels=8, layers=3, partial_channels=4)
    first = net.cells[0].edges[0]
    assert isinstance(first, PartialChannels) and first.k == 4
    sep = first.mixed.ops[first.mixed.candidates.index("sep_conv_3x3")]
    assert [m.in_channels for m in sep.modules() if isinstance(m, nn.Conv2d)][0] == 2   # 8 / 4
    x = torch.randn(2, 3, 16, 16)
    assert net(x).shape == (2, 10)
    with pytest.raises(ZooError, match="channels 10 do not split into 1/4"):
        Supernet(SearchSpace(), channels=10, layers=3, partial_channels=4)


def test_edge_normalization_by_hand():
    norm = EdgeNormalization(nodes=2)            # node 0 reads states 0, 1; node 1 reads 0, 1, 2
    betas = torch.tensor([0.0, math.log(3), 0.0, 0.0, math.log(2)])
    assert norm.weights(betas).tolist() == pytest.approx([0.25, 0.75, 0.25, 0.25, 0.5])


def _logits(*probs):
    return [math.log(p) for p in probs]


def small_pc_supernet():
    space = SearchSpace(candidates=("none", "skip_connect", "sep_conv_3x3"), nodes=2, edge_norm=True)
    net = Supernet(space, channels=4, layers=3, partial_channels=2)
    with torch.no_grad():
        for t in space.cell_types:
            # softmax rows: edges (2,0) (2,1) (3,0) (3,1) (3,2)
            net.alphas[t].copy_(torch.tensor([_logits(0.1, 0.1, 0.8), _logits(0.1, 0.7, 0.2),
                                              _logits(0.2, 0.2, 0.6), _logits(0.25, 0.5, 0.25),
                                              _logits(0.3, 0.3, 0.4)]))
            net.betas[t].copy_(torch.tensor([0.0, 0.0] + _logits(0.2, 0.2, 0.6)))
    return net


def test_derivation_ranks_edges_by_op_weight_times_edge_weight():
    net = small_pc_supernet()
    g = net.genotype()
    for t in ("normal", "reduce"):
        nodes = [[(e.op, e.input) for e in node] for node in g.cells[t].nodes]
        # node 0: 0.8 * 0.5 = 0.40 (sep<0), 0.7 * 0.5 = 0.35 (skip<1)
        # node 1: 0.6 * 0.2 = 0.12 (sep<0), 0.5 * 0.2 = 0.10 (skip<1), 0.4 * 0.6 = 0.24 (sep<2)
        assert nodes == [[("sep_conv_3x3", 0), ("skip_connect", 1)], [("sep_conv_3x3", 2), ("sep_conv_3x3", 0)]]
    # Without the betas' weights node 1 would keep sep<0 (0.6) and skip<1 (0.5).
    with torch.no_grad():
        for b in net.betas.values():
            b.zero_()
    assert [(e.op, e.input) for e in net.genotype().cells["normal"].nodes[1]] == [
        ("sep_conv_3x3", 0), ("skip_connect", 1)]


def test_edge_weights_scale_whole_edge_outputs():
    net = small_pc_supernet().eval()
    cell = net.cells[0]
    s0 = torch.randn(2, cell.preprocess0[1].in_channels, 8, 8)
    w, scales = net.edge_weights("normal"), net.edge_scales("normal")
    assert scales.tolist() == pytest.approx([0.5, 0.5, 0.2, 0.2, 0.6])
    with torch.no_grad():
        out = cell(s0, s0, w, scales)
        a, b = cell.preprocess0(s0), cell.preprocess1(s0)
        n0 = 0.5 * cell.edges[0](a, w[0]) + 0.5 * cell.edges[1](b, w[1])
        n1 = 0.2 * cell.edges[2](a, w[2]) + 0.2 * cell.edges[3](b, w[3]) + 0.6 * cell.edges[4](n0, w[4])
    torch.testing.assert_close(out, torch.cat([n0, n1], 1), rtol=1e-6, atol=1e-6)


def test_none_is_not_run_and_the_result_is_unchanged():
    torch.manual_seed(0)
    ops = zoo.get_op_set("darts")
    for stride in (1, 2):
        mixed = MixedOp(ops, ("none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"), 4, stride)
        calls = []
        for m in mixed.modules():
            if isinstance(m, Zero):
                m.register_forward_hook(lambda *a: calls.append(1))
        x = torch.randn(2, 4, 8, 8)
        alphas = torch.randn(4, requires_grad=True)
        w = torch.softmax(alphas, 0)
        got = mixed(x, w)
        assert calls == []
        want = sum(wi * op(x) for wi, op in zip(w, mixed.ops))    # every op, `none` included
        assert calls == [1]
        assert torch.equal(got, want)
        g_got = torch.autograd.grad(got.sum(), alphas, retain_graph=True)[0]
        g_want = torch.autograd.grad(want.sum(), alphas)[0]
        torch.testing.assert_close(g_got, g_want, rtol=0, atol=1e-7)
    # An edge left with `none` only still gives a zero tensor of the right shape.
    only = MixedOp(ops, ("none",), 4, 2)
    assert torch.equal(only(torch.randn(2, 4, 8, 8), torch.ones(1)), torch.zeros(2, 4, 4, 4))


def test_pdarts_pruned_ops_are_not_built():
    space = SearchSpace()
    kept = ("none", "skip_connect", "sep_conv_3x3")
    cands = {t: [kept] * space.num_edges for t in space.cell_types}
    net = build_stage(space, stage_plan(cells=(3, 3), ops=(8, 3), skip_dropout=None)[1], cands, channels=4)
    for cell in net.cells:
        for edge in cell.edges:
            assert edge.candidates == kept and len(edge.ops) == 3
    full = build_stage(space, stage_plan(cells=(3, 3), ops=(8, 3), skip_dropout=None)[0], None, channels=4)
    assert sum(p.numel() for p in net.weight_parameters()) < sum(p.numel() for p in full.weight_parameters())


def test_pc_darts_recipe_is_the_papers():
    r = get_recipe("pc_darts")
    assert (r.partial_channels, r.edge_norm, r.strategy) == (4, True, "first_order")
    assert (r.layers, r.channels, r.nodes, r.epochs, r.batch_size) == (8, 16, 4, 50, 256)
    assert (r.w_lr, r.w_lr_min, r.w_momentum, r.w_wd, r.grad_clip) == (0.1, 0.001, 0.9, 3e-4, 5.0)
    assert (r.a_lr, tuple(r.a_betas), r.a_wd, r.warmup_epochs) == (6e-4, (0.5, 0.999), 1e-3, 15)
    with pytest.raises(ZooError, match="channels 18 do not split into 1/4 parts"):
        apply_overrides(r, {"channels": 18})
    with pytest.raises(ZooError, match="edge_norm and stretchable"):
        apply_overrides(r, {"stretchable": True})


@pytest.mark.slow
def test_pc_darts_digits_search_writes_a_genotype_the_zoo_builds(tmp_path):
    out = run_search("pc_darts", data="digits", out=tmp_path / "pc.yaml", seed=0, progress=False,
                     log=lambda line: None, threads=1,
                     overrides={"epochs": 2, "warmup_epochs": 1, "subset": 48, "batch_size": 16, "layers": 3,
                                "channels": 8, "nodes": 2})
    g = zoo.load_genotype(out)
    assert g.search["settings"]["partial_channels"] == 4 and g.search["settings"]["edge_norm"] is True
    assert set(g.search["betas"]) == {"normal", "reduce"} and len(g.search["betas"]["normal"]) == 5
    model = zoo.create_model(out, layers=3, channels=8)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    history = (tmp_path / "pc.history.json").read_text()
    assert '"edge_scales"' in history and (tmp_path / "pc.betas.png").exists()
