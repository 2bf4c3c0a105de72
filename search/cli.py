"""`darts-zoo search`: run a recipe's architecture search and write the genotype it finds.

    darts-zoo search --recipe pdarts_3b --data digits                 # a few minutes on a CPU
    darts-zoo search --recipe darts_v2 --data cifar10 --data-dir data --out runs/darts_v2.yaml
    darts-zoo search --recipe darts_v2 --data cifar10 --data-dir data --out runs/darts_v2.yaml --resume
    torchrun --nproc_per_node 4 -m zoo.search --recipe pdarts --data cifar10 --amp
"""

from __future__ import annotations

import argparse

from .components import RULES, SCHEDULES, SPACES, STRATEGIES
from .recipes import RECIPES
from .run import run_search

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


def _overrides(args: argparse.Namespace) -> dict:
    return {field: getattr(args, f"override_{field}") for _, field, _, _ in _OVERRIDES
            if getattr(args, f"override_{field}") is not None}


def _search(args: argparse.Namespace) -> int:

    path = run_search(
        args.recipe, data=args.data, data_dir=args.data_dir, epochs=args.epochs, out=args.out,
        resume=args.resume, seed=args.seed, download=args.download, overrides=_overrides(args),
        device=args.device, amp=args.amp, channels_last=args.channels_last, workers=args.workers,
        progress=False if args.no_progress else None, restart=args.restart,
        stop_after_epochs=args.stop_after_epochs, threads=args.threads)
    if path is not None:
        print(f"genotype: {path}  (timm.create_model('darts_genotype', genotype='{path}'))")
    return 0
