"""The op registry: the one place where an op's layers are defined.

Ops live in named op sets (`darts`, `sharp`, `thesis`, ...). The compiled network builds them with
affine BatchNorm; the supernet builds the very same ops with `affine=False` and appends a
non-affine BatchNorm to the pools, as DARTS does. New ops and op sets plug in by name:

    @register_op("darts", "sep_conv_7x7", group="conv")
    def _(C, stride, affine):
        ...

Every conv op of every set is a chain of `SepBlock`s (ReLU -> depthwise k x k -> pointwise 1x1 ->
BN); the sets differ only in how many blocks, the dilation and the middle width. Layers are plain
`nn` modules on purpose: thop counts MACs per module type, and matching the authors' module types
is what makes our counts equal theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import GenotypeError, closest

OpBuilder = Callable[..., nn.Module]
GROUPS = ("none", "skip", "pool", "conv")


# --------------------------------------------------------------------------- layers
class SepBlock(nn.Sequential):
    """ReLU -> depthwise k x k (stride, dilation) -> pointwise 1x1 -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1,
                 affine: bool = True):
        padding = dilation * (kernel - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halves the resolution with two 1x1 stride-2 convs on offset grids, so no pixel is skipped."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = x[:, :, 1:, 1:]
        # On odd sizes the shifted grid is one pixel short; pad so both halves agree.
        pad_h, pad_w = x.shape[2] % 2, x.shape[3] % 2
        if pad_h or pad_w:
            shifted = F.pad(shifted, (0, pad_w, 0, pad_h))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Zero(nn.Module):
    """The `none` op of the search space: contributes nothing (and no gradient to its input)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def sep_chain(widths: list[int], kernel: int, stride: int, dilations: list[int], affine: bool) -> nn.Sequential:
    """SepBlocks through widths[0] -> widths[1] -> ...; the first carries the stride."""
    blocks = [
        SepBlock(widths[i], widths[i + 1], kernel, stride if i == 0 else 1, dilations[i], affine)
        for i in range(len(widths) - 1)
    ]
    return nn.Sequential(*blocks)


# --------------------------------------------------------------------------- registry
@dataclass
class OpSet:
    name: str
    builders: dict[str, OpBuilder] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # The candidate ops on every edge of the paper's search space, in the paper's order.
    candidates: tuple[str, ...] = ()
    description: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.builders)

    def build(self, name: str, channels: int, stride: int, affine: bool = True,
              **options: Any) -> nn.Module:
        if name not in self.builders:
            raise KeyError(f"unknown op {name!r} in op set {self.name!r}: {closest(name, self.names)}")
        kwargs = {**self.options, **options}
        return self.builders[name](channels, stride, affine, **kwargs)

    def group(self, name: str) -> str:
        return self.groups[name]

    def check_options(self, options: dict[str, Any], where: str) -> None:
        for key, value in options.items():
            default = self.options.get(key)
            if isinstance(default, int) and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise GenotypeError(where, f"op_options.{key}", f"expected a positive whole number, got {value!r}")


_OP_SETS: dict[str, OpSet] = {}


def register_op_set(name: str, *, base: str | None = None, options: dict[str, Any] | None = None,
                    candidates: tuple[str, ...] = (), description: str = "") -> OpSet:
    """Create an op set, optionally starting from a copy of another one's ops."""
    op_set = OpSet(name=name, options=dict(options or {}), candidates=candidates, description=description)
    if base is not None:
        parent = _OP_SETS[base]
        op_set.builders.update(parent.builders)
        op_set.groups.update(parent.groups)
        op_set.options = {**parent.options, **op_set.options}
    _OP_SETS[name] = op_set
    return op_set


def register_op(op_set: str, name: str, group: str | None = None) -> Callable[[OpBuilder], OpBuilder]:
    """Decorator: `builder(channels, stride, affine, **op_options) -> nn.Module`."""
    if group is None:
        group = _default_group(name)
    if group not in GROUPS:
        raise ValueError(f"op group {group!r} is not one of {GROUPS}")

    def wrap(builder: OpBuilder) -> OpBuilder:
        target = _OP_SETS[op_set]
        target.builders[name] = builder
        target.groups[name] = group
        return builder

    return wrap


def _default_group(name: str) -> str:
    if name == "none":
        return "none"
    if name == "skip_connect":
        return "skip"
    if "pool" in name:
        return "pool"
    return "conv"


def get_op_set(name: str) -> OpSet:
    if name not in _OP_SETS:
        raise KeyError(f"unknown op set {name!r}: {closest(name, _OP_SETS)}")
    return _OP_SETS[name]


def op_set_names() -> tuple[str, ...]:
    return tuple(_OP_SETS)


def is_identity(module: nn.Module) -> bool:
    return isinstance(module, nn.Identity)


# --------------------------------------------------------------------------- DARTS
DARTS_CANDIDATES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")

# The 7 DARTS ops without `none`: the search space of the MiLeNAS-SC, SDARTS, Fair DARTS and DrNAS code.
DARTS_CANDIDATES_NO_NONE = tuple(o for o in DARTS_CANDIDATES if o != "none")

register_op_set("darts", candidates=DARTS_CANDIDATES,
                description="DARTS (Liu et al. 2019) operations, also used by P-DARTS, PC-DARTS, MiLeNAS")


def _skip(channels: int, stride: int, affine: bool, **_: Any) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine)


def _register_common(op_set: str) -> None:
    """none, pools and skip: identical in every op set."""
    register_op(op_set, "none")(lambda c, s, a, **_: Zero(s))
    register_op(op_set, "max_pool_3x3")(lambda c, s, a, **_: nn.MaxPool2d(3, stride=s, padding=1))
    register_op(op_set, "avg_pool_3x3")(
        lambda c, s, a, **_: nn.AvgPool2d(3, stride=s, padding=1, count_include_pad=False))
    register_op(op_set, "skip_connect")(_skip)


_register_common("darts")
for _k in (3, 5, 7):
    # sep_conv: two blocks, the first carrying the stride.
    register_op("darts", f"sep_conv_{_k}x{_k}")(
        lambda c, s, a, _k=_k, **_: sep_chain([c, c, c], _k, s, [1, 1], a))
for _k in (3, 5):
    # dil_conv: a single block with dilation 2.
    register_op("darts", f"dil_conv_{_k}x{_k}")(
        lambda c, s, a, _k=_k, **_: sep_chain([c, c], _k, s, [2], a))


@register_op("darts", "conv_7x1_1x7")
def _conv_7x1_1x7(c: int, s: int, a: bool, **_: Any) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, (1, 7), stride=(1, s), padding=(0, 3), bias=False),
        nn.Conv2d(c, c, (7, 1), stride=(s, 1), padding=(3, 0), bias=False),
        nn.BatchNorm2d(c, affine=a),
    )


# --------------------------------------------------------------------------- sharpDARTS
# The search candidates as the authors released them (ahundt/sharpDARTS, cnn/genotypes.py at the
# commit that adds the SHARP_DARTS genotype): `PRIMITIVES`, the 9 ops of the sharpDARTS search (its
# logged alphas have 9 columns; Table 1 of arXiv:1903.09900 also lists AvgPool3x3, which that list
# leaves commented out), and `DARTS_PRIMITIVES`, the 8 DARTS ops, which built as SharpSepConvs are the
# SharpSepConvDARTS search (sec. 4.2, item 2). Both are searched with op set `sharp`.
SHARP_CANDIDATES = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3",
                    "flood_conv_3x3", "dil_flood_conv_3x3", "choke_conv_3x3", "dil_choke_conv_3x3")
SHARPSEPCONV_CANDIDATES = DARTS_CANDIDATES

register_op_set("sharp", options={"c_mid": 32}, candidates=SHARP_CANDIDATES,
                description="sharpDARTS (Hundt et al. 2019): every conv a SharpSepConv; "
                            "c_mid is the choke width (32 on CIFAR, 96 for the ImageNet 'cmid 96' model)")
_register_common("sharp")


def _sharp_sep_conv(kernel: int, dilation: int, mid: str) -> OpBuilder:
    """SharpSepConv: block 1 (stride, dilation) to c_mid, block 2 (stride 1, no dilation) to c_out."""

    def build(c: int, s: int, a: bool, c_mid: int = 32, **_: Any) -> nn.Module:
        width = {"same": c, "flood": 4 * c, "choke": c_mid}[mid]
        return sep_chain([c, width, c], kernel, s, [dilation, 1], a)

    return build


for _k in (3, 5):
    register_op("sharp", f"sep_conv_{_k}x{_k}")(_sharp_sep_conv(_k, 1, "same"))
    register_op("sharp", f"dil_conv_{_k}x{_k}")(_sharp_sep_conv(_k, 2, "same"))
register_op("sharp", "flood_conv_3x3")(_sharp_sep_conv(3, 1, "flood"))
register_op("sharp", "dil_flood_conv_3x3")(_sharp_sep_conv(3, 2, "flood"))
register_op("sharp", "choke_conv_3x3")(_sharp_sep_conv(3, 1, "choke"))
register_op("sharp", "dil_choke_conv_3x3")(_sharp_sep_conv(3, 2, "choke"))


# ------------------------------------------- thesis: Paganucci (ETH Zurich, 2020), sections 3.4.1-3.4.2
register_op_set("thesis", base="darts", candidates=DARTS_CANDIDATES,
                description="Paganucci (2020) §3.4: DARTS ops plus depth-balanced dilated convs "
                            "(dil_conv_kxk_DD, dil_conv_kxk_DC) and deep separable convs")
for _k in (3, 5):
    # DD: the dilated block twice; DC: the dilated block, then a plain separable block.
    register_op("thesis", f"dil_conv_{_k}x{_k}_DD")(
        lambda c, s, a, _k=_k, **_: sep_chain([c, c, c], _k, s, [2, 2], a))
    register_op("thesis", f"dil_conv_{_k}x{_k}_DC")(
        lambda c, s, a, _k=_k, **_: sep_chain([c, c, c], _k, s, [2, 1], a))
    # Two separable convs in a row; the middle width halved so the op is not simply twice as big.
    register_op("thesis", f"deep_sep_conv_{_k}x{_k}")(
        lambda c, s, a, _k=_k, **_: sep_chain([c, c // 2, c // 2, c // 2, c], _k, s, [1, 1, 1, 1], a))
