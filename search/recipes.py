"""Search recipes: each paper's search setting as data, overridable field by field.

A recipe is the whole configuration of one search: the search space (op set, nodes, cell types),
the supernet size, the optimizers and, for P-DARTS, the stage plan. Every default is the paper's
(the DARTS, P-DARTS and MiLeNAS papers; the PDARTS thesis for its variants; the stretchable-cells
paper for MiLeNAS-SC), and `source` says where it comes from. Where a paper leaves a detail of the
step open, the recipe follows its authors' code (P-DARTS clips the alpha gradients to norm 5;
MiLeNAS steps the alphas before the weights and does not clip the weights); docs/search-fidelity.md
lists, per method, where the package follows the paper, the authors' code, or neither.
Command-line flags override single fields (`apply_overrides`), and `--data digits` applies the
recipe's small CPU preset so that a search runs end to end on a laptop in minutes.

Most of its length is the recipes themselves: data, each with the source it follows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..errors import ZooError, closest
from ..genotype import DEFAULT_STAGES
from ..ops import DARTS_CANDIDATES_NO_NONE, SHARPSEPCONV_CANDIDATES, get_op_set, op_set_names
from ..settings import MAX_CHANNELS, MAX_LAYERS, Domain, Setting
from .components import RULES, SCHEDULES, SPACES, STRATEGIES
from .mixing import ARCH_REGULARIZERS, MIXINGS, PERTURBATIONS
from .partial_channels import stage_partial_channels, stage_partial_channels_problem
from .pdarts import Stage, stage_plan
from .space import ABLATIONS, N3_STAGES, TOPOLOGIES
from .supernet import HEADS, WEIGHTINGS

# Fields that describe the recipe rather than configure the search (not recorded as settings).
_DESCRIPTIVE = ("name", "source", "digits")


@dataclass(frozen=True)
class SearchRecipe:
    name: str
    source: str
    strategy: str = "first_order"  # an entry of STRATEGIES
    space: str = "cell"             # an entry of SPACES
    lr_schedule: str = "cosine"     # an entry of SCHEDULES: the weights' learning rate per epoch
    lr_power: float = 2.0           # p of cosine power annealing (lr_schedule "cosine_power"; sharpDARTS eq. 2)
    lr_warmup_epochs: int = 0       # cosine_power only: linear ramp epochs before the annealing (sharpDARTS' code: 5)
    # --- search space
    op_set: str = "darts"
    candidates: Optional[tuple[str, ...]] = None  # None: the op set's paper candidates
    nodes: int = 4
    stages: tuple[str, ...] = DEFAULT_STAGES
    stretchable: bool = False
    c_mid: Optional[int] = None  # op set option c_mid (sharp: the choke width); None: the op set's default
    # --- supernet
    weighting: str = "scalar"  # how op outputs are mixed: "scalar" (DARTS) or "max_w" (sharpDARTS eq. 3)
    layers: int = 8
    channels: int = 16
    # --- schedule (per stage for staged recipes)
    epochs: int = 50
    batch_size: int = 64
    train_fraction: float = 0.5  # share of the train split that trains the weights; the rest the alphas
    subset: Optional[int] = None  # use only this many training images (None: all)
    cutout: int = 0  # cutout square side in the search's training transform (0: none)
    autoaugment: bool = False  # AutoAugment's CIFAR-10 policy in the search's training transform
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_nesterov: bool = False  # Nesterov momentum for the weights (GDAS' code)
    w_wd: float = 3e-4
    grad_clip: Optional[float] = 5.0  # max norm of the weight gradients; None or 0: no clip
    a_lr: float = 3e-4
    a_betas: tuple[float, float] = (0.5, 0.999)
    a_wd: float = 1e-3
    strategy_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # --- P-DARTS staging (empty stage_layers: one stage of `layers` cells)
    stage_layers: tuple[int, ...] = ()
    stage_ops: tuple[int, ...] = ()  # candidate ops per edge in each stage
    stage_dropout: tuple[float, ...] = ()  # skip_connect dropout at the start of each stage
    warmup_epochs: int = 0  # epochs per stage that train only the weights
    carry_alphas: bool = False  # a stage starts from the previous stage's alphas of its kept ops, Adam state too (DrNAS)
    lr_spans_stages: bool = False  # one weights' lr schedule over all stages (DrNAS), not one per stage (P-DARTS)
    carry_weights: bool = False  # a stage continues from the previous stage's weights, ops widened (DrNAS)
    # --- discretization
    rule: str = "standard"
    max_skips: Optional[int] = None  # at most this many skip_connect in the normal cells
    # --- the network the searched cell is evaluated with (written as the genotype's preset)
    eval_layers: Optional[int] = 20  # None: the search depth (the last stage's cells)
    eval_channels: int = 36
    eval_drop_path: float = 0.2
    # --- stretchable-cells variants and the thesis' op ablations
    space_ablation: Optional[str] = None  # a thesis op-set ablation (search.space.ABLATIONS) as the candidates
    topology: str = "output"              # stretchable only: output edges (eqs. 9-15) or input edges (eqs. 3-6)
    out_edges: Optional[int] = None       # stretchable only: exactly k output edges per state (eq. 10)
    eval_params_m: Optional[float] = None  # evaluation C: the one whose params (M) are nearest this budget
    beta_split: bool = False  # stretchable only: betas step on their own share of the alphas' data (ImageNet setting)
    # --- PC-DARTS (arXiv:1907.05737): 1/K of each edge's channels through the ops; edge betas
    partial_channels: int = 1  # K (1: every channel goes through the ops, as DARTS)
    edge_norm: bool = False    # one beta per edge, softmaxed over each node's inputs
    stage_partial_channels: tuple[int, ...] = ()  # K per stage (DrNAS: 6, 4); empty: partial_channels in all
    # --- the methods against skip collapse (search/mixing.py slots)
    mixing: str = "softmax"    # an entry of MIXINGS: how alphas become op weights
    mixing_kwargs: Mapping[str, Any] = field(default_factory=dict)
    arch_regularizer: Optional[str] = None  # an entry of ARCH_REGULARIZERS, added to the architecture objective
    arch_regularizer_kwargs: Mapping[str, Any] = field(default_factory=dict)
    perturbation: Optional[str] = None  # an entry of PERTURBATIONS: offsets of the mixed weights in the weight step
    perturbation_kwargs: Mapping[str, Any] = field(default_factory=dict)
    aux_skip: float = 0.0      # DARTS-' auxiliary skip weight at each stage's start, decaying to 0 (0: none)
    search_head: str = "pool"  # between the last cell and the classifier: "pool" (DARTS), "bn_relu_pool" (GDAS)
    # --- `--data digits`: a small CPU setting that keeps the recipe's method
    digits: Mapping[str, Any] = field(default_factory=dict)

    @property
    def staged(self) -> bool:
        return bool(self.stage_layers)

    def stage_plan(self) -> tuple[Stage, ...]:
        """The search's stages: P-DARTS' progressive ones, or one stage of `layers` cells."""
        if not self.staged:
            plan: tuple[Stage, ...] = (Stage(self.layers, None, 0.0, self.epochs, self.warmup_epochs),)
        else:
            plan = stage_plan(cells=self.stage_layers, ops=self.stage_ops or None,
                              skip_dropout=self.stage_dropout or None, epochs=self.epochs,
                              warmup_epochs=self.warmup_epochs)
        ks = stage_partial_channels(self.stage_partial_channels, len(plan), self.partial_channels)
        return tuple(dataclasses.replace(s, partial_channels=k) for s, k in zip(plan, ks))

    def total_epochs(self) -> int:
        return self.epochs * max(1, len(self.stage_layers))

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def settings(self) -> dict[str, Any]:
        """What configures the search (every field but the name, source and digits preset)."""
        return {k: v for k, v in self.to_dict().items() if k not in _DESCRIPTIVE}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_DARTS_SOURCE = ("DARTS (Liu, Simonyan, Yang, ICLR 2019) search setting: 8 cells, C 16, 50 epochs, "
                 "batch 64, SGD 0.025 cosine to 0.001, momentum 0.9, wd 3e-4, Adam 3e-4 (0.5, 0.999) "
                 "wd 1e-3, half/half split (arXiv:1806.09055, App. A.1.1)")
_PDARTS_SOURCE = ("P-DARTS (Chen et al., ICCV 2019): stages of 5/11/17 cells, 8 -> 5 -> 3 ops per edge, "
                  "25 epochs per stage (10 weight-only), skip dropout 0.1/0.4/0.7, C 16, batch 96, "
                  "SGD 0.025 cosine to 0, Adam 6e-4 wd 1e-3, at most 2 skips (arXiv:1904.12760; "
                  "Paganucci, \'Efficient ConvNet Architectures: Differentiable Neural Architecture Search\', ETH Zurich semester thesis 2020, sec. 3.2, App. A.1)")

# The P-DARTS authors' search loop clips the alpha gradients to norm 5 (its --grad_clip, the same
# value as the weights') before the Adam step (chenxin061/pdarts, train_search.py, train()).
_PDARTS_STRATEGY = {"arch_grad_clip": 5.0}
# MiLeNAS (He et al., CVPR 2020, arXiv:2003.12238) as its authors' search script runs it
# (chaoyanghe/MiLeNAS, search_algorithm/train_milenas.py with run_milenas.sh): DARTS' space and
# optimizer settings, lambda 1 on both losses, the alphas stepped before the weights, and no weight
# clip (the script's clip call is given the architecture parameters, whose gradients are replaced
# before they are next used).
_MILENAS_SOURCE = ("MiLeNAS (He et al., 'MiLeNAS: Efficient Neural Architecture Search via Mixed-Level "
                   "Reformulation', CVPR 2020, arXiv:2003.12238): first-order mixed-level update, alpha on "
                   "L_train + lambda L_val with lambda 1; the alphas step first, then the weights on a fresh "
                   "L_train pass, weights not clipped (the authors' search code); DARTS' space (8 ops with "
                   "none, 4 nodes), 8 cells, C 16, 50 epochs, batch 64, SGD 0.025 cosine to 0.001, momentum "
                   "0.9, wd 3e-4, Adam 3e-4 (0.5, 0.999) wd 1e-3, half/half split")

# The digits preset: 8x8 digit images upsampled to 32x32; a few hundred images, a few epochs,
# a narrow and shallow supernet. Measured: well under 10 minutes on 2 CPU cores. The preset's
# alphas' learning rate is not the paper's: `digits_arch_lr` scales it to the preset's few steps.
_DIGITS_SINGLE = dict(channels=8, layers=5, epochs=4, batch_size=32, subset=512, w_lr_min=0.001)
_DIGITS_STAGED = dict(channels=8, stage_layers=(3, 5, 5), epochs=3, warmup_epochs=1,
                      batch_size=32, subset=512)

RECIPES: dict[str, SearchRecipe] = {
    "darts_v1": SearchRecipe(
        name="darts_v1", strategy="first_order", source="first order; " + _DARTS_SOURCE,
        eval_drop_path=0.2, digits=_DIGITS_SINGLE),
    "darts_v2": SearchRecipe(
        name="darts_v2", strategy="second_order",
        source="second order (unrolled, xi = lr, finite-difference eps 0.01/||grad||); " + _DARTS_SOURCE,
        eval_drop_path=0.2, digits=_DIGITS_SINGLE),
    "pdarts": SearchRecipe(
        name="pdarts", strategy="first_order", source=_PDARTS_SOURCE,
        strategy_kwargs=dict(_PDARTS_STRATEGY),
        epochs=25, batch_size=96, w_lr=0.025, w_lr_min=0.0, a_lr=6e-4, a_wd=1e-3,
        stage_layers=(5, 11, 17), stage_ops=(8, 5, 3), stage_dropout=(0.1, 0.4, 0.7),
        warmup_epochs=10, max_skips=2, eval_drop_path=0.3, digits=_DIGITS_STAGED),
    "pdarts_3b": SearchRecipe(
        name="pdarts_3b", strategy="first_order", nodes=3,
        source=("PDARTS-3b (Paganucci, \'Efficient ConvNet Architectures: Differentiable Neural Architecture Search\', ETH Zurich semester thesis 2020, secs. 3.3.1, 4.1.1, Table A.1): "
                "P-DARTS with 3 intermediate nodes, batch 64 (the thesis searched with 32 and 64), "
                "other settings P-DARTS'; " + _PDARTS_SOURCE),
        strategy_kwargs=dict(_PDARTS_STRATEGY),
        epochs=25, batch_size=64, w_lr=0.025, w_lr_min=0.0, a_lr=6e-4, a_wd=1e-3,
        stage_layers=(5, 11, 17), stage_ops=(8, 5, 3), stage_dropout=(0.1, 0.4, 0.7),
        warmup_epochs=10, max_skips=2, eval_layers=26, eval_drop_path=0.3, digits=_DIGITS_STAGED),
    "pdarts_n3_2g": SearchRecipe(
        name="pdarts_n3_2g", strategy="first_order", stages=N3_STAGES,
        source=("PDARTS-N3-2g (Paganucci, \'Efficient ConvNet Architectures: Differentiable Neural Architecture Search\', ETH Zurich semester thesis 2020, secs. 3.3.2, 3.5, 4.3, Tables A.2 and 4.5): three normal cell "
                "types (one per block), extended stages of 11/14/17 cells, search batch 32, grouping "
                "discretization (none/skip/pool/conv), no skip restriction; other settings P-DARTS'"),
        strategy_kwargs=dict(_PDARTS_STRATEGY),
        epochs=25, batch_size=32, w_lr=0.025, w_lr_min=0.0, a_lr=6e-4, a_wd=1e-3,
        stage_layers=(11, 14, 17), stage_ops=(8, 5, 3), stage_dropout=(0.1, 0.4, 0.7),
        warmup_epochs=10, rule="grouping", max_skips=None, eval_drop_path=0.3,
        digits=dict(_DIGITS_STAGED, stage_layers=(5, 5, 8))),
    "milenas": SearchRecipe(
        name="milenas", strategy="mixed_level", source=_MILENAS_SOURCE, grad_clip=None,
        strategy_kwargs={"lam": 1.0}, eval_drop_path=0.2, digits=_DIGITS_SINGLE),
    "milenas_sc": SearchRecipe(
        name="milenas_sc", strategy="mixed_level", stretchable=True, nodes=6,
        candidates=DARTS_CANDIDATES_NO_NONE,
        source=("MiLeNAS-SC (Huang et al., 'Stretchable Cells Help DARTS Search Better', eqs. 9-18): "
                "stretchable cells (topology variables beta, passive-aggressive regularizer lambda 10), "
                "N = 9 nodes counted as DARTS counts its 7 (2 inputs, 6 intermediate, the output), as the zoo's milenas_sc_l* files do; DARTS ops without `none`, MiLeNAS mixed-level update (alpha, beta on L_train + "
                "lambda' L_val, lambda' 1, first order), 8 cells (L8; --layers 12/16 for L12/L16), "
                "50 epochs, batch 64, other settings DARTS'; the step as the MiLeNAS authors' code "
                "takes it (alphas first, weights not clipped); evaluated at the search depth"),
        grad_clip=None, strategy_kwargs={"lam": 1.0, "topology_reg": 10.0},
        eval_layers=None, eval_params_m=3.5, eval_drop_path=0.2, digits=_DIGITS_SINGLE),
}

# The stretchable-cells paper (Huang et al., 'Stretchable Cells Help DARTS Search Better'): one
# recipe per searched depth of Table 1, each evaluated at its search depth with C enlarged to the
# row's parameter budget (computed for the searched cell by `eval_network`), and the variants of
# Table 5 (fixed two output edges; two input edges, eqs. 3-6; DARTS derived from the output side).
_SC_OPS = RECIPES["milenas_sc"].candidates
_SC_TABLE1 = {8: 3.5, 12: 3.5, 16: 3.57}  # Table 1: MiLeNAS-SC-L8 / L12 / L16 params (M)
for _layers, _params in _SC_TABLE1.items():
    RECIPES[f"milenas_sc_l{_layers}"] = dataclasses.replace(
        RECIPES["milenas_sc"], name=f"milenas_sc_l{_layers}", layers=_layers, eval_params_m=_params,
        source=(f"MiLeNAS-SC-L{_layers} (Huang et al., 'Stretchable Cells Help DARTS Search Better', Table 1: "
                f"searched and evaluated with {_layers} cells, C enlarged to {_params}M params); "
                + RECIPES["milenas_sc"].source),
        digits=dict(_DIGITS_SINGLE, layers=_layers))
_WO_SC_SOURCE = ("(Huang et al., 'Stretchable Cells Help DARTS Search Better', Tables 1, 4, 5; eq. 17 with the "
                 "first-order approximation the paper uses): DARTS' bilevel first-order update on alphas and "
                 "betas, DARTS ops without `none`, N = 9 nodes as milenas_sc, 8 cells, 50 epochs, batch 64, "
                 "other settings DARTS'; evaluated at the search depth with C 36 (Table 1's 1.8M row; "
                 "--eval-channels 48 or --eval-params-m 3.2 for its C=48 row)")
RECIPES["darts_wo_sc"] = SearchRecipe(
    name="darts_wo_sc", strategy="first_order", stretchable=True, out_edges=2, nodes=6, candidates=_SC_OPS,
    source="DARTS w/o SC, fixed two output edges per state (eqs. 8-10) " + _WO_SC_SOURCE,
    strategy_kwargs={"topology_reg": 10.0}, eval_layers=None, eval_channels=36, eval_drop_path=0.2,
    digits=_DIGITS_SINGLE)
RECIPES["darts_wo_sc_input"] = dataclasses.replace(
    RECIPES["darts_wo_sc"], name="darts_wo_sc_input", topology="input", out_edges=None,
    source="DARTS w/o SC, input-edge topology: two input edges per node chosen by pair variables "
           "(eqs. 3-6, Table 5's 'Input Edges' column) " + _WO_SC_SOURCE)
# PC-DARTS (Xu et al., ICLR 2020, arXiv:1907.05737): sec. 4.2 (CIFAR-10 search) and the authors'
# search script (yuhuixu1993/PC-DARTS, train_search.py: batch 256, lr 0.1 to 0.001, arch lr 6e-4,
# arch wd 1e-3, 50 epochs, alphas and betas updated from epoch 15 on, first order; model_search.py:
# K = 4, channel shuffle, edge betas).
RECIPES["pc_darts"] = SearchRecipe(
    name="pc_darts", strategy="first_order",
    source=("PC-DARTS (Xu et al., 'PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture "
            "Search', ICLR 2020, arXiv:1907.05737, secs. 3.2-3.3 and 4.2): partial channel connections with "
            "K = 4 (the first C/4 channels through the ops, the rest bypassed, max-pooled on reducing edges, "
            "then a channel shuffle, as the authors' code), edge normalization (one beta per edge, softmax "
            "over a node's inputs, also weighting the derivation), DARTS' space (8 ops, 4 nodes), 8 cells, "
            "C 16, 50 epochs, batch 256, SGD 0.1 cosine to 0.001, momentum 0.9, wd 3e-4, weights clipped to "
            "norm 5, Adam 6e-4 (0.5, 0.999) wd 1e-3 on alphas and betas, first order, architecture updates "
            "from epoch 16 on (15 warm-up epochs), half/half split"),
    partial_channels=4, edge_norm=True, epochs=50, batch_size=256, w_lr=0.1, w_lr_min=0.001,
    a_lr=6e-4, a_wd=1e-3, warmup_epochs=15, eval_drop_path=0.3,
    # K = 4 needs C divisible by 4: C 16 at the digits scale costs about what C 8 costs DARTS.
    digits=dict(_DIGITS_SINGLE, channels=16, batch_size=64, warmup_epochs=1))
RECIPES["darts_v2_output_edges"] = dataclasses.replace(
    RECIPES["darts_v2"], name="darts_v2_output_edges", rule="output_edges",
    source=("DARTS (2nd order) derived from the output side: each state keeps its two strongest output "
            "edges (Huang et al., 'Stretchable Cells Help DARTS Search Better', Table 5 'Output Edges'); "
            + RECIPES["darts_v2"].source))


# sharpDARTS (Hundt, Jain, Hager, arXiv:1903.09900). The paper gives the search's epochs (60, sec. 4.1)
# and its first-order update (sec. 4.2, item 2); the authors' README gives the search command (batch 48,
# 8 cells, 4 nodes, C 16, --cutout --autoaugment, --weighting_algorithm scalar | max_w, --primitives);
# their train_search.py sets the weights' schedule: cosine power annealing, p 2, lr 0.025 to 1e-4.
_SHARP_SOURCE = ("SGD 0.025 to 1e-4 by cosine power annealing p = 2 (eq. 2) after 5 epochs of linear warm-up "
                 "(the authors' cosine_power_annealing with warmup_epochs 5), momentum 0.9, wd 3e-4, Adam 3e-4 (0.5, 0.999) wd 1e-3, "
                 "half/half split, first order (sec. 4.2), 60 epochs (sec. 4.1; the authors' README command "
                 "runs 120: --epochs 120), batch 48, cutout 16 and AutoAugment in the search's training "
                 "transform, 8 cells, C 16, 4 nodes (the authors' README search command); scalar weighting, "
                 "Max-W (eq. 3, sec. 4.3) with --weighting max_w")
_SHARP = dict(strategy="first_order", op_set="sharp", c_mid=32, lr_schedule="cosine_power", lr_power=2.0,
              lr_warmup_epochs=5, w_lr=0.025, w_lr_min=1e-4, epochs=60, batch_size=48, cutout=16, autoaugment=True,
              weighting="scalar", eval_drop_path=0.2, digits=dict(_DIGITS_SINGLE, lr_warmup_epochs=1))
RECIPES["sharpdarts"] = SearchRecipe(
    name="sharpdarts",
    source=("sharpDARTS (Hundt, Jain, Hager, 'sharpDARTS: Faster and More Accurate Differentiable Architecture "
            "Search', arXiv:1903.09900): the sharpDARTS search space (Table 1; the 9 ops of the authors' "
            "released PRIMITIVES list: none, max_pool_3x3, skip_connect, sep_conv_3x3, dil_conv_3x3, "
            "flood_conv_3x3, dil_flood_conv_3x3, choke_conv_3x3, dil_choke_conv_3x3; every conv a "
            "SharpSepConv, choke c_mid 32); " + _SHARP_SOURCE),
    **_SHARP)
RECIPES["sharpsepconv_darts"] = SearchRecipe(
    name="sharpsepconv_darts", candidates=SHARPSEPCONV_CANDIDATES,
    source=("SharpSepConvDARTS (Hundt, Jain, Hager, arXiv:1903.09900, sec. 4.2 item 2, Table 2): the 8 DARTS "
            "primitives (the authors' DARTS_PRIMITIVES) with every conv a SharpSepConv (op set sharp); "
            + _SHARP_SOURCE),
    **_SHARP)

# sharpDARTS' Differentiable Hyperparameter Grid Search (arXiv:1903.09900, sec. 4.1, Fig. 6, Table 4): the
# MultiChannelNet HyperCuboid, searched for 60 epochs (sec. 4.1); the rest as the authors' README runs it
# (train_search.py --multi_channel: batch 64, --cutout --autoaugment, cosine power annealing 0.025 to 1e-4).
RECIPES["hypercuboid"] = SearchRecipe(
    name="hypercuboid", space="hypercuboid", op_set="sharp",
    source=("Differentiable Hyperparameter Grid Search on the MultiChannelNet HyperCuboid (Hundt, Jain, Hager, "
            "'sharpDARTS: Faster and More Accurate Differentiable Architecture Search', arXiv:1903.09900, sec. 4.1, "
            "Fig. 6, Table 4): grid ((4x4)x3x3x2), channel choices 32, 64, 128, 256 (--channels the smallest, "
            "--nodes their number), 3 normal and 3 reduction layers alternating (--layers 6), primitives "
            "SharpSepConv and max pool (resized by a 1x1 conv), one softmax per grid layer, scalar weighting "
            "(--weighting max_w: Max-W, eq. 3, sec. 4.3); the result is the path of maximal total weight; 60 "
            "epochs (sec. 4.1; the authors' README runs 120), first order, batch 64, SGD 0.025 to 1e-4 by cosine "
            "power annealing p = 2 after 5 linear warm-up epochs, momentum 0.9, wd 3e-4, Adam 3e-4 (0.5, 0.999) wd "
            "1e-3, half/half split, "
            "cutout 16 and AutoAugment (the authors' README command)"),
    strategy="first_order", candidates=("sep_conv_3x3", "max_pool_3x3"), channels=32, nodes=4, layers=6,
    lr_schedule="cosine_power", lr_power=2.0, lr_warmup_epochs=5, w_lr=0.025, w_lr_min=1e-4, epochs=60,
    batch_size=64, cutout=16,
    autoaugment=True, weighting="scalar",
    digits=dict(_DIGITS_SINGLE, channels=4, nodes=3, layers=4, lr_warmup_epochs=1))


def recipe_names() -> tuple[str, ...]:
    return tuple(RECIPES)


def get_recipe(name: str) -> SearchRecipe:
    if name not in RECIPES:
        raise ZooError(f"unknown search recipe {name!r}: {closest(name, RECIPES)}")
    return RECIPES[name]


# Fields a user may override, with the type each value is parsed to.
def _registry(registry):
    return registry.names


# Every overridable field's domain; the command line's recipe flags are built from it.
SEARCH_SETTINGS = Domain("search recipe", (
    Setting("strategy", str, "update rule", choices=_registry(STRATEGIES)),
    Setting("space", str, "search space", choices=_registry(SPACES)),
    Setting("lr_schedule", str, "weights' learning-rate schedule", choices=_registry(SCHEDULES)),
    Setting("lr_power", float, "p of cosine power annealing (--lr-schedule cosine_power; 1: cosine)", low=0,
            high=1000, low_open=True),
    Setting("lr_warmup_epochs", int, "epochs of linear lr warm-up before cosine power annealing", low=0,
            high=100_000),
    Setting("op_set", str, "op set the candidates come from", choices=op_set_names),
    Setting("candidates", str, "candidate ops on every edge (default: the op set's)", optional=True, many=True),
    Setting("nodes", int, "intermediate nodes per cell (space hypercuboid: channel choices per layer)", low=1,
            high=16),
    Setting("stages", str, "cell type of each block", many=True),
    Setting("stretchable", bool, "learn the cell topology (stretchable cells)"),
    Setting("c_mid", int, "op set option c_mid, the choke width of op set sharp (default: the op set's)",
            low=1, high=MAX_CHANNELS, optional=True),
    Setting("weighting", str, "op weighting: scalar (DARTS) or max_w (sharpDARTS Max-W)", choices=WEIGHTINGS),
    Setting("layers", int, "supernet cells, two of them reductions (single-stage recipes)", low=3, high=MAX_LAYERS),
    Setting("channels", int, "supernet initial channels C (FactorizedReduce halves them)", low=2,
            high=MAX_CHANNELS, even=True),
    Setting("epochs", int, "epochs (per stage for P-DARTS recipes)", low=1, high=100_000),
    Setting("batch_size", int, "global batch size, split across ranks (BatchNorm needs 2)", low=2, high=65536),
    Setting("train_fraction", float, "share of the train split for the weights (rest: alphas)", low=0, high=1,
            low_open=True, high_open=True),
    Setting("subset", int, "use only this many training images", low=2, high=10 ** 9, optional=True),
    Setting("cutout", int, "cutout square side in the training transform (0: none)", low=0, high=1024),
    Setting("autoaugment", bool, "AutoAugment (CIFAR-10 policy) in the training transform"),
    Setting("w_lr", float, "weights' SGD learning rate", low=0, high=10, low_open=True),
    Setting("w_lr_min", float, "weights' final learning rate", low=0, high=10),
    Setting("w_momentum", float, "weights' SGD momentum", low=0, high=1, high_open=True),
    Setting("w_nesterov", bool, "Nesterov momentum for the weights' SGD"),
    Setting("w_wd", float, "weights' weight decay", low=0, high=1),
    Setting("grad_clip", float, "gradient norm clip for the weights (none or 0: no clip)", low=0, high=1e6,
            optional=True),
    Setting("a_lr", float, "alphas' Adam learning rate", low=0, high=10, low_open=True),
    Setting("a_betas", float, "alphas' Adam betas", low=0, high=1, high_open=True, many=True),
    Setting("a_wd", float, "alphas' weight decay", low=0, high=1),
    Setting("strategy_kwargs", dict, "options of the strategy"),
    Setting("stage_layers", int, "cells per P-DARTS stage, e.g. 5,11,17", low=3, high=MAX_LAYERS, many=True),
    Setting("stage_ops", int, "candidate ops per edge in each stage, e.g. 8,5,3", low=1, high=64, many=True),
    Setting("stage_dropout", float, "skip_connect dropout per stage, e.g. 0.1,0.4,0.7", low=0, high=1,
            high_open=True, many=True),
    Setting("warmup_epochs", int, "epochs per stage without alpha updates", low=0, high=100_000),
    Setting("lr_spans_stages", bool, "one weights' lr schedule over all stages (DrNAS); off: the schedule restarts "
            "every stage (P-DARTS)"),
    Setting("carry_alphas", bool, "each stage starts from the previous stage's alphas of the ops it kept and their "
            "Adam moments (DrNAS); "
            "off: fresh alphas per stage (P-DARTS)"),
    Setting("carry_weights", bool, "each stage continues from the previous stage's weights and momentum, its ops "
            "widened to the stage's K (DrNAS); off: fresh weights per stage (P-DARTS)"),
    Setting("rule", str, "discretization rule", choices=_registry(RULES)),
    Setting("max_skips", int, "at most this many skip_connect in the normal cells", low=0, high=64, optional=True),
    Setting("eval_layers", int, "cells of the evaluation network written as the preset (none: the search depth)",
            low=1, high=MAX_LAYERS, optional=True),
    Setting("eval_channels", int, "channels of the evaluation network", low=1, high=MAX_CHANNELS),
    Setting("eval_drop_path", float, "drop path of the evaluation network", low=0, high=1, high_open=True),
    Setting("space_ablation", str, "thesis op-set ablation used as the candidates", optional=True,
            choices=lambda: tuple(ABLATIONS)),
    Setting("topology", str, "stretchable topology variables: output or input edges", choices=lambda: TOPOLOGIES),
    Setting("out_edges", int, "stretchable: exactly this many output edges per state", low=1, high=64, optional=True),
    Setting("eval_params_m", float, "evaluation C: params (M) the preset's channels come nearest to", low=0,
            high=1e4, low_open=True, optional=True),
    Setting("beta_split", bool, "stretchable: the alphas' data is halved, one half steps the alphas, the other "
            "the betas (D_val_alpha, D_val_beta)"),
    Setting("partial_channels", int, "K of PC-DARTS' partial channels: 1/K of each edge's channels go through "
            "its ops (1: all)", low=1, high=64),
    Setting("edge_norm", bool, "PC-DARTS edge normalization: a beta per edge, softmax over a node's inputs"),
    Setting("stage_partial_channels", int, "K of partial channels per stage, e.g. 6,4 (DrNAS); empty: "
            "--partial-channels in every stage", low=1, high=64, many=True),
    Setting("mixing", str, "how alphas become op weights (softmax: DARTS)", choices=_registry(MIXINGS)),
    Setting("mixing_kwargs", dict, "options of the mixing"),
    Setting("arch_regularizer", str, "a term added to the architecture objective", optional=True,
            choices=_registry(ARCH_REGULARIZERS)),
    Setting("arch_regularizer_kwargs", dict, "options of the architecture regularizer"),
    Setting("perturbation", str, "offsets of the mixed weights during the weight step", optional=True,
            choices=_registry(PERTURBATIONS)),
    Setting("perturbation_kwargs", dict, "options of the perturbation"),
    Setting("aux_skip", float, "DARTS- auxiliary skip weight at the start of each stage, decaying linearly to 0 "
            "(0: none)", low=0, high=1e3),
    Setting("search_head", str, "the supernet's head: pool (DARTS) or bn_relu_pool (GDAS: BN-ReLU, then the "
            "pooling)", choices=lambda: HEADS),
), relations=(
    lambda r: next((f"{key} has {len(r[key])} entries but stage_layers has {len(r['stage_layers'])}; give one "
                    "per stage" for key in ("stage_ops", "stage_dropout")
                    if r["stage_layers"] and r[key] and len(r[key]) != len(r["stage_layers"])), None),
    lambda r: (f"stage_ops {list(r['stage_ops'])} must not grow from stage to stage"
               if any(b > a for a, b in zip(r["stage_ops"], r["stage_ops"][1:])) else None),
    lambda r: (f"warmup_epochs {r['warmup_epochs']} leaves no epoch that updates the alphas (epochs "
               f"{r['epochs']}); lower --warmup-epochs" if r["warmup_epochs"] >= r["epochs"] else None),
    lambda r: (f"lr_warmup_epochs {r['lr_warmup_epochs']} leaves no epoch to anneal (epochs {r['epochs']})"
               if r["lr_warmup_epochs"] >= r["epochs"] else None),
    lambda r: ("lr_warmup_epochs is a cosine_power option; --lr-schedule cosine_power --lr-power 1 is cosine "
               "annealing with it" if r["lr_warmup_epochs"] and r["lr_schedule"] != "cosine_power" else None),
    lambda r: (f"w_lr_min {r['w_lr_min']} is above w_lr {r['w_lr']}; the schedule anneals down to w_lr_min"
               if r["w_lr_min"] > r["w_lr"] else None),
    lambda r: (f"a_betas needs two values, e.g. 0.5,0.999, got {len(r['a_betas'])}"
               if len(r["a_betas"]) != 2 else None),
    lambda r: ("give either candidates or space_ablation, not both"
               if r["candidates"] is not None and r["space_ablation"] is not None else None),
    lambda r: ("out_edges fixes output edges; the input-edge topology always picks two input edges"
               if r["out_edges"] is not None and r["topology"] == "input" else None),
    lambda r: ("beta_split needs topology variables; add --stretchable" if r["beta_split"] and not r["stretchable"]
               else None),
    lambda r: (f"beta_split needs a strategy that uses the alphas' data; {r['strategy']} steps the architecture on "
               "the training batch" if r["beta_split"] and STRATEGIES.canonical(r["strategy"]) == "one_level"
               else None),
    lambda r: ("beta_split steps alphas and betas on different batches; drop one_pass from strategy_kwargs"
               if r["beta_split"] and (r["strategy_kwargs"] or {}).get("one_pass") else None),
    lambda r: (f"channels {r['channels']} do not split into 1/{r['partial_channels']} parts; use --channels "
               f"divisible by {r['partial_channels']}" if r["channels"] % r["partial_channels"] else None),
    lambda r: stage_partial_channels_problem(r["stage_partial_channels"], max(1, len(r["stage_layers"])),
                                             r["channels"]),
    lambda r: (f"carry_weights needs stages of equal depth, stage_layers is {list(r['stage_layers'])}; weights "
               "carry into a stage of the same cells (DrNAS: 20, 20)" if r["carry_weights"]
               and len(set(r["stage_layers"])) > 1 else None),
    lambda r: ("edge_norm and stretchable both give the edges beta variables; choose one"
               if r["edge_norm"] and r["stretchable"] else None),
    lambda r: (f"weighting max_w reweights softmax probabilities; mixing {r['mixing']} is not a softmax "
               "(use --weighting scalar)" if r["weighting"] == "max_w" and r["mixing"] != "softmax" else None),
    lambda r: (f"search space {r['space']} has no mixed edges for mixing/aux_skip/perturbation/carry_weights "
               "and no search_head option; use space cell"
               if r["space"] != "cell" and (r["mixing"] != "softmax" or r["aux_skip"] or r["perturbation"]
                                            or r["carry_weights"] or r["search_head"] != "pool") else None),
    lambda r: (f"a perturbation offsets the weight step, which {r['strategy']} shares with the architecture "
               "step; use first_order, second_order or mixed_level without one_pass"
               if r["perturbation"] and (STRATEGIES.canonical(r["strategy"]) == "one_level"
                                         or (r["strategy_kwargs"] or {}).get("one_pass")) else None),
    lambda r: (f"rule fair_threshold thresholds independent sigmoid weights; mixing {r['mixing']} is not sigmoid "
               "(use --mixing sigmoid)" if r["rule"] == "fair_threshold" and r["mixing"] != "sigmoid" else None),
    lambda r: (f"rule {r['rule']} chooses the cell's topology itself and would ignore the stretchable topology "
               "variables; use --rule standard with --stretchable"
               if r["stretchable"] and hasattr(RULES.get(r["rule"]), "cell") else None),
    lambda r: (f"c_mid {r['c_mid']} is an option of op sets with a choke width (e.g. sharp); op set "
               f"{r['op_set']} has none" if r["c_mid"] is not None
               and "c_mid" not in get_op_set(r["op_set"]).options else None),
))
OVERRIDABLE = SEARCH_SETTINGS.names
assert set(OVERRIDABLE) == {f.name for f in dataclasses.fields(SearchRecipe)} - set(_DESCRIPTIVE)


# Training images of the data each paper's search setting runs on (CIFAR-10's training split), and of
# the digits training split (zoo.data; checked by the tests).
PAPER_TRAIN_IMAGES = 50_000
DIGITS_TRAIN_IMAGES = 1437


def arch_steps(r: SearchRecipe, train_images: int) -> int:
    """How many architecture steps the recipe takes on `train_images` images: one per weight batch in
    every epoch after each stage's weight-only warm-up."""
    images = min(r.subset or train_images, train_images)
    per_epoch = max(1, int(round(images * r.train_fraction)) // r.batch_size)
    return sum(max(0, s.epochs - s.warmup_epochs) * per_epoch for s in r.stage_plan())


def digits_arch_lr(paper: SearchRecipe, digits: SearchRecipe) -> float:
    """The alphas' learning rate of a digits run: the paper's, times the paper's architecture steps over
    the digits run's. Adam moves a parameter by about its learning rate per step while the gradient
    keeps its sign, so this gives the few digits steps the same distance the alphas can travel in the
    paper's search (DARTS: 3e-4 over 19,500 steps; its digits preset: 0.18 over 32). At the paper's
    rate the digits alphas end within 1 % of uniform (measured: the top op 1.007x uniform on the mean
    edge for darts_v1, seed 7) and the derived cell is close to a random draw; scaled, 3.5x."""
    lr = paper.a_lr * arch_steps(paper, PAPER_TRAIN_IMAGES) / max(1, arch_steps(digits, DIGITS_TRAIN_IMAGES))
    return float(f"{min(lr, 1.0):.3g}")


def apply_overrides(recipe: SearchRecipe, overrides: Optional[Mapping[str, Any]] = None,
                    data: Optional[str] = None) -> SearchRecipe:
    """The recipe with the digits preset (when `data == "digits"`, its alphas' learning rate scaled by
    `digits_arch_lr` unless the preset gives one) and then the user's overrides.

    Explicit overrides always win over the preset; a mapping (strategy_kwargs, mixing_kwargs, ...) updates
    the recipe's mapping key by key. When a staged recipe's `epochs` is overridden
    without `warmup_epochs`, the weight-only warm-up keeps the paper's share (10 of 25 epochs) so
    that short runs still update the alphas.
    """
    where = f"search recipe {recipe.name}"
    overrides = SEARCH_SETTINGS.check({k: v for k, v in (overrides or {}).items() if v is not None}, where)
    if "layers" in overrides and recipe.staged and "stage_layers" not in overrides:
        raise ZooError(f"search recipe {recipe.name} grows the supernet in stages "
                       f"{'-'.join(map(str, recipe.stage_layers))}; give --stage-layers A,B,C "
                       "instead of --layers")
    out = recipe
    if data == "digits":
        out = dataclasses.replace(out, **SEARCH_SETTINGS.check(recipe.digits, where))
        if "a_lr" not in recipe.digits:
            out = dataclasses.replace(out, a_lr=digits_arch_lr(recipe, out))
    base = out
    # A mapping override (strategy_kwargs, mixing_kwargs, ...) updates the recipe's mapping key by key, so
    # that changing one option (e.g. SDARTS' epsilon) keeps the method's others.
    overrides = {k: ({**getattr(out, k), **v} if isinstance(v, Mapping) else v) for k, v in overrides.items()}
    out = dataclasses.replace(out, **overrides)
    if "epochs" in overrides and "warmup_epochs" not in overrides and base.warmup_epochs:
        share = base.warmup_epochs / base.epochs
        out = dataclasses.replace(out, warmup_epochs=min(out.epochs - 1, int(round(out.epochs * share))))
    if "epochs" in overrides and "lr_warmup_epochs" not in overrides and base.lr_warmup_epochs:
        share = base.lr_warmup_epochs / base.epochs
        out = dataclasses.replace(out, lr_warmup_epochs=min(out.epochs - 1, int(round(out.epochs * share))))
    if out.space_ablation and out.stage_ops and "stage_ops" not in overrides:
        out = dataclasses.replace(out, stage_ops=rescaled_stage_ops(out))
    _check(out)
    return out


def _check(r: SearchRecipe) -> None:
    SEARCH_SETTINGS.check_relations({name: getattr(r, name) for name in OVERRIDABLE}, f"search recipe {r.name}")


def rescaled_stage_ops(r: SearchRecipe) -> tuple[int, ...]:
    """The recipe's ops per stage for its op-set ablation's smaller (or larger) set: the first stage
    searches every candidate and later stages keep P-DARTS' drops (8 -> 5 -> 3 drops 3, then 2 more),
    as `pdarts.plan_for_space` scales them; at least one op is kept."""
    from .space import ablation_space
    n = len(ablation_space(r.space_ablation, stretchable=r.stretchable).candidates)
    first = r.stage_ops[0]
    return tuple(max(1, n - (first - k)) for k in r.stage_ops)


def eval_channels_for_budget(genotype: Any, layers: int, target_params: float, num_classes: int = 10,
                             low: int = 2, high: int = MAX_CHANNELS) -> int:
    """The initial channel count C whose CIFAR network of `layers` cells has the parameter count
    (zoo.counting.count_params, auxiliary head excluded) nearest `target_params`; the lower C wins
    a tie. Params grow with C: doubling then bisection finds the crossing, and its two neighbours
    compete (the zoo's milenas_sc_l8/l12/l16 files give C 51/38/32 this way)."""
    from zoo.counting import count_params
    from zoo.network import DartsNetwork

    cache: dict[int, int] = {}

    def params(c: int) -> int:
        if c not in cache:
            net = DartsNetwork(genotype, "cifar", num_classes=num_classes, layers=layers, channels=c,
                               auxiliary=False, drop_path_rate=0.0)
            cache[c] = count_params(net)
        return cache[c]

    lo, hi = low, min(high, 2 * low)
    while hi < high and params(hi) < target_params:  # double up to a C at or above the target
        lo, hi = hi + 1, min(high, 2 * hi)
    while lo < hi:  # the smallest C whose params reach the target
        mid = (lo + hi) // 2
        if params(mid) < target_params:
            lo = mid + 1
        else:
            hi = mid
    best = min((c for c in (lo - 1, lo) if low <= c <= high),
               key=lambda c: (abs(params(c) - target_params), c))
    return best


def eval_network(cfg: SearchRecipe, genotype: Any) -> tuple[int, int]:
    """(layers, channels) of the evaluation preset written with a searched genotype: `eval_layers`,
    or the search depth when it is None (stretchable cells are evaluated at their search depth);
    `eval_channels`, or the C nearest `eval_params_m` million params for this genotype."""
    layers = cfg.eval_layers
    if layers is None:
        layers = (genotype.search or {}).get("layers") or cfg.stage_plan()[-1].layers
    channels = cfg.eval_channels
    if cfg.eval_params_m is not None:
        channels = eval_channels_for_budget(genotype, layers, cfg.eval_params_m * 1e6)
    return int(layers), int(channels)


def register_recipe(recipe: SearchRecipe, replace: bool = False) -> SearchRecipe:
    """Add a method's recipe to RECIPES (a method module calls this when imported)."""
    if recipe.name in RECIPES and not replace:
        raise ZooError(f"search recipe {recipe.name!r} is already registered; pass replace=True to override it")
    _check(recipe)
    RECIPES[recipe.name] = recipe
    return recipe


# Method modules that register recipes:
from . import beta_decay, darts_minus, sdarts  # noqa: E402,F401
from . import fair_darts, i_darts  # noqa: E402,F401
from . import drnas, gdas  # noqa: E402,F401
