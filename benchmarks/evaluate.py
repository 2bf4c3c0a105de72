"""Top-1/top-5 of a network on a dataset's test split.

    evaluate("pdarts_3b", "cifar10", data_dir="data", checkpoint="runs/x/model.safetensors")
    evaluate("pdarts_imagenet", "imagenet", data_dir="/data/imagenet", pretrained=True)

ImageNet images go through timm's data config of the model (resolve_data_config); the CIFAR
family through the dataset's own normalization. A checkpoint written by `darts-zoo train` carries
the network's build arguments (layers, channels, classes), so a reduced network is rebuilt as trained.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import torch
import torch.nn as nn
from timm.data import create_transform, resolve_data_config

import zoo
from zoo.data import build_transform, dataset_info, load_dataset
from zoo.errors import CheckpointError, DataError, ZooError

from zoo.checkpoint import load_into, read_weights
from zoo.runtime import non_finite_tensor, resolve_device
from zoo.speed_options import SpeedOptions, autocast, check_amp, prepare_batch, prepare_model


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """How many rows have the target among the k highest logits, for each k (capped at the class count)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top.eq(target.view(-1, 1))
    return [int(hit[:, : min(k, kmax)].any(dim=1).sum()) for k in ks]


def reraise_one_line(e: BaseException) -> None:
    """A DataError raised in a DataLoader worker comes back with the worker's traceback in its
    message; keep only the original one line."""
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    prefix = "zoo.errors.DataError: "
    raise DataError(last[len(prefix):] if last.startswith(prefix) else last) from None


def batches(loader: Iterable) -> Iterable:
    try:
        yield from loader
    except DataError as e:
        reraise_one_line(e)


@torch.no_grad()
def run_eval(model: nn.Module, loader: Iterable, device: torch.device, amp: bool = False,
             reduce: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
             channels_last: bool = False) -> dict[str, float]:
    """loss, top1, top5 (percent) and n over a loader; `reduce` sums the counts across processes.
    `amp` and `channels_last` as zoo.speed_options does them (the loss is taken in float32)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)  # loss sum, top-1 hits, top-5 hits, images
    for x, y in batches(loader):
        x, y = prepare_batch(x, y, device, channels_last)
        with autocast(device, amp):
            logits = model(x)
        loss = nn.functional.cross_entropy(logits.float(), y, reduction="sum")
        top1, top5 = topk_correct(logits.float(), y)
        sums += torch.tensor([float(loss), top1, top5, len(y)], dtype=torch.float64)
    model.train(was_training)
    if reduce is not None:
        sums = reduce(sums)
    n = max(float(sums[3]), 1.0)
    return {"loss": float(sums[0]) / n, "top1": 100.0 * float(sums[1]) / n,
            "top5": 100.0 * float(sums[2]) / n, "n": int(sums[3])}


def eval_transform(model: nn.Module, data: str) -> Callable:
    info = dataset_info(data)
    if info.family == "imagenet":
        return create_transform(**resolve_data_config({}, model=model))
    return build_transform(data, train=False)


def build_model(model: str, data: str, checkpoint: Optional[Union[str, Path]] = None, pretrained: bool = False,
                **overrides: Any) -> nn.Module:
    """The network for `data` (its family and classes), with a checkpoint's weights and build arguments."""
    if checkpoint is not None and pretrained:
        raise ZooError("pass either --checkpoint PATH or --pretrained, not both")
    info = dataset_info(data)
    kwargs: dict[str, Any] = dict(family=info.family, num_classes=info.num_classes)
    tensors = None
    if checkpoint is not None:
        tensors, meta = read_weights(Path(checkpoint))
        trained = meta.get("model_args", {})
        if trained.get("num_classes", info.num_classes) != info.num_classes:
            raise CheckpointError(f"{checkpoint}: trained on {meta.get('data', '?')} ({trained['num_classes']} "
                                  f"classes), {info.name} has {info.num_classes}; evaluate it on a dataset with "
                                  "the same classes")
        kwargs.update({k: v for k, v in trained.items() if v is not None})
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    family = kwargs.pop("family")
    net = zoo.create_model(model, family=family, pretrained=pretrained, **kwargs)
    if tensors is not None:
        load_into(net, tensors, Path(checkpoint))
    bad = non_finite_tensor(net.state_dict()) if tensors is not None or pretrained else None
    if bad:  # a diverged run's weights: refuse rather than print a NaN loss beside an accuracy
        raise CheckpointError(f"{checkpoint or f'{model} (pretrained)'}: the weights hold NaN or inf values (first "
                              f"in {bad}), so the run that wrote them diverged; evaluate an earlier checkpoint or "
                              "retrain with a lower learning rate")
    return net


def evaluate(model: Union[str, nn.Module], data: str, data_dir: Optional[Union[str, Path]] = None,
             checkpoint: Optional[Union[str, Path]] = None, pretrained: bool = False, batch_size: int = 256,
             workers: int = 0, device: Optional[str] = None, download: bool = False,
             limit: Optional[int] = None, amp: bool = False, channels_last: bool = False, compile: bool = False,
             **overrides: Any) -> dict[str, Any]:
    """Top-1/top-5 (percent), loss, images and throughput of a network on `data`'s test split;
    `amp`, `channels_last` and `compile` are zoo.speed_options' (the first batches of a compiled
    network wait for the compilation, which the throughput then includes)."""
    speed = SpeedOptions.checked(dict(amp=amp, channels_last=channels_last, compile=compile), "eval")
    dev = resolve_device(device)
    if speed.amp:
        check_amp(dev)
    net = model if isinstance(model, nn.Module) else build_model(model, data, checkpoint, pretrained, **overrides)
    ds = load_dataset(data, "test", data_dir, transform=eval_transform(net, data), download=download)
    if limit is not None:
        ds = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers,
                                         pin_memory=dev.type == "cuda")
    net = prepare_model(net.to(dev), speed.channels_last, speed.compile)
    start = time.perf_counter()
    result = run_eval(net, loader, dev, speed.amp, channels_last=speed.channels_last)
    seconds = time.perf_counter() - start
    return {"model": str(model) if not isinstance(model, nn.Module) else type(model).__name__,
            "data": data, "checkpoint": str(checkpoint) if checkpoint else None, "pretrained": pretrained,
            "precision": speed.describe(),
            **result, "seconds": round(seconds, 3), "images_per_s": round(result["n"] / max(seconds, 1e-9), 1)}
