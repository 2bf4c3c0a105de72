"""Run an architecture search from a recipe: data, optimizers, stages, checkpoints, outputs.

    from zoo.search.runner import run_search
    path = run_search("pdarts_3b", data="digits", out="runs/pdarts_3b.yaml", seed=0)
    model = timm.create_model("darts_genotype", genotype=path)

The algorithms (search space, supernet, strategies, P-DARTS pruning, discretization) live in the
sibling modules; this module only drives them. Next to the genotype file `out` it writes
    <out stem>.history.json   one record per epoch: losses, accuracies, softmax alphas per edge
    <out stem>.alphas.png     the alphas' evolution, one panel per cell type
    <out stem>.log            the per-epoch log lines
    <out stem>.ckpt/          the checkpoint of the last finished epoch (see checkpoint.py)

Reproducibility: the supernet of each stage is initialized from (seed, stage); the data order of
each epoch from (seed, stage, epoch); every RNG is checkpointed. A run resumed from any epoch's
checkpoint therefore reaches the same genotype, byte for byte, as an uninterrupted run on CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from ..errors import CheckpointError, ZooError
from ..paths import is_safe_name
from . import distributed as ddp
from .checkpoint import CheckpointStore, rng_state, set_rng_state, settings_mismatch
from .history import finite_or_none, plot_history, softmax_rows, write_history
from .recipes import Recipe, Stage, apply_overrides, get_recipe

SEARCH_DATASETS = ("cifar10", "cifar100", "digits")
# The digits preset's supernet is too small for intra-op parallelism to pay: with 2 threads each
# tiny op costs a thread barrier, and on a busy 2-core machine the spin-waiting made a search
# 20-40x slower than with one thread (measured). `threads=` / --threads overrides it.
DIGITS_CPU_THREADS = 1
DEFAULT_OUT_DIR = Path("runs") / "search"


class SearchDiverged(ZooError):
    """A loss or an architecture parameter became NaN or infinite."""


class SearchPaused(Exception):
    """Raised after `stop_after_epochs` epochs: the checkpoint is written, --resume continues."""


# --------------------------------------------------------------------------- run files
@dataclasses.dataclass(frozen=True)
class RunPaths:
    genotype: Path

    @property
    def stem(self) -> Path:
        return self.genotype.with_suffix("")

    @property
    def history(self) -> Path:
        return self.stem.with_name(self.stem.name + ".history.json")

    @property
    def plot(self) -> Path:
        return self.stem.with_name(self.stem.name + ".alphas.png")

    @property
    def log(self) -> Path:
        return self.stem.with_name(self.stem.name + ".log")

    @property
    def checkpoints(self) -> Path:
        return self.stem.with_name(self.stem.name + ".ckpt")


def default_out(recipe: str, data: str, seed: int) -> Path:
    return DEFAULT_OUT_DIR / f"{recipe}_{data}_seed{seed}.yaml"


# --------------------------------------------------------------------------- the algorithms
# Everything this runner asks of zoo.search's algorithm modules goes through these few functions.
def build_space(cfg: Recipe):
    from .space import SearchSpace

    return SearchSpace(op_set=cfg.op_set, candidates=cfg.candidates, nodes=cfg.nodes,
                       stages=cfg.stages, stretchable=cfg.stretchable)


def build_supernet(cfg: Recipe, space, layers: int, num_classes: int,
                   candidates: Optional[Mapping[str, Sequence[Sequence[str]]]]):
    from .supernet import Supernet

    net = Supernet(space, channels=cfg.channels, layers=layers, num_classes=num_classes, in_chans=3,
                   stem="cifar", **({"edge_candidates": candidates} if candidates else {}))
    return net


def make_strategy(name: str, supernet, w_optimizer, a_optimizer, **kw):
    from . import strategies

    return strategies.make_strategy(name, supernet, w_optimizer, a_optimizer, **kw)


def set_arch_updates(strategy, enabled: bool) -> None:
    strategy.warmup = not enabled


def skip_dropout(stage: Stage, epoch: int) -> float:
    if not stage.dropout:
        return 0.0
    from .pdarts import skip_dropout_rate

    return float(skip_dropout_rate(epoch, stage.dropout, stage.epochs, stage.warmup))


def prune(supernet, keep: int) -> dict[str, list[tuple[str, ...]]]:
    from .pdarts import next_stage_candidates

    return next_stage_candidates(supernet, keep)


def derive(supernet, cfg: Recipe):
    return supernet.genotype(rule=cfg.rule, max_skips=cfg.max_skips, name=cfg.name)


def arch_snapshot(supernet) -> dict[str, Any]:
    """Raw alphas per cell type as nested lists, the op names of every edge, and betas if any."""
    alphas = {ct: a.detach().float().cpu().tolist() for ct, a in supernet.alphas.items()}
    candidates = {ct: [list(c) for c in edges] for ct, edges in supernet.edge_candidates.items()}
    betas = {}
    for name, b in getattr(supernet, "betas", {}).items():
        betas[name] = b.detach().float().cpu().tolist()
    return {"alphas": alphas, "candidates": candidates, "betas": betas}


def trim_alphas(alphas: Mapping[str, Any], candidates: Mapping[str, Sequence[Sequence[str]]]):
    """Alphas as rows that match the edges' candidate lists (a padded matrix is cut per edge)."""
    out = {}
    for ct, rows in alphas.items():
        names = candidates[ct]
        out[ct] = [list(row[: len(n)]) for row, n in zip(rows, names)]
    return out


# --------------------------------------------------------------------------- data
def split_indices(n: int, train_fraction: float, seed: int, subset: Optional[int]) -> tuple[list[int], list[int]]:
    """A seeded shuffle of the train split, cut into the weights' part and the alphas' part."""
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=g).tolist()
    if subset:
        perm = perm[: min(subset, n)]
    cut = int(round(len(perm) * train_fraction))
    cut = min(max(cut, 1), len(perm) - 1)
    return perm[:cut], perm[cut:]


def epoch_batches(indices: Sequence[int], batch: int, seed: int, world: int, rank: int,
                  steps: Optional[int] = None) -> list[list[int]]:
    """This rank's batches for one epoch: the same permutation on every rank, dealt round robin.
    A trailing batch of one image is dropped (BatchNorm cannot train on it)."""
    g = torch.Generator().manual_seed(int(seed))
    perm = [indices[i] for i in torch.randperm(len(indices), generator=g).tolist()]
    usable = len(perm) - len(perm) % world
    shard = perm[rank:usable:world]
    batches = [shard[i:i + batch] for i in range(0, len(shard), batch)]
    if batches and len(batches[-1]) < 2:
        batches.pop()
    if steps is not None:
        # The alphas' half is cycled to give one batch per weight batch, as DARTS does.
        if not batches:
            return []
        batches = [batches[i % len(batches)] for i in range(steps)]
    return batches


def _epoch_seed(seed: int, stage: int, epoch: int, part: int) -> int:
    return (int(seed) * 1_000_003 + stage * 10_007 + epoch * 101 + part) % (2 ** 62)


def _loader(dataset, batches: list[list[int]], workers: int, seed: int, device: torch.device):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=False,
                      generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- helpers
def _resolve_device(device: str, ctx: ddp.DistContext) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ZooError("--device cuda: no CUDA device is available; use --device cpu")
        if ctx.enabled:
            return torch.device("cuda", ctx.local_rank)
    elif device != "cpu":
        raise ZooError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device(device)


def _seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _short_op(name: str) -> str:
    """sep_conv_3x3 -> sep3, dil_conv_5x5_DD -> dil5_DD, max_pool_3x3 -> max, skip_connect -> skip."""
    name = re.sub(r"^(\w+?)_conv_(\d+)x\d+", r"\1\2", name)
    name = re.sub(r"^(max|avg)_pool_\d+x\d+", r"\1", name)
    return "skip" if name == "skip_connect" else name


def _format_genotype(g) -> str:
    """A compact one-line genotype: per cell type, each node's edges as op<input."""
    parts = []
    for name, cell in g.cells.items():
        nodes = [",".join(f"{_short_op(e.op)}<{e.input}" for e in node) or "-" for node in cell.nodes]
        parts.append(f"{name}[{' '.join(nodes)}]")
    return " ".join(parts)


class _Mean:
    def __init__(self):
        self.sums: dict[str, float] = {}
        self.weight = 0

    def add(self, values: Mapping[str, float], n: int) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * n
        self.weight += n

    def result(self) -> dict[str, float]:
        return {k: v / max(self.weight, 1) for k, v in self.sums.items()}


def _check_finite(values: Mapping[str, float], supernet, where: str, ctx: ddp.DistContext,
                  device: torch.device, store: CheckpointStore) -> None:
    bad = next(((k, v) for k, v in values.items() if not math.isfinite(float(v))), None)
    if bad is None:
        for ct, a in supernet.alphas.items():
            if not bool(torch.isfinite(a).all()):
                bad = (f"alpha[{ct}]", float("nan"))
                break
    flag = bad is not None
    if ctx.enabled:
        flag = ddp.any_flag(flag, device)
    if not flag:
        return
    what = f"{bad[0]} is {bad[1]}" if bad else "another rank saw a NaN/inf"
    if store.exists():
        kept = f"the last good checkpoint is kept in {store.folder} (rerun with --resume to retry from it)"
    else:
        kept = "no checkpoint was written before it"
    raise SearchDiverged(f"search diverged: {what} at {where}; {kept}; lower --w-lr / --a-lr "
                         "or change --seed")


@torch.no_grad()
def evaluate(supernet, loader, device, amp: bool, channels_last: bool, ctx: ddp.DistContext) -> tuple[float, float]:
    """Loss and accuracy on the alphas' half (DARTS reports this 'valid' accuracy every epoch)."""
    supernet.eval()
    total = torch.zeros(3, dtype=torch.float64, device=device)
    for x, y in loader:
        x, y = _to_device(x, y, device, channels_last)
        with _autocast(device, amp):
            logits = supernet(x)
        total[0] += F.cross_entropy(logits.float(), y, reduction="sum").double()
        total[1] += (logits.argmax(1) == y).sum().double()
        total[2] += y.numel()
    if ctx.enabled:
        torch.distributed.all_reduce(total)
    supernet.train()
    n = max(total[2].item(), 1.0)
    return total[0].item() / n, 100.0 * total[1].item() / n


def _to_device(x, y, device, channels_last):
    x = x.to(device, non_blocking=True)
    if channels_last and device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------- the search
def run_search(recipe: Union[str, Recipe] = "darts_v1", data: str = "cifar10",
               data_dir: Optional[Union[str, Path]] = None, epochs: Optional[int] = None,
               out: Optional[Union[str, Path]] = None, resume: bool = False, seed: int = 0,
               download: bool = False, overrides: Optional[Mapping[str, Any]] = None, *,
               device: str = "auto", amp: bool = False, channels_last: bool = False,
               workers: Optional[int] = None, progress: Optional[bool] = None, restart: bool = False,
               stop_after_epochs: Optional[int] = None, log: Optional[Callable[[str], None]] = None,
               dataset=None, threads: Optional[int] = None) -> Optional[Path]:
    """Search, write the genotype to `out` and return its path.

    `overrides` replaces recipe fields ({"channels": 8, "stage_layers": (3, 5, 5), ...});
    `epochs` is the same as overrides={"epochs": N} (per stage for P-DARTS recipes).
    `resume` continues from the checkpoint next to `out`; `restart` discards one.
    `stop_after_epochs` pauses after that many epochs of this call (the checkpoint is written;
    returns None); `dataset` replaces load_dataset (tests); `threads` sets torch's CPU threads.
    """
    from .. import __version__
    from ..benchmarks.data import build_transform, dataset_info, load_dataset

    base = recipe if isinstance(recipe, Recipe) else get_recipe(recipe)
    if data not in SEARCH_DATASETS:
        from ..errors import closest

        raise ZooError(f"search data {data!r} is not supported: {closest(data, SEARCH_DATASETS)}")
    user_overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    if epochs is not None:
        user_overrides["epochs"] = epochs
    cfg = apply_overrides(base, user_overrides, data=data)
    if threads is not None and threads < 1:
        raise ZooError(f"--threads {threads}: give a positive number of CPU threads")
    if resume and restart:
        raise ZooError("--resume and --restart exclude each other: resume continues the checkpoint, "
                       "restart deletes it")

    wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    device_kind = "cuda" if wants_cuda else "cpu"
    ctx = ddp.context_from_group()
    if not ctx.enabled:
        ctx = ddp.init_from_env(device_kind)
    dev = _resolve_device(device, ctx)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if threads is None and data == "digits" and dev.type == "cpu":
        threads = DIGITS_CPU_THREADS
    if workers is None:
        workers = 0 if dev.type == "cpu" else 4
    if progress is None:
        progress = sys.stderr.isatty()
    progress = progress and ctx.is_main

    paths = RunPaths(Path(out) if out is not None else default_out(cfg.name, data, seed))
    if not is_safe_name(paths.genotype.stem):
        # The file's stem becomes the genotype's name, which later names files (drawings, Hub).
        raise ZooError(f"--out {paths.genotype}: {paths.genotype.stem!r} cannot be a genotype name; "
                       "use letters, digits and _ . + - in the file name")
    store = CheckpointStore(paths.checkpoints)
    info = dataset_info(data)
    settings = {
        "recipe": cfg.to_dict(), "data": data, "seed": int(seed), "world_size": ctx.world_size,
    }
    for key in ("source", "digits"):
        settings["recipe"].pop(key, None)

    ckpt = None
    fresh_note = None
    if resume:
        if not store.exists():
            fresh_note = f"--resume: no checkpoint in {store.folder}, starting from scratch"
        else:
            ckpt = store.load()
            diff = settings_mismatch(ckpt.meta["settings"], settings)
            if diff:
                raise CheckpointError(f"{store.latest}: the checkpoint was made with other settings ({diff}); "
                                      "resume with the same options as the interrupted run, or --restart")
    elif store.exists():
        if not restart:
            raise CheckpointError(f"{store.folder}: a checkpoint of an earlier search is there; "
                                  "pass --resume to continue it or --restart to start over")
        if ctx.is_main:
            for f in store.folder.iterdir():
                f.unlink()
    if ctx.enabled:
        torch.distributed.barrier()

    log_file = None

    def emit(line: str) -> None:
        if not ctx.is_main:
            return
        if log is not None:
            log(line)
        else:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stdout)
        nonlocal log_file
        if log_file is None:
            paths.log.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(paths.log, "a", encoding="utf-8")
        log_file.write(line + "\n")
        log_file.flush()

    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        if fresh_note:
            emit(fresh_note)
        return _search(cfg, base, user_overrides, data, data_dir, download, seed, paths, store, ckpt,
                       settings, info, dev, ctx, amp, channels_last, workers, progress, emit,
                       stop_after_epochs, dataset, __version__, build_transform, load_dataset)
    except SearchPaused as e:
        emit(str(e))
        return None
    finally:
        if log_file is not None:
            log_file.close()
        torch.set_num_threads(threads_before)


def _search(cfg, base, user_overrides, data, data_dir, download, seed, paths, store, ckpt, settings,
            info, dev, ctx, amp, channels_last, workers, progress, emit, stop_after_epochs, dataset,
            version, build_transform, load_dataset) -> Path:
    from tqdm import tqdm

    _seed_everything(seed)
    if dataset is None:
        def load(fetch: bool):
            return load_dataset(data, "train", data_dir, transform=build_transform(data, train=True),
                                download=fetch)

        if ctx.enabled and download:
            # One rank downloads; the others read what it wrote.
            dataset = load(True) if ctx.is_main else None
            torch.distributed.barrier()
            if dataset is None:
                dataset = load(False)
        else:
            dataset = load(download)
    w_idx, a_idx = split_indices(len(dataset), cfg.train_fraction, seed, cfg.subset)
    per_rank_batch = max(2, cfg.batch_size // ctx.world_size)
    plan = cfg.stage_plan()
    total_epochs = sum(s.epochs for s in plan)
    space = build_space(cfg)
    if plan[0].num_ops is not None and plan[0].num_ops != len(space.candidates):
        raise ZooError(f"search recipe {cfg.name}: the first stage has {plan[0].num_ops} ops per edge but "
                       f"the space has {len(space.candidates)} candidates; make --stage-ops start with "
                       f"{len(space.candidates)}")
    emit(f"search {cfg.name} on {data}: {len(w_idx)} images for the weights, {len(a_idx)} for the "
         f"alphas; {len(plan)} stage(s) of {plan[0].epochs} epochs; cells "
         f"{'-'.join(str(s.layers) for s in plan)}, C {cfg.channels}, batch {cfg.batch_size}"
         f"{f' ({ctx.world_size} ranks)' if ctx.enabled else ''}; {cfg.strategy}; seed {seed}; device {dev}")

    history: list[dict[str, Any]] = []
    candidates: Optional[dict[str, list]] = None
    first_stage, first_epoch = 0, 0
    elapsed_before = 0.0
    if ckpt is not None:
        history = list(ckpt.meta.get("history", []))
        candidates = ckpt.meta.get("candidates")
        first_stage, first_epoch = ckpt.stage, ckpt.epoch
        elapsed_before = float(ckpt.meta.get("elapsed_s", 0.0))
        emit(f"resuming from {store.folder} after stage {first_stage + 1} epoch {first_epoch}")
    epochs_this_call = 0
    start_time = time.time()
    supernet = None

    for stage in plan[first_stage:]:
        resuming_here = ckpt is not None and stage.index == ckpt.stage
        # Each stage's supernet starts from (seed, stage), whether or not the run was resumed.
        torch.manual_seed(_epoch_seed(seed, stage.index, 0, 7))
        supernet = build_supernet(cfg, space, stage.layers, info.num_classes, candidates).to(dev)
        if channels_last and dev.type == "cuda":
            supernet = supernet.to(memory_format=torch.channels_last)
        if ctx.enabled:
            ddp.broadcast_parameters(supernet)
        w_opt = torch.optim.SGD(supernet.weight_parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                                weight_decay=cfg.w_wd)
        a_opt = torch.optim.Adam(supernet.arch_parameters(), lr=cfg.a_lr, betas=tuple(cfg.a_betas),
                                 weight_decay=cfg.a_wd)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=stage.epochs, eta_min=cfg.w_lr_min)
        w_step = ddp.AllReduceOptimizer(w_opt, ctx.world_size) if ctx.enabled else w_opt
        a_step = ddp.AllReduceOptimizer(a_opt, ctx.world_size) if ctx.enabled else a_opt
        strategy = make_strategy(cfg.strategy, supernet, w_step, a_step, grad_clip=cfg.grad_clip,
                                 **dict(cfg.strategy_kwargs))
        start_epoch = 0
        if resuming_here:
            try:
                supernet.load_state_dict({k: v.to(dev) for k, v in ckpt.tensors.items()}, strict=True)
                w_opt.load_state_dict(ckpt.state["w_opt"])
                a_opt.load_state_dict(ckpt.state["a_opt"])
                sched.load_state_dict(ckpt.state["sched"])
                if ckpt.state.get("strategy") and hasattr(strategy, "load_state_dict"):
                    strategy.load_state_dict(ckpt.state["strategy"])
            except (RuntimeError, KeyError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise CheckpointError(f"{store.folder}: does not fit this supernet ({first[:200]}); "
                                      "delete it or --restart") from None
            set_rng_state(ckpt.state["rng"])
            start_epoch = ckpt.epoch
        ckpt = None

        for epoch in range(start_epoch, stage.epochs):
            global_epoch = sum(s.epochs for s in plan[: stage.index]) + epoch + 1
            arch_on = epoch >= stage.warmup
            set_arch_updates(strategy, arch_on)
            p_skip = skip_dropout(stage, epoch)
            if hasattr(supernet, "set_skip_dropout"):
                supernet.set_skip_dropout(p_skip)
            lr = sched.get_last_lr()[0]
            w_batches = epoch_batches(w_idx, per_rank_batch, _epoch_seed(seed, stage.index, epoch, 1),
                                      ctx.world_size, ctx.rank)
            a_batches = epoch_batches(a_idx, per_rank_batch, _epoch_seed(seed, stage.index, epoch, 2),
                                      ctx.world_size, ctx.rank, steps=len(w_batches))
            w_loader = _loader(dataset, w_batches, workers, _epoch_seed(seed, stage.index, epoch, 3), dev)
            a_loader = _loader(dataset, a_batches, workers, _epoch_seed(seed, stage.index, epoch, 4), dev)
            supernet.train()
            meter = _Mean()
            t0 = time.time()
            bar = tqdm(total=len(w_batches), disable=not progress, leave=False, dynamic_ncols=True,
                       desc=f"stage {stage.index + 1}/{len(plan)} epoch {epoch + 1}/{stage.epochs}")
            for step, (tb, vb) in enumerate(zip(w_loader, a_loader)):
                tb = _to_device(*tb, dev, channels_last)
                vb = _to_device(*vb, dev, channels_last)
                with _autocast(dev, amp):
                    values = strategy.step(tb, vb)
                values = {k: float(v) for k, v in (values or {}).items()}
                _check_finite(values, supernet, f"stage {stage.index + 1} epoch {epoch + 1} step {step + 1}",
                              ctx, dev, store)
                meter.add(values, len(tb[1]))
                bar.update(1)
                if "train_loss" in values:
                    bar.set_postfix(loss=f"{values['train_loss']:.3f}")
            bar.close()
            sched.step()
            val_batches = epoch_batches(a_idx, per_rank_batch * 2, _epoch_seed(seed, stage.index, epoch, 5),
                                        ctx.world_size, ctx.rank)
            eval_loss, eval_acc = evaluate(supernet, _loader(dataset, val_batches, workers,
                                                             _epoch_seed(seed, stage.index, epoch, 6), dev),
                                           dev, amp, channels_last, ctx)
            if not math.isfinite(eval_loss):
                _check_finite({"eval_loss": eval_loss}, supernet,
                              f"stage {stage.index + 1} epoch {epoch + 1}", ctx, dev, store)
            genotype = derive(supernet, cfg)
            snap = arch_snapshot(supernet)
            weights = {ct: softmax_rows(trim_alphas({ct: rows}, snap["candidates"])[ct])
                       for ct, rows in snap["alphas"].items()}
            train_stats = {k: (100.0 * v if k.endswith("_acc") else v) for k, v in meter.result().items()}
            record = {
                "stage": stage.index, "epoch": epoch + 1, "global_epoch": global_epoch,
                "layers": stage.layers, "lr": lr, "skip_dropout": p_skip, "arch_updates": arch_on,
                **{k: finite_or_none(v) for k, v in sorted(train_stats.items())},
                "eval_loss": finite_or_none(eval_loss), "eval_acc": eval_acc,
                "seconds": round(time.time() - t0, 3),
                "genotype": _format_genotype(genotype),
                "weights": weights, "candidates": snap["candidates"],
            }
            if snap["betas"]:
                record["betas"] = snap["betas"]
            history.append(record)
            emit(_epoch_line(record, len(plan), stage.epochs, total_epochs))

            if ctx.enabled:
                ddp.broadcast_buffers(supernet)
            if ctx.is_main:
                state = {
                    "w_opt": w_opt.state_dict(), "a_opt": a_opt.state_dict(), "sched": sched.state_dict(),
                    "rng": rng_state(),
                }
                if hasattr(strategy, "state_dict"):
                    state["strategy"] = strategy.state_dict()
                meta = {
                    "stage": stage.index, "epoch": epoch + 1, "global_epoch": global_epoch,
                    "settings": settings, "candidates": snap["candidates"] if candidates else None,
                    "history": history,
                    "elapsed_s": round(elapsed_before + time.time() - start_time, 3),
                }
                store.save(supernet.state_dict(), state, meta)
                _write_history(paths, cfg, data, seed, history)
            if ctx.enabled:
                torch.distributed.barrier()
            epochs_this_call += 1
            if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs \
                    and global_epoch < total_epochs:
                raise SearchPaused(f"paused after epoch {global_epoch}/{total_epochs}; the checkpoint is in "
                                   f"{store.folder}; rerun with --resume to continue")

        if stage.index + 1 < len(plan) and plan[stage.index + 1].num_ops:
            candidates = prune(supernet, plan[stage.index + 1].num_ops)
            candidates = {ct: [list(c) for c in edges] for ct, edges in candidates.items()}

    assert supernet is not None
    genotype = derive(supernet, cfg)
    path = paths.genotype
    if ctx.is_main:
        path = _write_genotype(genotype, supernet, cfg, base, user_overrides, data, seed, paths, history,
                               version, ctx)
        _write_history(paths, cfg, data, seed, history)
        emit(f"genotype: {_format_genotype(genotype)}")
        emit(f"wrote {path} (+ {paths.history.name}, {paths.plot.name}); "
             f"{elapsed_before + time.time() - start_time:.1f} s of search")
    if ctx.enabled:
        torch.distributed.barrier()
    return path


def _epoch_line(r: Mapping[str, Any], stages: int, stage_epochs: int, total: int) -> str:
    """One line per epoch: position, losses and accuracies (%), lr, skip dropout, time, genotype.
    train = weight batches; val = alpha batches as the strategy saw them; eval = the supernet in
    eval mode on the whole alpha half after the epoch (DARTS' 'valid_acc')."""
    def pair(prefix):
        loss, acc = r.get(f"{prefix}_loss"), r.get(f"{prefix}_acc")
        if loss is None and acc is None:
            return None
        text = f"{prefix} loss {loss:.4f}" if isinstance(loss, (int, float)) else f"{prefix} loss -"
        if isinstance(acc, (int, float)):
            text += f" acc {acc:.2f}%"
        return text

    head = f"[{r['global_epoch']}/{total}]"
    if stages > 1:
        head += f" stage {r['stage'] + 1}/{stages} ({r['layers']} cells) epoch {r['epoch']}/{stage_epochs}"
    else:
        head += f" epoch {r['epoch']}/{stage_epochs}"
    parts = [head] + [p for p in (pair("train"), pair("val"), pair("eval")) if p]
    parts.append(f"lr {r['lr']:.5f}")
    if r.get("skip_dropout"):
        parts.append(f"skip-drop {r['skip_dropout']:.3f}")
    if not r.get("arch_updates", True):
        parts.append("warm-up (alphas frozen)")
    parts.append(f"{r['seconds']:.1f}s")
    parts.append(r["genotype"])
    return " | ".join(parts)


def _write_history(paths: RunPaths, cfg: Recipe, data: str, seed: int, history: list) -> None:
    header = {"recipe": cfg.name, "data": data, "seed": seed,
              "stages": [dataclasses.asdict(s) for s in cfg.stage_plan()]}
    write_history(paths.history, header, history)
    plot_history(paths.plot, history, title=f"{cfg.name} on {data}, seed {seed}: alpha evolution")


def _round(value):
    """Nested alphas with 6 decimals: exact enough to re-rank, short enough to read."""
    if isinstance(value, Mapping):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return round(float(value), 6)


def _write_genotype(genotype, supernet, cfg: Recipe, base: Recipe, user_overrides, data: str, seed: int,
                    paths: RunPaths, history: list, version: str, ctx) -> Path:
    from ..genotype import Preset, genotype_from_dict, genotype_to_dict, save_genotype

    snap = arch_snapshot(supernet)
    last = history[-1] if history else {}
    search_record: dict[str, Any] = {
        "recipe": cfg.name,
        # As applied (parsed and checked), e.g. --stage-layers "5,8,11" is recorded as [5, 8, 11].
        "overrides": {k: (list(getattr(cfg, k)) if isinstance(getattr(cfg, k), tuple) else getattr(cfg, k))
                      for k in sorted(user_overrides)},
        "preset": data if data == "digits" else None,
        "seed": int(seed),
        "data": {"name": data, "split": "train", "train_fraction": cfg.train_fraction, "subset": cfg.subset},
        "epochs": cfg.total_epochs(),
        "stages": [{"layers": s.layers, "ops": s.num_ops, "epochs": s.epochs, "warmup": s.warmup,
                    "skip_dropout": s.dropout} for s in cfg.stage_plan()],
        "settings": {k: v for k, v in cfg.to_dict().items() if k not in ("name", "source", "digits")},
        "world_size": ctx.world_size,
        "version": version,
        "final": {"eval_acc": last.get("eval_acc"), "eval_loss": last.get("eval_loss"),
                  "train_acc": last.get("train_acc")},
        "alphas": _round(trim_alphas(snap["alphas"], snap["candidates"])),
        "candidates": snap["candidates"],
    }
    if snap["betas"]:
        search_record["betas"] = _round(snap["betas"])
    search_record = {k: v for k, v in search_record.items() if v is not None}
    name = paths.genotype.stem
    g = dataclasses.replace(
        genotype,
        name=name,
        title=f"{cfg.name} search on {data} (seed {seed})",
        source={"recipe": cfg.name, "method": cfg.source},
        provenance={"kind": "searched", "by": f"darts-zoo {version} search --recipe {cfg.name}"},
        presets={"cifar": Preset(layers=cfg.eval_layers, channels=cfg.eval_channels, auxiliary=True,
                                 drop_path=cfg.eval_drop_path)},
        search=search_record,
    )
    # Validate as a file would be: a `none` edge or a bad op name fails here, not at build time.
    genotype_from_dict(genotype_to_dict(g), where=str(paths.genotype))
    return save_genotype(g, paths.genotype)
