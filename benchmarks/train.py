"""Train a zoo network from scratch with its paper's recipe.

    metrics = train("pdarts_3b", "cifar10", data_dir="data")          # 1000 epochs, as the thesis
    metrics = train("pdarts_3b", "digits")                             # the reduced digits preset
    Trainer("my_cell.yaml", "cifar10", epochs=10, out="runs/x").fit()

DARTS' evaluation protocol: SGD with a per-epoch schedule, auxiliary loss from the last reduction
cell, drop path ramped linearly with the epoch, gradient clipping. The run directory holds
model.safetensors (with the build arguments in its header), metrics.json, log.jsonl (one record
per epoch), curves.png and checkpoints/ (rewritten every epoch; `resume=True` continues exactly).
One process writes a run directory at a time (`<dir>.lock`), an earlier run's results are replaced
only with `overwrite=True`, and a NaN/inf loss or weight stops the run: metrics.json's `status` says
`failed` and why, and the last good checkpoint stays.
Under torchrun (WORLD_SIZE > 1) it trains data-parallel and only rank 0 writes.

Longer than most modules: one Trainer whose methods read top to bottom as the training loop;
recipes, data, checkpoints and evaluation live in their own modules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from timm.utils import ModelEmaV3
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm
from torch.utils.data import DataLoader, DistributedSampler, Subset

import zoo
from zoo.errors import CheckpointError, OutputError, ZooError
from zoo.locks import output_lock
from zoo.models import resolve_genotype
from zoo.network import RECOMPUTE_MODES, check_network_arguments
from zoo.checkpoint import Checkpoint, CheckpointStore, load_into, save_weights, settings_mismatch
from zoo.runtime import (DistContext, distributed_context, non_finite, non_finite_tensor, resolve_device, rng_state,
                         seed_everything, set_rng_state)
from zoo.settings import BATCH_SIZE, CHANNELS, EPOCHS, LAYERS, SEED, WORKERS, Domain, Setting
from zoo.device_data import DeviceImages, DeviceLoader, augmentation_for
from zoo.speed_options import (AMP, CHANNELS_LAST, COMPILE, DATA_ON_DEVICE, autocast, check_amp, prepare_batch,
                               prepare_model)

from zoo.atomic import (atomic_save_figure, atomic_write_bytes, atomic_write_json, finite_json, make_dirs,
                        output_errors)

from ..counting import count_macs, count_params
from ..data import build_transform, dataset_info, load_dataset
from .evaluate import batches, run_eval, topk_correct
from .recipes import TrainingRecipe, default_recipe, get_recipe, make_scheduler

RUN_FILES = ("model.safetensors", "metrics.json", "log.jsonl", "curves.png")


class TrainingDiverged(ZooError):
    """A loss or the weights became NaN or infinite: the run stops, metrics.json says failed, the
    last good checkpoint stays."""


class _Diverged(Exception):
    """Raised inside the loop (where, what); the run turns it into TrainingDiverged."""

    def __init__(self, where: str, what: str):
        super().__init__(where, what)
        self.where, self.what = where, what


class TrainForward(nn.Module):
    """`forward` = the network's forward_train, so DDP (which hooks `forward` only) and
    torch.compile see the auxiliary branch."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor):
        return self.net.forward_train(x)


# --------------------------------------------------------------------------- distributed
# The process group comes from zoo.runtime.distributed_context, the same one the search joins.
def all_sum(t: torch.Tensor, d: DistContext) -> torch.Tensor:
    """Sum a CPU tensor of counts over the ranks."""
    if not d.enabled:
        return t
    buf = t.to(torch.float64)
    if dist.get_backend() == "nccl":
        buf = buf.cuda()
    dist.all_reduce(buf)
    return buf.cpu()


def all_gather(obj: Any, d: DistContext) -> list[Any]:
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


# --------------------------------------------------------------------------- the run
def default_run_dir(model: str, data: str, recipe: str, seed: int) -> Path:
    stem = Path(model).stem if str(model).endswith((".yaml", ".yml")) else str(model)
    return Path("runs") / f"{stem}-{data}-{recipe}-s{seed}"


# A training run's arguments (the network's keywords are zoo.settings.NETWORK's); checked before any work.
TRAIN_SETTINGS = Domain("training", (
    EPOCHS, BATCH_SIZE, SEED, WORKERS, LAYERS, CHANNELS, AMP, CHANNELS_LAST, COMPILE, DATA_ON_DEVICE,
    Setting("lr", float, "learning rate", low=0, high=10, low_open=True, metavar="LR"),
    Setting("ema", float, "also keep an EMA of the weights with this decay (e.g. 0.9998; 0: none)", low=0, high=1,
            high_open=True, optional=True, metavar="DECAY"),
    Setting("limit_train", int, "train on N images only (smoke runs)", low=1, high=10 ** 9, optional=True,
            metavar="N"),
    Setting("limit_test", int, "test on the first N images only (smoke runs)", low=1, high=10 ** 9, optional=True,
            metavar="N"),
    # Not part of the run's config (a checkpoint resumes under either): it trades time for memory only.
    Setting("recompute", str, "recompute each cell's activations in the backward pass instead of storing "
            "them (same results, less memory, more time)", choices=RECOMPUTE_MODES),
))


class Trainer:
    """One training run; `fit()` returns metrics.json's content. Arguments left None take the
    recipe's value (the model's paper's recipe unless `recipe` names another)."""

    def __init__(self, model: str, data: str, *, data_dir: Optional[Union[str, Path]] = None,
                 recipe: Optional[str] = None, epochs: Optional[int] = None, batch_size: Optional[int] = None,
                 lr: Optional[float] = None, out: Optional[Union[str, Path]] = None, resume: bool = False,
                 seed: int = 0, download: bool = False, device: Optional[str] = None, workers: int = 0,
                 amp: bool = False, channels_last: bool = False, compile: bool = False, data_on_device: bool = False,
                 ema: Optional[float] = None, layers: Optional[int] = None, channels: Optional[int] = None,
                 limit_train: Optional[int] = None, limit_test: Optional[int] = None,
                 recompute: str = "none", overwrite: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print):
        checked = TRAIN_SETTINGS.check({k: v for k, v in dict(
            epochs=epochs, batch_size=batch_size, lr=lr, ema=ema, seed=seed, workers=workers, layers=layers,
            channels=channels, limit_train=limit_train, limit_test=limit_test, amp=amp, channels_last=channels_last,
            compile=compile, data_on_device=data_on_device).items() if v is not None}, "train")
        epochs, batch_size, lr, ema = (checked.get(k) for k in ("epochs", "batch_size", "lr", "ema"))
        seed, workers, layers, channels = (checked.get(k) for k in ("seed", "workers", "layers", "channels"))
        limit_train, limit_test = checked.get("limit_train"), checked.get("limit_test")
        self.recompute = TRAIN_SETTINGS.check({"recompute": recompute}, "train")["recompute"]
        self.info = dataset_info(data)
        self.data, self.data_dir, self.download = data, data_dir, download
        self.model_name = str(model)
        base = get_recipe(recipe) if recipe else default_recipe(self.model_name, data)
        changes = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr, ema_decay=ema).items()
                   if v is not None}
        self.recipe: TrainingRecipe = dataclasses.replace(base, **changes)
        model_args = {**self.recipe.model, **{k: v for k, v in dict(layers=layers, channels=channels).items()
                                              if v is not None}}
        self.model_args: dict[str, Any] = dict(
            family=self.info.family, num_classes=self.info.num_classes, auxiliary=self.recipe.auxiliary_weight > 0,
            **model_args)
        if self.recipe.drop_path is not None:
            self.model_args["drop_path_rate"] = self.recipe.drop_path
        check_network_arguments(resolve_genotype(self.model_name), **self.model_args)  # before any file is touched
        self.seed, self.resume = seed, resume
        self.limit_train, self.limit_test = limit_train, limit_test
        self.device = resolve_device(device)
        self.workers, self.progress, self.log = workers, progress, log
        # Speed options, on any device (zoo.speed_options); refused here, before any file is written.
        self.amp, self.channels_last, self.compile = (bool(checked.get(k)) for k in ("amp", "channels_last", "compile"))
        if self.amp:
            check_amp(self.device)
        self.device_aug = (augmentation_for(data, self.recipe.cutout, self.recipe.autoaugment)
                           if checked.get("data_on_device") else None)
        self.run_dir = Path(out) if out else default_run_dir(self.model_name, data, self.recipe.name, seed)
        self.overwrite = overwrite  # replace what an earlier run left in run_dir (refused otherwise)
        self.model: Optional[nn.Module] = None

    # ------------------------------------------------------------------ pieces
    def config(self) -> dict[str, Any]:
        """What a checkpoint must agree with to be resumed."""
        return {"model": self.model_name, "data": self.info.name, "recipe": self.recipe.to_dict(),
                "model_args": self.model_args, "seed": self.seed,
                "limit_train": self.limit_train, "limit_test": self.limit_test}

    def _loaders(self, d: DistContext) -> tuple[DataLoader, DataLoader]:
        r = self.recipe
        train_tf = build_transform(self.data, True, cutout=r.cutout, autoaugment=r.autoaugment)
        train_set = load_dataset(self.data, "train", self.data_dir, transform=train_tf, download=self.download)
        test_set = load_dataset(self.data, "test", self.data_dir, download=self.download)
        if self.limit_train is not None:
            pick = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(0))
            train_set = Subset(train_set, pick[: self.limit_train].tolist())
        if self.limit_test is not None:
            test_set = Subset(test_set, range(min(self.limit_test, len(test_set))))
        if d.enabled:
            test_set = Subset(test_set, range(d.rank, len(test_set), d.world_size))  # no padding duplicates
        pin = self.device.type == "cuda"
        per_rank = max(1, r.batch_size // d.world_size)
        if d.enabled:
            self._sampler = DistributedSampler(train_set, d.world_size, d.rank, shuffle=True, seed=self.seed)
            train = DataLoader(train_set, per_rank, sampler=self._sampler, num_workers=self.workers,
                               pin_memory=pin, drop_last=True)
        else:
            self._sampler = None
            self._shuffle = torch.Generator()
            train = DataLoader(train_set, per_rank, shuffle=True, generator=self._shuffle,
                               num_workers=self.workers, pin_memory=pin, drop_last=True)
        if len(train) == 0:
            raise ZooError(f"{self.data}: {len(train_set)} training images make no full batch of {per_rank}; "
                           "lower --batch-size")
        test = DataLoader(test_set, max(per_rank, 128), shuffle=False, num_workers=self.workers, pin_memory=pin)
        if self.device_aug is not None:  # the same batches (the loaders' samplers), gathered and augmented there
            train = DeviceLoader(DeviceImages.from_dataset(train_set, self.data, self.device), train.batch_sampler,
                                 self.device_aug, dataset=train_set)
            test = DeviceLoader(DeviceImages.from_dataset(test_set, self.data, self.device), test.batch_sampler,
                                dataset=test_set)
        return train, test

    def _set_epoch(self, epoch: int) -> None:
        # The shuffle order depends on (seed, epoch) only, so a resumed run sees the same batches.
        if self._sampler is not None:
            self._sampler.set_epoch(epoch)
        else:
            self._shuffle.manual_seed(self.seed * 1_000_003 + epoch)

    def _train_epoch(self, forward: nn.Module, optimizer, criterion, loader, ema, d: DistContext, epoch: int):
        net, r = self.model, self.recipe
        net.train()
        sums = torch.zeros(4, dtype=torch.float64)  # loss sum, top-1 hits, images, batches
        bar = None
        if self.progress and d.is_main:

            bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{r.epochs}", leave=False, file=sys.stderr,
                       dynamic_ncols=True)
        params = [p for p in net.parameters() if p.requires_grad]
        for step, (x, y) in enumerate(batches(loader), 1):
            x, y = prepare_batch(x, y, self.device, self.channels_last)
            with autocast(self.device, self.amp):
                logits, aux = forward(x)
                loss = criterion(logits.float(), y)
                if aux is not None:
                    loss = loss + r.auxiliary_weight * criterion(aux.float(), y)
            value = float(loss.detach())
            bad = non_finite({"train loss": value}, d, self.device)  # every rank stops at the same step
            if bad:
                if bar is not None:
                    bar.close()  # so that the error is a line of its own
                raise _Diverged(f"epoch {epoch + 1} step {step}", bad)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if r.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, r.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update(net)
            sums += torch.tensor([value * len(y), topk_correct(logits.detach(), y, (1,))[0], len(y), 1],
                                 dtype=torch.float64)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}")
        if bar is not None:
            bar.close()
        sums = all_sum(sums, d)
        return {"train_loss": float(sums[0] / sums[2]), "train_top1": float(100 * sums[1] / sums[2]),
                "train_images": int(sums[2])}

    def _curves(self, history: list[dict[str, Any]]) -> None:
        import matplotlib  # only the curves need it; a headless backend is chosen before pyplot loads

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ep = [h["epoch"] for h in history]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        axes[0].plot(ep, [h["train_loss"] for h in history], label="train")
        axes[0].plot(ep, [h["test_loss"] for h in history], label="test")
        axes[0].set_title("loss")
        axes[1].plot(ep, [h["train_top1"] for h in history], label="train top-1")
        axes[1].plot(ep, [h["test_top1"] for h in history], label="test top-1")
        axes[1].plot(ep, [h["test_top5"] for h in history], label="test top-5", linestyle=":")
        axes[1].set_title("accuracy (%)")
        axes[2].plot(ep, [h["lr"] for h in history])
        axes[2].set_title("learning rate")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        axes[0].legend()
        axes[1].legend()
        fig.suptitle(f"{self.model_name} on {self.data} ({self.recipe.name})")
        fig.tight_layout()
        atomic_save_figure(fig, self.run_dir / "curves.png", dpi=90)
        plt.close(fig)

    def _metrics(self, history, params, macs, wall, complete, failure: Optional[str] = None) -> dict[str, Any]:
        """metrics.json: `status` is running, complete or failed (then `failure` says why)."""
        last = history[-1] if history else {}
        best = max(history, key=lambda h: h["test_top1"]) if history else {}
        status = "failed" if failure else "complete" if complete else "running"
        return finite_json({
            "model": self.model_name, "data": self.info.name, "complete": complete and not failure,
            "status": status, **({"failure": failure} if failure else {}),
            "epochs": self.recipe.epochs, "epochs_done": len(history),
            "top1": last.get("test_top1"), "top5": last.get("test_top5"),
            "best_top1": best.get("test_top1"), "best_top5": best.get("test_top5"), "best_epoch": best.get("epoch"),
            "params": params, "params_m": round(params / 1e6, 4), "macs": macs, "macs_m": round(macs / 1e6, 1),
            "train_images_per_s": round(float(np.mean([h["images_per_s"] for h in history])), 1) if history else None,
            "wall_s": round(wall, 1), "seed": self.seed, "model_args": self.model_args,
            "test_images": last.get("test_n"), "weights": "ema" if self.recipe.ema_decay > 0 else "model",
            "recipe": self.recipe.to_dict(), "limit_train": self.limit_train, "limit_test": self.limit_test,
        })

    # ------------------------------------------------------------------ main
    def fit(self) -> dict[str, Any]:
        owns_group = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized()
        d = distributed_context(self.device.type)
        if self.device.type == "cuda" and d.enabled:
            self.device = torch.device("cuda", d.local_rank)
        try:
            # One writer per run folder (the lock is `<run_dir>.lock`); other ranks do not write.
            with output_lock(self.run_dir) if d.is_main else contextlib.nullcontext():
                return self._fit(d)
        finally:
            if owns_group:
                dist.destroy_process_group()

    def _fit(self, d: DistContext) -> dict[str, Any]:
        r = self.recipe
        ckpt = CheckpointStore(self.run_dir / "checkpoints", kind="training")
        resumed = None
        replace = self._replaces_earlier_run(ckpt)
        if ckpt.exists() and not replace:
            resumed = ckpt.load()  # checked before any work: a mismatch fails at once
            if not {"epoch", "history", "config"} <= set(resumed.state):
                raise CheckpointError(f"{ckpt.folder}: not a darts-zoo training state; {ckpt.fix}")
            self._check_config(resumed.state["config"])
        elif self.resume and d.is_main:
            self.log(f"note: nothing to resume in {self.run_dir}; starting a new run")
        train_loader, test_loader = self._loaders(d)  # a missing dataset fails before any other work
        seed_everything(self.seed)  # the same initial weights on every rank
        args = dict(self.model_args)
        family = args.pop("family")
        net = zoo.create_model(self.model_name, family=family, **args)
        self.model = net
        net.set_recompute(self.recompute)
        params = count_params(net)
        macs = count_macs(net, self.info.input_size)
        prepare_model(net.to(self.device), channels_last=self.channels_last)
        seed_everything(self.seed + d.rank)  # independent augmentation and drop-path masks per rank
        optimizer = torch.optim.SGD(net.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
        scheduler = make_scheduler(optimizer, r, r.epochs)
        criterion = nn.CrossEntropyLoss(label_smoothing=r.label_smoothing)
        ema = None
        if r.ema_decay > 0:

            ema = ModelEmaV3(net, decay=r.ema_decay)
        history: list[dict[str, Any]] = []
        start_epoch, wall_before = 0, 0.0
        if resumed is not None:
            history, start_epoch, wall_before = self._restore(resumed, ckpt, net, ema, optimizer, scheduler, d)
        forward: nn.Module = TrainForward(net)
        if d.enabled:

            forward = DistributedDataParallel(forward, device_ids=[d.local_rank] if self.device.type == "cuda" else None)
        eval_net: nn.Module = net
        if self.compile:  # compiled in place: checkpoints and the EMA keep the network's own names
            forward = prepare_model(forward, compile=True)
            eval_net = prepare_model(net, compile=True)
        n_test = self._test_size(test_loader, d)  # a collective: every rank calls it
        if d.is_main:
            self._warn_if_cpu_busy()
            if replace:  # --overwrite: what an earlier run left goes now, before this run writes
                with output_errors(self.run_dir):
                    ckpt.clear()
                    for name in RUN_FILES:
                        (self.run_dir / name).unlink(missing_ok=True)
            make_dirs(self.run_dir)
            self.log(f"training {self.model_name} on {self.info.name} with recipe {r.name}: {r.epochs} epochs, "
                     f"batch {r.batch_size}, {params / 1e6:.3f}M params, {macs / 1e6:.1f}M MACs, "
                     f"{len(train_loader.dataset)} train / {n_test} test images, "
                     f"{self.device.type}{f' x{d.world_size}' if d.enabled else ''} -> {self.run_dir}")
        start_time = time.perf_counter()
        max_rate = net.drop_path_rate
        for epoch in range(start_epoch, r.epochs):
            self._set_epoch(epoch)
            net.set_drop_path(max_rate * epoch / r.epochs)  # DARTS: drop_path_prob * epoch / epochs
            lr = optimizer.param_groups[0]["lr"]
            t0 = time.perf_counter()
            try:
                stats = self._train_epoch(forward, optimizer, criterion, train_loader, ema, d, epoch)
                train_s = time.perf_counter() - t0
                scheduler.step()
                test = run_eval(ema.module if ema is not None else eval_net, test_loader, self.device, self.amp,
                                channels_last=self.channels_last,
                                reduce=(lambda t: all_sum(t, d)) if d.enabled else None)
                self._check_epoch(test, net, ema, epoch)
            except _Diverged as e:
                raise self._failed(e, ckpt, history, params, macs, wall_before + time.perf_counter() - start_time,
                                   d) from None
            history.append({
                "epoch": epoch + 1, "lr": lr, "drop_path": net.drop_path_prob, **stats,
                "test_loss": test["loss"], "test_top1": test["top1"], "test_top5": test["top5"], "test_n": test["n"],
                "epoch_s": round(time.perf_counter() - t0, 3),
                "images_per_s": round(stats["train_images"] / max(train_s, 1e-9), 1),
            })
            rngs = all_gather(rng_state(), d)
            wall = wall_before + time.perf_counter() - start_time
            if d.is_main:
                self._write_epoch(ckpt, net, ema, optimizer, scheduler, rngs, history, params, macs, wall)
                h = history[-1]
                self.log(f"epoch {h['epoch']:>4}/{r.epochs}  lr {lr:.3g}  train loss {h['train_loss']:.4f} "
                         f"top-1 {h['train_top1']:.2f}  test loss {h['test_loss']:.4f} top-1 {h['test_top1']:.2f} "
                         f"top-5 {h['test_top5']:.2f}  {h['epoch_s']:.1f}s  {h['images_per_s']:.0f} img/s")
        wall = wall_before + time.perf_counter() - start_time
        metrics = self._metrics(history, params, macs, wall, complete=True)
        if d.is_main:
            if start_epoch == r.epochs and history:  # resumed after the last checkpoint, whose records may be missing
                self._write_records(history)
            final = ema.module if ema is not None else net
            save_weights(self.run_dir / "model.safetensors", final.state_dict(), self._meta())
            atomic_write_json(self.run_dir / "metrics.json", metrics)
        return metrics

    def _replaces_earlier_run(self, ckpt: CheckpointStore) -> bool:
        """Whether this run replaces what an earlier one left in run_dir: only with --overwrite (and
        not when resuming its checkpoint); without it an earlier result is never replaced."""
        if ckpt.exists():
            if self.resume:
                return False
            if self.overwrite:
                return True
            raise CheckpointError(f"{self.run_dir} already holds a run; pass --resume to continue it, --overwrite "
                                  "to replace it, or --out NEW_DIR")
        earlier = [name for name in RUN_FILES if (self.run_dir / name).exists()]
        if not earlier or self.overwrite:
            return bool(earlier)
        try:
            finished = json.loads((self.run_dir / "metrics.json").read_text()).get("complete") is True
        except (OSError, ValueError, AttributeError):
            finished = False
        what = ("a finished training run (metrics.json complete)" if finished else
                f"an earlier run's {', '.join(earlier)}")
        raise OutputError(f"{self.run_dir} holds {what} without its checkpoints/, so nothing can be resumed; pass "
                          "--overwrite to replace it, or --out NEW_DIR")

    def _check_epoch(self, test: dict[str, Any], net: nn.Module, ema, epoch: int) -> None:
        """After an epoch, before it is recorded or checkpointed: its test loss and the weights (and
        their EMA) are finite, or the run stops."""
        bad = non_finite({"test loss": test["loss"]})
        if bad is None:
            nets = (net,) if ema is None else (net, ema.module)
            name = next(filter(None, (non_finite_tensor(n.state_dict()) for n in nets)), None)
            bad = f"weight {name} is not finite" if name else None
        if bad:
            raise _Diverged(f"the end of epoch {epoch + 1}", bad)

    def _failed(self, e: _Diverged, ckpt: CheckpointStore, history, params, macs, wall, d: DistContext
                ) -> TrainingDiverged:
        """Mark the run failed in metrics.json (the last good checkpoint stays); the one line to raise."""
        kept = (f"the last good checkpoint (epoch {len(history)}) is kept in {ckpt.folder}" if ckpt.exists()
                else "no checkpoint was written before it")
        message = (f"training diverged at {e.where}: {e.what}; {kept}; metrics.json marks the run failed; lower "
                   "the learning rate (--lr) and train again (--overwrite or --out NEW_DIR)")
        if d.is_main:
            atomic_write_json(self.run_dir / "metrics.json", self._metrics(history, params, macs, wall, False, message))
        return TrainingDiverged(message)

    def _restore(self, resumed: Checkpoint, ckpt: CheckpointStore, net, ema, optimizer, scheduler, d: DistContext):
        """Weights, optimizer, schedule and random streams from the checkpoint: (history, epoch, wall_s)."""
        tensors, state = resumed.tensors, resumed.state
        load_into(net, {k: v for k, v in tensors.items() if not k.startswith("ema.")}, ckpt.folder)
        if ema is not None:
            load_into(ema.module, {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, ckpt.folder)
        try:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (KeyError, ValueError, TypeError) as e:
            raise CheckpointError(f"{ckpt.folder}: optimizer state does not fit this network ({type(e).__name__}); "
                                  f"{ckpt.fix}") from None
        rngs = state.get("rng", [])
        if len(rngs) == d.world_size:
            set_rng_state(rngs[d.rank])
        else:
            self.log(f"note: checkpoint from {len(rngs)} processes, resuming on {d.world_size}: "
                     "random streams restart (training continues, not bit-exactly)")
            seed_everything(self.seed * 7919 + state["epoch"] * 101 + d.rank)
        if d.is_main and state["epoch"] >= self.recipe.epochs:
            self.log(f"{self.run_dir}: all {self.recipe.epochs} epochs are done; rewriting the final files only")
        elif d.is_main:
            self.log(f"resuming {self.run_dir} at epoch {state['epoch'] + 1}/{self.recipe.epochs}")
        return list(state["history"]), int(state["epoch"]), float(state.get("wall_s", 0.0))

    def _warn_if_cpu_busy(self) -> None:
        # Measured on a shared 2-core machine: with other processes running, OpenMP's spin-waiting
        # threads made epochs 10-30x slower than one thread or a passive wait policy.
        threads, cores = torch.get_num_threads(), os.cpu_count() or 1
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        if self.device.type == "cpu" and threads > 1 and load >= cores:
            self.log(f"note: the CPU is busy (load {load:.1f} on {cores} cores); if epochs crawl, use --threads 1 "
                     "or set OMP_WAIT_POLICY=PASSIVE")

    def _test_size(self, loader: DataLoader, d: DistContext) -> int:
        return int(all_sum(torch.tensor([len(loader.dataset)], dtype=torch.float64), d)[0])

    def _meta(self) -> dict[str, Any]:
        """Build arguments stored in every weights file (evaluate rebuilds the network from them)."""
        return {"model": self.model_name, "data": self.info.name, "model_args": self.model_args}

    def _check_config(self, saved: dict[str, Any]) -> None:
        diff = settings_mismatch(json.loads(json.dumps(saved)), json.loads(json.dumps(self.config())))
        if diff:
            raise CheckpointError(f"{self.run_dir}: the checkpoint is from other settings ({diff}); resume with "
                                  "the same options or start a new run with --out NEW_DIR")

    def _write_epoch(self, ckpt: CheckpointStore, net, ema, optimizer, scheduler, rngs, history, params, macs,
                     wall) -> None:
        tensors = dict(net.state_dict())
        if ema is not None:
            tensors.update({f"ema.{k}": v for k, v in ema.module.state_dict().items()})
        state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rngs,
                 "history": history, "config": json.loads(json.dumps(self.config())), "wall_s": wall}
        epoch = len(history)
        ckpt.save(f"epoch_{epoch:04d}", tensors, {**state, "epoch": epoch}, {"epoch": epoch}, self._meta())
        atomic_write_json(self.run_dir / "metrics.json", self._metrics(history, params, macs, wall, complete=False))
        self._write_records(history)

    def _write_records(self, history) -> None:
        """log.jsonl (NaN/inf as null, never as NaN) and curves.png from the epochs' records."""
        atomic_write_bytes(self.run_dir / "log.jsonl",
                           "".join(json.dumps(finite_json(h), allow_nan=False) + "\n" for h in history).encode())
        self._curves(history)


def train(model: str, data: str, **kwargs: Any) -> dict[str, Any]:
    """Train and return metrics.json's content; keyword arguments as for Trainer."""
    return Trainer(model, data, **kwargs).fit()
