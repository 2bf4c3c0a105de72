"""DARTS- (Chu et al., 'DARTS-: Robustly Stepping out of Performance Collapse Without Indicators',
ICLR 2021, arXiv:2009.01027, sec. 3, Fig. 1, Alg. 1): an auxiliary skip connection on every mixed
edge, outside the softmax, whose weight beta decays to 0 over the search,

    x_j = sum_{i<j} [ sum_o softmax(alpha_{i,j})_o o(x_i) + beta * skip(x_i) ],

so that the skip_connect candidate no longer has to carry the residual path that makes it win
(the 'unfair advantage' behind DARTS' collapse); at the end of the search beta is 0 and the
supernet is DARTS' again.

The supernet builds the auxiliary skip (`Supernet(aux_skip=beta_0)`, search/supernet.py); this
module is the recipe. Where the authors' code (Meituan-AutoML/DARTS-) decides what the paper
leaves open, we follow it:

- beta_0 = 1 (scripts/run_darts_minus.sh: `beta=1`, `--skip_beta $beta`);
- linear decay, stepped at the start of each epoch with the 0-based epoch e:
  beta = beta_0 * (T - e) / T, T = 50 = the epochs (src/utils.py `DecayScheduler`, `linear`;
  src/search/train_search.py calls `beta_decay_scheduler.step(epoch)` first thing in each epoch);
  the supernet's `beta_0 * (1 - e / epochs)` is the same;
- every MixedOp gets one, reduction edges too: identity at stride 1, FactorizedReduce(C, C,
  affine=False) at stride 2 (src/search/model_search.py `MixedOp`); the stride-2 one has 1x1 convs
  that train with the weights;
- the skip is also there when the supernet is evaluated between epochs (the code adds it in every
  forward pass);
- first order (`--unrolled` not passed), DARTS' CIFAR-10 settings (src/search/args.py defaults:
  50 epochs, batch 64, SGD 0.025 to 0.001, momentum 0.9, wd 3e-4, clip 5, Adam 3e-4 (0.5, 0.999)
  wd 1e-3, half/half split, 8 cells, C 16, 4 nodes).

Not checked: whether the code's DARTS space (its `s5`, which its README calls S0) lists `none`
(src/spaces.py was not readable); the recipe keeps DARTS' 8 ops.
"""

from __future__ import annotations

from .recipes import _DARTS_SOURCE, _DIGITS_SINGLE, SearchRecipe, register_recipe

AUX_SKIP_BETA0 = 1.0  # the authors' run script

register_recipe(SearchRecipe(
    name="darts_minus", strategy="first_order", aux_skip=AUX_SKIP_BETA0,
    source=("DARTS- (Chu et al., 'DARTS-: Robustly Stepping out of Performance Collapse Without Indicators', "
            "ICLR 2021, arXiv:2009.01027, sec. 3, Alg. 1): an auxiliary skip beta * skip(x) on every edge "
            "(identity; FactorizedReduce on reduction edges), beta from 1 decaying linearly to 0 over the "
            "search (beta = 1 - epoch / 50, the authors' code Meituan-AutoML/DARTS-, src/utils.py "
            "DecayScheduler and scripts/run_darts_minus.sh); first order; " + _DARTS_SOURCE),
    eval_drop_path=0.2, digits=_DIGITS_SINGLE))
