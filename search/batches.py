"""The search's data plumbing: a seeded split of the train set into the weights' half and the
alphas' half (optionally that half cut again for the betas), each epoch's batches (the same on every rank, dealt round robin), and loaders.

Every draw comes from a generator seeded by (seed, stage, epoch, purpose), so a run resumed at
any epoch sees exactly the batches an uninterrupted run would."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch.utils.data import DataLoader

from zoo.device_data import DeviceImages, DeviceLoader
from zoo.errors import ZooError

# What each seeded draw of an epoch is for (the `part` of `epoch_seed`).
WEIGHT_BATCHES, ARCH_BATCHES, WEIGHT_LOADER, ARCH_LOADER, EVAL_BATCHES, EVAL_LOADER, SUPERNET_INIT = range(1, 8)
BETA_BATCHES, BETA_LOADER = 8, 9
WIDENING = 10  # the channel maps of a stage's widened ops (search/stage_transfer.py)


def epoch_seed(seed: int, stage: int, epoch: int, part: int) -> int:
    return (int(seed) * 1_000_003 + stage * 10_007 + epoch * 101 + part) % (2 ** 62)


def split_indices(n: int, train_fraction: float, seed: int, subset: Optional[int]) -> tuple[list[int], list[int]]:
    """A seeded shuffle of the train split, cut into the weights' part and the alphas' part."""
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=g).tolist()
    if subset:
        perm = perm[: min(subset, n)]
    cut = int(round(len(perm) * train_fraction))
    cut = min(max(cut, 1), len(perm) - 1)
    return perm[:cut], perm[cut:]


def split_alpha_beta(arch_indices: Sequence[int]) -> tuple[list[int], list[int]]:
    """The alphas' part cut in two: D_val_alpha and D_val_beta of the stretchable-cells paper's ImageNet
    search (Huang et al., 'Stretchable Cells Help DARTS Search Better', 'Results on ImageNet dataset'),
    which splits its data into D_tr, D_val_alpha, D_val_beta of equal size (train_fraction 1/3 here).
    The list is already a seeded shuffle, so a cut at the middle is a random half."""
    cut = len(arch_indices) // 2
    if cut < 2 or len(arch_indices) - cut < 2:
        raise ZooError(f"{len(arch_indices)} images for the alphas cannot be split into two batches for "
                         "alphas and betas; use more data (--subset) or a lower --train-fraction")
    return list(arch_indices[:cut]), list(arch_indices[cut:])


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


def make_loader(dataset, batches: list[list[int]], workers: int, seed: int, device: torch.device):
    """A DataLoader over `batches`, or, for a dataset already on the device (--data-on-device), a
    DeviceLoader that augments there (drawing from the global generator, as workers=0 does)."""
    if isinstance(dataset, DeviceImages):
        return DeviceLoader(dataset, batches, dataset.augmentation)
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=False,
                      generator=torch.Generator().manual_seed(seed))
