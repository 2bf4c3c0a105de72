"""The search steps as the methods' authors compute them, pinned by values worked out by hand.

A two-class toy model keeps every gradient small enough to do on paper: logits = k * alpha + x @ w,
with alpha and w starting at zero, batches of one sample. Cross-entropy with target 0 then has
d loss / d logits = softmax(logits) - (1, 0), which at logits 0 is (-1/2, 1/2).

1. P-DARTS clips the alpha gradient to norm 5 before its Adam step (the authors' search loop).
2. MiLeNAS steps the alphas first, then the weights on a fresh L_train pass at the updated alphas.
3. MiLeNAS does not clip the weights (the authors' weight step clips the alphas instead).
"""

import math

import pytest
import torch
import torch.nn as nn

import zoo
from zoo.search.recipes import RECIPES, apply_overrides, get_recipe
from zoo.search.strategies import make_strategy
from search_helpers import TINY, search

SIGMA1 = 1 / (1 + math.exp(-1.0))   # softmax((1/2, -1/2))[0] = sigmoid(1) = 0.7310585786...


class Toy(nn.Module):
    """logits = k * alpha + x @ w (alpha: 1 x 2, w: 2 x 2), with the supernet's interface."""

    def __init__(self, k: float = 1.0):
        super().__init__()
        self.k = k
        self.alpha = nn.Parameter(torch.zeros(1, 2, dtype=torch.float64))
        self.w = nn.Parameter(torch.zeros(2, 2, dtype=torch.float64))
        self.forwards = 0

    def arch_parameters(self):
        return [self.alpha]

    def weight_parameters(self):
        return [self.w]

    def forward(self, x):
        self.forwards += 1
        return self.k * self.alpha + x @ self.w


def _batch(x0: float, x1: float = 0.0, target: int = 0):
    return torch.tensor([[x0, x1]], dtype=torch.float64), torch.tensor([target])


def _flat(t):
    return t.detach().flatten().tolist()


def _strategy(recipe, net, w_lr=0.1, a_lr=0.5, **extra):
    """The strategy as search/run.py builds it from a recipe (plain SGD and Adam, no decay, so the
    steps stay hand-computable)."""
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=w_lr)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=a_lr, betas=(0.5, 0.999))
    kwargs = {**dict(recipe.strategy_kwargs), **extra}
    return make_strategy(recipe.strategy, net, w_opt, a_opt, grad_clip=recipe.grad_clip, **kwargs)


# ----------------------------------------------------------------------------- 1. P-DARTS alpha clip
@pytest.mark.parametrize("name", ["pdarts", "pdarts_3b", "pdarts_n3_2g"])
def test_pdarts_recipes_clip_the_alpha_gradient_to_norm_5(name):
    recipe = get_recipe(name)
    assert recipe.strategy == "first_order" and dict(recipe.strategy_kwargs) == {"arch_grad_clip": 5.0}
    net = Toy(k=10.0)
    strategy = _strategy(recipe, net)
    # grad_alpha L_val = k * (-1/2, 1/2) = (-5, 5): norm 5 sqrt(2) = 7.07 > 5, clipped to norm 5,
    # i.e. (-5, 5) / sqrt(2) = (-3.5355, 3.5355). (clip_grad_norm_ divides by norm + 1e-6.)
    strategy.arch_step(_batch(1.0), _batch(1.0))
    g = net.alpha.grad[0].tolist()
    assert g == pytest.approx([-5 / math.sqrt(2), 5 / math.sqrt(2)], rel=1e-6)
    assert math.hypot(*g) == pytest.approx(5.0, rel=1e-6)


def test_the_alpha_clip_leaves_small_gradients_and_darts_alone():
    # Below the cap nothing changes: k = 2 gives (-1, 1), norm 1.41.
    net = Toy(k=2.0)
    _strategy(get_recipe("pdarts"), net).arch_step(_batch(1.0), _batch(1.0))
    assert net.alpha.grad[0].tolist() == [-1.0, 1.0]
    # DARTS clips no alpha gradient: (-5, 5) stays.
    for name in ("darts_v1", "darts_v2"):
        assert "arch_grad_clip" not in get_recipe(name).strategy_kwargs
    net = Toy(k=10.0)
    _strategy(get_recipe("darts_v1"), net).arch_step(_batch(1.0), _batch(1.0))
    assert net.alpha.grad[0].tolist() == [-5.0, 5.0]


# ----------------------------------------------------------------------------- 2. MiLeNAS step order
def test_milenas_weight_gradient_is_taken_at_the_updated_alphas():
    net = Toy(k=1.0)
    strategy = _strategy(get_recipe("milenas"), net)
    stats = strategy.step(_batch(1.0), _batch(1.0))
    # Alphas first: grad = grad L_train + 1 * grad L_val = (-1/2, 1/2) + (-1/2, 1/2) = (-1, 1);
    # Adam's first step moves each entry by lr * g / (|g| + 1e-8) = 0.5: alpha = (1/2, -1/2).
    assert net.alpha.grad[0].tolist() == [-1.0, 1.0]
    assert net.alpha[0].tolist() == pytest.approx([0.5, -0.5], rel=1e-7)
    # Then a fresh L_train pass at the new alphas: logits (1/2, -1/2), softmax (s, 1 - s) with
    # s = sigmoid(1), so d loss / d w = x^T (s - 1, 1 - s) with x = (1, 0).
    assert _flat(net.w.grad) == pytest.approx([SIGMA1 - 1, 1 - SIGMA1, 0.0, 0.0], rel=1e-7)
    assert _flat(net.w) == pytest.approx([-0.1 * (SIGMA1 - 1), -0.1 * (1 - SIGMA1), 0.0, 0.0], rel=1e-7)
    # The reported training loss is that pass's: -log s.
    assert stats["train_loss"] == pytest.approx(-math.log(SIGMA1), rel=1e-7)
    assert stats["val_loss"] == pytest.approx(math.log(2), rel=1e-12)
    # Three forward passes per step (train, val, train), as in the authors' loop.
    assert net.forwards == 3


def test_one_pass_option_takes_the_weight_gradient_before_the_alpha_update():
    net = Toy(k=1.0)
    strategy = _strategy(get_recipe("milenas"), net, one_pass=True)
    assert strategy.one_pass and not _strategy(get_recipe("milenas"), Toy()).one_pass
    strategy.step(_batch(1.0), _batch(1.0))
    # Same alpha step, but the weight gradient is the one at alpha = 0: x^T (-1/2, 1/2).
    assert net.alpha[0].tolist() == pytest.approx([0.5, -0.5], rel=1e-7)
    assert _flat(net.w.grad) == [-0.5, 0.5, 0.0, 0.0]
    assert net.forwards == 2


# ----------------------------------------------------------------------------- 3. MiLeNAS weight clip
def test_milenas_recipes_do_not_clip_the_weights():
    for name in ("milenas", "milenas_sc"):
        assert get_recipe(name).grad_clip is None
    net = Toy(k=1.0)
    _strategy(get_recipe("milenas"), net).step(_batch(20.0), _batch(1.0))
    # As above with x = (20, 0): d loss / d w = 20 (s - 1, 1 - s) in its first row, norm
    # 20 sqrt(2) (1 - s) = 7.61 > 5, and it is applied unclipped.
    g = 20 * (1 - SIGMA1)
    assert _flat(net.w.grad) == pytest.approx([-g, g, 0.0, 0.0], rel=1e-7)
    assert math.hypot(g, g) > 7.6
    assert _flat(net.w) == pytest.approx([0.1 * g, -0.1 * g, 0.0, 0.0], rel=1e-7)


def test_grad_clip_override_turns_the_weight_clip_back_on():
    recipe = apply_overrides(get_recipe("milenas"), {"grad_clip": 5})
    assert recipe.grad_clip == 5.0
    net = Toy(k=1.0)
    _strategy(recipe, net).step(_batch(20.0), _batch(1.0))
    # Clipped to norm 5: (-5, 5) / sqrt(2) in the first row.
    assert _flat(net.w.grad) == pytest.approx([-5 / math.sqrt(2), 5 / math.sqrt(2), 0.0, 0.0], rel=1e-6)
    # ... and 0 (what `--grad-clip 0` passes) or "none" turns it off in a recipe that clips.
    assert get_recipe("darts_v1").grad_clip == 5.0
    assert apply_overrides(get_recipe("darts_v1"), {"grad_clip": 0}).grad_clip == 0.0
    assert apply_overrides(get_recipe("darts_v1"), {"grad_clip": "none"}).grad_clip is None


# ----------------------------------------------------------------------------- the plain recipe
def test_plain_milenas_recipe_is_the_authors_setting():
    r = get_recipe("milenas")
    assert (r.strategy, r.op_set, r.candidates, r.nodes, r.stretchable) == ("mixed_level", "darts", None, 4, False)
    assert (r.layers, r.channels, r.epochs, r.batch_size, r.train_fraction) == (8, 16, 50, 64, 0.5)
    assert (r.w_lr, r.w_lr_min, r.w_momentum, r.w_wd) == (0.025, 0.001, 0.9, 3e-4)
    assert (r.a_lr, r.a_betas, r.a_wd) == (3e-4, (0.5, 0.999), 1e-3)
    assert dict(r.strategy_kwargs) == {"lam": 1.0} and r.grad_clip is None
    assert "arXiv:2003.12238" in r.source
    d = apply_overrides(r, {}, data="digits")
    assert d.subset == 512 and d.layers == 5 and d.grad_clip is None and d.strategy == "mixed_level"
    assert set(RECIPES) >= {"milenas", "milenas_sc"}


@pytest.mark.slow
def test_milenas_search_records_its_step_settings(tmp_path):
    path = search(tmp_path, "milenas", recipe="milenas", overrides=TINY, epochs=1)
    g = zoo.load_genotype(path)
    settings = g.search["settings"]
    assert settings["grad_clip"] is None and settings["strategy_kwargs"] == {"lam": 1.0}
    assert settings["strategy"] == "mixed_level" and all(len(c.nodes) == 2 for c in g.cells.values())
