"""`darts-zoo search` (run a recipe's architecture search) and `darts-zoo search-bench` (search-step
speed, searched-vs-random comparison).

    darts-zoo search --recipe pdarts_3b --data digits                 # a few minutes on a CPU
    darts-zoo search --recipe darts_v2 --data cifar10 --data-dir data --out runs/darts_v2.yaml
    darts-zoo search --recipe darts_v2 --data cifar10 --data-dir data --out runs/darts_v2.yaml --resume
    torchrun --nproc_per_node 4 -m zoo.search --recipe pdarts --data cifar10 --amp
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .components import RULES, SCHEDULES, SPACES, STRATEGIES
from .recipes import RECIPES

# Flags that override one recipe field each: (flag, field, type, help).
_OVERRIDES = (
    ("--batch-size", "batch_size", int, "global batch size (split across ranks)"),
    ("--channels", "channels", int, "supernet initial channels C"),
    ("--layers", "layers", int, "supernet cells (single-stage recipes)"),
    ("--stage-layers", "stage_layers", str, "cells per P-DARTS stage, e.g. 5,11,17"),
    ("--stage-ops", "stage_ops", str, "candidate ops per edge in each stage, e.g. 8,5,3"),
    ("--stage-dropout", "stage_dropout", str, "skip_connect dropout per stage, e.g. 0.1,0.4,0.7"),
    ("--warmup-epochs", "warmup_epochs", int, "epochs per stage without alpha updates"),
    ("--nodes", "nodes", int, "intermediate nodes per cell"),
    ("--w-lr", "w_lr", float, "weights' SGD learning rate"),
    ("--w-lr-min", "w_lr_min", float, "weights' final cosine learning rate"),
    ("--w-wd", "w_wd", float, "weights' weight decay"),
    ("--a-lr", "a_lr", float, "alphas' Adam learning rate"),
    ("--a-wd", "a_wd", float, "alphas' weight decay"),
    ("--grad-clip", "grad_clip", float, "gradient norm clip for the weights"),
    ("--train-fraction", "train_fraction", float, "share of the train split for the weights (rest: alphas)"),
    ("--subset", "subset", int, "use only this many training images"),
    ("--strategy", "strategy", str, "update rule: " + ", ".join(STRATEGIES.names())),
    ("--space", "space", str, "search space: " + ", ".join(SPACES.names())),
    ("--lr-schedule", "lr_schedule", str, "weights' learning-rate schedule: " + ", ".join(SCHEDULES.names())),
    ("--rule", "rule", str, "discretization: " + ", ".join(RULES.names())),
    ("--max-skips", "max_skips", int, "at most this many skip_connect in the normal cells"),
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search", help="run an architecture search recipe and write the genotype it finds",
        description="Search a cell with one of the papers' recipes. Writes a genotype YAML file (build it "
                    "with timm.create_model('darts_genotype', genotype=FILE)), an alpha history (.history.json, "
                    ".alphas.png) and a checkpoint every epoch (.ckpt/, continue with --resume).")
    p.add_argument("--recipe", required=True, choices=sorted(RECIPES), metavar="RECIPE",
                   help="one of: " + ", ".join(RECIPES))
    p.add_argument("--data", default="cifar10", choices=("cifar10", "cifar100", "digits"),
                   help="search data (digits: a small CPU preset of the recipe; default cifar10)")
    p.add_argument("--data-dir", default=None, help="dataset folder (default $DARTS_ZOO_DATA or ./data)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing")
    p.add_argument("--epochs", type=int, default=None, help="epochs (per stage for P-DARTS recipes)")
    p.add_argument("--out", default=None,
                   help="genotype file to write (default runs/search/RECIPE_DATA_seedS.yaml)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint next to --out")
    p.add_argument("--restart", action="store_true", help="delete an existing checkpoint and start over")
    p.add_argument("--stop-after-epochs", type=int, default=None, metavar="N",
                   help="pause after N epochs (checkpoint kept; continue with --resume)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format on CUDA")
    p.add_argument("--workers", type=int, default=None, help="data loader workers (default 0 on CPU, 4 on CUDA)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (on a busy machine 1 thread can be much faster than several)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")
    group = p.add_argument_group("recipe overrides")
    for flag, field, kind, text in _OVERRIDES:
        group.add_argument(flag, dest=f"override_{field}", type=kind, default=None, help=text,
                           metavar=flag.lstrip("-").upper().replace("-", "_"))
    p.set_defaults(handler=_search)

    b = subparsers.add_parser(
        "search-bench", help="search-step speed, and a searched genotype vs random ones on digits",
        description="speed: images/s and peak memory of one supernet step (first and second order) at "
                    "the DARTS search setting. random: train a searched genotype and random genotypes of "
                    "the same space on digits for a few epochs over 3 seeds.")
    b.add_argument("what", choices=("speed", "random"))
    b.add_argument("--device", default="auto", help="auto, cpu or cuda (speed: auto = CPU and CUDA if present)")
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
    b.set_defaults(handler=_bench)


def _overrides(args: argparse.Namespace) -> dict:
    return {field: getattr(args, f"override_{field}") for _, field, _, _ in _OVERRIDES
            if getattr(args, f"override_{field}") is not None}


def _search(args: argparse.Namespace) -> int:
    from .run import run_search

    path = run_search(
        args.recipe, data=args.data, data_dir=args.data_dir, epochs=args.epochs, out=args.out,
        resume=args.resume, seed=args.seed, download=args.download, overrides=_overrides(args),
        device=args.device, amp=args.amp, channels_last=args.channels_last, workers=args.workers,
        progress=False if args.no_progress else None, restart=args.restart,
        stop_after_epochs=args.stop_after_epochs, threads=args.threads)
    if path is not None:
        print(f"genotype: {path}  (timm.create_model('darts_genotype', genotype='{path}'))")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import json

    import torch

    from ..atomic import atomic_write_json

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.what == "speed":
        from ..benchmarks.search_speed import format_speed, search_speed

        setting = {k: getattr(args, k) for k in ("layers", "channels", "image_size") if getattr(args, k)}
        result = search_speed(device=args.device, steps=args.steps, batch_size=args.batch_size,
                              threads=args.threads, **setting)
        print(format_speed(result))
    else:
        from ..benchmarks.search_vs_random import format_comparison, search_vs_random

        result = search_vs_random(genotype=args.genotype, device=args.device, n_random=args.random,
                                  seeds=tuple(range(args.seeds)), epochs=args.epochs,
                                  train_images=args.train_images)
        print(format_comparison(result))
    if args.json:
        atomic_write_json(Path(args.json), json.loads(json.dumps(result, default=str)))
    return 0
