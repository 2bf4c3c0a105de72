"""`darts-zoo train`, `eval`, `bench` and `search-bench` (registered by zoo.cli)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch

from zoo.atomic import atomic_write_json
from zoo.data import ALIASES, DATASETS
from zoo.runtime import DEVICE_HELP

from .evaluate import evaluate
from .report import build_report, markdown_table, scatter_plot, select_models, write_json
from .search_speed import format_speed, search_speed
from .search_vs_random import format_comparison, search_vs_random
from .train import train

TRAIN_DATA = ("cifar10", "cifar100", "imagenet", "digits")
EVAL_DATA = DATASETS + tuple(ALIASES)


def _table(rows: list[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{x:.2f} %"


def _common(p: argparse.ArgumentParser, data_choices: tuple[str, ...]) -> None:
    p.add_argument("model", metavar="MODEL|GENOTYPE_FILE", help="a zoo name (darts-zoo list) or a genotype YAML file")
    p.add_argument("--data", required=True, choices=data_choices, help="dataset")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset is (default: $DARTS_ZOO_DATA or ./data)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing (CIFAR only)")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--workers", type=int, default=0, metavar="N", help="data loader processes (default 0)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--layers", type=int, metavar="N", help="override the network's number of cells")
    p.add_argument("--channels", type=int, metavar="C", help="override the network's initial channels")


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", metavar="PATTERN", default=None,
                   help="comma-separated names or globs, e.g. 'pdarts*,darts_v2' (default: the whole zoo)")
    p.add_argument("--family", choices=("cifar", "imagenet", "all"), default="all")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the report as JSON")
    p.add_argument("--plot", metavar="PNG", default=None,
                   help="also draw top-1 error against params and MACs (papers' points, ours where measured)")
    p.add_argument("--speed", action="store_true",
                   help="also measure batch-1 latency and throughput, on CPU and on CUDA when present")
    p.add_argument("--batch", type=int, default=64, help="batch size for the throughput column (default 64)")
    p.add_argument("--weights", metavar="DIR", default=None,
                   help="measure accuracy where DIR/<model>.safetensors or DIR/<model>/model.safetensors exists")
    p.add_argument("--cifar-data", metavar="DATASET[:DIR]", default=None,
                   help="dataset for CIFAR rows' accuracy: cifar10 or cifar10.1, optionally with its folder")
    p.add_argument("--imagenet-data", metavar="DIR", default=None, help="ImageNet folder (with val/) for ImageNet rows")
    p.add_argument("--no-progress", action="store_true")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="params and MACs of every zoo model beside the reference and published numbers")
    add_bench_arguments(p)
    p.set_defaults(handler=_bench)

    b = subparsers.add_parser(
        "search-bench", help="search-step speed, and a searched genotype vs random ones on digits",
        description="speed: images/s and peak memory of one supernet step (first and second order) at "
                    "the DARTS search setting. random: train a searched genotype and random genotypes of "
                    "the same space on digits for a few epochs over 3 seeds.")
    b.add_argument("what", choices=("speed", "random"))
    b.add_argument("--device", default="auto", help=f"{DEVICE_HELP}; speed also takes all (the CPU and CUDA if present)")
    b.add_argument("--json", default=None, help="also write the results as JSON here")
    b.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    sp = b.add_argument_group("speed")
    sp.add_argument("--steps", type=int, default=None, help="timed steps (default 2 on CPU, 20 on CUDA)")
    sp.add_argument("--batch-size", type=int, default=None, help="default 64 (DARTS)")
    sp.add_argument("--layers", type=int, default=None, help="default 8 (DARTS)")
    sp.add_argument("--channels", type=int, default=None, help="default 16 (DARTS)")
    sp.add_argument("--image-size", type=int, default=None, help="default 32")
    rd = b.add_argument_group("random")
    rd.add_argument("--genotype", default=None,
                    help="the searched genotype file (default: run the pdarts_3b digits search first)")
    rd.add_argument("--random", type=int, default=3, help="random genotypes (default 3)")
    rd.add_argument("--seeds", type=int, default=3, help="training seeds per genotype (default 3)")
    rd.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    rd.add_argument("--train-images", type=int, default=500, help="digits training images (default 500)")
    b.set_defaults(handler=_search_bench)

    p = subparsers.add_parser(
        "train", help="train a network from scratch with its paper's recipe",
        description="Train MODEL on a dataset with its paper's recipe (--data digits alone selects a reduced "
                    "preset that finishes in minutes on a CPU). Writes model.safetensors, metrics.json, "
                    "log.jsonl, curves.png and checkpoints/ under --out.")
    _common(p, TRAIN_DATA)
    p.add_argument("--recipe", help="darts, pdarts, pdarts_3b, sharpdarts, imagenet, imagenet_pdarts, "
                                    "imagenet_sharpdarts, digits (default: the model's paper's)")
    p.add_argument("--epochs", type=int, metavar="N", help="override the recipe's epochs")
    p.add_argument("--lr", type=float, help="override the recipe's learning rate")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/MODEL-DATA-RECIPE-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ema", type=float, metavar="DECAY", help="also keep an EMA of the weights (e.g. 0.9998)")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (CUDA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (CUDA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--limit-train", type=int, metavar="N", help="train on N images only (smoke runs)")
    p.add_argument("--limit-test", type=int, metavar="N", help="test on the first N images only (smoke runs)")
    p.set_defaults(handler=_train)

    p = subparsers.add_parser(
        "eval", help="top-1/top-5 of a network on a dataset's test split",
        description="Evaluate MODEL on a test split, from a checkpoint written by `darts-zoo train` or the "
                    "Hub's pretrained weights.")
    _common(p, EVAL_DATA)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", metavar="PATH", help="a model.safetensors")
    src.add_argument("--pretrained", action="store_true", help="the Hub's pretrained weights")
    p.set_defaults(handler=_eval)


def _threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))


def _bench(args: argparse.Namespace) -> int:
    names = select_models(args.models)
    families = ("cifar", "imagenet") if args.family == "all" else (args.family,)
    data = {}
    if args.cifar_data:
        name, _, root = args.cifar_data.partition(":")
        data["cifar"] = (name, root or None)
    if args.imagenet_data:
        data["imagenet"] = ("imagenet", args.imagenet_data)
    rows = build_report(names, families, progress=not args.no_progress, speed=args.speed, batch=args.batch,
                        weights_dir=Path(args.weights) if args.weights else None, data=data)
    print(markdown_table(rows))
    if args.json:
        print(f"\nwrote {write_json(rows, args.json)}")
    if args.plot:
        print(f"wrote {scatter_plot(rows, args.plot)}")
    return 0


def _search_bench(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.what == "speed":
        setting = {k: getattr(args, k) for k in ("layers", "channels", "image_size") if getattr(args, k)}
        result = search_speed(device=args.device, steps=args.steps, batch_size=args.batch_size,
                              threads=args.threads, **setting)
        print(format_speed(result))
    else:
        result = search_vs_random(genotype=args.genotype, device=args.device, n_random=args.random,
                                  seeds=tuple(range(args.seeds)), epochs=args.epochs,
                                  train_images=args.train_images)
        print(format_comparison(result))
    if args.json:
        atomic_write_json(Path(args.json), json.loads(json.dumps(result, default=str)))
    return 0


def _train(args: argparse.Namespace) -> int:
    _threads(args)
    m = train(args.model, args.data, data_dir=args.data_dir, recipe=args.recipe, epochs=args.epochs,
              batch_size=args.batch_size, lr=args.lr, out=args.out, resume=args.resume, seed=args.seed,
              download=args.download, device=args.device, workers=args.workers, amp=args.amp,
              channels_last=args.channels_last, compile=args.compile, ema=args.ema, layers=args.layers,
              channels=args.channels, limit_train=args.limit_train, limit_test=args.limit_test,
              progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return 0
    print()
    print(_table([
        ("model", m["model"]), ("data", m["data"]), ("recipe", m["recipe"]["name"]),
        ("epochs", m["epochs_done"]), ("params", f"{m['params_m']:.4f} M"), ("MACs", f"{m['macs_m']:.1f} M"),
        ("top-1 (final)", _pct(m["top1"])), ("top-5 (final)", _pct(m["top5"])),
        ("top-1 (best)", f"{_pct(m['best_top1'])} at epoch {m['best_epoch']}"),
        ("train images/s", m["train_images_per_s"]), ("wall time", f"{m['wall_s']:.1f} s"),
    ]))
    print(json.dumps({k: v for k, v in m.items() if k != "recipe"} | {"recipe": m["recipe"]["name"]}))
    return 0


def _eval(args: argparse.Namespace) -> int:
    _threads(args)
    overrides = {k: v for k, v in dict(layers=args.layers, channels=args.channels).items() if v is not None}
    r = evaluate(args.model, args.data, data_dir=args.data_dir, checkpoint=args.checkpoint,
                 pretrained=args.pretrained, batch_size=args.batch_size or 256, workers=args.workers,
                 device=args.device, download=args.download, **overrides)
    print(_table([
        ("model", r["model"]), ("data", r["data"]),
        ("weights", r["checkpoint"] or ("pretrained" if r["pretrained"] else "random init")),
        ("images", r["n"]), ("top-1", _pct(r["top1"])), ("top-5", _pct(r["top5"])),
        ("loss", f"{r['loss']:.4f}"), ("images/s", r["images_per_s"]),
    ]))
    print(json.dumps(r))
    return 0
