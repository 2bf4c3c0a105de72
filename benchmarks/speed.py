"""Training throughput (images/s) and peak memory of a network at its recipe's batch size, plain and
with each speed option, side by side, on the CPU and on CUDA when present.

    darts-zoo train-bench darts_v2 --layers 8 --channels 16 --batch-size 32 --json speed.json --markdown speed.md
    python -m zoo.benchmarks.speed darts_v2 ...                 # the same

One step is what train.py does per batch, data included: the next batch of a CIFAR-sized dataset
(synthetic uint8 images, so no download) through the recipe's training augmentation (random crop,
flip, cutout; AutoAugment is left out of every row so that all rows do the same work), then
forward_train (auxiliary head and drop path active), cross-entropy plus the weighted auxiliary
loss, backward, gradient clipping, SGD step. The rows:

    plain           float32, DataLoader with torchvision's transforms (--workers processes)
    bf16            bfloat16 autocast
    channels_last   the network and its inputs in NHWC
    compile         torch.compile (inductor); compilation happens in the untimed warm-up steps
    data_on_device  the dataset as one tensor on the device, augmented there (zoo.device_data)

Each row runs in a fresh process: peak memory is `torch.cuda.max_memory_allocated` on CUDA and, on
the CPU, that process's peak resident set minus its resident set before the network was built.
The ratio is images/s (and memory) over the plain row's on the same device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

import zoo
from zoo.atomic import atomic_write_bytes, atomic_write_json, finite_json
from zoo.errors import ZooError
from zoo.locks import output_lock
from zoo.data import ArrayImages, build_transform, dataset_info
from zoo.device_data import DeviceImages, DeviceLoader, augmentation_for
from zoo.runtime import DEVICE_HELP, peak_rss_mib, resolve_device, rss_mib, run_isolated
from zoo.settings import BATCH_SIZE, CHANNELS, LAYERS, THREADS, WORKERS, Domain, Setting
from zoo.speed_options import autocast, prepare_batch, prepare_model

from .recipes import default_recipe
from .train import TrainForward

CONFIGS = {
    "plain": {},
    "bf16": {"amp": True},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "data_on_device": {"data_on_device": True},
}
SPEED_BENCH_SETTINGS = Domain("train-bench", (
    BATCH_SIZE, LAYERS, CHANNELS, THREADS, WORKERS,
    Setting("steps", int, "timed steps per row", low=1, high=10_000),
    Setting("warmup", int, "untimed steps before them (a compiled row takes at least 2)", low=0, high=1000),
    Setting("configs", str, "rows to measure, besides plain", choices=tuple(CONFIGS), many=True),
    Setting("data", str, "dataset whose size, classes and augmentation are used", choices=("cifar10", "cifar100",
                                                                                           "digits")),
    Setting("repeats", int, "alternating rounds; each row is its median round", low=1, high=100),
))


def _synthetic(data: str, n: int, seed: int = 0) -> ArrayImages:
    """n random uint8 images of the dataset's size (grey for digits, as its files are) and labels."""
    info = dataset_info(data)
    _, h, w = info.input_size
    rng = np.random.default_rng(seed)
    shape = (n, h, w) if info.name == "digits" else (n, h, w, 3)
    return ArrayImages(rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, info.num_classes, n))


def _cycle(loader) -> Iterator:
    while True:
        yield from loader


def train_throughput(model: str, data: str = "cifar10", batch_size: Optional[int] = None, steps: int = 3,
                     warmup: int = 1, device: str = "cpu", amp: bool = False, channels_last: bool = False,
                     compile: bool = False, data_on_device: bool = False, workers: int = 0,
                     threads: Optional[int] = None, **model_kwargs: Any) -> dict[str, Any]:
    """Time `steps` training steps (after `warmup` untimed ones) in this process; see the module's text."""
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    info = dataset_info(data)
    recipe = default_recipe(model, data)
    batch = batch_size or recipe.batch_size
    warmup = max(warmup, 2) if compile else warmup  # the first calls compile (and recompile once drop path is on)
    base_rss = rss_mib()
    torch.manual_seed(0)
    kwargs = dict(num_classes=info.num_classes, auxiliary=recipe.auxiliary_weight > 0, **model_kwargs)
    if recipe.drop_path is not None:
        kwargs.setdefault("drop_path_rate", recipe.drop_path)
    net = zoo.create_model(model, family=info.family, **kwargs)
    prepare_model(net.to(dev).train(), channels_last=channels_last)
    net.set_drop_path(net.drop_path_rate / 2)  # mid-training
    forward = prepare_model(TrainForward(net), compile=compile)
    opt = torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    dataset = _synthetic(data, batch * min(warmup + steps, 4))
    if data_on_device:
        images = DeviceImages.from_dataset(dataset, data, dev)
        order = [list(range(i, i + batch)) for i in range(0, len(dataset) - batch + 1, batch)]
        loader: Any = DeviceLoader(images, order, augmentation_for(data, recipe.cutout))
    else:
        dataset.transform = build_transform(data, True, cutout=recipe.cutout)
        loader = DataLoader(dataset, batch, shuffle=False, drop_last=True, num_workers=workers,
                            pin_memory=dev.type == "cuda", persistent_workers=workers > 0)
    batches = _cycle(loader)
    cuda = dev.type == "cuda"
    times = []
    for i in range(warmup + steps):
        if i == warmup and cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        if cuda:
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        x, y = prepare_batch(*next(batches), dev, channels_last)
        with autocast(dev, amp):
            logits, aux = forward(x)
        loss = nn.functional.cross_entropy(logits.float(), y)
        if aux is not None:
            loss = loss + recipe.auxiliary_weight * nn.functional.cross_entropy(aux.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), recipe.grad_clip)
        opt.step()
        if cuda:
            torch.cuda.synchronize(dev)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    step_s = sum(times) / len(times)
    if cuda:
        peak, kind, name = torch.cuda.max_memory_allocated(dev) / 2 ** 20, "cuda max_memory_allocated", \
            torch.cuda.get_device_name(dev)
    else:
        peak, kind, name = peak_rss_mib() - base_rss, "process peak RSS increase", \
            f"CPU ({torch.get_num_threads()} threads)"
    return {"model": model, "data": info.name, "recipe": recipe.name, "batch": batch, "device": str(dev),
            "device_name": name, "threads": torch.get_num_threads(), "workers": 0 if data_on_device else workers,
            "amp": amp, "channels_last": channels_last, "compile": compile, "data_on_device": data_on_device,
            "steps": steps, "warmup": warmup, "step_s": round(step_s, 4), "images_per_s": round(batch / step_s, 2),
            "peak_memory_mib": round(peak, 1), "memory_kind": kind, "loss": float(loss.detach())}


def compare(model: str = "darts_v2", data: str = "cifar10", device: str = "all",
            configs: Sequence[str] = tuple(c for c in CONFIGS if c != "plain"), isolate: bool = True,
            repeats: int = 1, **options: Any) -> dict[str, Any]:
    """The plain row and each of `configs` on the CPU and on CUDA when present (`device="all"`),
    or on one device; each row with its ratios to the plain row of its device. With `repeats` > 1
    the rows are measured in that many alternating rounds and each row is its median round (by
    images/s), which steadies the ratios on a shared machine. `options` go to train_throughput
    (batch_size, steps, warmup, workers, threads, layers, channels, ...)."""
    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if device == "all" \
        else [str(resolve_device(device))]
    names = ["plain"] + [c for c in configs if c != "plain"]
    rows = []
    for dev in devices:
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for _ in range(repeats):
            for name in names:
                kwargs = dict(model=model, data=data, device=dev, **CONFIGS[name], **options)
                row = run_isolated(train_throughput, **kwargs) if isolate else train_throughput(**kwargs)
                rounds[name].append({"config": name, **row})
        for name in names:
            good = sorted((r for r in rounds[name] if "error" not in r), key=lambda r: r["images_per_s"])
            row = good[len(good) // 2] if good else rounds[name][0]
            row["images_per_s_rounds"] = [r["images_per_s"] for r in good]
            rows.append(row)
        plain = rows[-len(names)]
        for row in rows[-len(names):]:
            if "error" not in row and "error" not in plain:
                row["speed_ratio"] = round(row["images_per_s"] / plain["images_per_s"], 3)
                row["memory_ratio"] = (round(row["peak_memory_mib"] / plain["peak_memory_mib"], 3)
                                       if plain["peak_memory_mib"] > 0 else None)
    first = next((r for r in rows if "error" not in r), {})
    setting = {k: first.get(k, options.get(k)) for k in ("model", "data", "recipe", "batch", "steps", "threads")}
    return {"setting": {**setting, "model": model, "data": data, "repeats": repeats,
                        **{k: v for k, v in options.items() if k in ("layers", "channels")}},
            "torch": torch.__version__, "rows": rows}


def format_markdown(result: dict[str, Any]) -> str:
    s = result["setting"]
    shape = "".join(f", {k} {s[k]}" for k in ("layers", "channels") if s.get(k))
    lines = [f"training step of {s['model']} on {s['data']}-sized data{shape}, batch {s.get('batch')}, "
             f"{s.get('steps')} timed steps, median of {s.get('repeats', 1)} round(s) (torch {result['torch']})", "",
             "| device | config | images/s | ratio | s/step | peak memory (MiB) | memory ratio |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['device']} | {r['config']} | error: {r['error']} | | | | |")
            continue
        ratio = r.get("speed_ratio")
        mem = r.get("memory_ratio")
        lines.append(f"| {r['device_name']} | {r['config']} | {r['images_per_s']:.1f} | "
                     f"{'-' if ratio is None else f'{ratio:.2f}x'} | {r['step_s']:.3f} | {r['peak_memory_mib']:.0f} | "
                     f"{'-' if mem is None else f'{mem:.2f}x'} |")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL|GENOTYPE_FILE", help="a zoo name or a genotype YAML file")
    p.add_argument("--device", default="all", help=f"{DEVICE_HELP}, or all: the CPU and CUDA when present (default)")
    SPEED_BENCH_SETTINGS["data"].add_to(p, default="cifar10")
    SPEED_BENCH_SETTINGS["configs"].add_to(p, default=",".join(c for c in CONFIGS if c != "plain"))
    SPEED_BENCH_SETTINGS["batch_size"].add_to(p, help="images per step (default: the recipe's)")
    SPEED_BENCH_SETTINGS["steps"].add_to(p, default="3")
    SPEED_BENCH_SETTINGS["warmup"].add_to(p, default="1")
    SPEED_BENCH_SETTINGS["repeats"].add_to(p, default="1")
    SPEED_BENCH_SETTINGS["workers"].add_to(p, help="DataLoader processes of the rows that load on the CPU", default="0")
    SPEED_BENCH_SETTINGS["threads"].add_to(p)
    SPEED_BENCH_SETTINGS["layers"].add_to(p, help="override the network's cells")
    SPEED_BENCH_SETTINGS["channels"].add_to(p, help="override the network's initial channels")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the rows as JSON")
    p.add_argument("--markdown", metavar="FILE", default=None, help="also write the table as markdown")


def run(args: argparse.Namespace) -> int:
    names = ("data", "configs", "batch_size", "steps", "warmup", "repeats", "workers", "threads", "layers", "channels")
    o = SPEED_BENCH_SETTINGS.check(SPEED_BENCH_SETTINGS.from_args(args, names), "train-bench")
    if args.device != "all":
        resolve_device(args.device)
    options = {k: o[k] for k in ("batch_size", "steps", "warmup", "workers", "threads", "layers", "channels")
               if o.get(k) is not None}
    result = compare(args.model, o["data"], args.device, o["configs"], repeats=o["repeats"], **options)
    table = format_markdown(result)
    print(table)
    if args.json:
        with output_lock(Path(args.json)):
            print(f"wrote {atomic_write_json(Path(args.json), finite_json(json.loads(json.dumps(result, default=str))))}")
    if args.markdown:
        with output_lock(Path(args.markdown)):
            print(f"wrote {atomic_write_bytes(Path(args.markdown), (table + chr(10)).encode())}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-bench", help="training throughput and peak memory, plain and with each speed option",
        description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(handler=run)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    try:
        return run(p.parse_args(argv))
    except ZooError as e:
        print(f"train-bench: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
