"""A fixed-seed digits search writes a genotype file byte-identical to the pinned one.

The pin is the whole file: cells, alphas to 6 decimals, the search record and the recipe's
settings. It changes only with deliberate changes, each named in its commit. Cells and alphas
changed once, on purpose: the digits preset's scaled alphas' learning rate (`digits_arch_lr`: a_lr
0.0006 -> 0.219 for this recipe; the alphas now move by up to 0.68 instead of 0.003). Every other
change was a settings line only: new recipe fields at their defaults (the search components, the
stretchable-cells and thesis-ablation fields, the sharpDARTS fields, PC-DARTS' partial channels and
edge normalization, GDAS' Nesterov momentum and BN-ReLU head, the skip-collapse methods' mixing, regularizer,
perturbation, auxiliary skip and stage options, DrNAS' weight carry), the source citations, and P-DARTS' alpha-gradient
clip (in this search the alpha gradients' norm stays below 0.07, so the clip never acts). Bit-exact CPU results hold for one torch
build; under another build the cells and alphas must still agree."""

import difflib
from pathlib import Path

import pytest
import torch

import zoo
from zoo.search import run_search

PINNED = Path(__file__).parent / "data" / "pinned_digits_search.yaml"
PINNED_TORCH = "2.14.1"
SETTINGS = dict(recipe="pdarts_3b", data="digits", seed=0, epochs=2,
                overrides={"channels": 4, "stage_layers": "3,3,3", "subset": 96, "batch_size": 16})


@pytest.mark.slow
def test_fixed_seed_digits_search_matches_the_pinned_file(tmp_path):
    out = run_search(out=tmp_path / PINNED.name, progress=False, log=lambda line: None, threads=1, **SETTINGS)
    if torch.__version__.split("+")[0] == PINNED_TORCH:
        got, want = out.read_text(), PINNED.read_text()
        assert got == want, "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                                         "pinned", "this run", n=1))
    else:
        got, want = zoo.load_genotype(out), zoo.load_genotype(PINNED)
        assert got.cells == want.cells
        for ct, rows in want.search["alphas"].items():
            flat = [v for row in rows for v in row]
            assert [v for row in got.search["alphas"][ct] for v in row] == pytest.approx(flat, abs=1e-3)
