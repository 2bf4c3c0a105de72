"""`darts-zoo train` and `darts-zoo eval` (registered by zoo.cli)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from zoo.data import ALIASES, DATASETS

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
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--layers", type=int, metavar="N", help="override the network's number of cells")
    p.add_argument("--channels", type=int, metavar="C", help="override the network's initial channels")


def register(subparsers) -> None:
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
        import torch

        torch.set_num_threads(max(1, args.threads))


def _train(args: argparse.Namespace) -> int:
    from .train import train

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
    from .evaluate import evaluate

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
