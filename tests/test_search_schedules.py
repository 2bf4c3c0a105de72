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
