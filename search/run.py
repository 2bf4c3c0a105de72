"""One search run: a recipe (what is searched, and how) executed under run options (where, on what
data, with which outputs), stage by stage and epoch by epoch, with a checkpoint after every epoch.

    from zoo.search import run_search
    path = run_search("pdarts_3b", data="digits", out="runs/pdarts_3b.yaml", seed=0)
    model = timm.create_model("darts_genotype", genotype=path)

The components (search space, strategy, discretization rule, learning-rate schedule) come from the
registries in search/components.py by the names the recipe gives; this module only drives them.

Reproducibility: the supernet of each stage is initialized from (seed, stage); the data order of
each epoch from (seed, stage, epoch); every RNG is checkpointed. A run resumed from any epoch's
checkpoint therefore reaches the same genotype, byte for byte, as an uninterrupted run on CPU.

Longer than most modules: one class whose methods are the run's steps in the order they happen
(set-up, resume point, stage, epoch, checkpoint, finish).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import torch
from tqdm import tqdm

from .. import __version__
from ..atomic import AppendFile
from ..checkpoint import Checkpoint, CheckpointStore, settings_mismatch
from ..data import build_transform, dataset_info, load_dataset
from ..errors import CheckpointError, OutputError, ZooError
from ..locks import output_lock
from ..paths import is_safe_name
from ..settings import SEED, THREADS, WORKERS, Domain, Setting
from ..device_data import DeviceImages, augmentation_for
from ..speed_options import AMP, CHANNELS_LAST, COMPILE, DATA_ON_DEVICE, SpeedOptions, check_amp, prepare_model
from ..runtime import (device_kind, distributed_context, first_line, resolve_device, rng_state, seed_everything,
                       set_rng_state)
from . import distributed as ddp
from .separation import top_over_uniform
from .batches import (ARCH_BATCHES, ARCH_LOADER, BETA_BATCHES, BETA_LOADER, EVAL_BATCHES, EVAL_LOADER, SUPERNET_INIT,
                      WEIGHT_BATCHES, WEIGHT_LOADER, WIDENING, epoch_batches, epoch_seed, make_loader, split_alpha_beta,
                      split_indices)
from .components import SCHEDULES, SPACES
from .epoch import EpochMeter, autocast, check_finite, evaluate, to_device
from .outputs import (RunPaths, arch_snapshot, default_out, epoch_line, format_cells, write_genotype,
                      write_history_files)
from .pdarts import Stage, next_stage_candidates
from .stage_transfer import carry_alphas, carry_weights
from .recipes import SearchRecipe, apply_overrides, get_recipe
from .supernet import RECOMPUTE
from .mixing import make_mixing, make_perturbation, make_regularizer
from .strategies import make_strategy

SEARCH_DATASETS = ("cifar10", "cifar100", "digits")
# How a run is run (the recipe's domain is recipes.SEARCH_SETTINGS); checked before any work.
RUN_SETTINGS = Domain("search run", (
    Setting("data", str, "search data", choices=SEARCH_DATASETS),
    SEED, THREADS, WORKERS, AMP, CHANNELS_LAST, COMPILE, DATA_ON_DEVICE,
    Setting("stop_after_epochs", int, "pause after N epochs (checkpoint kept; continue with --resume)", low=1,
            high=10 ** 6, optional=True, metavar="N"),
    # A run option, not a recipe field: it changes memory and time, never the result, so a run may
    # be resumed with another value and the genotype's recorded settings do not mention it.
    Setting("recompute", str, "recompute activations in the backward pass instead of storing them: per cell, "
            "per mixed op, or none (same result, less memory, more time)", choices=RECOMPUTE),
))
# The digits preset's supernet is too small for intra-op parallelism to pay: with 2 threads each
# tiny op costs a thread barrier, and on a busy 2-core machine the spin-waiting made a search
# 20-40x slower than with one thread (measured). `threads=` / --threads overrides it.
DIGITS_CPU_THREADS = 1


@dataclasses.dataclass
class StageResult:
    """A finished stage: what the next one may carry on from (DrNAS)."""
    supernet: Any
    w_opt: torch.optim.Optimizer
    a_opt: torch.optim.Optimizer


class SearchPaused(Exception):
    """Raised after `stop_after_epochs` epochs: the checkpoint is written, --resume continues."""


@dataclasses.dataclass
class RunOptions:
    """Where and how a search runs; the recipe says what it searches."""

    data: str = "cifar10"
    data_dir: Optional[Union[str, Path]] = None
    download: bool = False
    seed: int = 0
    out: Optional[Union[str, Path]] = None
    resume: bool = False
    restart: bool = False
    overwrite: bool = False
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    data_on_device: bool = False
    workers: Optional[int] = None
    progress: Optional[bool] = None
    threads: Optional[int] = None
    stop_after_epochs: Optional[int] = None
    recompute: str = "none"  # "cell" | "mixed_op": activation checkpointing in the supernet
    log: Optional[Callable[[str], None]] = None
    dataset: Any = None  # replaces load_dataset (tests, notebooks)


class SearchRun:
    def __init__(self, cfg: SearchRecipe, user_overrides: Mapping[str, Any], opts: RunOptions):
        self.cfg, self.user_overrides, self.opts = cfg, dict(user_overrides), opts
        if opts.resume and opts.restart:
            raise ZooError("--resume and --restart exclude each other: resume continues the checkpoint, "
                           "restart deletes it")
        self.paths = RunPaths(Path(opts.out) if opts.out is not None else default_out(cfg.name, opts.data, opts.seed))
        if not is_safe_name(self.paths.genotype.stem):
            # The file's stem becomes the genotype's name, which later names files (drawings, Hub).
            raise ZooError(f"--out {self.paths.genotype}: {self.paths.genotype.stem!r} cannot be a genotype name; "
                           "use letters, digits and _ . + - in the file name")
        self.ctx = distributed_context(device_kind(opts.device))
        self.device = resolve_device(opts.device, self.ctx)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.threads = opts.threads
        if self.threads is None and opts.data == "digits" and self.device.type == "cpu":
            self.threads = DIGITS_CPU_THREADS
        self.workers = opts.workers if opts.workers is not None else (0 if self.device.type == "cpu" else 4)
        self.progress = (sys.stderr.isatty() if opts.progress is None else opts.progress) and self.ctx.is_main
        self.store = CheckpointStore(self.paths.checkpoints, kind="search")
        self.info = dataset_info(opts.data)
        self.speed = SpeedOptions(opts.amp, opts.channels_last, opts.compile, opts.data_on_device)
        if opts.amp:
            check_amp(self.device)
        # The training transform's augmentation, done on the device (refused here, before any file is written).
        self.device_aug = augmentation_for(opts.data, cfg.cutout, cfg.autoaugment) if opts.data_on_device else None
        self.settings = {"recipe": {k: v for k, v in cfg.to_dict().items() if k not in ("source", "digits")},
                         "data": opts.data, "seed": int(opts.seed), "world_size": self.ctx.world_size}
        self.plan: tuple[Stage, ...] = cfg.stage_plan()
        self.total_epochs = sum(s.epochs for s in self.plan)
        self.space = SPACES.get(cfg.space).space(cfg)
        # Bad method options (a negative radius, a zero temperature) fail here, before any file is written.
        self._method_parts()
        make_mixing(cfg.mixing, self.space, cfg.mixing_kwargs)
        first_ops = self.plan[0].ops_per_edge
        if first_ops is not None and first_ops != len(self.space.candidates):
            raise ZooError(f"search recipe {cfg.name}: the first stage has {first_ops} ops per edge but "
                           f"the space has {len(self.space.candidates)} candidates; make --stage-ops start with "
                           f"{len(self.space.candidates)}")
        # One writer per --out (and the files beside it), from here until run() returns.
        self._lock = contextlib.ExitStack()
        try:
            if self.ctx.is_main:
                self._lock.enter_context(output_lock(self.paths.genotype))
            self.ckpt = self._resume_point()
        except BaseException:
            self._lock.close()
            raise
        self.history: list[dict[str, Any]] = []
        self.elapsed_before = 0.0
        self._log_file = AppendFile(self.paths.log)
        self.epochs_this_call = 0

    # ------------------------------------------------------------------ set-up
    def _method_parts(self) -> dict[str, Any]:
        """The recipe's architecture regularizer and weight-step perturbation (only those it names, so
        that a strategy registered by a user need not take them)."""
        cfg = self.cfg
        parts = {"regularizer": make_regularizer(cfg.arch_regularizer, cfg.arch_regularizer_kwargs),
                 "perturbation": make_perturbation(cfg.perturbation, cfg.perturbation_kwargs)}
        return {k: v for k, v in parts.items() if v is not None}

    def _resume_point(self) -> Optional[Checkpoint]:
        store, opts = self.store, self.opts
        self.fresh_note, ckpt = None, None
        done = self.paths.genotype
        if done.exists() and not opts.overwrite and not (opts.resume and store.exists()):
            how = (f"--resume to continue the checkpoint in {store.folder}" if store.exists()
                   else "write to another --out")
            raise OutputError(f"{done}: a finished search result is already there; pass --overwrite to replace "
                              f"it, or {how}")
        if opts.resume and not store.exists():
            self.fresh_note = f"--resume: no checkpoint in {store.folder}, starting from scratch"
        elif opts.resume:
            ckpt = store.load()
            diff = settings_mismatch(ckpt.meta.get("settings"), self.settings)
            if diff:
                raise CheckpointError(f"{store.latest}: the checkpoint was made with other settings ({diff}); "
                                      "resume with the same options as the interrupted run, or --restart")
        elif store.exists():
            if not (opts.restart or opts.overwrite):
                raise CheckpointError(f"{store.folder}: a checkpoint of an earlier search is there; "
                                      "pass --resume to continue it or --restart to start over")
            if self.ctx.is_main:
                store.clear()
        if self.ctx.enabled:
            torch.distributed.barrier()
        return ckpt

    def emit(self, line: str) -> None:
        if not self.ctx.is_main:
            return
        if self.opts.log is not None:
            self.opts.log(line)
        else:
            tqdm.write(line, file=sys.stdout)
        self._log_file.write(line + "\n")

    def _load_dataset(self):
        opts = self.opts
        if opts.dataset is not None:
            return opts.dataset

        def load(fetch: bool):
            return load_dataset(opts.data, "train", opts.data_dir, transform=build_transform(
                opts.data, train=True, cutout=self.cfg.cutout, autoaugment=self.cfg.autoaugment), download=fetch)

        if not (self.ctx.enabled and opts.download):
            return load(opts.download)
        dataset = load(True) if self.ctx.is_main else None  # one rank downloads, the others read it
        torch.distributed.barrier()
        return dataset if dataset is not None else load(False)

    # ------------------------------------------------------------------ the run
    def run(self) -> Optional[Path]:
        threads_before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            if self.fresh_note:
                self.emit(self.fresh_note)
            return self._search()
        except SearchPaused as e:
            self.emit(str(e))
            return None
        finally:
            self._log_file.close()
            self._lock.close()
            torch.set_num_threads(threads_before)

    def _search(self) -> Path:
        cfg, opts, ctx = self.cfg, self.opts, self.ctx
        seed_everything(opts.seed)
        self.dataset = self._load_dataset()
        if self.device_aug is not None:
            self.dataset = DeviceImages.from_dataset(self.dataset, opts.data, self.device, self.device_aug)
        self.w_idx, self.a_idx = split_indices(len(self.dataset), cfg.train_fraction, opts.seed, cfg.subset)
        # With beta_split the alphas' half is cut again; the epoch-end evaluation keeps using all of it.
        self.eval_idx = self.a_idx
        self.b_idx: Optional[list[int]] = None
        if cfg.beta_split:
            self.a_idx, self.b_idx = split_alpha_beta(self.a_idx)
        self.batch = max(2, cfg.batch_size // ctx.world_size)
        plan = self.plan
        arch_share = f"{len(self.a_idx)} for the alphas" + (f", {len(self.b_idx)} for the betas" if self.b_idx else "")
        self.emit(f"search {cfg.name} on {opts.data}: {len(self.w_idx)} images for the weights, {arch_share}; {len(plan)} stage(s) of {plan[0].epochs} epochs; cells "
                  f"{'-'.join(str(s.layers) for s in plan)}, C {cfg.channels}, batch {cfg.batch_size}"
                  f"{f' ({ctx.world_size} ranks)' if ctx.enabled else ''}; {cfg.strategy}; seed {opts.seed}; "
                  f"device {self.device} ({self.speed.describe()})")
        candidates, first_stage = None, 0
        if self.ckpt is not None:
            self.history = list(self.ckpt.meta.get("history", []))
            candidates = self.ckpt.meta.get("candidates")
            first_stage = int(self.ckpt.meta["stage"])
            self.elapsed_before = float(self.ckpt.meta.get("elapsed_s", 0.0))
            self.emit(f"resuming from {self.store.folder} after stage {first_stage + 1} epoch "
                      f"{self.ckpt.meta['epoch']}")
        self.start_time = time.time()
        done: Optional[StageResult] = None
        for index in range(first_stage, len(plan)):
            done = self._run_stage(index, candidates, done if cfg.carry_alphas or cfg.carry_weights else None)
            if index + 1 < len(plan) and plan[index + 1].ops_per_edge:
                pruned = next_stage_candidates(done.supernet, plan[index + 1].ops_per_edge)
                candidates = {ct: [list(c) for c in edges] for ct, edges in pruned.items()}
        assert done is not None
        return self._finish(done.supernet)

    def _run_stage(self, index: int, candidates, previous: Optional["StageResult"] = None) -> "StageResult":
        cfg, ctx, dev, stage = self.cfg, self.ctx, self.device, self.plan[index]
        # Each stage's supernet starts from (seed, stage), whether or not the run was resumed.
        torch.manual_seed(epoch_seed(self.opts.seed, index, 0, SUPERNET_INIT))
        supernet = SPACES.get(cfg.space).supernet(cfg, self.space, stage, self.info.num_classes, candidates).to(dev)
        if self.opts.recompute != "none":
            if not hasattr(supernet, "set_recompute"):
                raise ZooError(f"search space {cfg.space!r}: its supernet cannot recompute activations; "
                               "drop --recompute")
            supernet.set_recompute(self.opts.recompute)
        # Compiled in place: the strategy's forward passes (weights' and alphas') run the compiled graph.
        prepare_model(supernet, self.opts.channels_last, self.opts.compile)
        if ctx.enabled:
            ddp.broadcast_parameters(supernet)
        w_opt = torch.optim.SGD(supernet.weight_parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                                weight_decay=cfg.w_wd, nesterov=cfg.w_nesterov)
        a_opt = torch.optim.Adam(supernet.arch_parameters(), lr=cfg.a_lr, betas=tuple(cfg.a_betas),
                                 weight_decay=cfg.a_wd)
        # Carried from the previous stage (DrNAS), the same on every rank; a resumed stage's checkpoint then
        # overwrites it all with its own.
        if previous is not None and cfg.carry_alphas:
            carry_alphas(previous.supernet, supernet, previous.a_opt, a_opt)
        if previous is not None and cfg.carry_weights:
            widening = torch.Generator().manual_seed(epoch_seed(self.opts.seed, index, 0, WIDENING))
            carry_weights(previous.supernet, supernet, previous.w_opt, w_opt, generator=widening)
        sched = self._schedule(w_opt, index)
        wrap = (lambda o: ddp.AllReduceOptimizer(o, ctx.world_size)) if ctx.enabled else (lambda o: o)
        beta_params = list(getattr(supernet, "betas", {}).values()) if cfg.beta_split else []
        strategy = make_strategy(cfg.strategy, supernet, wrap(w_opt), wrap(a_opt), grad_clip=cfg.grad_clip,
                                 beta_params=beta_params, **self._method_parts(), **dict(cfg.strategy_kwargs))
        start_epoch = 0
        if self.ckpt is not None and int(self.ckpt.meta["stage"]) == index:
            try:
                supernet.load_state_dict({k: v.to(dev) for k, v in self.ckpt.tensors.items()}, strict=True)
                w_opt.load_state_dict(self.ckpt.state["w_opt"])
                a_opt.load_state_dict(self.ckpt.state["a_opt"])
                sched.load_state_dict(self.ckpt.state["sched"])
            except (RuntimeError, KeyError, ValueError) as e:
                raise CheckpointError(f"{self.store.folder}: does not fit this supernet ({first_line(e)}); "
                                      "delete it or --restart") from None
            set_rng_state(self.ckpt.state["rng"])
            start_epoch = int(self.ckpt.meta["epoch"])
        self.ckpt = None
        for epoch in range(start_epoch, stage.epochs):
            self._run_epoch(index, epoch, supernet, strategy, sched, candidates)
            if ctx.is_main:
                self._checkpoint(index, epoch, supernet, w_opt, a_opt, sched, candidates)
            if ctx.enabled:
                torch.distributed.barrier()
            self.epochs_this_call += 1
            done = self._epochs_before(index) + epoch + 1
            if self.opts.stop_after_epochs is not None and self.epochs_this_call >= self.opts.stop_after_epochs \
                    and done < self.total_epochs:
                raise SearchPaused(f"paused after epoch {done}/{self.total_epochs}; the checkpoint is in "
                                   f"{self.store.folder}; rerun with --resume to continue")
        return StageResult(supernet, w_opt, a_opt)

    def _epochs_before(self, index: int) -> int:
        """Epochs of the stages before stage `index`."""
        return sum(s.epochs for s in self.plan[:index])

    def _schedule(self, w_opt, index: int):
        """The weights' lr schedule of stage `index`: over the stage's epochs (P-DARTS restarts it every
        stage), or with `lr_spans_stages` one schedule over the whole run, advanced past the earlier
        stages' epochs (DrNAS' single cosine over both stages)."""
        cfg = self.cfg
        span = cfg.lr_spans_stages and len(self.plan) > 1
        epochs = self.total_epochs if span else self.plan[index].epochs
        sched = SCHEDULES.get(cfg.lr_schedule)(w_opt, epochs, cfg.w_lr_min, cfg.lr_power,
                                               **({"warmup": cfg.lr_warmup_epochs} if cfg.lr_warmup_epochs else {}))
        if span:
            with warnings.catch_warnings():  # stepped ahead before any optimizer step, on purpose
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(self._epochs_before(index)):
                    sched.step()
        return sched

    def _run_epoch(self, index: int, epoch: int, supernet, strategy, sched, candidates) -> None:
        opts, ctx, dev, stage = self.opts, self.ctx, self.device, self.plan[index]
        seed = opts.seed
        arch_on = epoch >= stage.warmup_epochs
        strategy.warmup = not arch_on
        p_skip = stage.dropout_at(epoch) if stage.skip_dropout else 0.0
        supernet.set_skip_dropout(p_skip)
        # The methods' own schedules (Gumbel temperature, auxiliary skip, regularizer and perturbation
        # strengths); a strategy registered by a user may not have the hook.
        begin = getattr(strategy, "begin_epoch", None)
        schedule = begin(epoch, stage.epochs) if begin is not None else {}
        lr = sched.get_last_lr()[0]
        w_batches = epoch_batches(self.w_idx, self.batch, epoch_seed(seed, index, epoch, WEIGHT_BATCHES),
                                  ctx.world_size, ctx.rank)
        a_batches = epoch_batches(self.a_idx, self.batch, epoch_seed(seed, index, epoch, ARCH_BATCHES),
                                  ctx.world_size, ctx.rank, steps=len(w_batches))
        w_loader = make_loader(self.dataset, w_batches, self.workers, epoch_seed(seed, index, epoch, WEIGHT_LOADER), dev)
        a_loader = make_loader(self.dataset, a_batches, self.workers, epoch_seed(seed, index, epoch, ARCH_LOADER), dev)
        b_loader: Any = itertools.repeat(None)
        if self.b_idx is not None:
            b_batches = epoch_batches(self.b_idx, self.batch, epoch_seed(seed, index, epoch, BETA_BATCHES),
                                      ctx.world_size, ctx.rank, steps=len(w_batches))
            b_loader = make_loader(self.dataset, b_batches, self.workers,
                                   epoch_seed(seed, index, epoch, BETA_LOADER), dev)
        where = f"stage {index + 1} epoch {epoch + 1}"
        supernet.train()
        meter = EpochMeter()
        t0 = time.time()
        bar = tqdm(total=len(w_batches), disable=not self.progress, leave=False, dynamic_ncols=True,
                   desc=f"stage {index + 1}/{len(self.plan)} epoch {epoch + 1}/{stage.epochs}")
        for step, (tb, vb, bb) in enumerate(zip(w_loader, a_loader, b_loader)):
            tb = to_device(*tb, dev, opts.channels_last)
            vb = to_device(*vb, dev, opts.channels_last)
            bb = None if bb is None else to_device(*bb, dev, opts.channels_last)
            with autocast(dev, opts.amp):
                # A strategy registered by a user may take (train, val) only: the betas' batch goes in only when split.
                stats = strategy.step(tb, vb) if bb is None else strategy.step(tb, vb, bb)
                values = {k: float(v) for k, v in (stats or {}).items()}
            check_finite(values, supernet, f"{where} step {step + 1}", ctx, dev, self.store)
            meter.add(values, len(tb[1]))
            bar.update(1)
            if "train_loss" in values:
                bar.set_postfix(loss=f"{values['train_loss']:.3f}")
        bar.close()
        sched.step()
        val_batches = epoch_batches(self.eval_idx, self.batch * 2, epoch_seed(seed, index, epoch, EVAL_BATCHES),
                                    ctx.world_size, ctx.rank)
        eval_loss, eval_acc = evaluate(supernet, make_loader(self.dataset, val_batches, self.workers,
                                                             epoch_seed(seed, index, epoch, EVAL_LOADER), dev),
                                       dev, opts.amp, opts.channels_last, ctx)
        if not math.isfinite(eval_loss):
            check_finite({"eval_loss": eval_loss}, supernet, where, ctx, dev, self.store)
        record = meter.record(supernet, self.cfg, index, epoch, stage, lr, p_skip, arch_on, eval_loss, eval_acc,
                              time.time() - t0, self._epochs_before(index) + epoch + 1)
        record["top_over_uniform"] = top_over_uniform(record["weights"])
        if schedule:
            record["schedule"] = {k: float(v) for k, v in schedule.items()}
        self.history.append(record)
        self.emit(epoch_line(record, len(self.plan), stage.epochs, self.total_epochs))
        if ctx.enabled:
            ddp.broadcast_buffers(supernet)

    def _checkpoint(self, index, epoch, supernet, w_opt, a_opt, sched, candidates) -> None:
        state = {"w_opt": w_opt.state_dict(), "a_opt": a_opt.state_dict(), "sched": sched.state_dict(),
                 "rng": rng_state()}
        meta = {"stage": index, "epoch": epoch + 1, "global_epoch": self.history[-1]["global_epoch"],
                "settings": self.settings,
                "candidates": self.history[-1]["candidates"] if candidates else None,
                "history": self.history,
                "elapsed_s": round(self.elapsed_before + time.time() - self.start_time, 3)}
        self.store.save(f"s{index}-e{epoch + 1:04d}", supernet.state_dict(), state, meta)
        write_history_files(self.paths, self.cfg, self.opts.data, self.opts.seed, self.history)

    def _finish(self, supernet) -> Path:
        cfg, opts, ctx = self.cfg, self.opts, self.ctx
        path = self.paths.genotype
        if ctx.is_main:
            write_result = getattr(supernet, "write_result", None)  # a space whose result is not a cell
            if write_result is not None:
                path, line = write_result(cfg, self.user_overrides, opts.data, opts.seed, self.paths, self.history,
                                          __version__, ctx.world_size)
            else:
                genotype = supernet.genotype(rule=cfg.rule, max_skips=cfg.max_skips, name=cfg.name)
                path = write_genotype(genotype, arch_snapshot(supernet), cfg, self.user_overrides, opts.data,
                                      opts.seed, self.paths, self.history, __version__, ctx.world_size)
                line = f"genotype: {format_cells(genotype)}"
            write_history_files(self.paths, cfg, opts.data, opts.seed, self.history)
            self.emit(line)
            sep = self.history[-1].get("top_over_uniform") if self.history else None
            if sep:
                self.emit(f"alphas: the top op's weight is {sep['mean']:.2f}x uniform on the mean edge "
                          f"({sep['min']:.2f}x on the least decided; 1x: never moved)")
            self.emit(f"wrote {path} (+ {self.paths.history.name}, {self.paths.plot.name}); "
                      f"{self.elapsed_before + time.time() - self.start_time:.1f} s of search")
        if ctx.enabled:
            torch.distributed.barrier()
        return path


def run_search(recipe: Union[str, SearchRecipe] = "darts_v1", data: str = "cifar10",
               data_dir: Optional[Union[str, Path]] = None, epochs: Optional[int] = None,
               out: Optional[Union[str, Path]] = None, resume: bool = False, seed: int = 0,
               download: bool = False, overrides: Optional[Mapping[str, Any]] = None, **options: Any) -> Optional[Path]:
    """Search, write the genotype to `out` and return its path.

    `overrides` replaces recipe fields ({"channels": 8, "stage_layers": (3, 5, 5), ...});
    `epochs` is the same as overrides={"epochs": N} (per stage for P-DARTS recipes).
    Other keywords are RunOptions: `restart` discards a checkpoint; `overwrite` lets the run replace a
    finished `out` (refused otherwise); `stop_after_epochs` pauses after
    that many epochs of this call (the checkpoint is written; returns None); `dataset` replaces the
    dataset loader; `threads` sets torch's CPU threads; device, workers, progress, log; the speed
    options amp, channels_last, compile and data_on_device (zoo.speed_options, docs/performance.md).
    """
    base = recipe if isinstance(recipe, SearchRecipe) else get_recipe(recipe)
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(RunOptions)})
    if unknown:
        raise ZooError(f"run_search: unknown option {unknown[0]!r}")
    checked = RUN_SETTINGS.check({"data": data, "seed": seed, **{k: options[k] for k in RUN_SETTINGS.names
                                                                 if options.get(k) is not None}}, "search")
    data, seed = checked.pop("data"), checked.pop("seed")
    options.update(checked)
    user_overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    if epochs is not None:
        user_overrides["epochs"] = epochs
    cfg = apply_overrides(base, user_overrides, data=data)
    opts = RunOptions(data=data, data_dir=data_dir, download=download, seed=seed, out=out, resume=resume, **options)
    return SearchRun(cfg, user_overrides, opts).run()
