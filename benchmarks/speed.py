"""Training throughput (images/s) of a network at its recipe's batch size, on random inputs.

    python -m zoo.benchmarks.speed pdarts_3b sharpdarts --batch 96 --steps 3

One step is what train.py does per batch: forward_train (auxiliary head and drop path active),
cross-entropy plus the weighted auxiliary loss, backward, gradient clipping, SGD step. The first
`warmup` steps are not timed.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Optional

import torch
import torch.nn as nn

import zoo
from zoo.data import dataset_info

from .recipes import default_recipe


def train_throughput(model: str, data: str = "cifar10", batch_size: Optional[int] = None, steps: int = 3,
                     warmup: int = 1, device: str = "cpu", **model_kwargs: Any) -> dict[str, Any]:
    info = dataset_info(data)
    recipe = default_recipe(model, data)
    batch = batch_size or recipe.batch_size
    torch.manual_seed(0)
    kwargs = dict(num_classes=info.num_classes, auxiliary=recipe.auxiliary_weight > 0, **model_kwargs)
    if recipe.drop_path is not None:
        kwargs.setdefault("drop_path_rate", recipe.drop_path)
    net = zoo.create_model(model, family=info.family, **kwargs).to(device).train()
    net.set_drop_path(net.drop_path_rate / 2)  # mid-training
    opt = torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    x = torch.randn(batch, *info.input_size, device=device)
    y = torch.randint(0, info.num_classes, (batch,), device=device)
    times = []
    for i in range(warmup + steps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        logits, aux = net.forward_train(x)
        loss = nn.functional.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + recipe.auxiliary_weight * nn.functional.cross_entropy(aux, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), recipe.grad_clip)
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    step_s = sum(times) / len(times)
    return {"model": model, "data": info.name, "recipe": recipe.name, "batch": batch, "device": device,
            "threads": torch.get_num_threads(), "steps": steps, "step_s": round(step_s, 3),
            "images_per_s": round(batch / step_s, 2)}


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--data", default="cifar10")
    p.add_argument("--batch", type=int, help="default: the model's recipe batch")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    for m in args.models:
        print(json.dumps(train_throughput(m, args.data, args.batch, args.steps, args.warmup, args.device)), flush=True)


if __name__ == "__main__":
    main()
