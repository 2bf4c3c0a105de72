"""`darts-zoo train`, `eval`, `bench` and `search-bench` (registered by zoo.cli)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Optional

import torch

from zoo.atomic import atomic_write_json
from zoo.data import ALIASES, DATASETS
from zoo.errors import ZooError
from zoo.ops import op_set_names
from zoo.runtime import DEVICE_HELP
from zoo.search import RECIPES as SEARCH_RECIPES
from zoo.speed_options import SPEED_SETTINGS
from zoo.settings import (BATCH_SIZE, CHANNELS, LAYERS, MAX_CHANNELS, MAX_LAYERS, NETWORK, THREADS, WORKERS, Domain,
                          Setting)

from .evaluate import evaluate
from .report import build_report, markdown_table, scatter_plot, select_models, write_json
from .search_speed import CONFIGS as SPEED_CONFIGS, DEFAULT_CONFIGS as DEFAULT_SPEED_CONFIGS, format_speed, search_speed
from .speed import register as register_train_bench
from .search_vs_random import format_comparison, format_seeds_comparison, search_seeds_vs_random, search_vs_random
from .seed_study import (SETTINGS as SEED_STUDY_SETTINGS, markdown as seed_study_markdown, parse_executor_options,
                         seed_study)
from .dag_study import add_dag_study_arguments, dag_study_command
from .recipes import RECIPES as TRAINING_RECIPES
from .train import TRAIN_SETTINGS, train

TRAIN_DATA = ("cifar10", "cifar100", "imagenet", "digits")
SEARCH_BENCH_SETTINGS = Domain("search-bench", (
    Setting("steps", int, "timed steps (default 2 on CPU, 20 on CUDA)", low=1, high=10_000, optional=True),
    Setting("batch_size", int, "default 64 (DARTS)", low=2, high=65536, optional=True),
    Setting("layers", int, "supernet cells, default 8 (DARTS)", low=3, high=MAX_LAYERS, optional=True),
    Setting("channels", int, "default 16 (DARTS)", low=2, high=MAX_CHANNELS, even=True, optional=True),
    Setting("image_size", int, "default 32", low=8, high=1024, optional=True),
    Setting("op_set", str, "op set of the supernet's ops, default darts (sharp: SharpSepConv)",
            choices=op_set_names, optional=True),
    Setting("candidates", str, "candidate ops on every edge (default: the op set's)", optional=True, many=True),
    Setting("configs", str, "configurations measured beside the plain step (default: all but compile)",
            choices=tuple(SPEED_CONFIGS), optional=True, many=True),
    Setting("strategies", str, "search strategies measured (default: first_order,second_order)",
            choices=("first_order", "second_order"), optional=True, many=True),
    Setting("random", int, "random genotypes", low=1, high=100),
    Setting("seeds", int, "training seeds per genotype", low=1, high=100),
    Setting("epochs", int, "training epochs", low=1, high=1000),
    Setting("train_images", int, "digits training images", low=20, high=1437),
    Setting("recipe", str, "search recipe searched at each seed", choices=lambda: tuple(SEARCH_RECIPES)),
    Setting("search_seeds", int, "search seeds (0, 1, ...)", low=1, high=100),
    Setting("budgets", int, "training epochs of each comparison, e.g. 5,30 (short, converged)", low=1,
            high=1000, many=True),
))
EVAL_DATA = DATASETS + tuple(ALIASES)
# search-bench flags shared by several kinds whose default depends on the kind (seeds has its own).
SEARCH_BENCH_DEFAULTS = {"random": {"seeds": "3", "epochs": "5", "train_images": "500"},
                         "random-seeds": {"train_images": "500"}, "dag": {"out": "dag_study"}}


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
    BATCH_SIZE.add_to(p, help="images per step (default: the recipe's)")
    WORKERS.add_to(p, help="data loader processes (default 0)", default="0")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    THREADS.add_to(p, help="CPU threads for torch (default: torch's choice)")
    LAYERS.add_to(p, help="override the network's number of cells")
    CHANNELS.add_to(p, help="override the network's initial channels")


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
    register_train_bench(subparsers)  # train-bench: training throughput, plain and with each speed option

    b = subparsers.add_parser(
        "search-bench", help="search-step speed, and a searched genotype vs random ones on digits",
        description="speed: images/s and peak memory of one supernet step (first and second order) at "
                    "the DARTS search setting, plain and each memory-saving configuration (recompute per cell, "
                    "per mixed op; PC-DARTS' partial channels) with its ratios to plain. random: train a searched genotype and random genotypes of "
                    "the same space on digits for a few epochs over 3 seeds.")
    b.add_argument("what", choices=("speed", "random", "random-seeds", "dag", "seeds"),
                   help="random-seeds: a recipe's digits search at several seeds against random cells, at two "
                        "training budgets; dag: search DAG building blocks and compare them with dense and random ones (docs/dag-blocks.md); "
                        "seeds: every RECIPE over N search seeds, each cell trained and tested (docs/seed-study.md)")
    b.add_argument("recipes", nargs="*", metavar="RECIPE", help="seeds only: the search recipes studied")
    b.add_argument("--device", default="auto", help=f"{DEVICE_HELP}; speed also takes all (the CPU and CUDA if present)")
    b.add_argument("--json", default=None, help="also write the results as JSON here")
    THREADS.add_to(b)
    SEARCH_BENCH_SETTINGS.add_to(b.add_argument_group("speed"), ("steps", "batch_size", "layers", "channels",
                                                                 "image_size", "op_set", "candidates", "configs",
                                                                 "strategies"))
    rd = b.add_argument_group("random")
    rd.add_argument("--genotype", default=None,
                    help="the searched genotype file (default: run the pdarts_3b digits search first)")
    for name, default in (("random", "3"), ("seeds", "3"), ("epochs", "5"), ("train_images", "500")):
        SEARCH_BENCH_SETTINGS[name].add_to(rd, default=default)
    rs = b.add_argument_group("random-seeds (also takes --random, --train-images)")
    for name, default in (("recipe", "pdarts_3b"), ("search_seeds", "3"), ("budgets", "5,30")):
        SEARCH_BENCH_SETTINGS[name].add_to(rs, default=default)
    add_dag_study_arguments(b.add_argument_group("dag (also takes --batch-size, --device, --json)"))
    sd = b.add_argument_group(
        "seeds (also takes --seeds N: search seeds 0..N-1, --data digits|cifar10, --epochs: search epochs, "
        "--train-images, --out (default ./seed_study), --data-dir, --device, --threads, --json)")
    SEED_STUDY_SETTINGS["train_epochs"].add_to(sd, default="5")
    SEED_STUDY_SETTINGS["jobs"].add_to(sd, default="1")
    SEED_STUDY_SETTINGS["executor"].add_to(sd, default="local")
    SEED_STUDY_SETTINGS["submitit_cluster"].add_to(sd, default="auto")
    sd.add_argument("--slurm-partition", default=None, metavar="NAME", help="with --executor submitit: SLURM partition")
    SEED_STUDY_SETTINGS["slurm_time_min"].add_to(sd)
    SEED_STUDY_SETTINGS["slurm_gpus"].add_to(sd)
    sd.add_argument("--executor-option", action="append", default=[], metavar="KEY=VALUE",
                    help="with --executor submitit: any submitit parameter, e.g. slurm_account=proj, cpus_per_task=4, "
                         "mem_gb=16 (repeatable)")
    sd.add_argument("--download", action="store_true", help="download CIFAR-10 if it is missing")
    # Shared flags whose default depends on the kind: filled in by _search_bench (SEARCH_BENCH_DEFAULTS).
    b.set_defaults(handler=_search_bench, seeds=None, epochs=None, train_images=None, out=None)

    p = subparsers.add_parser(
        "train", help="train a network from scratch with its paper's recipe",
        description="Train MODEL on a dataset with its paper's recipe (--data digits alone selects a reduced "
                    "preset that finishes in minutes on a CPU). Writes model.safetensors, metrics.json, "
                    "log.jsonl, curves.png and checkpoints/ under --out.")
    _common(p, TRAIN_DATA)
    p.add_argument("--recipe", help="training recipe: " + ", ".join(TRAINING_RECIPES) +
                   " (default: the one the model's genotype file names)")
    TRAIN_SETTINGS["epochs"].add_to(p, help="override the recipe's epochs")
    TRAIN_SETTINGS["lr"].add_to(p, help="override the recipe's learning rate")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/MODEL-DATA-RECIPE-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace what an earlier run left in --out (refused without it) and start over")
    TRAIN_SETTINGS["seed"].add_to(p, default="0")
    TRAIN_SETTINGS["ema"].add_to(p)
    speed = p.add_argument_group("speed options (each on CPU, CUDA and MPS)")
    for name in ("amp", "channels_last", "compile", "data_on_device"):
        TRAIN_SETTINGS[name].add_to(speed)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    TRAIN_SETTINGS["limit_train"].add_to(p)
    TRAIN_SETTINGS["limit_test"].add_to(p)
    TRAIN_SETTINGS["recompute"].add_to(p, default="none")
    p.set_defaults(handler=_train)

    p = subparsers.add_parser(
        "eval", help="top-1/top-5 of a network on a dataset's test split",
        description="Evaluate MODEL on a test split, from a checkpoint written by `darts-zoo train` or the "
                    "Hub's pretrained weights.")
    _common(p, EVAL_DATA)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", metavar="PATH", help="a model.safetensors")
    src.add_argument("--pretrained", action="store_true", help="the Hub's pretrained weights")
    speed = p.add_argument_group("speed options (each on CPU, CUDA and MPS)")
    for name in ("amp", "channels_last", "compile"):
        SPEED_SETTINGS[name].add_to(speed)
    p.set_defaults(handler=_eval)

    from . import push, reproduce  # inline: both read this module's helpers when they register

    push.register(subparsers)
    reproduce.register(subparsers)


def _threads(args: argparse.Namespace) -> None:
    threads = THREADS.check(args.threads)
    if threads is not None:
        torch.set_num_threads(threads)


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
    threads = THREADS.check(args.threads)
    if threads:
        torch.set_num_threads(threads)
    if args.what == "seeds":
        return _seed_study(args, threads)
    if args.recipes:
        raise ZooError(f"search-bench {args.what}: takes no RECIPE (got {' '.join(args.recipes)}); only "
                       "search-bench seeds does")
    for name, value in SEARCH_BENCH_DEFAULTS.get(args.what, {}).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.what == "dag":
        return dag_study_command(args)
    o = SEARCH_BENCH_SETTINGS.check(SEARCH_BENCH_SETTINGS.from_args(args), "search-bench")
    if args.what == "speed":
        setting = {k: o[k] for k in ("layers", "channels", "image_size") if k in o}
        result = search_speed(device=args.device, steps=o.get("steps"), batch_size=o.get("batch_size"),
                              threads=threads, op_set=o.get("op_set") or "darts", candidates=o.get("candidates"),
                              configs=tuple(o.get("configs") or DEFAULT_SPEED_CONFIGS),
                              strategies=tuple(o.get("strategies") or ("first_order", "second_order")), **setting)
        print(format_speed(result))
    elif args.what == "random-seeds":
        result = search_seeds_vs_random(recipe=o["recipe"], search_seeds=tuple(range(o["search_seeds"])),
                                        budgets=tuple(o["budgets"]), n_random=o["random"],
                                        train_images=o["train_images"], device=args.device)
        print(format_seeds_comparison(result))
    else:
        result = search_vs_random(genotype=args.genotype, device=args.device, n_random=o["random"],
                                  seeds=tuple(range(o["seeds"])), epochs=o["epochs"], train_images=o["train_images"])
        print(format_comparison(result))
    if args.json:
        atomic_write_json(Path(args.json), json.loads(json.dumps(result, default=str)))
    return 0


def _seed_study(args: argparse.Namespace, threads: Optional[int]) -> int:
    for flag, value in (("--seeds N", args.seeds), ("--data digits|cifar10", args.data)):
        if value is None:
            raise ZooError(f"search-bench seeds: {flag.split()[0]} is missing; give {flag}")
    report = seed_study(args.recipes, seeds=args.seeds, data=args.data, out=args.out or "seed_study",
                        epochs=args.epochs, train_epochs=args.train_epochs, train_images=args.train_images,
                        jobs=args.jobs, executor=args.executor, cluster=args.submitit_cluster, slurm_partition=args.slurm_partition,
                        slurm_time_min=args.slurm_time_min, slurm_gpus=args.slurm_gpus,
                        executor_options=parse_executor_options(args.executor_option), device=args.device,
                        threads=threads, data_dir=args.data_dir, download=args.download)
    print(seed_study_markdown(report))
    print(f"wrote {Path(args.out or 'seed_study') / 'seeds.json'}, seeds.md, accuracy.png, skips.png")
    if args.json:
        atomic_write_json(Path(args.json), report)
    return 0


def _train(args: argparse.Namespace) -> int:
    _threads(args)
    m = train(args.model, args.data, data_dir=args.data_dir, recipe=args.recipe, epochs=args.epochs,
              batch_size=args.batch_size, lr=args.lr, out=args.out, resume=args.resume, overwrite=args.overwrite,
              seed=args.seed, download=args.download, device=args.device, workers=args.workers, amp=bool(args.amp),
              channels_last=bool(args.channels_last), compile=bool(args.compile),
              data_on_device=bool(args.data_on_device), ema=args.ema, layers=args.layers,
              channels=args.channels, limit_train=args.limit_train, limit_test=args.limit_test,
              recompute=args.recompute, progress=not args.quiet)
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
    overrides = NETWORK.check({k: v for k, v in dict(layers=args.layers, channels=args.channels).items()
                               if v is not None}, "eval")
    r = evaluate(args.model, args.data, data_dir=args.data_dir, checkpoint=args.checkpoint,
                 pretrained=args.pretrained, batch_size=BATCH_SIZE.check(args.batch_size or 256),
                 workers=WORKERS.check(args.workers),
                 device=args.device, download=args.download, amp=bool(args.amp),
                 channels_last=bool(args.channels_last), compile=bool(args.compile), **overrides)
    print(_table([
        ("model", r["model"]), ("data", r["data"]),
        ("weights", r["checkpoint"] or ("pretrained" if r["pretrained"] else "random init")),
        ("images", r["n"]), ("top-1", _pct(r["top1"])), ("top-5", _pct(r["top5"])),
        ("loss", f"{r['loss']:.4f}"), ("images/s", r["images_per_s"]),
    ]))
    print(json.dumps(r))
    return 0
