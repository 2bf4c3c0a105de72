"""Parameter and MAC counts, measured the way the reference table was.

The reference counts (measured on the authors' public implementations) count parameters without the auxiliary head and MACs with
thop 0.1.1 on one input in eval mode (so the auxiliary head and drop path are inactive).
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings

import torch
import torch.nn as nn
from thop import profile
from thop.vision.basic_hooks import count_avgpool

# The input the counts are measured on: one image of each dataset family's resolution.
INPUT_SIZES = {"cifar": (3, 32, 32), "imagenet": (3, 224, 224)}


def count_params(model: nn.Module) -> int:
    """Trainable parameters, excluding the auxiliary head (training-only)."""
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)


def count_macs(model: nn.Module, input_size: tuple[int, int, int] = (3, 32, 32)) -> int:
    """Multiply-accumulates of one forward pass of one image, counted by thop.

    Our networks pool globally with timm's adaptive pool at any resolution. The authors' CIFAR
    network does the same, but their ImageNet network uses a fixed `nn.AvgPool2d(7)`, which thop
    counts as one op per output instead of H*W + 1. To report numbers comparable with theirs, the
    global pool of an ImageNet-family network is counted with thop's rule for that layer; this
    changes the total by 49 * C_out (0.04M for the DARTS ImageNet nets) and nothing else.
    """
    probe = copy.deepcopy(model).eval()  # thop adds buffers to modules; keep the caller's model clean
    custom_ops = {}
    if getattr(model, "family", None) == "imagenet":
        custom_ops[nn.AdaptiveAvgPool2d] = count_avgpool
    x = torch.zeros(1, *input_size)
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        macs, _ = profile(probe, inputs=(x,), custom_ops=custom_ops, verbose=False)
    return int(round(macs))
