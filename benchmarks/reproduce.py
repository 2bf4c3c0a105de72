"""`darts-zoo reproduce`: train a zoo model (or any genotype) with its paper's recipe, measure it on
the test split (and on CIFAR-10.1 when its files are there, as the sharpDARTS paper does), write
the comparison with the paper's figure, and push the result to the Hub when asked.

    darts-zoo reproduce pdarts_3b --data cifar10 --data-dir data --push you/pdarts_3b
    darts-zoo reproduce pdarts_3b --data digits          # the reduced preset: minutes on a CPU
    darts-zoo reproduce pdarts_3b --data cifar10 --resume   # continue an interrupted run

The run folder is `darts-zoo train`'s (model.safetensors, metrics.json, log.jsonl, curves.png,
checkpoints/) plus genotype.yaml, reproduce.json (the measured results beside the paper's) and
reproduce.md (the same as a table); `darts-zoo push RUN` puts all of it on the model card.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Optional, Union

from zoo.atomic import atomic_write_bytes, atomic_write_json, finite_json
from zoo.data import dataset_info, default_root
from zoo.errors import HubError
from zoo.genotype import dump_genotype
from zoo.hub import hub_offline, hub_token
from zoo.locks import output_lock
from zoo.model_card import DATASETS, SPLIT_NOTES, paper_top1
from zoo.models import resolve_genotype
from zoo.speed_options import SPEED_SETTINGS
from zoo.pretrained import check_repo_id

from .evaluate import evaluate
from .push import RESULTS_FILE, push as push_run
from .recipes import default_recipe, get_recipe
from .train import TRAIN_SETTINGS, Trainer, default_run_dir

CIFAR101_FILES = ("cifar10.1_v6_data.npy", "cifar10.1_v6_labels.npy")


def default_reproduce_dir(model: str, data: str, recipe: str, seed: int) -> Path:
    return Path("runs") / "reproduce" / default_run_dir(model, data, recipe, seed).name


def _cifar101_present(data_dir: Optional[Union[str, Path]]) -> bool:
    root = Path(data_dir) if data_dir is not None else default_root("cifar10.1")
    return all((root / name).is_file() for name in CIFAR101_FILES)


def compare(g, results: list[dict[str, Any]], comparable: bool) -> list[dict[str, Any]]:
    """Each measured result with the paper's figure beside it and the difference (points of top-1)."""
    rows = []
    for r in results:
        paper, text = paper_top1(g, r["data"])
        rows.append({**r, "paper_top1": paper, "paper": text or None,
                     "difference": round(r["top1"] - paper, 2) if paper is not None and comparable else None})
    return rows


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# {report['model']} on {report['data']}: measured and published", "",
             f"Recipe `{report['recipe']}` ({report['recipe_source']}); {report['epochs_done']} epochs; "
             f"{report['layers']} cells x {report['channels']} channels; run folder `{report['run_dir']}`.", "",
             "| dataset | split | images | top-1 | top-5 | paper's top-1 | difference |",
             "|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        diff = "—" if r["difference"] is None else f"{r['difference']:+.2f}"
        lines.append(f"| {DATASETS[r['data']][1]} | {r['split']} | {r['n']} | {r['top1']:.2f} % | {r['top5']:.2f} % | "
                     f"{r['paper'] or '— (none on this dataset)'} | {diff} |")
    lines += ["", *(f"- {DATASETS[d][1]}: {SPLIT_NOTES[d]}." for d in dict.fromkeys(r["data"] for r in report["results"]))]
    if not report["comparable"]:
        lines.append(f"- Not comparable with the paper: {report['why_not_comparable']}.")
    return "\n".join(lines) + "\n"


def reproduce(model: str, data: str, *, data_dir: Optional[Union[str, Path]] = None, push: Optional[str] = None,
              private: bool = False, out: Optional[Union[str, Path]] = None, seed: int = 0,
              recipe: Optional[str] = None, log: Callable[[str], None] = print, **train_kwargs: Any
              ) -> dict[str, Any]:
    """Train, evaluate, compare, and push when `push` names a repo; returns reproduce.json's content.
    Keyword arguments as for benchmarks.train.Trainer (epochs, resume, overwrite, limit_train, ...)."""
    if push is not None:  # before hours of training: a bad repo id, offline or no token is one line now
        check_repo_id(push, "--push")
        if hub_offline():
            raise HubError(f"--push {push}: HF_HUB_OFFLINE is set, so the result could not be uploaded; unset it, "
                           "or reproduce without --push and `darts-zoo push RUN --repo-id ...` later")
        hub_token(None)
    g = resolve_genotype(model)
    seed = TRAIN_SETTINGS["seed"].check(seed, "reproduce")
    trainer_out = out
    if trainer_out is None:
        name = (get_recipe(recipe) if recipe else default_recipe(model, data)).name
        trainer_out = default_reproduce_dir(model, data, name, seed)
    trainer = Trainer(model, data, data_dir=data_dir, out=trainer_out, seed=seed, recipe=recipe, log=log,
                      **train_kwargs)
    metrics = trainer.fit()
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun rank 0 evaluates, writes and pushes
        return {"model": str(model), "data": data, "results": []}
    run_dir = trainer.run_dir
    weights = run_dir / "model.safetensors"
    limit = trainer.limit_test
    sets = [data]
    if dataset_info(data).name == "cifar10" and _cifar101_present(data_dir):
        sets.append("cifar10.1")
    results = []
    for name in sets:
        r = evaluate(model, name, data_dir=data_dir, checkpoint=weights, limit=limit, device=str(trainer.device),
                     workers=trainer.workers or 0)
        results.append({"data": name, "split": DATASETS[name][2], "top1": round(r["top1"], 2),
                        "top5": round(r["top5"], 2), "n": r["n"], "loss": round(r["loss"], 4)})
    preset = g.preset(dataset_info(data).family)
    args = trainer.model_args
    reasons = []
    if dataset_info(data).name == "digits":
        reasons.append("digits is darts-zoo's reduced CPU preset, not a paper's dataset")
    if (args.get("layers", preset.layers), args.get("channels", preset.channels)) != (preset.layers, preset.channels):
        reasons.append(f"the network is {args.get('layers')} x {args.get('channels')}, the paper's "
                       f"{preset.layers} x {preset.channels}")
    paper_recipe = default_recipe(model, data)
    if trainer.recipe != paper_recipe:
        changed = [f.name for f in dataclasses.fields(paper_recipe)
                   if getattr(trainer.recipe, f.name) != getattr(paper_recipe, f.name)]
        reasons.append(f"the recipe differs from {paper_recipe.name}'s in " + ", ".join(changed))
    if trainer.limit_train or trainer.limit_test:
        reasons.append("only part of the data was used (--limit-train/--limit-test)")
    comparable = not reasons
    report = finite_json({
        "model": str(model), "genotype": g.name, "data": dataset_info(data).name, "run_dir": str(run_dir),
        "recipe": trainer.recipe.name, "recipe_source": trainer.recipe.source,
        "epochs_done": metrics["epochs_done"], "layers": args.get("layers", preset.layers),
        "channels": args.get("channels", preset.channels), "params_m": metrics["params_m"],
        "macs_m": metrics["macs_m"], "comparable": comparable,
        "why_not_comparable": "; ".join(reasons) or None, "results": compare(g, results, comparable),
    })
    with output_lock(run_dir):
        atomic_write_bytes(run_dir / "genotype.yaml", dump_genotype(g).encode("utf-8"))
        atomic_write_json(run_dir / RESULTS_FILE, report)
        atomic_write_bytes(run_dir / "reproduce.md", markdown(report).encode("utf-8"))
    log("")
    log(markdown(report).rstrip())
    log(f"\nwrote {run_dir / RESULTS_FILE} and {run_dir / 'reproduce.md'}")
    if push is not None:
        try:
            report["push"] = push_run(run_dir, push, private=private, log=log)
        except HubError as e:  # hours of training are not lost to a network outage at the end
            raise HubError(f"{e}; the run is complete in {run_dir}: push it later with `darts-zoo push {run_dir} "
                           f"--repo-id {push}`") from None
    return report


# --------------------------------------------------------------------------- command line
def register(subparsers) -> None:
    from .cli import TRAIN_DATA, _common  # inline: benchmarks.cli imports this module
    from .recipes import RECIPES

    p = subparsers.add_parser(
        "reproduce", help="train with the paper's recipe, test, compare with the paper, optionally push",
        description="Train MODEL with its paper's recipe (`darts-zoo train`), evaluate the final weights on the test "
                    "split (and CIFAR-10.1 when cifar10.1_v6_data.npy/_labels.npy are in --data-dir), write "
                    "reproduce.json and reproduce.md beside the run with the paper's figure, and upload the run with "
                    "--push USER/NAME. --data digits runs end to end on a CPU in minutes. --resume continues.")
    _common(p, TRAIN_DATA)
    p.add_argument("--recipe", help="training recipe: " + ", ".join(RECIPES) + " (default: the paper's)")
    TRAIN_SETTINGS["epochs"].add_to(p, help="override the recipe's epochs (the result is then not the paper's)")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/reproduce/MODEL-DATA-RECIPE-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace what an earlier run left in --out")
    TRAIN_SETTINGS["seed"].add_to(p, default="0")
    p.add_argument("--push", metavar="USER/NAME", help="upload the run to this Hub model repo when it is done")
    p.add_argument("--private", action="store_true", help="with --push: create the repo private")
    SPEED_SETTINGS["amp"].add_to(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    TRAIN_SETTINGS["limit_train"].add_to(p)
    TRAIN_SETTINGS["limit_test"].add_to(p)
    p.set_defaults(handler=_reproduce)


def _reproduce(args) -> int:
    from .cli import _threads

    _threads(args)
    reproduce(args.model, args.data, data_dir=args.data_dir, push=args.push, private=args.private, out=args.out,
              seed=args.seed, recipe=args.recipe, epochs=args.epochs, batch_size=args.batch_size,
              resume=args.resume, overwrite=args.overwrite, download=args.download, device=args.device,
              workers=args.workers, amp=bool(args.amp), layers=args.layers, channels=args.channels,
              limit_train=args.limit_train, limit_test=args.limit_test, progress=not args.quiet)
    return 0
