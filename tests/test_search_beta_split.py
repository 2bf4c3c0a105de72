"""Separate data for the alphas and the betas (stretchable-cells paper, 'Results on ImageNet dataset':
D_tr, D_val_alpha and D_val_beta of equal size): the alphas step on one batch, the betas on another."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import zoo
from zoo.errors import ZooError
from zoo.search import run_search
from zoo.search.batches import split_alpha_beta, split_indices
from zoo.search.recipes import apply_overrides, get_recipe
from zoo.search.strategies import make_strategy

from search_helpers import synthetic


class TwoLogits(nn.Module):
    """logits = (alpha * x, beta * x) for a scalar image x: every gradient is a line of algebra."""

    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(()))
        self.beta = nn.Parameter(torch.zeros(()))
        self.w = nn.Parameter(torch.ones(()))

    def arch_parameters(self):
        return [self.alpha, self.beta]

    def weight_parameters(self):
        return [self.w]

    def forward(self, x):
        x = x.reshape(-1) * self.w
        return torch.stack([self.alpha * x, self.beta * x], dim=1)


def _arch_grads(beta_split: bool, strategy: str = "first_order"):
    net = TwoLogits()
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.0)
    a_opt = torch.optim.SGD(net.arch_parameters(), lr=0.0)
    s = make_strategy(strategy, net, w_opt, a_opt, beta_params=[net.beta] if beta_split else [])
    train = (torch.tensor([[1.0]]), torch.tensor([0]))
    val = (torch.tensor([[2.0]]), torch.tensor([0]))
    beta = (torch.tensor([[4.0]]), torch.tensor([1]))
    stats = s.arch_step(train, val, beta)
    return float(net.alpha.grad), float(net.beta.grad), stats


def test_first_order_alphas_on_their_batch_betas_on_theirs():
    # At alpha = beta = 0 both classes have p = 1/2. For one image x with label 0:
    # dL/dalpha = -(1 - p0) x = -x/2 and dL/dbeta = p1 x = x/2; with label 1 the signs swap.
    # val batch (x=2, y=0): dalpha = -1 (and dbeta = +1); beta batch (x=4, y=1): dbeta = -2.
    a, b, stats = _arch_grads(beta_split=True)
    assert (a, b) == pytest.approx((-1.0, -2.0))
    assert stats["val_loss"] == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert "beta_val_loss" in stats
    # Without the split both come from the val batch and the beta batch is ignored.
    a, b, _ = _arch_grads(beta_split=False)
    assert (a, b) == pytest.approx((-1.0, 1.0))


def test_mixed_level_adds_the_training_term_to_each_group():
    # MiLeNAS: grad = grad L_train + grad L_val. Train (x=1, y=0): dalpha = -1/2, dbeta = +1/2.
    a, b, _ = _arch_grads(beta_split=True, strategy="mixed_level")
    assert (a, b) == pytest.approx((-0.5 - 1.0, 0.5 - 2.0))


def test_second_order_split_matches_first_order_at_zero_lr():
    # With xi = lr = 0 the unrolled step is the plain one and the Hessian term vanishes.
    net = TwoLogits()
    s = make_strategy("second_order", net, torch.optim.SGD([net.w], lr=0.0), torch.optim.SGD(net.arch_parameters(), lr=0.0),
                      beta_params=[net.beta])
    s.arch_step((torch.tensor([[1.0]]), torch.tensor([0])), (torch.tensor([[2.0]]), torch.tensor([0])),
                (torch.tensor([[4.0]]), torch.tensor([1])))
    assert (float(net.alpha.grad), float(net.beta.grad)) == pytest.approx((-1.0, -2.0), abs=1e-5)


def test_the_alphas_share_is_halved_disjointly():
    w, a = split_indices(90, 1 / 3, seed=1, subset=None)
    va, vb = split_alpha_beta(a)
    assert (len(w), len(va), len(vb)) == (30, 30, 30)
    assert not set(va) & set(vb) and set(va) | set(vb) == set(a)
    with pytest.raises(ZooError, match="cannot be split"):
        split_alpha_beta([1, 2, 3])


@pytest.mark.parametrize("recipe, overrides, message", [
    ("darts_v1", {"beta_split": True}, "needs topology variables"),
    ("darts_v1", {"beta_split": True, "stretchable": True, "strategy": "one_level"}, "uses the alphas' data"),
    ("milenas_sc", {"beta_split": True, "strategy_kwargs": {"one_pass": True}}, "drop one_pass"),
])
def test_beta_split_refuses_what_it_cannot_do(recipe, overrides, message):
    with pytest.raises(ZooError, match=message):
        apply_overrides(get_recipe(recipe), overrides)


def test_a_stretchable_search_with_split_data_runs(tmp_path):
    lines = []
    out = run_search("milenas_sc", data="digits", out=tmp_path / "split.yaml", epochs=1, seed=3,
                     dataset=synthetic(), progress=False, log=lines.append,
                     overrides={"channels": 4, "layers": 3, "nodes": 3, "batch_size": 4, "beta_split": True})
    assert any("16 images for the weights, 8 for the alphas, 8 for the betas" in line for line in lines)
    g = zoo.load_genotype(out)
    assert g.search["settings"]["beta_split"] is True
