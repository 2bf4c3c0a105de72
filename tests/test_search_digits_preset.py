"""The digits presets scale the alphas' learning rate to their few architecture steps, so that a
laptop search ends with op weights that have moved (not within 1 % of uniform)."""

from __future__ import annotations

import json

import pytest

from zoo.data import load_dataset
from zoo.search import run_search
from zoo.search.recipes import (DIGITS_TRAIN_IMAGES, RECIPES, apply_overrides, arch_steps, digits_arch_lr,
                                get_recipe)
from zoo.search.separation import top_over_uniform


def test_digits_train_split_size_is_the_datasets():
    assert DIGITS_TRAIN_IMAGES == len(load_dataset("digits", "train", None))


def test_darts_arch_steps_and_scaled_rate_by_hand():
    paper = get_recipe("darts_v1")
    # CIFAR-10: 25,000 images for the weights at batch 64 -> 390 steps, 50 epochs.
    assert arch_steps(paper, 50_000) == 50 * 390
    digits = apply_overrides(paper, data="digits")
    # Digits preset: 512 images, 256 for the weights at batch 32 -> 8 steps, 4 epochs.
    assert arch_steps(digits, DIGITS_TRAIN_IMAGES) == 4 * 8
    assert digits.a_lr == pytest.approx(0.183) == digits_arch_lr(paper, digits)
    assert 3e-4 * 19_500 / 32 == pytest.approx(0.1828, abs=1e-4)


def test_staged_recipes_count_only_the_epochs_after_warm_up():
    paper = get_recipe("pdarts")
    stages = paper.stage_plan()
    per_epoch = 25_000 // paper.batch_size
    assert arch_steps(paper, 50_000) == sum((s.epochs - s.warmup_epochs) * per_epoch for s in stages)
    assert len(stages) == 3 and stages[0].epochs - stages[0].warmup_epochs == 15


def test_preset_or_user_rate_wins_over_the_scaled_one():
    paper = get_recipe("darts_v1")
    assert apply_overrides(paper, {"a_lr": 0.01}, data="digits").a_lr == 0.01
    assert apply_overrides(paper).a_lr == 3e-4  # the paper setting is untouched


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_digits_preset_has_a_rate_in_range(name):
    r = apply_overrides(RECIPES[name], data="digits")
    assert RECIPES[name].a_lr < r.a_lr <= 1.0


def test_top_over_uniform_by_hand():
    # Edge 1: uniform over 4 -> 1. Edge 2: (0.5, 0.25, 0.25) -> 1.5. Single-candidate edges are skipped.
    got = top_over_uniform({"normal": [[0.25] * 4, [0.5, 0.25, 0.25]], "reduce": [[1.0]]})
    assert got == {"mean": 1.25, "min": 1.0}


def test_scaled_digits_search_moves_the_alphas(tmp_path):
    tiny = {"channels": 4, "layers": 3, "nodes": 2, "subset": 96, "batch_size": 16, "epochs": 2}

    def separation(a_lr=None):
        out = run_search("darts_v1", data="digits", out=tmp_path / f"s{a_lr}.yaml", seed=1, progress=False,
                         log=lambda line: None, overrides=dict(tiny, **({"a_lr": a_lr} if a_lr else {})))
        records = json.loads(out.with_name(out.stem + ".history.json").read_text())["records"]
        return records[-1]["top_over_uniform"]["mean"]

    assert separation(3e-4) < 1.01 < 1.3 < separation()
