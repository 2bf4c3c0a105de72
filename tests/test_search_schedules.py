"""Cosine Power Annealing (sharpDARTS eq. 2) by hand."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.schedules import cosine_power_annealing, cosine_power_scheduler


def test_cosine_power_annealing_by_hand():
    # Ends at lr_max and lr_min; p = 1 is plain cosine annealing.
    assert cosine_power_annealing(0, 100, 0.025, 1e-8, p=2) == pytest.approx(0.025)
    assert cosine_power_annealing(100, 100, 0.025, 1e-8, p=2) == pytest.approx(1e-8)
    assert cosine_power_annealing(30, 100, 0.1, 0.0, p=1) == pytest.approx(0.05 * (1 + math.cos(0.3 * math.pi)))
    # Halfway, p = 2: (2^(0.5 + 1) - 2) / (4 - 2) = sqrt(2) - 1 of the range.
    assert cosine_power_annealing(50, 100, 1.0, 0.0, p=2) == pytest.approx(math.sqrt(2) - 1)
    # A larger p decays faster through the middle epochs.
    assert cosine_power_annealing(50, 100, 1.0, 0.0, p=10) < cosine_power_annealing(50, 100, 1.0, 0.0, p=2)
    # p <= 0 has no meaning in eq. 2.
    for p in (0.0, -2.0):
        with pytest.raises(ValueError, match="p > 0"):
            cosine_power_annealing(10, 100, 1.0, 0.0, p=p)


def test_cosine_power_scheduler_drives_an_optimizer():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = cosine_power_scheduler(opt, epochs=10, p=2)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.5)
    assert lrs[5] == pytest.approx(0.5 * (math.sqrt(2) - 1))
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_warm_up_ramps_then_anneals_over_the_rest_by_hand():
    # 5 warm-up epochs of 15, lr 0.025 -> 1e-4: epoch t < 5 at 1e-4 + (0.025 - 1e-4)(t + 1)/5; epoch 5
    # starts eq. 2 at 0 of 10 (lr_max), epoch 10 is its middle (sqrt(2) - 1 of the range).
    lr = [cosine_power_annealing(t, 15, 0.025, 1e-4, p=2, warmup=5) for t in range(15)]
    assert lr[:5] == pytest.approx([1e-4 + 0.0249 * k / 5 for k in range(1, 6)])
    assert lr[5] == pytest.approx(0.025)
    assert lr[10] == pytest.approx(1e-4 + 0.0249 * (math.sqrt(2) - 1))
    assert lr[4] == lr[5]  # the ramp ends where the annealing begins
    with pytest.raises(ValueError, match="leaves no epoch"):
        cosine_power_annealing(0, 5, 0.025, 1e-4, warmup=5)


def test_sharpdarts_recipes_warm_up_five_epochs_and_scale_it_with_epochs():
    from zoo.errors import ZooError
    from zoo.search.recipes import apply_overrides, get_recipe
    for name in ("sharpdarts", "sharpsepconv_darts", "hypercuboid"):
        r = get_recipe(name)
        assert (r.lr_schedule, r.lr_warmup_epochs, r.epochs) == ("cosine_power", 5, 60)
        assert apply_overrides(r, {"epochs": 12}).lr_warmup_epochs == 1
        assert apply_overrides(r, data="digits").lr_warmup_epochs == 1
    with pytest.raises(ZooError, match="cosine_power option"):
        apply_overrides(get_recipe("darts_v1"), {"lr_warmup_epochs": 2})
    with pytest.raises(ZooError, match="leaves no epoch to anneal"):
        apply_overrides(get_recipe("sharpdarts"), {"lr_warmup_epochs": 60})


def test_search_schedule_runs_the_warm_up():
    from zoo.search import SCHEDULES
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.025)
    sched = SCHEDULES.get("cosine_power")(opt, 15, 1e-4, 2.0, warmup=5)
    lrs = []
    for _ in range(15):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([cosine_power_annealing(t, 15, 0.025, 1e-4, 2.0, 5) for t in range(15)])
