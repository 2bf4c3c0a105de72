"""`darts-zoo search`: run a recipe's architecture search and write the genotype it finds.

    darts-zoo search --recipe pdarts_3b --data digits                 # a few minutes on a CPU
    darts-zoo search --recipe darts_v2 --data cifar10 --data-dir data --out runs/darts_v2.yaml
    darts-zoo search --recipe darts_v2 --data cifar10 --data-dir data --out runs/darts_v2.yaml --resume
    torchrun --nproc_per_node 4 -m zoo.search --recipe pdarts --data cifar10 --amp --data-on-device
"""

from __future__ import annotations

import argparse

from ..runtime import DEVICE_HELP
from .components import SPACES
from .recipes import RECIPES, SEARCH_SETTINGS
from .run import RUN_SETTINGS, run_search

# Every recipe field is a flag; its domain is the recipe's. A mapping (strategy_kwargs, mixing_kwargs, ...)
# is a repeatable KEY=VALUE flag that updates the recipe's mapping key by key.
RECIPE_FLAGS = SEARCH_SETTINGS.names


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
    p.add_argument("--out", default=None,
                   help="genotype file to write (default runs/search/RECIPE_DATA_seedS.yaml)")
    RUN_SETTINGS["seed"].add_to(p, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint next to --out")
    p.add_argument("--restart", action="store_true", help="delete an existing checkpoint and start over")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished --out (refused without it) and start over")
    RUN_SETTINGS["stop_after_epochs"].add_to(p)
    RUN_SETTINGS["recompute"].add_to(p, default="none")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    speed = p.add_argument_group("speed options (each on CPU, CUDA and MPS)")
    for name in ("amp", "channels_last", "compile", "data_on_device"):
        RUN_SETTINGS[name].add_to(speed)
    RUN_SETTINGS["workers"].add_to(p, help="data loader workers (default 0 on CPU, 4 on CUDA)")
    RUN_SETTINGS["threads"].add_to(p, help="torch CPU threads (on a busy machine 1 thread can be much faster "
                                           "than several)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")
    SEARCH_SETTINGS.add_to(p.add_argument_group("recipe overrides"), RECIPE_FLAGS, dest_prefix="override_")
    p.set_defaults(handler=_search)


def _overrides(args: argparse.Namespace) -> dict:
    return SEARCH_SETTINGS.from_args(args, RECIPE_FLAGS, dest_prefix="override_")


def _search(args: argparse.Namespace) -> int:

    path = run_search(
        args.recipe, data=args.data, data_dir=args.data_dir, out=args.out,
        resume=args.resume, seed=args.seed, download=args.download, overrides=_overrides(args),
        device=args.device, amp=bool(args.amp), channels_last=bool(args.channels_last), compile=bool(args.compile),
        data_on_device=bool(args.data_on_device), workers=args.workers,
        progress=False if args.no_progress else None, restart=args.restart, overwrite=args.overwrite,
        stop_after_epochs=args.stop_after_epochs, threads=args.threads, recompute=args.recompute)
    if path is not None:
        # A space whose result is not a cell (the HyperCuboid's path) says how to read it.
        space = SPACES.find(_overrides(args).get("space") or RECIPES[args.recipe].space)
        hint = getattr(space, "result_hint", None)
        print(f"result: {path}  ({hint})" if hint else
              f"genotype: {path}  (timm.create_model('darts_genotype', genotype='{path}'))")
    return 0
