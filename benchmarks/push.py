"""`darts-zoo push`: a training run (or a checkpoint) to a Hugging Face Hub model repo.

    darts-zoo push runs/pdarts_3b-cifar10 --repo-id you/pdarts_3b              # upload
    darts-zoo push runs/pdarts_3b-cifar10 --repo-id you/pdarts_3b --dry-run    # write runs/.../hub only
    darts-zoo push weights.safetensors --model my_cell.yaml --data cifar10 --repo-id you/my_cell

The folder holds timm's format (model.safetensors, config.json), the model card (README.md) with
the run's measured results, recipe and provenance, genotype.yaml and the cell drawings; it loads
back with `timm.create_model("local-dir:FOLDER", pretrained=True)` or, once uploaded,
`"hf-hub:you/pdarts_3b"`. The token comes from huggingface_hub's usual places (HF_TOKEN, the
stored login).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Union

from zoo.checkpoint import read_weights
from zoo.errors import CheckpointError, ZooError
from zoo.hub import check_upload, save_pretrained, upload_folder
from zoo.locks import output_lock
from zoo.pretrained import check_repo_id
from zoo.settings import Domain, Setting

from .evaluate import build_model

RESULTS_FILE = "reproduce.json"  # what `darts-zoo reproduce` measured, beside metrics.json
PUSH_SETTINGS = Domain("push", (
    Setting("repo_id", str, "the Hub model repo, USER/NAME", metavar="USER/NAME"),
    Setting("revision", str, "the branch to upload to (created from main when missing; default main)",
            optional=True, metavar="BRANCH"),
))


def _read_json(path: Path) -> Optional[dict[str, Any]]:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({type(e).__name__}); restore it from the run, or "
                              "remove it to push without its figures") from None
    return data if isinstance(data, dict) else None


def _no_weights(run_dir: Path) -> CheckpointError:
    """Why a run folder has no model.safetensors, and what to do."""
    metrics = _read_json(run_dir / "metrics.json") or {}
    status = metrics.get("status")
    if status == "failed":
        return CheckpointError(f"{run_dir}: the run failed ({str(metrics.get('failure', ''))[:120]}), so it has no "
                               "model.safetensors to push; train again with --overwrite")
    if (run_dir / "checkpoints").is_dir() or status == "running":
        done = f" ({metrics.get('epochs_done')}/{metrics.get('epochs')} epochs)" if metrics else ""
        return CheckpointError(f"{run_dir}: no model.safetensors: the run has not finished{done}; finish it with "
                               f"`darts-zoo train MODEL --data DATA --out {run_dir} --resume` (or `darts-zoo "
                               "reproduce ... --resume`), then push")
    return CheckpointError(f"{run_dir}: no model.safetensors, so not a finished training run; pass the folder "
                           "`darts-zoo train --out` or `darts-zoo reproduce` wrote, or a model.safetensors file")


def locate(source: Union[str, Path]) -> tuple[Path, Path]:
    """(weights file, folder of the run's other files) for a run folder or a weights file."""
    path = Path(source)
    if path.is_dir():
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise _no_weights(path)
        return weights, path
    if path.is_file():
        return path, path.parent
    raise CheckpointError(f"{source}: no such run folder or weights file; pass the folder `darts-zoo train --out` "
                          "wrote, or a model.safetensors")


def load_run(source: Union[str, Path], model: Optional[str] = None, data: Optional[str] = None,
             **overrides: Any):
    """The trained network of a run folder or checkpoint, its metrics and measured results:
    (network, metrics or None, evaluations or None, run folder)."""
    weights, run_dir = locate(source)
    _, meta = read_weights(weights, fix="pass a model.safetensors written by `darts-zoo train`")
    run_files = weights.name == "model.safetensors"  # a run's own weights: its metrics.json describes them
    metrics = _read_json(run_dir / "metrics.json") if run_files else None
    if metrics is not None and metrics.get("status") == "failed":
        raise _no_weights(run_dir)
    name = model
    if name is None and run_files and (run_dir / "genotype.yaml").is_file():
        name = str(run_dir / "genotype.yaml")  # reproduce keeps the genotype with the run
    name = name or meta.get("model")
    data = data or meta.get("data")
    if not name or not data:
        raise CheckpointError(f"{weights}: has no darts-zoo header naming its network and dataset; pass --model "
                              "MODEL|GENOTYPE_FILE and --data DATASET (and --layers/--channels if not the preset's)")
    if str(name).endswith((".yaml", ".yml")) and not Path(name).is_file():
        raise CheckpointError(f"{weights}: trained from the genotype file {name}, which is not there now; pass "
                              "--model PATH_TO_THAT_GENOTYPE")
    net = build_model(str(name), data, checkpoint=weights, **overrides)
    results = _read_json(run_dir / RESULTS_FILE) if run_files else None
    evaluations = results.get("results") if results else None
    return net.eval(), metrics, evaluations, run_dir


def _curves(run_dir: Path, metrics: Optional[dict[str, Any]]) -> Optional[Path]:
    path = run_dir / "curves.png"
    return path if metrics is not None and path.is_file() else None


def push(source: Union[str, Path], repo_id: str, *, model: Optional[str] = None, data: Optional[str] = None,
         private: bool = False, revision: Optional[str] = None, dry_run: bool = False,
         out: Optional[Union[str, Path]] = None, token: Optional[str] = None,
         log: Callable[[str], None] = print, **overrides: Any) -> dict[str, Any]:
    """Write the Hub folder of a run and upload it (not with dry_run). Returns {folder, url}."""
    checked = PUSH_SETTINGS.check({k: v for k, v in dict(repo_id=repo_id, revision=revision).items()
                                   if v is not None}, "push")
    check_repo_id(checked["repo_id"])
    if not dry_run:  # before any work: offline, no token or no network is one line at once
        token = check_upload(repo_id, token)
    net, metrics, evaluations, run_dir = load_run(source, model, data, **overrides)
    if dry_run or out is not None:
        folder = Path(out) if out is not None else run_dir / "hub"
        with output_lock(folder):
            save_pretrained(net, folder, metrics, evaluations=evaluations, repo_id=repo_id,
                            curves=_curves(run_dir, metrics))
        log(f"wrote {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")
        if dry_run:
            log(f"nothing uploaded (--dry-run); load it with timm.create_model('local-dir:{folder}', pretrained=True)")
            return {"folder": str(folder), "url": None}
        url = upload_folder(folder, repo_id, private=private, revision=revision, token=token)
    else:
        with tempfile.TemporaryDirectory(prefix="darts-zoo-push-") as tmp:
            folder = save_pretrained(net, Path(tmp) / "hub", metrics, evaluations=evaluations, repo_id=repo_id,
                                     curves=_curves(run_dir, metrics))
            url = upload_folder(folder, repo_id, private=private, revision=revision, token=token)
        folder = None
    log(f"uploaded to {url}; load it with timm.create_model('hf-hub:{repo_id}', pretrained=True) after `import zoo`")
    return {"folder": str(folder) if folder else None, "url": url}


# --------------------------------------------------------------------------- command line
def register(subparsers) -> None:
    from zoo.settings import CHANNELS, LAYERS

    from .cli import TRAIN_DATA  # inline: benchmarks.cli imports this module

    p = subparsers.add_parser(
        "push", help="upload a training run to the Hugging Face Hub (weights, config, model card)",
        description="Write a run's Hub folder (model.safetensors, config.json, README.md model card, genotype.yaml, "
                    "cell drawings) and upload it with huggingface_hub (token: HF_TOKEN or `huggingface-cli "
                    "login`). --dry-run writes the folder (default RUN_DIR/hub) and uploads nothing.")
    p.add_argument("source", metavar="RUN_DIR|CHECKPOINT",
                   help="a run folder of `darts-zoo train`/`reproduce`, or a model.safetensors")
    PUSH_SETTINGS["repo_id"].add_to(p)
    p.add_argument("--private", action="store_true", help="create the repo private")
    PUSH_SETTINGS["revision"].add_to(p)
    p.add_argument("--dry-run", action="store_true", help="write the folder only; upload nothing")
    p.add_argument("--out", metavar="DIR", help="where to write the folder (default RUN_DIR/hub; kept after upload)")
    p.add_argument("--model", metavar="MODEL|GENOTYPE_FILE",
                   help="the network, when the checkpoint's header does not name it (or names a moved file)")
    p.add_argument("--data", choices=TRAIN_DATA, help="the dataset it was trained on, when the header does not say")
    LAYERS.add_to(p, help="cells, for a checkpoint without a header (default: the preset's)")
    CHANNELS.add_to(p, help="initial channels, for a checkpoint without a header (default: the preset's)")
    p.set_defaults(handler=_push)


def _push(args) -> int:
    if args.repo_id is None:
        raise ZooError("push: --repo-id USER/NAME is required (the Hub repo to upload to, or to name in the card "
                       "with --dry-run)")
    from zoo.settings import NETWORK

    overrides = NETWORK.check({k: v for k, v in dict(layers=args.layers, channels=args.channels).items()
                               if v is not None}, "push")
    push(args.source, args.repo_id, model=args.model, data=args.data, private=args.private,
         revision=args.revision, dry_run=args.dry_run, out=args.out, **overrides)
    return 0
