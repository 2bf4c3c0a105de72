"""The speed options of search, training and evaluation, one implementation for all three and for
every device torch runs them on (CPU, CUDA, MPS):

    amp             bfloat16 autocast around the forward passes (parameters, gradients and optimizer
                    states stay float32; losses are taken in float32)
    channels_last   the network's weights and every input batch in NHWC memory format
    compile         torch.compile (inductor: Triton kernels on CUDA, C++/OpenMP kernels on the CPU,
                    which needs a C++ compiler; the first steps wait for the compilation)
    data_on_device  the whole (CIFAR-sized) training set as one tensor on the device, augmented
                    there batch by batch (zoo.device_data), instead of DataLoader workers

    net = prepare_model(net, channels_last=True, compile=True)     # the same module, compiled in place
    x, y = prepare_batch(x, y, device, channels_last=True)
    with autocast(device, amp=True):
        loss = F.cross_entropy(net(x).float(), y)

`compile` compiles the module in place (`nn.Module.compile`): its `__call__` runs the compiled
graph while the object, its parameters and its state_dict keys stay the same, so optimizers,
checkpoints and the search's strategies need no change.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ContextManager, Mapping

import torch
import torch.nn as nn

from .errors import ZooError
from .settings import Domain, Setting

AMP = Setting("amp", bool, "bfloat16 autocast (CPU, CUDA, MPS)")
CHANNELS_LAST = Setting("channels_last", bool, "channels_last (NHWC) memory format for the network and its inputs")
COMPILE = Setting("compile", bool, "torch.compile the network (inductor; on the CPU it compiles C++ first, "
                                   "which takes a minute or more)")
DATA_ON_DEVICE = Setting("data_on_device", bool, "keep the training set as one tensor on the device and augment "
                                                 "it there (CIFAR-sized data only; no AutoAugment)")
SPEED_SETTINGS = Domain("speed option", (AMP, CHANNELS_LAST, COMPILE, DATA_ON_DEVICE))
COMPILE_BACKEND = "inductor"


@dataclass(frozen=True)
class SpeedOptions:
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    data_on_device: bool = False

    @classmethod
    def checked(cls, values: Mapping[str, Any], where: str = "") -> "SpeedOptions":
        """From keyword values (None: off), each checked against its setting's domain."""
        given = {k: v for k, v in values.items() if v is not None}
        return cls(**{k: bool(v) for k, v in SPEED_SETTINGS.check(given, where).items()})

    def describe(self) -> str:
        """'fp32' or the options that are on, for a log line."""
        on = [name for name, flag in (("bf16 autocast", self.amp), ("channels_last", self.channels_last),
                                      ("compiled", self.compile), ("data on device", self.data_on_device)) if flag]
        return ", ".join(on) if on else "fp32"


def check_amp(device: torch.device) -> None:
    """A one-line error where torch has no bfloat16 autocast for the device (e.g. an old MPS)."""
    available = getattr(torch.amp, "is_autocast_available", None)
    if available is not None and not available(device.type):
        raise ZooError(f"--amp: torch {torch.__version__} has no bfloat16 autocast on {device.type}; drop --amp")


def autocast(device: torch.device, amp: bool) -> ContextManager:
    """bfloat16 autocast on the device's type when `amp`, else nothing. bfloat16 has float32's
    exponent range, so no loss scaling is needed on any device."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def prepare_model(model: nn.Module, channels_last: bool = False, compile: bool = False) -> nn.Module:
    """The model in channels_last format and/or compiled in place; the same object is returned."""
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile:
        model.compile(backend=COMPILE_BACKEND)
    return model


def prepare_batch(x: torch.Tensor, y: torch.Tensor, device: torch.device,
                  channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch on the device (asynchronously from pinned memory on CUDA), images in channels_last
    when asked; already-placed tensors are not copied."""
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)
