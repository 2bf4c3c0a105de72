"""A CIFAR-sized dataset held as one uint8 tensor on the device and augmented there, a batch at a
time, so that a GPU is not fed by Python workers (`--data-on-device`).

    images = DeviceImages.from_dataset(load_dataset("cifar10", "train"), "cifar10", torch.device("cuda"))
    loader = DeviceLoader(images, batches, augmentation_for("cifar10", cutout=16))
    for x, y in loader:          # float32 N x C x H x W, normalized, on the device; int64 labels
        ...

The augmentation is the one `zoo.data.build_transform` builds for the same dataset, done with
tensor ops on the whole batch: random crop from the image padded with zeros (offsets uniform over
0..2*padding in each axis, as torchvision's RandomCrop), horizontal flip with probability 1/2,
ToTensor's /255 and the dataset's normalization, then cutout (a side x side square set to 0 after
normalization, placed wholly inside the image as the CPU pipeline's RandomErasing places it). One
random draw per image and parameter, from a CPU generator (the global one by default, so a
checkpoint's RNG state covers it as it covers the DataLoader path), so a seed gives the same batch
on every device. AutoAugment picks per-image ops in Python and has no batched form here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Subset

from .data import crop_flip, dataset_info
from .errors import DataError, ZooError


@dataclass(frozen=True)
class Augmentation:
    """What is drawn per image: a crop from the image padded by `padding` zeros, a horizontal
    flip (when `flip`), a `cutout` x `cutout` square set to 0 (0: none)."""

    padding: int = 0
    flip: bool = False
    cutout: int = 0


def augmentation_for(name: str, cutout: int = 0, autoaugment: bool = False) -> Augmentation:
    """The training augmentation `build_transform(name, True, cutout, autoaugment)` applies."""
    info = dataset_info(name)
    if info.family != "cifar":
        raise DataError(f"--data-on-device: {info.name} is not a CIFAR-sized dataset (it is read from image files "
                        "and resized per image); drop --data-on-device")
    if autoaugment and info.name != "digits":  # build_transform ignores it for digits
        raise ZooError("--data-on-device: AutoAugment chooses its ops per image on the CPU and has no batched "
                       "form on the device; drop --data-on-device or turn AutoAugment off (--no-autoaugment)")
    padding, flip = crop_flip(name)
    return Augmentation(padding=padding, flip=flip, cutout=int(cutout))


@dataclass(frozen=True)
class Draws:
    """One batch's random parameters (CPU tensors of length B): crop offsets into the padded image,
    flips, and the cutout square's top-left corner (-1: no cutout)."""

    top: torch.Tensor
    left: torch.Tensor
    flip: torch.Tensor
    cut_top: torch.Tensor
    cut_left: torch.Tensor


def draw(n: int, height: int, width: int, aug: Augmentation, generator: Optional[torch.Generator] = None) -> Draws:
    """Each image's crop offsets (uniform over 0..2*padding), flip (probability 1/2) and cutout
    corner (uniform over 0..H-side, 0..W-side; none when the square does not fit inside, as
    RandomErasing then leaves the image alone)."""
    span = 2 * aug.padding + 1
    top = torch.randint(0, span, (n,), generator=generator)
    left = torch.randint(0, span, (n,), generator=generator)
    flip = (torch.rand(n, generator=generator) < 0.5) if aug.flip else torch.zeros(n, dtype=torch.bool)
    side = aug.cutout
    if side and side < height and side < width:
        cut_top = torch.randint(0, height - side + 1, (n,), generator=generator)
        cut_left = torch.randint(0, width - side + 1, (n,), generator=generator)
    else:
        cut_top = cut_left = torch.full((n,), -1, dtype=torch.int64)
    return Draws(top, left, flip, cut_top, cut_left)


def crop_and_flip(images: torch.Tensor, d: Draws, padding: int) -> torch.Tensor:
    """B x C x H x W images (any dtype) cropped at the draws' offsets from their zero-padded
    copies and flipped where drawn: one gather for the whole batch."""
    b, c, h, w = images.shape
    dev = images.device
    if padding:
        images = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    rows = d.top.to(dev)[:, None] + torch.arange(h, device=dev)                       # B x H
    ahead = torch.arange(w, device=dev)
    cols = d.left.to(dev)[:, None] + torch.where(d.flip.to(dev)[:, None], w - 1 - ahead, ahead)  # B x W
    return images[torch.arange(b, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def cutout_(x: torch.Tensor, d: Draws, side: int) -> torch.Tensor:
    """Set each image's side x side square at its drawn corner to 0, in place."""
    if not side or bool((d.cut_top < 0).all()):
        return x
    _, _, h, w = x.shape
    dev = x.device
    top, left = d.cut_top.to(dev)[:, None], d.cut_left.to(dev)[:, None]
    r, c = torch.arange(h, device=dev), torch.arange(w, device=dev)
    in_rows = (r >= top) & (r < top + side) & (top >= 0)                                # B x H
    in_cols = (c >= left) & (c < left + side)                                           # B x W
    return x.masked_fill_((in_rows[:, :, None] & in_cols[:, None, :])[:, None], 0.0)


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [0, 1] -> (x - mean) / std, the same float ops as ToTensor + Normalize."""
    return images.to(torch.float32).div(255).sub_(mean).div_(std)


def _arrays(dataset: Any) -> tuple[Any, Any]:
    """(uint8 images, labels) of a dataset holding them as arrays (torchvision's CIFAR, ArrayImages),
    through any Subset."""
    if isinstance(dataset, Subset):
        images, labels = _arrays(dataset.dataset)
        pick = np.asarray(dataset.indices, dtype=np.int64)
        return images[pick], np.asarray(labels)[pick]
    images, labels = getattr(dataset, "data", None), getattr(dataset, "targets", None)
    if images is None or labels is None or str(getattr(images, "dtype", "")) not in ("uint8", "torch.uint8"):
        raise DataError(f"--data-on-device: {type(dataset).__name__} holds no uint8 image array (.data, .targets); "
                        "use cifar10, cifar100 or digits, or drop --data-on-device")
    return images, labels


class DeviceImages:
    """A dataset's images as one uint8 N x C x H x W tensor and its labels as one int64 tensor, on
    `device`, with the dataset's normalization and the augmentation its loaders apply by default
    (`augmentation`, None: none)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 device: torch.device, augmentation: Optional[Augmentation] = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"--data-on-device: images must be uint8 N x C x H x W, got {images.dtype} "
                            f"{tuple(images.shape)}")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.augmentation = augmentation

    @classmethod
    def from_dataset(cls, dataset: Any, name: str, device: torch.device,
                     augmentation: Optional[Augmentation] = None) -> "DeviceImages":
        """From a dataset holding uint8 H x W x 3 (or grey H x W, served as RGB) images."""
        info = dataset_info(name)
        images, labels = _arrays(dataset)
        x = torch.from_numpy(np.array(images, dtype=np.uint8))  # a copy: cached arrays are read-only
        if x.dim() == 3:  # grey, as PIL's convert("RGB") serves it: the value in all three channels
            x = x[:, :, :, None].expand(-1, -1, -1, 3)
        if x.dim() != 4 or x.shape[-1] != info.input_size[0]:
            raise DataError(f"--data-on-device: {info.name} images have shape {tuple(x.shape[1:])}, expected "
                            f"H x W x {info.input_size[0]}")
        return cls(x.permute(0, 3, 1, 2).contiguous(), torch.as_tensor(np.asarray(labels)), info.mean, info.std,
                   device, augmentation)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, indices: Sequence[int], aug: Optional[Augmentation] = None,
              generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The images at `indices`, augmented (when `aug`) and normalized, with their labels."""
        idx = torch.as_tensor(indices, dtype=torch.int64).to(self.device, non_blocking=True)
        raw = self.images.index_select(0, idx)
        if aug is None:
            return normalize(raw, self.mean, self.std), self.labels.index_select(0, idx)
        d = draw(len(idx), raw.shape[2], raw.shape[3], aug, generator)
        x = normalize(crop_and_flip(raw, d, aug.padding), self.mean, self.std)
        return cutout_(x, d, aug.cutout), self.labels.index_select(0, idx)


class DeviceLoader:
    """Batches of a DeviceImages, in the order `batches` gives (a list of index lists, or a
    re-iterable batch sampler): what a DataLoader over the same dataset and batch sampler yields,
    already on the device. `dataset` is what `len(loader.dataset)` should count."""

    def __init__(self, images: DeviceImages, batches: Iterable[Sequence[int]], aug: Optional[Augmentation] = None,
                 generator: Optional[torch.Generator] = None, dataset: Any = None):
        self.images, self.batches, self.aug, self.generator = images, batches, aug, generator
        self.dataset = dataset if dataset is not None else images

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for indices in self.batches:
            yield self.images.batch(list(indices), self.aug, self.generator)
